"""POP3 fetch: new mail stored here, durably, before the server may lose its copy.

1. Under the account's lease (the one the IMAP sync uses): one fetch per account at a time.
2. Log in (STLS or implicit TLS, verified), STAT, then UIDL. On a server without UIDL, each
   message is known by a digest of its header block (TOP n 0, or RETR when TOP is missing too).
3. A message is new when its UIDL is not among the account's Pop3Download rows.
4. Each new message is RETRieved into a spool file and scanned (parts and header fields,
   streaming). Every BATCH messages, their files are made durable and renamed to names derived
   from their UIDLs (rawstore.keep_all: one filesystem sync for the batch), then their Message
   rows (in the Inbox) and Pop3Download rows are committed in one transaction. A message the
   server fails to send is skipped and tried next time.
5. Only then, retention: DELE for committed messages that the account says to remove (all of
   them, or those downloaded more than N days ago), and QUIT, which makes deletions final
   (RFC 1939 section 6). A fetch that stops anywhere before QUIT deletes nothing.
6. After a complete UIDL listing and QUIT, Pop3Download rows of messages the server no longer
   listed are dropped: nothing can bring those UIDLs back. (Those deleted by this QUIT are
   dropped by the next fetch, once its listing confirms they are gone.)

Interrupted anywhere, a fetch leaves nothing the next one does not finish: a file written but
not committed is rewritten under the same name (no row names it meanwhile); a row committed
whose DELE was not sent or not made final by QUIT is deleted from the server next time; nothing
is stored twice, since a UIDL once committed is never fetched again. ``checkpoint`` marks the
places where the fault-injection tests stop a fetch.
"""

import dataclasses
import datetime
import hashlib
import logging
import time

from django.db import transaction
from django.utils import timezone

from accounts.connection import describe_error, incoming_endpoint
from accounts.models import MailAccount, Protocol, Retention
from mailbox.events import send_event_on_commit
from mailbox.models import Message, Pop3Download
from mailbox.parsing import is_attachment, parse_header_fields
from mailbox.parsing.mime import scan_message
from mailbox.protocols import pop3
from mailbox.protocols.base import ConnectionProblem, Problem
from mailbox.sources import rawstore

from . import local, store
from .lease import run_exclusively

logger = logging.getLogger(__name__)

BATCH = 100  # messages made durable and committed together
HEADER_BYTES = 256 * 1024  # of a message's header block read for its list fields
RENEW_SECONDS = 20  # the account's lease is renewed this often during a long download


def checkpoint(name, **details):
    """A named point in the fetch, where tests inject faults; nothing in production."""


def fetch_account(account_id, *, now=None, trace=None):
    """Fetch one POP3 account. Returns a summary dict, or None when another worker holds the
    account (it will fetch again for us). Failures are recorded on the account, not raised."""
    account = MailAccount.objects.get(pk=account_id, incoming_protocol=Protocol.POP3)
    summary = {}

    def work(lease, again):
        summary.update(_fetch(account, lease, now or timezone.now(), trace))

    try:
        if not run_exclusively(account.pk, work):
            return None
    except ConnectionProblem as problem:
        logger.warning("fetch of account %s failed: %s", account.pk, problem)
        _record(account, describe_error(account, problem))
        return {"error": problem}
    except OSError as failure:  # the mail storage: a disk full, a directory not writable
        problem = ConnectionProblem(Problem.STORAGE, str(failure))
        logger.warning("fetch of account %s could not store: %s", account.pk, failure)
        _record(account, describe_error(account, problem))
        return {"error": problem}
    _record(account, summary.pop("failed_text", ""))
    return summary


def _fetch(account, lease, now, trace):
    inbox = local.inbox(account)
    rawstore.clear_spool(account.pk)  # what a fetch killed midway left (we hold the lease)
    with pop3.open_session(incoming_endpoint(account), trace=trace) as session:
        checkpoint("logged_in")
        numbers = _identify(session, account.pk)
        checkpoint("listed")
        downloads = Pop3Download.objects.filter(account=account)
        known = dict(downloads.values_list("uidl", "downloaded_at"))
        new = {uidl: number for number, uidl in reversed(numbers.items()) if uidl not in known}
        new = sorted((number, uidl) for uidl, number in new.items())
        stored, failed = _download(account, inbox, session, new, lease, now, trace)
        known.update(stored)
        doomed = _to_delete(account, numbers, known, now)
        for number in doomed:
            checkpoint("before_dele", number=number)
            session.dele(number)
        checkpoint("before_quit")
        session.quit()
    checkpoint("after_quit")
    # deleted ones too are forgotten only once a later listing confirms they are gone
    _forget_gone(account, set(numbers.values()))
    return {"new": len(stored), "deleted": len(doomed), "failed": failed,
            "failed_text": _failed_text(failed)}  # fmt: skip


def _identify(session, owner):
    """{message number: UIDL}, from UIDL or, without it, from each header block's digest."""
    uidls = session.uidl()
    if uidls is not None:
        return uidls
    count, _octets = session.stat()
    numbers, seen = {}, {}
    for number in range(1, count + 1):
        digest = _header_digest(session, number, owner)
        seen[digest] = seen.get(digest, 0) + 1  # identical headers: the 2nd, the 3rd ...
        numbers[number] = digest if seen[digest] == 1 else f"{digest}#{seen[digest]}"
    return numbers


def _header_digest(session, number, owner):
    header = session.top(number, 0)
    if header is None:  # no TOP either: the whole message, spooled, for its header block
        with rawstore.spool(owner) as handle:
            session.retr_to(number, handle)
            handle.seek(0)
            header = handle.read(HEADER_BYTES)
    block = header.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    return "sha256:" + hashlib.sha256(block).hexdigest()


def raw_name(account_id, uidl):
    """Where a downloaded message is kept: the same name every time for the same UIDL, so a
    fetch that dies after writing it and before committing simply writes it again."""
    digest = hashlib.sha256(uidl.encode()).hexdigest()
    return f"{rawstore.account_prefix(account_id)}{digest[:2]}/{digest[2:42]}.eml"


@dataclasses.dataclass
class _Retrieved:
    handle: object  # the spool file, not yet durable
    name: str
    row: Message  # not yet saved
    uidl: str


def _download(account, inbox, session, new, lease, now, trace):
    """RETR, store and commit ``new`` [(number, uidl)] in batches; ({uidl: time}, [failed])."""
    stored, failed, batch, renewed = {}, [], [], time.monotonic()
    try:
        for number, uidl in new:
            try:
                batch.append(_retrieve(account, session, number, uidl))
            except pop3.Pop3Error as refused:  # the server cannot send this one: others go on
                failed.append((uidl, refused.text))
                continue
            if time.monotonic() - renewed > RENEW_SECONDS:
                lease.renew()
                renewed = time.monotonic()
            if len(batch) >= BATCH:
                stored.update(_store(account, inbox, batch, now, trace))
                batch = []
        if batch:
            stored.update(_store(account, inbox, batch, now, trace))
            batch = []
    finally:
        for retrieved in batch:  # not kept: the next fetch downloads them again
            rawstore.discard(retrieved.handle)
    return stored, failed


def _retrieve(account, session, number, uidl):
    """RETR into a spool file, scanned for its list fields; nothing durable yet."""
    handle = rawstore.spool_file(account.pk)
    try:
        size = session.retr_to(number, handle)
        checkpoint("retrieved", number=number)
        handle.seek(0)
        scan = scan_message(handle)
        handle.seek(0)
        header = handle.read(min(scan.header_end, HEADER_BYTES))
    except BaseException:
        rawstore.discard(handle)
        raise
    return _Retrieved(handle, raw_name(account.pk, uidl), _message_row(size, header, scan), uidl)


def _store(account, inbox, batch, now, trace):
    """The batch's files made durable under their names, then its rows committed."""
    names = rawstore.keep_all([(retrieved.handle, retrieved.name) for retrieved in batch])
    for retrieved, name in zip(batch, names, strict=True):
        retrieved.row.raw_name = name
    checkpoint("file_kept", count=len(batch))
    return _commit(account, inbox, [(retrieved.row, retrieved.uidl) for retrieved in batch],
                   now, trace)  # fmt: skip


def _message_row(size, header, scan):
    fields = parse_header_fields(header)
    arrived = timezone.now()
    return Message(
        uidvalidity=local.LOCAL_UIDVALIDITY, date=fields.date or arrived, internaldate=arrived,
        from_name=fields.from_name[:200], from_address=fields.from_address[:320],
        to=fields.to, cc=fields.cc, subject=fields.subject, message_id=fields.message_id[:255],
        in_reply_to=fields.in_reply_to[:255], references=" ".join(fields.references),
        content_type=fields.content_type[:100], size=size,
        has_attachments=any(is_attachment(part) for part in scan.tree.walk()),
    )  # fmt: skip


def _commit(account, inbox, batch, now, trace):
    """The batch's Message and Pop3Download rows, in one transaction; {uidl: time}."""
    checkpoint("before_commit", count=len(batch))
    with transaction.atomic():
        uids = local.allocate_uids(inbox.pk, len(batch))
        rows = [row for row, _uidl in batch]
        for row, uid in zip(rows, uids, strict=True):
            row.folder_id, row.uid = inbox.pk, uid
        Message.objects.bulk_create(rows)
        Pop3Download.objects.bulk_create(
            [
                Pop3Download(account=account, uidl=uidl, message=row, downloaded_at=now)
                for row, uidl in batch
            ]  # fmt: skip
        )
        store.refresh_counts(inbox)
        send_event_on_commit(
            [account.user_id],
            {"type": "folder.changed", "folder_id": inbox.pk, "account_id": account.pk},
        )
    checkpoint("committed", count=len(batch))
    if trace:
        for _row, uidl in batch:
            trace(f"stored {uidl}")
    return {uidl: now for _row, uidl in batch}


def _to_delete(account, numbers, known, now):
    """The message numbers to DELE: committed here, and due for removal by the retention."""
    if account.pop3_retention == Retention.KEEP:
        return []
    cutoff = None
    if account.pop3_retention == Retention.DAYS:
        cutoff = now - datetime.timedelta(days=account.pop3_keep_days)
    return [
        number
        for number, uidl in numbers.items()
        if uidl in known and (cutoff is None or known[uidl] <= cutoff)
    ]


def _forget_gone(account, still_listed):
    """Drop what the server no longer lists (after a complete listing and a QUIT)."""
    rows = Pop3Download.objects.filter(account=account).values_list("pk", "uidl")
    gone = [pk for pk, uidl in rows if uidl not in still_listed]
    for start in range(0, len(gone), 5000):
        Pop3Download.objects.filter(pk__in=gone[start : start + 5000]).delete()


def _failed_text(failed):
    if not failed:
        return ""
    from django.utils.translation import ngettext

    return ngettext(
        "The server could not send %(count)d message (%(reason)s); it will be tried again.",
        "The server could not send %(count)d messages (%(reason)s); they will be tried again.",
        len(failed),
    ) % {"count": len(failed), "reason": failed[0][1][:200]}


def due_pop3_accounts(now=None):
    """Ids of POP3 accounts whose own interval has passed since their last fetch."""
    now = now or timezone.now()
    accounts = MailAccount.objects.filter(incoming_protocol=Protocol.POP3, fetch_interval__gt=0)
    due = []
    for pk, minutes, fetched in accounts.values_list("pk", "fetch_interval", "synced_at"):
        # a few seconds early is on time: beat's tick and the fetch's length vary
        if fetched is None or fetched + datetime.timedelta(minutes=minutes, seconds=-10) <= now:
            due.append(pk)
    return due


def _record(account, error):
    changed = account.last_error != error
    MailAccount.objects.filter(pk=account.pk).update(last_error=error, synced_at=timezone.now())
    account.last_error = error
    if changed:
        send_event_on_commit(
            [account.user_id], {"type": "account.changed", "account_id": account.pk}
        )
