"""The header fields a message list needs, out of an IMAP ``HEADER.FIELDS`` block, fast.

This runs for every message of a folder during sync, so it is a direct parser, not the email
package (whose header objects cost tens of microseconds each):

1. one regular expression over the bytes finds each field with its folded continuation lines
   (CRLF or bare LF); where a field occurs twice, the first occurrence wins;
2. only those values are unfolded and decoded (ASCII, else UTF-8 if well-formed, else Latin-1),
   each bounded first (MAX_FIELD_BYTES; References keeps its tail, where the newest ids are);
3. each is then read by its own small parser; RFC 2047 decoding runs only where "=?" occurs.

Nothing here raises on any input: a value that cannot be read gives the field's empty value.
"""

import datetime
import re
from dataclasses import dataclass, field

from .addresses import format_addresses, parse_addresses
from .charsets import clean, decode_raw, decode_words
from .dates import parse_date, parse_date_bytes

__all__ = ["FETCH_FIELDS", "HeaderFields", "list_header_fields", "parse_header_fields"]

# what to ask the server for: BODY.PEEK[HEADER.FIELDS (...)]
FETCH_FIELDS = "DATE FROM TO CC SUBJECT MESSAGE-ID IN-REPLY-TO REFERENCES CONTENT-TYPE"

MAX_BLOCK_BYTES = 1 << 20  # fields after the first MiB of a block are ignored
MAX_FIELD_BYTES = 16384
MAX_SUBJECT_CHARS = 998  # RFC 5322's line limit
MAX_ADDRESS_LIST_CHARS = 2000
MAX_MESSAGE_ID_CHARS = 255
MAX_REFERENCES = 50
# "show details": every field of a whole header block, bounded
MAX_LISTED_FIELDS = 500
MAX_LISTED_VALUE_CHARS = 16384

# a field name (printable ASCII but ':'), optional obsolete space, ':', the rest of the line and
# every following line that starts with a space or tab; '.' stops only at LF
_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:(.*(?:\r?\n[ \t].*)*)", re.M)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MSG_ID = re.compile(r"<([^<>]*)>")
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_COMMENT = re.compile(r"\([^()]*\)")
# the usual forms, read straight from the bytes
_PLAIN_MSG_ID = re.compile(rb"[ \t]*<([!-;=?-~]{1,255})>[ \t\r]*\Z")
_PLAIN_CONTENT_TYPE = re.compile(
    rb"[ \t]*([A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*)[ \t]*(?:;|\r?\Z)"
)


@dataclass(slots=True)
class HeaderFields:
    subject: str = ""
    from_name: str = ""
    from_address: str = ""
    to: str = ""  # display form: 'Name <addr>, addr2'
    cc: str = ""
    date: datetime.datetime | None = None  # aware
    message_id: str = ""  # without <>
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)  # oldest first, at most the last 50
    content_type: str = "text/plain"  # lower-case type/subtype


def _text(value: bytes) -> str:
    """Unfold (remove the line breaks, keep the whitespace) and decode one field value."""
    if b"\n" in value:
        value = value.replace(b"\r\n", b"").replace(b"\n", b"")
    value = value.strip()
    if value.isascii():
        return value.decode("ascii")
    return decode_raw(value)


def _subject(value: bytes) -> str:
    if value.isascii() and b"=?" not in value and b"\n" not in value:
        text = value.decode("ascii").strip()  # the usual case, without the calls below
        if not _CONTROL.search(text):
            return text[:MAX_SUBJECT_CHARS]
    text = _text(value[:MAX_FIELD_BYTES])
    if "=?" in text:
        text = decode_words(text)
    return clean(text)[:MAX_SUBJECT_CHARS]


def _date(value: bytes) -> datetime.datetime | None:
    if value.isascii() and b"\n" not in value:
        return parse_date_bytes(value)
    return parse_date(_text(value[:1024]))


def _msg_id(value: bytes) -> str:
    """The first <msg-id> (or, without brackets, the first word) without its brackets."""
    plain = _PLAIN_MSG_ID.match(value)
    if plain is not None:
        return plain.group(1).decode("ascii")
    text = _text(value[:MAX_FIELD_BYTES])
    match = _MSG_ID.search(text)
    if match is not None:
        found = match.group(1)
    else:
        words = text.split()
        found = words[0] if words else ""
    return clean("".join(found.split()))[:MAX_MESSAGE_ID_CHARS]


def _references(value: bytes) -> list[str]:
    text = _text(value[-MAX_FIELD_BYTES:])
    found = _MSG_ID.findall(text) if "<" in text else text.split()
    ids = [clean("".join(item.split()))[:MAX_MESSAGE_ID_CHARS] for item in found[-MAX_REFERENCES:]]
    return [item for item in ids if item]


def _content_type(value: bytes) -> str:
    match = _PLAIN_CONTENT_TYPE.match(value)
    if match is not None:
        return match.group(1).decode("ascii").lower()
    text = _text(value[:1024]).partition(";")[0]
    if "(" in text:
        text = _COMMENT.sub("", text)
    text = "".join(text.split()).lower()
    return text if _CONTENT_TYPE.fullmatch(text) else "text/plain"


def _first_mailbox(value: bytes) -> tuple[str, str]:
    """(name, address) of the first From mailbox: the first with an address, else any."""
    mailboxes = parse_addresses(_text(value[:MAX_FIELD_BYTES]))
    for mailbox in mailboxes:
        if mailbox[1]:
            return mailbox
    return mailboxes[0] if mailboxes else ("", "")


def _address_list(value: bytes) -> str:
    mailboxes = parse_addresses(_text(value[:MAX_FIELD_BYTES]))
    return format_addresses(mailboxes, MAX_ADDRESS_LIST_CHARS)


# Senders and recipients repeat from message to message (the user's own address is in nearly
# every To), so the parsed form of each short raw value is remembered; emptied when full.
CACHE_SIZE = 4096
CACHE_MAX_KEY_BYTES = 512
_FROM_CACHE: dict[bytes, tuple[str, str]] = {}
_LIST_CACHE: dict[bytes, str] = {}


def _cached_first_mailbox(value: bytes) -> tuple[str, str]:
    result = _FROM_CACHE.get(value)
    if result is None:
        if len(value) > CACHE_MAX_KEY_BYTES:
            return _first_mailbox(value)
        if len(_FROM_CACHE) >= CACHE_SIZE:
            _FROM_CACHE.clear()
        result = _FROM_CACHE[value] = _first_mailbox(value)
    return result


def _cached_address_list(value: bytes) -> str:
    result = _LIST_CACHE.get(value)
    if result is None:
        if len(value) > CACHE_MAX_KEY_BYTES:
            return _address_list(value)
        if len(_LIST_CACHE) >= CACHE_SIZE:
            _LIST_CACHE.clear()
        result = _LIST_CACHE[value] = _address_list(value)
    return result


def parse_header_fields(raw: bytes | None) -> HeaderFields:
    """The fields of one ``BODY.PEEK[HEADER.FIELDS (...)]`` block (see FETCH_FIELDS)."""
    if not raw:  # also None: the server sent no block
        return HeaderFields()
    # reversed: where a field occurs twice, the first occurrence is written last and wins
    fields_found = _FIELD.findall(bytes(raw[:MAX_BLOCK_BYTES]))
    values = {name.lower(): value for name, value in reversed(fields_found)}
    get = values.get
    fields = HeaderFields()
    if (value := get(b"subject")) is not None:
        fields.subject = _subject(value)
    if (value := get(b"from")) is not None:
        fields.from_name, fields.from_address = _cached_first_mailbox(value)
    if (value := get(b"to")) is not None:
        fields.to = _cached_address_list(value)
    if (value := get(b"cc")) is not None:
        fields.cc = _cached_address_list(value)
    if (value := get(b"date")) is not None:
        fields.date = _date(value)
    if (value := get(b"message-id")) is not None:
        fields.message_id = _msg_id(value)
    if (value := get(b"in-reply-to")) is not None:
        fields.in_reply_to = _msg_id(value)
    if (value := get(b"references")) is not None:
        fields.references = _references(value)
    if (value := get(b"content-type")) is not None:
        fields.content_type = _content_type(value)
    return fields


def list_header_fields(raw: bytes) -> tuple[list[tuple[str, str]], bool]:
    """Every field of a header block, in order, as (name, value) with the value unfolded,
    RFC 2047 decoded and without control characters; and whether fields were left out (past
    MAX_LISTED_FIELDS)."""
    found = _FIELD.findall(raw)
    # names are ASCII: the pattern takes nothing else
    fields = [(name.decode(), _listed_value(value)) for name, value in found[:MAX_LISTED_FIELDS]]
    return fields, len(found) > MAX_LISTED_FIELDS


def _listed_value(value: bytes) -> str:
    text = _text(value)
    if "=?" in text:
        text = decode_words(text)
    text = clean(text)
    if len(text) > MAX_LISTED_VALUE_CHARS:
        text = text[:MAX_LISTED_VALUE_CHARS] + "…"
    return text
