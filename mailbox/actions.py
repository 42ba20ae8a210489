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
    """Push the queued changes of these IMAP accounts to their servers, after the commit."""
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


@transaction.atomic
def do_move_messages(user, message_ids, target_folder_id, *, copy=False):
    """Move (or copy) the user's messages to another folder of the same account."""
    target = get_folder_for_user(user, target_folder_id)
    if not target.selectable:
        raise ValidationError(_("Messages cannot be put in %(folder)s.") % {"folder": target.name})
    messages = (
        get_confirmed_messages_for_user(user, message_ids)
        .select_related("folder__account")
        .select_for_update(of=("self",))
    )
    groups = {f: rows for f, rows in _by_folder(messages).items() if f != target or copy}
    for folder, rows in groups.items():
        if folder.account_id != target.account_id:
            raise ValidationError(_("Messages can only be moved within one mail account."))
        if not copy:
            announce_removed(user.pk, folder, [row.pk for row in rows], to_folder=target)
        if target.account.is_pop3:
            announce_added(user.pk, target, _move_kept(rows, target, copy))
            continue
        undo = {"rows": [_serialize(row) for row in rows], "placeholders": _copy_rows(rows, target)}
        announce_added(user.pk, target, undo["placeholders"].values())
        if not copy:
            Message.objects.filter(pk__in=[row.pk for row in rows]).delete()
        kind = ChangeKind.COPY if copy else ChangeKind.MOVE
        _queue_change(folder, kind, rows, target=target, undo=undo)
    _recount([*groups, target])
    _push_on_commit([target.account])
    return sum(len(rows) for rows in groups.values())


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
def do_move_to_role(user, message_ids, role):
    """Archive, junk, or delete to Trash: a move to the account's folder with that role."""
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
        moved += do_move_messages(user, ids, target.pk)
    return moved


@transaction.atomic
def do_delete_messages(user, message_ids):
    """Delete: to Trash, and for good from Trash (or where there is no Trash)."""
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
        do_move_to_role(user, to_trash, Role.TRASH)
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
    new_leaf_name = check_folder_name(new_leaf_name, folder.delimiter or "/")
    new_name = new_leaf_name if folder.parent_name is None else (
        f"{folder.parent_name}{folder.delimiter}{new_leaf_name}")  # fmt: skip
    if folder.role == Role.INBOX:
        raise ValidationError(_("The Inbox cannot be renamed."))
    if new_name == folder.name:
        return folder
    _check_free(folder.account, new_name)
    if folder.account.is_pop3:
        rename = lambda: _rename_locally(folder, folder.name, new_name)  # noqa: E731
        _folder_command(folder.account, None, rename)
        return Folder.objects.get(pk=folder.pk)
    # keep the cache: the folder, its subfolders and their messages follow the new name
    # (RFC 3501 RENAME keeps UIDVALIDITY, so the cached UIDs stay good)
    renamed = _rename_locally(folder, folder.name, new_name)
    try:
        _folder_command(folder.account, lambda session: session.rename(folder.name, new_name))
    except Exception:
        _rename_locally(folder, new_name, folder.name, renamed)
        raise
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
    if folder.role == Role.INBOX:
        raise ValidationError(_("The Inbox cannot be deleted."))
    if folder.account.is_pop3 and folder.role:
        raise ValidationError(
            _("%(folder)s is one of this account's standard folders and cannot be deleted.")
            % {"folder": Role(folder.role).label}
        )
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
