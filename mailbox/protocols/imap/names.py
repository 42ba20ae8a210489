"""The one place that turns folder names, flags, UID sets and search terms into IMAP arguments.

Folder names travel in modified UTF-7 (RFC 3501 5.1.3) inside quoted strings; user-typed search
terms travel as literals with ``CHARSET UTF-8`` when they are not ASCII. CR, LF and NUL would end
or split a command line, so every function here refuses them (``Problem.BAD_INPUT``) before
anything can reach the wire. No Django here.
"""

import base64
import binascii
import datetime
import re
from dataclasses import dataclass

from ..base import ConnectionProblem, Problem, check_wire_text

# --- folder names: modified UTF-7 ---------------------------------------------------------------


def encode_mailbox_name(name):
    """Modified UTF-7 of ``name``: printable ASCII stays (``&`` becomes ``&-``), the rest goes as
    base64 of UTF-16BE (``,`` for ``/``) between ``&`` and ``-``."""
    out, pending = [], []

    def flush():
        if pending:
            raw = "".join(pending).encode("utf-16-be", "surrogatepass")
            out.append("&" + base64.b64encode(raw).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if " " <= ch <= "~":
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


_SHIFTED = re.compile(r"&([A-Za-z0-9+,]*)-")


def _unshift(match):
    encoded = match.group(1)
    if not encoded:
        return "&"
    try:
        raw = base64.b64decode(encoded.replace(",", "/") + "=" * (-len(encoded) % 4))
        return raw.decode("utf-16-be")
    except (binascii.Error, UnicodeDecodeError):
        return match.group(0)  # not valid modified UTF-7: show what the server sent


def decode_mailbox_name(name):
    """The Unicode name for a modified UTF-7 one (``bytes`` or ``str``). A server that sends
    UTF-8 anyway, or broken base64, gets its text shown as it is rather than an error."""
    if isinstance(name, bytes | bytearray):
        name = bytes(name).decode("utf-8", "replace")
    if "&" not in name:
        return name
    return _SHIFTED.sub(_unshift, name)


def is_inbox(name):
    return name.upper() == "INBOX"


def same_folder(a, b):
    """Names are compared as they are, except INBOX, which is INBOX in any case."""
    return a == b or (is_inbox(a) and is_inbox(b))


SPECIAL_USE = {
    "\\sent": "sent", "\\drafts": "drafts", "\\trash": "trash", "\\junk": "junk",
    "\\archive": "archive", "\\all": "all", "\\flagged": "flagged",
}  # fmt: skip


def folder_role(name, attributes):
    """``"inbox"`` for INBOX, else the role its first special-use attribute (RFC 6154) gives
    (``"sent"``, ``"drafts"``, ...), else None."""
    if is_inbox(name):
        return "inbox"
    lowered = {attribute.lower() for attribute in attributes}
    return next((role for attribute, role in SPECIAL_USE.items() if attribute in lowered), None)


# --- strings ------------------------------------------------------------------------------------


def quote(text):
    """``text`` as an IMAP quoted string (bytes), with ``\\`` and ``"`` escaped.

    Quoted strings are meant for ASCII; non-ASCII text is sent as UTF-8 (servers that do not
    take it answer BAD). Search terms use :func:`search_criteria`, which sends literals instead.
    """
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8")
    check_wire_text(text, "text")
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return b'"' + escaped.encode("utf-8") + b'"'


def mailbox_arg(name):
    """A folder name as a command argument: INBOX as it is, anything else encoded and quoted."""
    check_wire_text(name, "folder name")
    if is_inbox(name):
        return b"INBOX"
    return quote(encode_mailbox_name(name))


def quote_mailbox(name):
    """:func:`mailbox_arg` as text, for code that talks through imaplib (the test seeder)."""
    return mailbox_arg(name).decode("ascii")


# --- flags and UID sets -------------------------------------------------------------------------

# atom characters (RFC 3501 ATOM-CHAR minus ']' for flags), with an optional leading backslash
_FLAG = re.compile(r"\\?[!#$&'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]+\Z")


def flag_list(flags):
    """``(\\Seen $Label1)`` for a list of flags; anything that is not a valid flag is refused."""
    for flag in flags:
        if not isinstance(flag, str) or not _FLAG.match(flag):
            raise ConnectionProblem(Problem.BAD_INPUT, f"not an IMAP flag: {flag!r}")
    return b"(" + " ".join(flags).encode("ascii") + b")"


def uid_set(uids):
    """The compact sequence set for ``uids``: ``1:500,502,510:600`` (sorted, duplicates gone)."""
    return ",".join(_ranges(sorted(set(uids)))).encode("ascii")


def _ranges(ordered):
    out = []
    start = prev = None
    for uid in ordered:
        if prev is not None and uid == prev + 1:
            prev = uid
            continue
        if start is not None:
            out.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = uid
    if start is not None:
        out.append(str(start) if start == prev else f"{start}:{prev}")
    return out


def uid_batches(uids, batch, max_length=7000):
    """Split ``uids`` (sorted, duplicates gone) into ``(uid set, [uids])`` pieces of at most
    ``batch`` UIDs whose set stays under ``max_length`` characters: command lines stay small."""
    ordered = sorted(set(uids))
    step = max(1, batch)
    for start in range(0, len(ordered), step):
        chunk = ordered[start : start + step]
        text = ",".join(_ranges(chunk))
        while len(text) > max_length and len(chunk) > 1:
            # a scattered set: halve the piece until its set is short enough
            half = len(chunk) // 2
            yield from uid_batches(chunk[:half], batch, max_length)
            chunk = chunk[half:]
            text = ",".join(_ranges(chunk))
        yield text.encode("ascii"), chunk


# --- search criteria ----------------------------------------------------------------------------

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def imap_date(day):
    """``1-Feb-1994`` for a ``date`` (or the date of a ``datetime``)."""
    if isinstance(day, datetime.datetime):
        day = day.date()
    return f"{day.day}-{MONTHS[day.month - 1]}-{day.year}"


def imap_datetime(moment):
    """``"01-Feb-1994 21:05:00 +0100"`` (quoted) for an aware ``datetime``: APPEND's date."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("an IMAP date-time needs an aware datetime")
    offset = int(moment.utcoffset().total_seconds()) // 60
    sign = "-" if offset < 0 else "+"
    zone = f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
    text = f"{moment.day:02d}-{MONTHS[moment.month - 1]}-{moment.year:04d} "
    text += f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} {zone}"
    return b'"' + text.encode("ascii") + b'"'


@dataclass(frozen=True)
class Literal:
    """A string argument sent as a literal (``{n}`` then the bytes)."""

    data: bytes


@dataclass(frozen=True)
class SearchCriteria:
    """What ``ImapSession.uid_search`` sends after ``SEARCH``: ``charset`` is ``"UTF-8"`` when a
    term is not ASCII (those terms are :class:`Literal` pieces), else None."""

    pieces: tuple
    charset: str | None = None


# keyword -> IMAP search key taking a string
_STRING_KEYS = {
    "text": "TEXT", "body": "BODY", "subject": "SUBJECT", "from_": "FROM", "to": "TO",
    "cc": "CC", "bcc": "BCC", "keyword": "KEYWORD", "unkeyword": "UNKEYWORD",
}  # fmt: skip
_DATE_KEYS = {
    "since": "SINCE", "before": "BEFORE", "on": "ON",
    "sent_since": "SENTSINCE", "sent_before": "SENTBEFORE", "sent_on": "SENTON",
}  # fmt: skip
_NUMBER_KEYS = {"larger": "LARGER", "smaller": "SMALLER", "modseq": "MODSEQ"}
# keyword -> (key when True, key when False)
_FLAG_KEYS = {
    "seen": ("SEEN", "UNSEEN"), "unseen": ("UNSEEN", "SEEN"),
    "flagged": ("FLAGGED", "UNFLAGGED"), "answered": ("ANSWERED", "UNANSWERED"),
    "deleted": ("DELETED", "UNDELETED"), "draft": ("DRAFT", "UNDRAFT"),
}  # fmt: skip


def _string_piece(value):
    check_wire_text(value, "search term")
    if value.isascii():
        return quote(value), False
    return Literal(value.encode("utf-8")), True


def search_criteria(*, uids=None, header=None, **terms):
    """Search criteria ANDed together, e.g. ``search_criteria(from_="Zoë", since=date(2024, 1,
    1), unseen=True)``. Keys: text body subject from_ to cc bcc keyword unkeyword (strings);
    since before on sent_since sent_before sent_on (dates); larger smaller modseq (numbers);
    seen unseen flagged answered deleted draft (booleans); ``uids`` (a UID collection);
    ``header=(name, value)``. With no terms at all it is ``ALL``."""
    pieces, utf8 = [], False
    for key, value in terms.items():
        if value is None:
            continue
        if key in _STRING_KEYS:
            if key in ("keyword", "unkeyword"):
                piece = flag_list([value])[1:-1]
            else:
                piece, wide = _string_piece(value)
                utf8 |= wide
            pieces += [_STRING_KEYS[key].encode(), piece]
        elif key in _DATE_KEYS:
            pieces += [_DATE_KEYS[key].encode(), imap_date(value).encode()]
        elif key in _NUMBER_KEYS:
            pieces += [_NUMBER_KEYS[key].encode(), str(int(value)).encode()]
        elif key in _FLAG_KEYS:
            pieces.append(_FLAG_KEYS[key][0 if value else 1].encode())
        else:
            raise TypeError(f"unknown search term: {key}")
    if header is not None:
        name, value = header
        if not re.fullmatch(r"[!-9;-~]+", name):
            raise ConnectionProblem(Problem.BAD_INPUT, f"not a header name: {name!r}")
        piece, wide = _string_piece(value)
        utf8 |= wide
        pieces += [b"HEADER", name.encode(), piece]
    if uids is not None:
        pieces += [b"UID", uid_set(uids) or b"0"]
    return SearchCriteria(tuple(pieces) or (b"ALL",), "UTF-8" if utf8 else None)
