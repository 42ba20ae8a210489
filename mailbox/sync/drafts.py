"""A draft as a message: built from its row (``outgoing_for``), and its one copy in the account's
Drafts folder, on the IMAP server or, for a POP3 account, in the local Drafts.

Saving the copy (``save_copy``, run by the task save_draft_copy) never leaves two copies nor puts
an older text over a newer one:
1. one run per draft at a time holds a lease (a key in the cache that expires); another finds it
   held and is tried again shortly. The holder copies the row as it is now, and again while
   saves made meanwhile left it behind, so a run that comes late or twice finds
   ``copy_version == version`` and does nothing. The row itself is not locked while the server
   is talked to: the user's saves never wait for the mail server;
2. the new copy is APPENDed first (flags \\Draft \\Seen), then the previous one is removed by the
   UID the earlier APPEND returned (UID STORE \\Deleted + UID EXPUNGE of exactly that UID);
3. every other message in Drafts with this draft's own Message-ID (which is ours, made once per
   draft) goes too: what a run killed between its APPEND and its commit left behind.
A POP3 account does the same inside one transaction: the new file kept, its row inserted, the old
row deleted.
"""

import contextlib
import logging
import re
import secrets

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from mailbox.composing.build import Attachment, Outgoing, build_message
from mailbox.composing.fields import Address, BadField, check_address, parse_address_field
from mailbox.models import Draft, Folder, Message, Role
from mailbox.parsing.addresses import parse_addresses
from mailbox.sources import MessageGone, PartNotFound, rawstore, source_for

from . import local, store

logger = logging.getLogger(__name__)

DRAFT_FLAGS = ("\\Draft", "\\Seen")
LEASE_SECONDS = 600  # longer than any APPEND of a message within the size limit
# a Message-ID of ours: safe to put in a SEARCH command as a quoted string
_OWN_MESSAGE_ID = re.compile(r"<[A-Za-z0-9.!#$%&'*+/=?^_`{|}~@-]{1,250}>")


# --- the draft as a message ----------------------------------------------------------------------


def identity_address(draft) -> Address:
    identity = draft.identity
    if identity is None:
        return Address(draft.account.display_name or "", draft.account.email)
    return Address(identity.name, identity.address)


def addresses(field, text, *, strict):
    """The addresses typed in a box. ``strict``: BadField names the first bad one (a send);
    else the good ones only (a draft's copy keeps what it can of work in progress)."""
    if strict:
        return parse_address_field(field, text)
    try:
        return parse_address_field(field, text)
    except BadField:
        found = []
        for name, address in parse_addresses(text):
            try:
                found.append(Address(name, check_address(field, address)))
            except BadField:
                continue
        return found


def attachment_bytes(attachment) -> bytes:
    """An attachment's decoded bytes: uploaded ones from the mail storage, re-used ones from the
    original message's source (a whole message when ``section`` is empty). Raises OSError,
    ConnectionProblem or MessageGone when they cannot be read."""
    if attachment.stored_name:
        with rawstore.open_raw(attachment.stored_name) as handle:
            return handle.read()
    original = attachment.source
    if original is None:
        raise FileNotFoundError(attachment.filename)
    if not attachment.section:
        stream = source_for(original).stream_message(original)
        try:
            return b"".join(stream)
        finally:
            stream.close()
    return source_for(original).get_part(original, attachment.section)


class AttachmentGone(LookupError):
    """An attachment's bytes are gone for good (the original forwarded was deleted); ``args[0]``
    is its file name."""


def outgoing_for(draft, *, strict=False, date=None) -> Outgoing:
    """The draft as an :class:`Outgoing`, attachments read now. ``strict`` (a send): a bad
    address raises BadField, an attachment gone AttachmentGone; otherwise they are left out.
    ConnectionProblem when an original cannot be read now. ``draft.html`` must already be
    sanitized (the save does it)."""
    identity = draft.identity
    reply_to = addresses("reply_to", identity.reply_to, strict=False) if identity else []
    outgoing = Outgoing(
        sender=identity_address(draft),
        to=addresses("to", draft.to, strict=strict),
        cc=addresses("cc", draft.cc, strict=strict),
        bcc=addresses("bcc", draft.bcc, strict=strict),
        reply_to=reply_to, subject=draft.subject, text=draft.text,
        html=draft.html if draft.is_html else "", in_reply_to=draft.in_reply_to,
        references=draft.references.split(), message_id=draft.message_id, date=date,
    )  # fmt: skip
    for attachment in draft.attachments.select_related("source__folder__account"):
        try:
            data = attachment_bytes(attachment)
        except (MessageGone, PartNotFound, FileNotFoundError) as gone:
            if strict:
                raise AttachmentGone(attachment.filename) from gone
            logger.info("draft %s: attachment %s is gone", draft.pk, attachment.pk)
            continue  # the copy in Drafts keeps what is left
        if attachment.source_id and not attachment.section:
            outgoing.forwarded.append(data)
        else:
            outgoing.attachments.append(
                Attachment(attachment.filename, attachment.content_type, data)
            )
    return outgoing


# --- its copy in Drafts --------------------------------------------------------------------------


def drafts_folder(account):
    """The account's Drafts folder (the local one is made for a POP3 account), or None."""
    if account.is_pop3:
        return local.ensure_standard_folders(account)[Role.DRAFTS]
    return Folder.objects.filter(account=account, role=Role.DRAFTS, selectable=True).first()


class CopyBusy(Exception):
    """Another run is saving this draft's copy: the task tries again shortly."""


@contextlib.contextmanager
def _copy_lease(draft_id):
    """One run per draft at a time: a key added to the cache (Redis: SET NX) that expires, so
    a worker killed while holding it frees the draft LEASE_SECONDS later."""
    key, token = f"draft-copy:{int(draft_id)}", secrets.token_hex(8)
    if not cache.add(key, token, LEASE_SECONDS):
        raise CopyBusy(draft_id)
    try:
        yield
    finally:
        if cache.get(key) == token:
            cache.delete(key)


def save_copy(draft_id):
    """Bring the draft's copy in Drafts up to its current version (see the module's docstring).
    Returns the copy's version, or None when there is nothing to do it with (no draft any more,
    no Drafts folder). CopyBusy when another run holds the draft; ConnectionProblem when the
    server cannot be reached."""
    with _copy_lease(draft_id):
        while True:  # until the copy is the newest version: saves go on while it is made
            draft = (
                Draft.objects.select_related("account", "identity", "copy_folder__account")
                .filter(pk=draft_id)
                .first()
            )
            if draft is None or draft.copy_version >= draft.version:
                return draft and draft.copy_version
            if not _copy_once(draft):
                return None


def _copy_once(draft):
    """One copy of ``draft`` as read (its ``version``) in place of the previous one; False when
    it cannot be made (no Drafts folder, a value that cannot be a header: the next save
    tries again)."""
    folder = drafts_folder(draft.account)
    if folder is None:
        logger.info("account %s has no Drafts folder: draft %s kept here only",
                    draft.account_id, draft.pk)  # fmt: skip
        return False
    try:
        raw = build_message(outgoing_for(draft), with_bcc=True)
    except BadField as bad:
        logger.info("draft %s not copied: %s in %s", draft.pk, bad.reason, bad.field)
        return False
    _leave_other_account(draft)
    if draft.account.is_pop3:
        _replace_local_copy(draft, folder, raw)
    else:
        _replace_server_copy(draft, folder, raw)
    return True


def _leave_other_account(draft):
    """The user chose an identity of another account: the copy in the first account's Drafts
    goes before the new one is made in the other's."""
    old = draft.copy_folder
    if old is None or old.account_id == draft.account_id:
        return
    if draft.copy_uid is not None:
        delete_copy(old.account, old.pk, draft.copy_uidvalidity, draft.copy_uid, draft.message_id)
    draft.copy_folder = draft.copy_uidvalidity = draft.copy_uid = None


def _record_copy(draft, folder, uidvalidity, uid):
    """The copy now in Drafts, on the draft's row (the version it was made from); False when
    the draft was deleted meanwhile."""
    draft.copy_folder, draft.copy_uidvalidity, draft.copy_uid = folder, uidvalidity, uid
    draft.copy_version = draft.version
    return bool(
        Draft.objects.filter(pk=draft.pk).update(
            copy_folder=folder,
            copy_uidvalidity=uidvalidity,
            copy_uid=uid,
            copy_version=draft.version,
        )
    )


def _replace_server_copy(draft, folder, raw):
    from mailbox.sync import imap_session

    old = (draft.copy_folder, draft.copy_uidvalidity, draft.copy_uid)
    with imap_session(draft.account) as session:
        appended = session.append(folder.name, raw, flags=DRAFT_FLAGS)
        selected = session.select(folder.name)
        found = set(_copies_on_server(session, draft.message_id))
        # without APPENDUID the copy just made is the one with the highest UID (RFC 3501 2.3.1.1)
        keep = appended[1] if appended else max(found, default=None)
        doomed = found - {keep}
        if old[0] == folder and old[2] and old[1] == selected.uidvalidity:
            doomed.add(old[2])
        if doomed:
            _remove(session, doomed)
        if old[0] is not None and old[0] != folder and old[2]:  # an edited draft of elsewhere
            _expunge_in(session, *old)
    if old[0] is not None and old[2]:
        Message.objects.filter(folder=old[0], uidvalidity=old[1], uid=old[2]).delete()
        store.refresh_counts(old[0])  # the folder page's count, not only the list
    # without UIDPLUS the copy is found by its Message-ID next time
    if not _record_copy(draft, folder, *(appended or (None, None))):
        # deleted (or sent) while we wrote: what we just put in Drafts goes too
        delete_copy(draft.account, folder.pk, *(appended or (None, None)), draft.message_id)


def _expunge_in(session, folder, uidvalidity, uid):
    if session.select(folder.name).uidvalidity == uidvalidity:
        _remove(session, [uid])


def _remove(session, uids):
    """Remove exactly ``uids`` of the selected folder: UID EXPUNGE (RFC 4315). A server without
    UIDPLUS gets them marked \\Deleted only: a plain EXPUNGE would also remove what the user
    marked deleted elsewhere; their other client expunges them."""
    if "UIDPLUS" in session.capabilities:
        session.expunge(sorted(uids))
    else:
        session.store_flags(sorted(uids), add=["\\Deleted"])


def _copies_on_server(session, message_id):
    if not _OWN_MESSAGE_ID.fullmatch(message_id or ""):
        return []
    return session.uid_search(f'HEADER Message-ID "{message_id}"')


@transaction.atomic
def _replace_local_copy(draft, folder, raw):
    """The new copy kept as a file, its row added and the previous one deleted, in one
    transaction under the draft's row lock (the file is made durable before the row names it;
    a rollback leaves the file unnamed, harmless)."""
    if not Draft.objects.select_for_update().filter(pk=draft.pk).exists():
        return  # deleted meanwhile
    name = (
        f"{rawstore.account_prefix(draft.account_id)}drafts/{draft.pk}-{secrets.token_hex(8)}.eml"
    )
    spool = rawstore.Spool()
    handle = spool.file(name)
    handle.write(raw)
    (kept,) = rawstore.keep_all([(handle, name)])
    header = raw[: raw.find(b"\r\n\r\n") + 4]
    (uid,) = local.allocate_uids(folder.pk, 1)
    row = store.kept_message_values(
        folder.pk, local.LOCAL_UIDVALIDITY, uid, header, len(raw), draft.attachments.exists(),
        kept, timezone.now(),
    )  # fmt: skip
    store.insert_kept_rows(folder.account_id, [row])
    Message.objects.filter(folder=folder, uid=uid).update(seen=True, draft=True)
    _forget_local_copy(draft)
    _record_copy(draft, folder, local.LOCAL_UIDVALIDITY, uid)
    store.refresh_counts(folder)


def _forget_local_copy(draft):
    if draft.copy_folder_id and draft.copy_uid:
        old = Message.objects.filter(
            folder_id=draft.copy_folder_id, uidvalidity=draft.copy_uidvalidity, uid=draft.copy_uid
        ).values_list("pk", flat=True)
        local.delete_messages(list(old))


def delete_copy(account, folder_id, uidvalidity, uid, message_id):
    """Remove a deleted draft's copy from Drafts: by its UID, and any other message there with
    its Message-ID (IMAP); its row and file (POP3). Nothing to do is not an error."""
    folder = Folder.objects.filter(pk=folder_id, account=account).first()
    if folder is None:
        return
    if account.is_pop3:
        with transaction.atomic():
            rows = Message.objects.filter(folder=folder, uidvalidity=uidvalidity, uid=uid)
            local.delete_messages(list(rows.values_list("pk", flat=True)))
            store.refresh_counts(folder)
        return
    from mailbox.sync import imap_session

    with imap_session(account) as session:
        selected = session.select(folder.name)
        doomed = set(_copies_on_server(session, message_id))
        if uid and uidvalidity == selected.uidvalidity:
            doomed.add(uid)
        if doomed:
            _remove(session, doomed)
    if uid:  # (a row without a UID is another change's placeholder)
        Message.objects.filter(folder=folder, uidvalidity=uidvalidity, uid=uid).delete()
        store.refresh_counts(folder)  # the folder page's count, not only the list
