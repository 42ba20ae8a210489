"""POP3 fetch: new mail stored here, durably, before the server may lose its copy.

1. Under the account's lease (the one the IMAP sync uses): one fetch per account at a time.
2. Log in (STLS or implicit TLS, verified), STAT, then UIDL. On a server without UIDL, each
   message is known by a digest of its header block (TOP n 0, or RETR when TOP is missing too).
3. A message is new when its UIDL is not among the account's Pop3Download rows.
4. New messages are RETRieved (pipelined where the server offers PIPELINING) into spool files,
   a batch at a time, in a thread of their own: network and files, no database. Meanwhile the
   previous batch is read for the list's fields (its header block; the part scan only when a
   MIME field could name an attachment), made durable and renamed to names derived from the
   UIDLs (rawstore.keep_all: one filesystem sync for the batch), then its Message rows (in the
   Inbox) and Pop3Download rows are committed in one transaction. A message the server fails
   to send is skipped and tried next time.
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
import functools
import hashlib
import io
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from django.db import transaction
from django.utils import timezone

from accounts.connection import describe_error, incoming_endpoint
from accounts.models import MailAccount, Protocol, Retention
from mailbox.events import announce_added, send_event_on_commit
from mailbox.models import Pop3Download
from mailbox.parsing import mime, tree_has_attachments
from mailbox.protocols import pop3
from mailbox.protocols.base import ConnectionProblem, Problem
from mailbox.sources import rawstore

from . import local, record_result, store
from .lease import run_exclusively

logger = logging.getLogger(__name__)

BATCH = 200  # messages made durable and committed together
HEADER_BYTES = 256 * 1024  # of a message's header block read for its list fields
QUICK_BYTES = 1 << 20  # a message this small is read whole for its list fields
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
        record_result(account, describe_error(account, problem))
        return {"error": problem}
    except OSError as failure:  # the mail storage: a disk full, a directory not writable
        problem = ConnectionProblem(Problem.STORAGE, str(failure))
        logger.warning("fetch of account %s could not store: %s", account.pk, failure)
        record_result(account, describe_error(account, problem))
        return {"error": problem}
    record_result(account, summary.pop("failed_text", ""))
    return summary


def _fetch(account, lease, now, trace):
    inbox = local.inbox(account)
    spool = rawstore.Spool()
    with pop3.open_session(incoming_endpoint(account), trace=trace) as session:
        checkpoint("logged_in")
        numbers, ambiguous = _identify(session, spool, account.pk)
        checkpoint("listed")
        downloads = Pop3Download.objects.filter(account=account)
        known = set(downloads.values_list("uidl", flat=True))  # strings only: 10,000 in ~10 ms
        new = {uidl: number for number, uidl in reversed(numbers.items()) if uidl not in known}
        new = sorted((number, uidl) for uidl, number in new.items())
        stored, failed = _download(account, inbox, session, spool, new, lease, now, trace)
        known.update(stored)  # committed by this fetch
        doomed = [n for n in _to_delete(account, numbers, known, now) if n not in ambiguous]
        for number in doomed:
            checkpoint("before_dele", number=number)
            session.dele(number)
        checkpoint("before_quit")
        session.quit()
    checkpoint("after_quit")
    # deleted ones too are forgotten only once a later listing confirms they are gone
    _forget_gone(account, known, set(numbers.values()))
    store.refresh_statistics_after_load(len(stored))
    return {"new": len(stored), "deleted": len(doomed), "failed": failed,
            "failed_text": _failed_text(failed)}  # fmt: skip


def _identify(session, spool, account_id):
    """({message number: key}, {numbers whose key is ambiguous}). The key is the UIDL or,
    without UIDL, a digest of the header block. Two messages with one key (identical headers;
    a broken server's repeated UIDL) get "#2", "#3" ... in listing order, so that both are
    downloaded; but that order may change, so such messages are never deleted from the server."""
    uidls = session.uidl()
    if uidls is None:
        count, _octets = session.stat()
        uidls = {n: _header_digest(session, n, spool, account_id) for n in range(1, count + 1)}
    numbers, seen = {}, {}
    for number, key in uidls.items():
        seen[key] = seen.get(key, 0) + 1
        numbers[number] = key if seen[key] == 1 else f"{key}#{seen[key]}"
    return numbers, {number for number, key in uidls.items() if seen[key] > 1}


def _header_digest(session, number, spool, account_id):
    header = session.top(number, 0)
    if header is None:  # no TOP either: the whole message, spooled, for its header block
        with spool.scratch(f"{rawstore.account_prefix(account_id)}scratch") as handle:
            session.retr_to(number, handle)
            handle.seek(0)
            header = handle.read(HEADER_BYTES)
    block = header.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    return "sha256:" + hashlib.sha256(block).hexdigest()


def raw_name(account_id, uidl):
    """Where a downloaded message is kept: the same name every time for the same UIDL, so a
    fetch that dies after writing it and before committing simply writes it again."""
    digest = hashlib.sha256(uidl.encode()).hexdigest()
    return f"{rawstore.account_prefix(account_id)}{digest[:40]}.eml"


@dataclasses.dataclass
class _Retrieved:
    handle: object  # the spool file, not yet durable
    name: str  # what it is kept as
    uidl: str
    size: int
    head: bytes | None  # the whole message when it is at most QUICK_BYTES, else None


class _Tee:
    """A spool file that also keeps what is written to it, up to QUICK_BYTES, so that the
    list's fields of a common message are read from memory rather than from the file again."""

    def __init__(self, handle, name):
        self.handle, self.name, self.head = handle, name, bytearray()

    def write(self, data):
        if self.head is not None and len(self.head) + len(data) <= QUICK_BYTES:
            self.head += data
        else:
            self.head = None
        view = memoryview(data)
        while view:
            view = view[self.handle.write(view) :]
        return len(data)


def _download(account, inbox, session, spool, new, lease, now, trace):
    """RETR, store and commit ``new`` [(number, uidl)] in batches; ({uidl: time}, [failed]).

    Batch n+1 is retrieved in a thread (network, files, parsing: no database) while batch n is
    made durable and committed here; the session is only ever used by that thread."""
    batches = [new[start : start + BATCH] for start in range(0, len(new), BATCH)]
    stored, failed, renewed = {}, [], time.monotonic()
    if not batches:
        return stored, failed
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pop3-retr") as pool:
        retrieve = functools.partial(_retrieve_batch, account.pk, session, spool)
        future = pool.submit(retrieve, batches[0])
        try:
            for index in range(len(batches)):
                batch, refused = future.result()
                future = (
                    pool.submit(retrieve, batches[index + 1]) if index + 1 < len(batches) else None
                )
                failed.extend(refused)
                stored.update(_store(account, inbox, batch, now, trace))
                if time.monotonic() - renewed > RENEW_SECONDS:
                    lease.renew()
                    renewed = time.monotonic()
        finally:
            _discard_pending(future)
    return stored, failed


def _discard_pending(future):
    """The spool files of a batch retrieved but not stored: the next fetch gets them again."""
    if future is None:
        return
    try:
        batch, _refused = future.result()
    except BaseException:  # it failed: the error that stopped us is raised instead
        return
    for retrieved in batch:
        rawstore.discard(retrieved.handle)


def _retrieve_batch(account_id, session, spool, numbers):
    """RETR each (number, uidl) of ``numbers`` into spool files (pipelined where the server
    can); ([_Retrieved], [(uidl, refusal)]). A message the server cannot send is left out; any
    other failure discards what was retrieved."""
    uidls = dict(numbers)
    batch, refused = [], []

    def open_out(number):
        name = raw_name(account_id, uidls[number])
        return _Tee(spool.file(name), name)

    try:
        for number, tee, result in session.retr_each(uidls, open_out):
            if tee is None:  # the server cannot send this one: the others go on
                refused.append((uidls[number], result.text))
                continue
            head = None if tee.head is None else bytes(tee.head)
            batch.append(_Retrieved(tee.handle, tee.name, uidls[number], result, head))
            checkpoint("retrieved", number=number)
    except BaseException:
        for retrieved in batch:
            rawstore.discard(retrieved.handle)
        raise
    return batch, refused


def _list_fields(retrieved):
    """(header block, has attachments, preview line) of a spooled message, from one scan of
    its parts: a small one's bytes in memory, a big one's file."""
    data, handle = retrieved.head, retrieved.handle
    if data is not None:
        scan, stream = mime.scan_bytes(data), io.BytesIO(data)
        header = data[: min(mime.header_end(data), HEADER_BYTES)]
    else:
        handle.seek(0)
        scan, stream = mime.scan_message(handle), handle
        handle.seek(0)
        header = handle.read(min(scan.header_end, HEADER_BYTES))
    return header, tree_has_attachments(scan.tree), local.preview_of(stream, scan.tree)


def _store(account, inbox, batch, now, trace):
    """The batch's files read for the list, made durable under their names, then its rows
    committed."""
    fields = [_list_fields(retrieved) for retrieved in batch]
    names = rawstore.keep_all([(retrieved.handle, retrieved.name) for retrieved in batch])
    checkpoint("file_kept", count=len(batch))
    return _commit(account, inbox, batch, names, fields, now, trace)


def _commit(account, inbox, batch, names, fields, now, trace):
    """The batch's Message and Pop3Download rows, in one transaction; {uidl: time}."""
    checkpoint("before_commit", count=len(batch))
    arrived = timezone.now()
    with transaction.atomic():
        uids = local.allocate_uids(inbox.pk, len(batch))
        rows = [
            store.kept_message_values(inbox.pk, local.LOCAL_UIDVALIDITY, uid, header, item.size,
                                      attachments, name, arrived, preview)
            for item, uid, name, (header, attachments, preview) in zip(batch, uids, names,
                                                                       fields, strict=True)
        ]  # fmt: skip
        store.insert_kept_rows(account.pk, rows)
        store.insert_downloads([(account.pk, item.uidl, now) for item in batch])
        local.count_new_mail(inbox, len(batch))
        ids = store.ids_of_uids(inbox, local.LOCAL_UIDVALIDITY, uids)
        announce_added(account.user_id, inbox, ids, delivered=True)
        fetched = {"type": "fetch.done", "account_id": account.pk, "folder_id": inbox.pk}
        send_event_on_commit([account.user_id], {**fetched, "added": len(batch)})
    checkpoint("committed", count=len(batch))
    if trace:
        for item in batch:
            trace(f"stored {item.uidl}")
    return {item.uidl: now for item in batch}


def _to_delete(account, numbers, known, now):
    """The message numbers to DELE: committed here, and due for removal by the retention (for
    "some days", those downloaded that long ago: asked of the database, not of every row)."""
    if account.pop3_retention == Retention.KEEP:
        return []
    due = known
    if account.pop3_retention == Retention.DAYS:
        cutoff = now - datetime.timedelta(days=account.pop3_keep_days)
        old = Pop3Download.objects.filter(account=account, downloaded_at__lte=cutoff)
        due = known & set(old.values_list("uidl", flat=True))
    return [number for number, uidl in numbers.items() if uidl in due]


def _forget_gone(account, known, still_listed):
    """Drop what the server no longer lists (after a complete listing and a QUIT); ``known``
    holds every UIDL downloaded (read at the start, under the lease, plus this fetch's)."""
    gone = [uidl for uidl in known if uidl not in still_listed]
    downloads = Pop3Download.objects.filter(account=account)
    for start in range(0, len(gone), 5000):
        downloads.filter(uidl__in=gone[start : start + 5000]).delete()


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
