"""The search index's background pass: each message's text added after its headers.

The headers are indexed as messages are cached (mailbox.sync.store, local, actions); this pass,
run after a sync or a POP3 fetch (the task ``index_account_text``), adds what needs the message
itself, read through its source (mailbox.sources: IMAP parts from the body cache or fetched,
or a kept file):

1. every folder of the account is caught up on headers (rows a path did not index);
2. the messages whose text is not indexed (``SearchEntry.body_done`` false) are taken newest
   first, a batch at a time, so that a pass cut short (a worker restarted, the server down)
   resumes where it stopped and recent mail is searchable first;
3. the batch's body parts are read at once (``parts_in_bulk``: on IMAP, the cached ones and
   then a few UID FETCH for the rest, not one round trip per message), up to BULK_BYTES;
4. for each message, the text: the body (the HTML reduced to its text, else text/plain),
   attachment names, and forwarded messages' headers and bodies, up to
   WEBMAIL_INDEX_BODY_BYTES characters; parts far larger than that are not fetched at all.
   What step 3 did not bring (a forwarded message's header, parts past BULK_BYTES) is read
   one by one.

A message that is gone or cannot be read keeps its headers in the index and is marked done.
"""

import logging

from django.conf import settings
from django.db import transaction

from mailbox.composing.text import html_to_text
from mailbox.fulltext import get_index
from mailbox.models import Message, SearchEntry
from mailbox.parsing import BodyStructureError, find_parts, parse_header_fields
from mailbox.parsing.charsets import decode_text_part
from mailbox.protocols.base import ConnectionProblem
from mailbox.sources import source_for_account
from mailbox.sources.base import MessageGone, PartNotFound

logger = logging.getLogger(__name__)

BATCH = 100  # messages indexed in one transaction
QUEUE = 2000  # messages taken from the queue at once (see _queue)
ANALYZE_AFTER = (
    400  # messages indexed in a pass, after which the planner's statistics are refreshed
)
MAX_DEPTH = 3  # forwarded messages inside forwarded messages, this deep
FETCH_FACTOR = 4  # a part is fetched up to this many times the bound (markup, base64)
BULK_BYTES = 8 << 20  # encoded octets of a batch's parts read at once, about


def index_account(account, *, limit=None):
    """Index the text of up to ``limit`` (None: every) messages of ``account``, newest first.
    Returns how many were indexed; stops early, leaving the rest for the next pass, when the
    mail server cannot be reached."""
    index = get_index()
    for folder_id in account.folders.values_list("pk", flat=True):
        index.index_headers_for_folder(folder_id)
    done = 0
    source = source_for_account(account)
    while limit is None or done < limit:
        queue = _queue(account, QUEUE if limit is None else min(QUEUE, limit - done))
        if not queue:
            break
        indexed, complete = _index_queue(index, source, queue)
        done += indexed
        if not complete:
            break
    if done >= ANALYZE_AFTER:
        index.after_bulk()
    return done


def _queue(account, size):
    """The ids of the ``size`` newest messages of ``account`` whose text is not indexed.

    Finding the newest reads the whole queue and each of its messages' date (the queue spans
    the account's folders, which no one index orders): 0.2 s at 100,000 messages, so it is
    asked once for QUEUE messages, not once a batch (a batch at a time, a first pass over
    100,000 messages spent most of its time here: 25 messages a second)."""
    todo = SearchEntry.objects.filter(
        body_done=False, message__folder__account=account, message__uid__isnull=False
    ).values("message_id")
    rows = Message.objects.filter(pk__in=todo).order_by("-date", "-id")
    return list(rows.values_list("pk", flat=True)[:size])


def _index_queue(index, source, ids):
    """Index the messages ``ids`` (newest first), BATCH at a time, each batch one transaction:
    (how many were indexed, whether all could be read)."""
    done = 0
    for start in range(0, len(ids), BATCH):
        batch = Message.objects.filter(pk__in=ids[start : start + BATCH], uid__isnull=False)
        batch = list(batch.select_related("folder__account").order_by("-date", "-id"))
        if not batch:
            continue
        try:
            bulk = source.parts_in_bulk(list(_bulk_wanted(source, batch)))
        except ConnectionProblem as problem:
            logger.info("text of account %s not indexed now: %s", batch[0].folder.account_id,
                        problem)  # fmt: skip
            return done, False
        texts = []
        for message in batch:
            text = _read_text(_Reader(source, bulk), message)
            if text is None:
                break
            texts.append((message.pk, *text))
        # read first, then written in one transaction: one commit per batch, and no write
        # lock (SQLite's) held while a server is asked for parts
        with transaction.atomic():
            index.index_bodies(texts)
        done += len(texts)
        if len(texts) < len(batch):
            return done, False
    return done, True


def _bulk_wanted(source, messages):
    """(message, part) of the bodies message_text will read, until BULK_BYTES."""
    if not settings.WEBMAIL_INDEX_BODIES:
        return
    size = 0
    for message in messages:
        try:
            tree = source.part_tree(message)
        except BodyStructureError:
            continue
        for part in _bodies(tree, 0):
            size += part.size or 0
            if size > BULK_BYTES:
                return
            yield message, part


def _bodies(tree, depth):
    """The parts _collect reads with _part_text: a body and those of forwarded messages."""
    text, html, attachments, _inline = find_parts(tree)
    body = html or text
    if body is not None and not _too_large(body):
        yield body
    for part in attachments:
        if part.message is not None and depth < MAX_DEPTH:
            yield from _bodies(part.message, depth + 1)


class _Reader:
    """The source, with the parts read in bulk taken first (the rest read one by one)."""

    def __init__(self, source, bulk):
        self.source, self.bulk = source, bulk

    def part_tree(self, message):
        return self.source.part_tree(message)

    def get_part(self, message, section):
        found = self.bulk.get((message.pk, section))
        return found if found is not None else self.source.get_part(message, section)

    def get_message_header(self, message, part):
        return self.source.get_message_header(message, part)


def _read_text(source, message):
    """(attachment names, body) bounded, or None when the source cannot be read now."""
    try:
        attachments, body = message_text(source, message)
    except ConnectionProblem as problem:
        logger.info("text of message %s not indexed now: %s", message.pk, problem)
        return None
    except (MessageGone, PartNotFound, BodyStructureError, OSError) as problem:
        logger.info("text of message %s cannot be read: %s", message.pk, problem)
        attachments, body = [], []
    limit = settings.WEBMAIL_INDEX_BODY_BYTES
    return " ".join(attachments)[:limit], "\n".join(body)[:limit]


def message_text(source, message):
    """(attachment names, text pieces) of ``message``, read through ``source``; the names
    alone when the operator turned text indexing off (WEBMAIL_INDEX_BODIES=0)."""
    names, texts = [], []
    if not settings.WEBMAIL_INDEX_BODIES:
        texts = None  # a list that takes nothing: see _collect
    _collect(source, message, source.part_tree(message), names, texts, 0)
    return names, texts or []


def _collect(source, message, tree, names, texts, depth):
    text, html, attachments, _inline = find_parts(tree)
    body = html or text  # what the reading pane shows (a plain alternative is often a stub)
    if body is not None and texts is not None:
        texts.append(_part_text(source, message, body))
    for part in attachments:
        if part.filename:
            names.append(part.filename)
        if part.message is not None and depth < MAX_DEPTH and texts is not None:  # forwarded
            header = parse_header_fields(source.get_message_header(message, part))
            texts.append(" ".join((header.subject, header.from_name, header.from_address,
                                   header.to, header.cc)))  # fmt: skip
            _collect(source, message, part.message, names, texts, depth + 1)


def _too_large(part):
    return (part.size or 0) > FETCH_FACTOR * settings.WEBMAIL_INDEX_BODY_BYTES


def _part_text(source, message, part):
    if _too_large(part):
        return ""
    data = source.get_part(message, part.section)
    text = decode_text_part(data, part.content_type, part.params.get("charset", ""))
    return html_to_text(text) if part.content_type == "text/html" else text


def progress(folder_ids):
    """(messages whose text is indexed, messages) in the folders ``folder_ids``."""
    entries = SearchEntry.objects.filter(
        message__folder_id__in=folder_ids, message__uid__isnull=False
    )
    total = Message.objects.filter(folder_id__in=folder_ids, uid__isnull=False).count()
    todo = entries.filter(body_done=False).count()
    indexed = entries.count()
    return max(0, indexed - todo), total


def has_unindexed_text(folder_ids):
    """Whether any message of the folders still waits for its text.

    Asked before every search: the queue (the partial index of entries waiting, empty once
    the pass is done) is read first, then each message in it looked up, rather than every
    message of the folders checked against the queue (50-140 ms at 100,000 on SQLite). Every
    message has an entry from the moment it is cached (each path that caches one indexes its
    headers; migration 0006 made them for mail cached before the index)."""
    queue = SearchEntry.objects.filter(body_done=False).values("message_id")
    waiting = Message.objects.filter(pk__in=queue, folder_id__in=folder_ids, uid__isnull=False)
    return waiting.exists()
