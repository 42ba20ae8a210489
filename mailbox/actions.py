"""Every user-visible write to mail: the cache changes at once (the user sees it), the event goes
to the owner's browsers, and, for an IMAP account, a task pushes the change to the server after
the commit. A POP3 account's mail is kept here: the change is all there is.

Views validate and call these; nothing else writes messages or folders on a user's behalf.
"""

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.models import model_to_dict
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from accounts.models import MailAccount

from .events import (
    announce_added,
    announce_flags,
    announce_folders,
    announce_removed,
    send_event_on_commit,
)
from .fulltext import get_index
from .models import ChangeKind, Folder, Message, PendingChange, Role, TrustedSender
from .parsing.bidi import BIDI_CONTROLS
from .protocols.base import FORBIDDEN_CHARACTERS
from .sync import local, store

SYSTEM_FLAGS = {"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"}
KEYWORD = re.compile(r"^[A-Za-z0-9$_.\-]{1,64}$")


def get_messages_for_user(user, message_ids):
    return Message.objects.filter(pk__in=list(message_ids), folder__account__user=user)


def get_confirmed_messages_for_user(user, message_ids):
    """Messages that the server knows by a UID: a copy still on its way (its UID not yet known,
    for a second or so) cannot be changed again until it is confirmed."""
    return get_messages_for_user(user, message_ids).filter(uid__isnull=False)


def get_folder_for_user(user, folder_id):
    """The user's own folder, or 404: never confirm that another user's folder exists."""
    return get_object_or_404(
        Folder.objects.select_related("account"), pk=folder_id, account__user=user
    )


def check_flags(flags):
    for flag in flags:
        if flag not in SYSTEM_FLAGS and not KEYWORD.match(flag):
            raise ValidationError(_("%(flag)s is not a flag.") % {"flag": flag[:64]})
    return list(flags)


def _push_on_commit(accounts):
    """Push the queued changes of these IMAP accounts to their servers, after the commit.

    Robust: with the queue (Redis) down the change is kept all the same, in the cache and as a
    PendingChange, and the user hears no error; beat's resync (sync_all_accounts, which pushes
    first) takes it to the server once the queue is back."""
    from .tasks import sync_account

    for account_id in {account.pk for account in accounts if not account.is_pop3}:
        # robust: with the task queue down (Redis restarting) the change is made and stays
        # queued in PendingChange; the account's next sync pushes it (the next change made
        # here, or beat's resync). Raising would answer 500 for a change that was kept.
        transaction.on_commit(
            lambda a=account_id: sync_account.delay(a, push_only=True), robust=True
        )


def _locked_by_folder(user, message_ids):
    """The user's confirmed messages, locked for the change, grouped by folder."""
    messages = get_confirmed_messages_for_user(user, message_ids)
    return _by_folder(messages.select_related("folder__account").select_for_update(of=("self",)))


def _by_folder(messages):
    groups = {}
    for message in messages:
        groups.setdefault(message.folder, []).append(message)
    return groups


def _recount(folders):
    for folder in folders:
        store.refresh_counts(folder)  # and its "folder.counts" event


@transaction.atomic
def do_set_flags(user, message_ids, *, add=(), remove=()):
    """Add and remove flags on the user's messages (read, unread, star, ...)."""
    add, remove = set(check_flags(add)), set(check_flags(remove))
    groups = _locked_by_folder(user, message_ids)
    for folder, rows in groups.items():
        undo = {row.pk: list(row.flags) for row in rows}
        for row in rows:
            for name, value in store.flag_values((set(row.flags) | add) - remove).items():
                setattr(row, name, value)
        Message.objects.bulk_update(rows, [*store.FLAG_FIELDS, "keywords"])
        _queue_change(folder, ChangeKind.FLAGS, rows, undo={"flags": undo},
                      add_flags=sorted(add), remove_flags=sorted(remove))  # fmt: skip
        announce_flags(user.pk, folder, {row.pk: row.flags for row in rows})
    _recount(groups)
    _push_on_commit(folder.account for folder in groups)
    return sum(len(rows) for rows in groups.values())


def _queue_change(folder, kind, rows, **fields):
    """The change to push for ``rows`` of ``folder`` (all known to the server by their UIDs);
    nothing for mail kept here."""
    if folder.account.is_pop3:
        return
    PendingChange.objects.create(
        account_id=folder.account_id, folder=folder, kind=kind, uidvalidity=folder.uidvalidity,
        uids=[row.uid for row in rows], message_ids=[row.pk for row in rows], **fields,
    )  # fmt: skip


def _serialize(row):
    data = model_to_dict(row, exclude=["id", "folder"])
    data["folder_id"] = row.folder_id
    data["id"] = row.pk
    data["bodystructure"] = bytes(row.bodystructure).hex()
    return data


def _copy_rows(rows, target):
    """Placeholders in ``target`` for ``rows``: shown at once, UIDs filled in by the push."""
    placeholders = {}
    for row in rows:
        copy = Message(**{**_serialize(row), "id": None, "folder_id": target.pk})
        copy.bodystructure = row.bodystructure
        copy.uid, copy.uidvalidity = None, target.uidvalidity or 0
        copy.save()
        placeholders[str(row.pk)] = copy.pk
    # a new row: indexed again (its text too, by the background pass, once it has a UID)
    get_index().index_headers_for_ids(placeholders.values())
    return placeholders


class MoveLog:
    """What the moves of one request did, for its undo: where each message is now (its id in
    the target: a placeholder's for an IMAP account, the same id for mail kept here) and the
    folder it came from. The do_move_* actions given one fill it."""

    def __init__(self):
        self.groups = {}  # (origin folder id, target folder id) -> [message id in the target]

    def add(self, origin, target, ids):
        self.groups.setdefault((origin.pk, target.pk), []).extend(ids)

    def __len__(self):
        return sum(len(ids) for ids in self.groups.values())

    def as_moves(self):
        """[{"from": origin folder id, "to": target folder id, "ids": [...]}], as
        do_undo_moves takes them back."""
        return [{"from": origin, "to": target, "ids": sorted(ids)}
                for (origin, target), ids in self.groups.items()]  # fmt: skip


@transaction.atomic
def do_move_messages(user, message_ids, target_folder_id, *, copy=False, log=None):
    """Move (or copy) the user's messages to another folder of the same account; ``log``
    (a MoveLog), if given, records the moves for an undo."""
    target = get_folder_for_user(user, target_folder_id)
    if not target.selectable:
        raise ValidationError(_("Messages cannot be put in %(folder)s.") % {"folder": target.name})
    messages = (
        get_confirmed_messages_for_user(user, message_ids)
        .select_related("folder__account")
        .select_for_update(of=("self",))
    )
    groups = {f: rows for f, rows in _by_folder(messages).items() if f != target or copy}
    return _move_groups(user, groups, target, copy=copy, log=log)


def _move_groups(user, groups, target, *, copy=False, log=None):
    """Move (or copy) ``groups`` ({folder: [locked Message]}) to ``target``. A row without a
    UID (a move's placeholder, put back by an undo before the push confirmed it) is named in
    its change's ``undo["awaiting"]``: the push gives it its UID once the first move is done."""
    for folder, rows in groups.items():
        if folder.account_id != target.account_id:
            raise ValidationError(_("Messages can only be moved within one mail account."))
        if not copy:
            announce_removed(user.pk, folder, [row.pk for row in rows], to_folder=target)
        if target.account.is_pop3:
            moved = _move_kept(rows, target, copy)
        else:
            undo = {"rows": [_serialize(r) for r in rows], "placeholders": _copy_rows(rows, target)}
            if awaiting := [row.pk for row in rows if row.uid is None]:
                undo["awaiting"] = awaiting
            moved = list(undo["placeholders"].values())
            if not copy:
                Message.objects.filter(pk__in=[row.pk for row in rows]).delete()
            kind = ChangeKind.COPY if copy else ChangeKind.MOVE
            _queue_change(folder, kind, rows, target=target, undo=undo)
        announce_added(user.pk, target, moved)
        if log is not None:
            log.add(folder, target, moved)
    _recount([*groups, target])
    _push_on_commit([target.account])
    return sum(len(rows) for rows in groups.values())


@transaction.atomic
def do_undo_moves(user, moves, *, log=None):
    """Put back what moves took away: ``moves`` as MoveLog.as_moves gave them. Each message
    goes back to its origin folder through the same path as any move (for an IMAP account a
    MOVE queued after the first one, first-in, first-out, even if that one is not pushed yet).

    Only the user's messages still in the folder the move put them in are moved: one moved
    again, deleted or already put back is skipped, as is one whose origin is not the user's
    (or no longer exists). Returns (put back, skipped); ``log`` records where they are now.
    """
    back = skipped = 0
    for move in moves:
        ids = set(move["ids"])
        origin = Folder.objects.filter(pk=move["from"], account__user=user, selectable=True)
        origin = origin.select_related("account").first()
        rows = list(
            get_messages_for_user(user, ids)
            .filter(folder_id=move["to"], folder__account_id=getattr(origin, "account_id", None))
            .exclude(folder_id=move["from"])
            .select_related("folder__account")
            .select_for_update(of=("self",))
        )
        if rows:
            back += _move_groups(user, _by_folder(rows), origin, log=log)
        skipped += len(ids) - len(rows)
    return back, skipped


def _move_kept(rows, target, copy):
    """Mail kept here moves at once (keeping its ids); a copy shares the raw file of its
    original. Returns the ids of the messages now in ``target``."""
    if not copy:
        local.move_messages(rows, target)
        return [row.pk for row in rows]
    copies = []
    for row, uid in zip(rows, local.allocate_uids(target.pk, len(rows)), strict=True):
        copies.append(Message(**{**_serialize(row), "id": None, "folder_id": target.pk,
                                 "uid": uid, "bodystructure": row.bodystructure}))  # fmt: skip
    Message.objects.bulk_create(copies)
    get_index().index_headers_for_ids([copy.pk for copy in copies])
    return [copy.pk for copy in copies]


def _role_folder(account, role):
    return Folder.objects.filter(account=account, role=role, selectable=True).first()


@transaction.atomic
def do_move_to_role(user, message_ids, role, *, log=None):
    """Archive, junk, or delete to Trash: a move to the account's folder with that role
    (``log``: as do_move_messages)."""
    messages = list(
        get_confirmed_messages_for_user(user, message_ids).select_related("folder__account")
    )
    moved = 0
    for account in {message.folder.account for message in messages}:
        target = _role_folder(account, role)
        if target is None:
            label = Role(role).label
            raise ValidationError(_("%(account)s has no %(folder)s folder.") % {
                "account": account.email, "folder": label})  # fmt: skip
        ids = [m.pk for m in messages if m.folder.account_id == account.pk]
        moved += do_move_messages(user, ids, target.pk, log=log)
    return moved


@transaction.atomic
def do_delete_messages(user, message_ids, *, log=None):
    """Delete: to Trash, and for good from Trash (or where there is no Trash); ``log`` records
    only the moves to Trash (what is gone for good has no undo)."""
    messages = list(
        get_confirmed_messages_for_user(user, message_ids).select_related("folder__account")
    )
    accounts = {message.folder.account for message in messages}
    has_trash = {account.pk: bool(_role_folder(account, Role.TRASH)) for account in accounts}
    for_good = [
        m.pk for m in messages if m.folder.role == Role.TRASH or not has_trash[m.folder.account_id]
    ]
    to_trash = [m.pk for m in messages if m.pk not in for_good]
    if to_trash:
        do_move_to_role(user, to_trash, Role.TRASH, log=log)
    if for_good:
        do_expunge_messages(user, for_good)
    return len(messages)


@transaction.atomic
def do_expunge_messages(user, message_ids):
    """Remove messages for good (UID EXPUNGE of exactly these)."""
    groups = _locked_by_folder(user, message_ids)
    for folder, rows in groups.items():
        announce_removed(user.pk, folder, [row.pk for row in rows])
        if folder.account.is_pop3:
            local.delete_messages([row.pk for row in rows])
            continue
        undo = {"rows": [_serialize(row) for row in rows]}
        Message.objects.filter(pk__in=[row.pk for row in rows]).delete()
        _queue_change(folder, ChangeKind.EXPUNGE, rows, undo=undo)
    _recount(groups)
    _push_on_commit(folder.account for folder in groups)
    return sum(len(rows) for rows in groups.values())


@transaction.atomic
def do_empty_folder(user, folder_id):
    """Empty Trash or Junk: every message in it, for good."""
    folder = get_folder_for_user(user, folder_id)
    if folder.role not in (Role.TRASH, Role.JUNK):
        raise ValidationError(_("Only Trash and Junk can be emptied."))
    ids = list(folder.messages.filter(uid__isnull=False).values_list("pk", flat=True))
    # one change per 5,000 messages, as a folder-wide selection is applied
    return sum(
        do_expunge_messages(user, ids[start : start + 5000]) for start in range(0, len(ids), 5000)
    )


# --- folders: an IMAP account's on the server at once (the user waits for the answer), then
# mirrored; a POP3 account's here ---


def get_account_for_user(user, account_id):
    """The user's own mail account, or 404: never confirm that another user's exists."""
    return get_object_or_404(MailAccount, pk=account_id, user=user)


def get_imap_account_for_user(user, account_id):
    """The user's own IMAP account, or 404 (the search of a server, say)."""
    return get_object_or_404(MailAccount, pk=account_id, user=user, incoming_protocol="imap")


def do_check_mail(user, account_id):
    """ "Check now": the account's sync (IMAP) or fetch (POP3), queued at once.
    kombu's OperationalError when the task queue does not answer."""
    from .tasks import fetch_pop3_account, sync_account

    account = get_account_for_user(user, account_id)
    (fetch_pop3_account if account.is_pop3 else sync_account).delay(account.pk)
    return account


def _folder_names(account):
    return dict(Folder.objects.filter(account=account).values_list("pk", "name"))


def _folder_command(account, command, here=None):
    """Run a folder command on the server, then mirror the folder list, refused or not (the
    mirror announces what changed). For a POP3 account, ``here()`` makes the change in its
    local folders instead."""
    if account.is_pop3:
        with transaction.atomic():
            before = _folder_names(account)
            here()
            after = _folder_names(account)
            announce_folders(
                account.user_id, account.pk, created=after.keys() - before.keys(),
                deleted=before.keys() - after.keys(),
                renamed=[pk for pk in before.keys() & after.keys() if before[pk] != after[pk]],
            )  # fmt: skip
        return
    from .sync import imap_session
    from .sync.folders import sync_folder_list

    with imap_session(account) as session:
        try:
            command(session)
        finally:
            sync_folder_list(account, session)


def _account_delimiter(account):
    delimiters = (
        Folder.objects.filter(account=account)
        .exclude(delimiter="")
        .values_list("delimiter", flat=True)
    )
    return delimiters.first() or "/"


MAX_FOLDER_PATH = 1000  # characters of a whole path, as Folder.name holds it


def check_folder_name(name, delimiter="/"):
    """One level of a folder path: on one line (no control character, nor a bidi control that
    would show it reversed), without the server's hierarchy delimiter."""
    name = name.strip()
    controls = any(unicodedata.category(ch) == "Cc" or ch in BIDI_CONTROLS for ch in name)
    if not name or controls or not FORBIDDEN_CHARACTERS.isdisjoint(name) or len(name) > 200:
        raise ValidationError(_("A folder name is 1 to 200 characters on one line."))
    if delimiter in name:
        raise ValidationError(
            _("A folder name cannot contain %(delimiter)s: create the parent folder first.")
            % {"delimiter": delimiter}
        )
    if "%" in name or "*" in name:  # IMAP LIST's wildcards (RFC 3501 6.3.8): never in a name
        raise ValidationError(_("A folder name cannot contain a percent sign or an asterisk."))
    return name


def _check_free(account, name):
    """No folder of that name (for mail kept here, whatever the case: two folders that differ
    only by case read as one), no second Inbox, and a path that fits."""
    taken = Folder.objects.filter(account=account)
    lookup = {"name__iexact": name} if account.is_pop3 else {"name": name}
    if taken.filter(**lookup).exists() or name.upper() == "INBOX":
        raise ValidationError(_("There is already a folder %(name)s.") % {"name": name})
    if len(name) > MAX_FOLDER_PATH:
        raise ValidationError(
            _("The folder's whole path would be longer than %(count)d characters.")
            % {"count": MAX_FOLDER_PATH}
        )


def is_special_use(folder):
    """Inbox, Drafts, Sent, Archive, Junk, Trash (or another RFC 6154 role): a folder that the
    account's other clients, and our own archive, delete and send, find by its role."""
    return bool(folder.role) or folder.name.upper() == "INBOX"


def check_change_folder(folder, *, rename):
    """ValidationError if ``folder`` is special-use: it is neither renamed nor deleted from here
    (a renamed Sent would leave the phone and the server's auto-created one disagreeing)."""
    if not is_special_use(folder):
        return
    if folder.role in ("", Role.INBOX):
        raise ValidationError(
            _("The Inbox cannot be renamed.") if rename else _("The Inbox cannot be deleted.")
        )
    message = (
        _("%(folder)s is one of this account's standard folders and cannot be renamed.")
        if rename
        else _("%(folder)s is one of this account's standard folders and cannot be deleted.")
    )
    raise ValidationError(message % {"folder": Role(folder.role).label})


def do_create_folder(user, account_id, name, parent_id=None):
    account = get_account_for_user(user, account_id)
    delimiter = _account_delimiter(account)
    name = check_folder_name(name, delimiter)
    if parent_id:
        parent = get_object_or_404(Folder, pk=parent_id, account=account)
        name = f"{parent.name}{parent.delimiter or delimiter}{name}"
    _check_free(account, name)
    _folder_command(account, lambda session: (session.create(name), session.subscribe(name)),
                    lambda: local.create_folder(account, name))  # fmt: skip
    return Folder.objects.filter(account=account, name=name).first()


def do_rename_folder(user, folder_id, new_leaf_name):
    folder = get_folder_for_user(user, folder_id)
    check_change_folder(folder, rename=True)
    new_leaf_name = check_folder_name(new_leaf_name, folder.delimiter or "/")
    new_name = new_leaf_name if folder.parent_name is None else (
        f"{folder.parent_name}{folder.delimiter}{new_leaf_name}")  # fmt: skip
    if new_name == folder.name:
        return folder
    _check_free(folder.account, new_name)
    if folder.account.is_pop3:
        rename = lambda: _rename_locally(folder, folder.name, new_name)  # noqa: E731
        _folder_command(folder.account, None, rename)
        return Folder.objects.get(pk=folder.pk)
    # Keep the cache: once the server has renamed it, the folder, its subfolders and their
    # messages follow the new name here (RFC 3501 RENAME keeps UIDVALIDITY, so the cached UIDs
    # stay good), before the folder list is mirrored. Renamed here only after the server said
    # OK: a refused rename leaves the cache as it was (renamed first, the mirror of the refusal
    # would take the cached folder for one deleted on the server and drop it with its mail).
    renamed = []

    def rename(session):
        session.rename(folder.name, new_name)
        renamed.extend(_rename_locally(folder, folder.name, new_name))

    _folder_command(folder.account, rename)
    announce_folders(folder.account.user_id, folder.account_id, renamed=renamed)
    return Folder.objects.get(pk=folder.pk)


@transaction.atomic
def _rename_locally(folder, old, new, folders=None):
    prefix = old + (folder.delimiter or "\0")
    if folders is None:
        folders = [folder.pk] + [
            f.pk for f in Folder.objects.filter(account=folder.account, name__startswith=prefix)
        ]
    for row in Folder.objects.filter(pk__in=folders):
        row.name = new + row.name[len(old) :]
        row.save(update_fields=["name"])
    return folders


def do_delete_folder(user, folder_id):
    """Delete a folder with everything in it (a POP3 account's mail in it is gone for good)."""
    folder = get_folder_for_user(user, folder_id)
    check_change_folder(folder, rename=False)
    _folder_command(folder.account, lambda session: session.delete(folder.name),
                    lambda: local.delete_folder(folder))  # fmt: skip


def do_subscribe_folder(user, folder_id, subscribed):
    folder = get_folder_for_user(user, folder_id)
    if folder.account.is_pop3:
        raise ValidationError(_("Folders kept here are always shown."))
    verb = "subscribe" if subscribed else "unsubscribe"
    _folder_command(folder.account, lambda session: getattr(session, verb)(folder.name))


# --- remote content ------------------------------------------------------------------------------


def is_trusted_sender(user, address):
    return (
        bool(address) and TrustedSender.objects.filter(user=user, address=address.lower()).exists()
    )


@transaction.atomic
def do_trust_sender(user, address, trusted=True):
    """Always show (or stop showing) remote content in mail from ``address``."""
    address = address.strip().lower()[:320]
    if not address:
        raise ValidationError(_("This message has no sender address."))
    if trusted:
        TrustedSender.objects.get_or_create(user=user, address=address)
    else:
        TrustedSender.objects.filter(user=user, address=address).delete()
    send_event_on_commit([user.pk], {"type": "preferences.changed"})
