"""Bodies ready before they are opened: the text parts of an IMAP account's newest messages,
fetched after a sync into the body cache (BodyPart), with the list's preview line.

1. Which messages: per folder (the Inbox first), the newest by date, as many as arrived in the
   last WEBMAIL_PREFETCH_DAYS days or WEBMAIL_PREFETCH_MESSAGES, whichever is more.
2. Which parts: the bodies the reading pane shows (parsing.find_parts: the text/plain and the
   text/html one), each at most sources.imap.CACHE_PART_LIMIT, not cached yet. A run stopped
   anywhere resumes: what was stored is skipped the next time.
3. Within the cache's bound (WEBMAIL_BODY_CACHE_BYTES): the room left when the run starts is
   filled newest first, and the run stops at the first part that does not fit, so that nothing
   a reader opened is evicted for a message nobody opened yet.
4. Fetched with BODY.PEEK (nothing becomes \\Seen), several messages per UID FETCH (those with
   the same sections), the folder opened with EXAMINE; each batch is committed with the preview
   lines of its messages (set only where still empty).
"""

import datetime
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import MailAccount, Protocol
from mailbox.models import BodyPart, Folder, Message, Role
from mailbox.parsing import BodyStructureError, find_parts, parse_bodystructure
from mailbox.parsing.preview import preview_line
from mailbox.parsing.transfer import decode

logger = logging.getLogger(__name__)

BATCH_MESSAGES = 50  # per UID FETCH, and per commit
BATCH_BYTES = 4 << 20  # encoded octets asked for in one UID FETCH, about


def checkpoint(name, **details):
    """A named point of the run, where tests stop it; nothing in production."""


def prefetch_account(account_id, *, now=None):
    """Prefetch one IMAP account's newest text parts. Returns {"messages", "parts", "bytes",
    "full"} (full: the cache's bound stopped it). ConnectionProblem when the server fails."""
    from . import imap_session

    account = MailAccount.objects.get(pk=account_id, incoming_protocol=Protocol.IMAP)
    room = settings.WEBMAIL_BODY_CACHE_BYTES - _cached_bytes(account.pk)
    summary = {"messages": 0, "parts": 0, "bytes": 0, "full": room <= 0}
    if summary["full"]:
        return summary
    folders = [
        (folder, work) for folder in _folders(account) if (work := _folder_work(folder, now))
    ]
    if not folders:
        return summary
    with imap_session(account) as session:
        for folder, work in folders:
            if not _prefetch_folder(folder, work, session, summary, room):
                summary["full"] = True
                break
    return summary


def _cached_bytes(account_id):
    return BodyPart.objects.filter(account_id=account_id).aggregate(s=Sum("size"))["s"] or 0


def _folders(account):
    rows = Folder.objects.filter(account=account, selectable=True, uidvalidity__isnull=False)
    return sorted(rows, key=lambda folder: (folder.role != Role.INBOX, folder.name))


def _folder_work(folder, now):
    """[(message id, uid, preview, [parsed parts to fetch])], newest first."""
    rows = Message.objects.filter(folder=folder, uidvalidity=folder.uidvalidity,
                                  uid__isnull=False).order_by("-date", "-id")  # fmt: skip
    since = (now or timezone.now()) - datetime.timedelta(days=settings.WEBMAIL_PREFETCH_DAYS)
    count = max(rows.filter(date__gte=since).count(), settings.WEBMAIL_PREFETCH_MESSAGES)
    newest = list(rows.values_list("pk", "uid", "preview", "bodystructure")[:count])
    cached = _cached_sections([row[0] for row in newest])
    work = []
    for pk, uid, preview, structure in newest:
        parts = [p for p in _body_parts(structure) if (pk, p.section) not in cached]
        if parts:
            work.append((pk, uid, preview, parts))
    return work


def _cached_sections(ids):
    found = set()
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        rows = BodyPart.objects.filter(message_id__in=chunk).values_list("message_id", "section")
        found.update(rows)
    return found


def _body_parts(structure):
    """The text/plain and text/html bodies the pane shows, small enough to be cached."""
    from mailbox.sources.imap import CACHE_PART_LIMIT

    try:
        text, html, _attachments, _inline = find_parts(parse_bodystructure(bytes(structure)))
    except BodyStructureError:
        return []
    return [p for p in (text, html) if p is not None and (p.size or 0) <= CACHE_PART_LIMIT]


def _prefetch_folder(folder, work, session, summary, room):
    """False once the cache's room is used up."""
    session.select(folder.name, readonly=True)
    for batch in _batches(work):
        fetched = _fetch_batch(session, batch)
        fits = _store_batch(folder, batch, fetched, summary, room)
        checkpoint("batch_stored", folder=folder.name, count=len(batch))
        if not fits:
            return False
    return True


def _batches(work):
    batch, size = [], 0
    for item in work:
        weight = sum(part.size or 0 for part in item[3])
        if batch and (len(batch) >= BATCH_MESSAGES or size + weight > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += weight
    if batch:
        yield batch


def _fetch_batch(session, batch):
    """{uid: {section: bytes}} for the batch: one UID FETCH per set of sections."""
    groups = {}
    for _pk, uid, _preview, parts in batch:
        groups.setdefault(tuple(p.section for p in parts), []).append(uid)
    fetched = {}
    for sections, uids in groups.items():
        for uid, found in session.fetch_sections(uids, sections, batch=BATCH_MESSAGES):
            fetched.setdefault(uid, {}).update(found)
    return fetched


def _store_batch(folder, batch, fetched, summary, room):
    """Store the batch's parts and previews in one transaction; False when the room ran out
    (what fitted, newest first, is stored)."""
    rows, previews, fits = [], {}, True
    for pk, uid, preview, parts in batch:
        decoded = [(p, decode(fetched.get(uid, {})[p.section], p.encoding))
                   for p in parts if p.section in fetched.get(uid, {})]  # fmt: skip
        weight = sum(len(data) for _part, data in decoded)
        if summary["bytes"] + weight > room:
            fits = False
            break
        summary["bytes"] += weight
        summary["messages"] += 1
        rows += [BodyPart(message_id=pk, account_id=folder.account_id, section=part.section,
                          data=data, size=len(data)) for part, data in decoded]  # fmt: skip
        line = next((preview_line(data, part) for part, data in decoded), "")
        if not preview and line:
            previews[pk] = line
    with transaction.atomic():
        BodyPart.objects.bulk_create(rows, ignore_conflicts=True)
        for pk, line in previews.items():
            Message.objects.filter(pk=pk, preview="").update(preview=line)
    summary["parts"] += len(rows)
    return fits
