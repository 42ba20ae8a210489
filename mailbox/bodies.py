"""Bodies and attachments, fetched on demand, part by part (BODY.PEEK[section]).

Small parts (text, inline images) are cached per account up to WEBMAIL_BODY_CACHE_BYTES, the least
recently used evicted first. Attachments are streamed to the browser in chunks, decoded on the
way, never held whole in memory.
"""

import base64
import binascii
import quopri
import re

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from .models import BodyPart
from .parsing import parse_bodystructure

CACHE_PART_LIMIT = 2 * 1024 * 1024  # larger parts are streamed, never cached


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


def get_part(message, section):
    """The decoded bytes of one part: from the cache, or fetched and cached."""
    cached = BodyPart.objects.filter(message=message, section=section).first()
    if cached is not None:
        BodyPart.objects.filter(pk=cached.pk).update(used_at=timezone.now())
        return bytes(cached.data)
    part = find_part(message, section)
    with _session_for(message) as session:
        session.select(message.folder.name, readonly=True)
        data = decode(session.fetch_part(message.uid, section), part.encoding)
    if len(data) <= CACHE_PART_LIMIT:
        _store(message, section, data)
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
    decoder = _StreamDecoder(part.encoding)
    with _session_for(message) as session:
        session.select(message.folder.name, readonly=True)
        for chunk in session.iter_part(message.uid, section, chunk_size=chunk_size):
            decoded = decoder.feed(chunk)
            if decoded:
                yield decoded
    tail = decoder.close()
    if tail:
        yield tail
