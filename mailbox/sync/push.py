"""Changes made in the web, already in the cache, pushed to the server first-in, first-out.

A change the server refuses is rolled back in the cache and the user is told why. A change that
cannot be sent now (server down) stays queued for the next run. The server wins on conflicts:
a resync after the push shows whatever the server decided.
"""

import logging

from django.db import transaction

from mailbox.events import announce_added, announce_flags, announce_removed, send_event_on_commit
from mailbox.fulltext import get_index
from mailbox.models import ChangeKind, Folder, Message, PendingChange
from mailbox.protocols.imap import ImapCommandError

from . import store

logger = logging.getLogger(__name__)


def push_pending(account, session):
    """Send every queued change of ``account``. Returns the number sent (or rolled back)."""
    count = 0
    for change in PendingChange.objects.filter(account=account).select_related("folder", "target"):
        if change.undo.get("awaiting"):
            change.refresh_from_db()  # an earlier change of this run may have named its UIDs
        try:
            _send(change, session)
        except ImapCommandError as refused:
            rollback(change, str(refused.text or refused.status))
        else:
            change.delete()
        count += 1
    return count


def _send(change, session):
    selected = session.select(change.folder.name)
    if selected.uidvalidity != change.uidvalidity:
        raise ImapCommandError("SELECT", "NO", "the folder was recreated on the server")
    uids = [uid for uid in change.uids if uid is not None]
    if change.kind == ChangeKind.FLAGS:
        session.store_flags(uids, add=change.add_flags, remove=change.remove_flags)
    elif change.kind in (ChangeKind.MOVE, ChangeKind.COPY):
        send = session.move if change.kind == ChangeKind.MOVE else session.copy
        mapping = send(uids, change.target.name)
        _confirm_placeholders(change, mapping)
    elif change.kind == ChangeKind.EXPUNGE:
        session.expunge(uids)


def _confirm_placeholders(change, mapping):
    """Give the copies in the target folder the UIDs the server assigned (COPYUID).

    A placeholder the server gave no UID for goes: either the message was already gone from
    the source (the server wins), or the server does not say (no UIDPLUS) and the target's next
    sync fetches the real message. Placeholders never outlive the push.
    """
    placeholders = change.undo.get("placeholders", {})  # source message id -> placeholder id
    uidvalidity = change.target.uidvalidity
    dropped, confirmed, gone, known = 0, [], [], {}
    with transaction.atomic():
        for message_id, uid in zip(change.message_ids, change.uids, strict=True):
            new_uid = (mapping or {}).get(uid)
            placeholder = Message.objects.filter(
                pk=placeholders.get(str(message_id)), uid__isnull=True
            )
            if new_uid and uidvalidity is not None:
                known[placeholders.get(str(message_id))] = new_uid
                if placeholder.update(uid=new_uid, uidvalidity=uidvalidity):
                    confirmed.append(placeholders[str(message_id)])
            else:
                dropped += placeholder.delete()[0]
                gone.append(placeholders.get(str(message_id)))
        _name_awaited(change, known, uidvalidity)
        # the rows shown for them: confirmed ones fetched again (now they open), dropped ones out
        user_id = change.account.user_id
        announce_added(user_id, change.target, confirmed)
        announce_removed(user_id, change.target, [pk for pk in gone if pk is not None])
        if dropped:
            # The target's total counted them; its next sync adds the real messages, if any,
            # and moves the total by what it adds, so it must start from the truth.
            store.refresh_counts(Folder.objects.get(pk=change.target_id))


def _name_awaited(change, known, uidvalidity):
    """An undo that moved this change's placeholders back before they had UIDs queued a
    change naming them by id only (``undo["awaiting"]``, mailbox.actions.do_undo_moves): give
    it the UIDs just learnt (``known``: placeholder id -> UID in the target), so that it moves
    those very messages back. It comes later in the queue, so it is sent after this one."""
    if not known:
        return
    waiting = PendingChange.objects.filter(account_id=change.account_id, undo__has_key="awaiting")
    for later in waiting.select_for_update():
        uids = [known.get(pk, uid) if uid is None else uid
                for pk, uid in zip(later.message_ids, later.uids, strict=True)]  # fmt: skip
        for row, uid in zip(later.undo.get("rows", []), uids, strict=False):
            if row.get("uid") is None and uid is not None:  # a refusal restores it confirmed
                row["uid"], row["uidvalidity"] = uid, uidvalidity
        later.uids = uids
        later.undo["awaiting"] = [pk for pk in later.undo["awaiting"] if pk not in known]
        if not later.undo["awaiting"]:
            del later.undo["awaiting"]
        later.save(update_fields=["uids", "undo"])


def rollback(change, reason):
    """Put the cache back as it was before ``change`` and tell the user why."""
    user_id = change.account.user_id
    with transaction.atomic():
        placeholders = change.undo.get("placeholders", {})
        if change.kind == ChangeKind.FLAGS:
            undo = change.undo.get("flags", {})
            for message_id, flags in undo.items():
                Message.objects.filter(pk=message_id).update(**store.flag_values(flags))
            announce_flags(user_id, change.folder, store.flags_of([int(pk) for pk in undo]))
        if change.kind in (ChangeKind.MOVE, ChangeKind.COPY):
            Message.objects.filter(pk__in=placeholders.values()).delete()
            announce_removed(user_id, change.target, placeholders.values())
        if change.kind in (ChangeKind.MOVE, ChangeKind.EXPUNGE):
            _restore_rows(change)
            announce_added(user_id, change.folder, change.message_ids)
        change.delete()
        for folder in {change.folder, change.target} - {None}:
            store.refresh_counts(Folder.objects.get(pk=folder.pk))
    logger.info("change %s of account %s refused: %s", change.kind, change.account_id, reason)
    send_event_on_commit(
        [user_id],
        {
            "type": "change.failed",
            "kind": change.kind,
            "folder_id": change.folder_id,
            "reason": reason[:300],
        },
    )


def _restore_rows(change):
    """Bring back the rows a move or an expunge took out of the source folder; not a placeholder
    whose UID never came (an undone move's, when that move was refused too): nothing would."""
    rows = [row for row in change.undo.get("rows", []) if row.get("uid") is not None]
    Message.objects.bulk_create(
        [Message(**{**row, "bodystructure": bytes.fromhex(row["bodystructure"])}) for row in rows],
        ignore_conflicts=True,
    )
    get_index().index_headers_for_ids([row["id"] for row in rows if row.get("id")])
