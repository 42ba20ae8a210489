"""Bodies and attachments, fetched on demand, part by part (BODY.PEEK[section]).

Small parts (text, inline images) are cached per account up to WEBMAIL_BODY_CACHE_BYTES, the least
recently used evicted first. Attachments are streamed to the browser in chunks, decoded on the
way, never held whole in memory.
"""

import base64
import binascii
import contextlib
import quopri
import re
import threading

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from .models import BodyPart
from .parsing import parse_bodystructure

CACHE_PART_LIMIT = 2 * 1024 * 1024  # larger parts are streamed, never cached
HEADER_LIMIT = 256 * 1024  # a message's header block is read up to this many bytes


class PartNotFound(LookupError):
    pass


def find_part(message, section):
    """The BodyPart description of ``section`` in the message's cached BODYSTRUCTURE."""
    for part in parse_bodystructure(bytes(message.bodystructure)).walk():
        if part.section == section:
            return part
    raise PartNotFound(section)


def decode(data, encoding):
    encoding = (encoding or "").lower()
    if encoding == "base64":
        return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", data) + b"==", validate=False)
    if encoding == "quoted-printable":
        return quopri.decodestring(data)
    return data


def _session_for(message):
    from .sync import imap_session

    return imap_session(message.folder.account)


def _cached(message, section):
    """The cached bytes of ``section``, marked as just used; None when they are not cached."""
    cached = BodyPart.objects.filter(message=message, section=section).first()
    if cached is None:
        return None
    BodyPart.objects.filter(pk=cached.pk).update(used_at=timezone.now())
    return bytes(cached.data)


def get_part(message, section):
    """The decoded bytes of one part: from the cache, or fetched and cached."""
    cached = _cached(message, section)
    if cached is not None:
        return cached
    part = find_part(message, section)
    with _session_for(message) as session:
        session.select(message.folder.name, readonly=True)
        data = decode(session.fetch_part(message.uid, section), part.encoding)
    if len(data) <= CACHE_PART_LIMIT:
        _store(message, section, data)
    return data


def get_header(message):
    """The message's whole header block (BODY.PEEK[HEADER]), at most HEADER_LIMIT bytes: from
    the cache, where it is kept as the part "HEADER", or fetched and cached."""
    cached = _cached(message, "HEADER")
    if cached is not None:
        return cached
    with _session_for(message) as session:
        session.select(message.folder.name, readonly=True)
        # one partial fetch, BODY.PEEK[HEADER]<0.HEADER_LIMIT>: a hostile block stays bounded
        data = next(session.iter_part(message.uid, "HEADER", chunk_size=HEADER_LIMIT), b"")
    _store(message, "HEADER", data)
    return data


def _store(message, section, data):
    account_id = message.folder.account_id
    with transaction.atomic():
        BodyPart.objects.update_or_create(
            message=message,
            section=section,
            defaults={"account_id": account_id, "data": data, "size": len(data)},
        )
    evict(account_id)


def evict(account_id, bound=None):
    """Drop the least recently used parts until the account's cache fits its bound."""
    bound = settings.WEBMAIL_BODY_CACHE_BYTES if bound is None else bound
    parts = BodyPart.objects.filter(account_id=account_id)
    total = parts.aggregate(total=Sum("size"))["total"] or 0
    if total <= bound:
        return 0
    doomed, freed = [], 0
    for pk, size in parts.order_by("used_at", "pk").values_list("pk", "size").iterator():
        if total - freed <= bound:
            break
        doomed.append(pk)
        freed += size
    BodyPart.objects.filter(pk__in=doomed).delete()
    return len(doomed)


class _StreamDecoder:
    """Decodes a transfer encoding chunk by chunk, whatever the chunk boundaries."""

    def __init__(self, encoding):
        self.encoding = (encoding or "").lower()
        self.pending = b""

    def feed(self, chunk):
        if self.encoding == "base64":
            data = self.pending + re.sub(rb"[^A-Za-z0-9+/=]", b"", chunk)
            usable = len(data) - len(data) % 4
            self.pending = data[usable:]
            try:
                return base64.b64decode(data[:usable])
            except binascii.Error:
                return b""
        if self.encoding == "quoted-printable":
            data = self.pending + chunk
            cut = data.rfind(b"\n") + 1
            self.pending = data[cut:]
            return quopri.decodestring(data[:cut])
        return chunk

    def close(self):
        rest, self.pending = self.pending, b""
        return decode(rest, self.encoding) if rest else b""


def iter_part(message, section, chunk_size=1 << 20):
    """The decoded bytes of one part, chunk by chunk, straight from the server."""
    part = find_part(message, section)
    with _session_for(message) as session:
        session.select(message.folder.name, readonly=True)
        yield from _decoded(session.iter_part(message.uid, section, chunk_size=chunk_size),
                            part.encoding)  # fmt: skip


def _decoded(chunks, encoding):
    decoder = _StreamDecoder(encoding)
    for chunk in chunks:
        decoded = decoder.feed(chunk)
        if decoded:
            yield decoded
    tail = decoder.close()
    if tail:
        yield tail


class Stream:
    """The bytes of one part, or of the whole message, chunk by chunk over a session of its own.

    Unlike iter_part, the session is opened and the first chunk fetched when the stream is
    created: a server that is down, or a message gone from it, raises in the view, which can
    still answer calmly, rather than halfway through a download. ``close()`` logs out; Django
    calls it when the response ends (also when the browser goes away)."""

    def __init__(self, message, section, encoding, chunk_size):
        self._exit = contextlib.ExitStack()
        self._lock = threading.Lock()  # close() waits for a fetch under way in another thread
        try:
            session = self._exit.enter_context(_session_for(message))
            session.select(message.folder.name, readonly=True)
            chunks = session.iter_part(message.uid, section, chunk_size=chunk_size)
            self._chunks = _decoded(chunks, encoding)
            self._head = b""
            self.peek(1)
        except BaseException:
            self._exit.close()
            raise

    def peek(self, size):
        """The first ``size`` bytes (fewer if there are fewer), which iteration still yields."""
        with self._lock:
            while len(self._head) < size and (chunk := next(self._chunks, None)) is not None:
                self._head += chunk
        return self._head[:size]

    def next_chunk(self):
        """The next chunk (what peek read first), or None at the end."""
        with self._lock:
            head, self._head = self._head, b""
            return head or next(self._chunks, None)

    def __iter__(self):
        while (chunk := self.next_chunk()) is not None:
            yield chunk

    def close(self):
        with self._lock:
            self._exit.close()


def stream_part(message, part, chunk_size=1 << 20):
    """A :class:`Stream` of one part (as find_part describes it), decoded from its transfer
    encoding."""
    return Stream(message, part.section, part.encoding, chunk_size)


def stream_message(message, chunk_size=1 << 20):
    """A :class:`Stream` of the whole message as the server has it (BODY.PEEK[]), by partial
    fetches of ``chunk_size`` bytes."""
    return Stream(message, "", None, chunk_size)
