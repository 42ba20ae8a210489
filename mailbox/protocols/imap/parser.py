"""Reading and parsing IMAP server responses (RFC 3501, 7162, 4731, 5258), built for speed.

A folder of 100,000 messages means 100,000 FETCH responses to read and parse, so the work per
response is kept to a few compiled regular expressions and bytes slices:

- :func:`read_response` returns one whole response as the raw bytes the server sent (final CRLF
  dropped). Literals stay inline, ``{n}\\r\\n`` followed by their n bytes, so the raw bytes
  describe themselves and nothing is copied into token lists.
- :func:`parse_fetch` walks the data items of a FETCH response with one regex per item.
  BODYSTRUCTURE, BODY and ENVELOPE are not tokenised: their value is the raw bytes of the
  balanced list, whose end one regex finds (quoted strings with escaped quotes and parentheses
  inside are fine); only a list with a literal inside, or nested deeper than :data:`FAST_DEPTH`,
  takes the slower scanner.
- INTERNALDATE is parsed by slicing its fixed layout; flag lists are memoised.

Everything else (LIST, STATUS, ESEARCH, response codes) is rare and goes through the small
general parser :func:`parse_values`. No Django here.
"""

import datetime
import re

MAX_LINE = 16 * 1024 * 1024  # one line between literals; a huge BODYSTRUCTURE fits
MAX_LITERAL = 1024 * 1024 * 1024
MAX_UID_SET = 5_000_000  # UIDs one set may expand to (a hostile "1:4294967295" would not fit)
FAST_DEPTH = 12  # list nesting the one-regex path handles


class ParseError(ValueError):
    """The server sent something that is not IMAP as we know it."""


# --- reading ------------------------------------------------------------------------------------


def read_response(file):
    """One complete response from the buffered reader ``file``: its line(s) with every literal's
    bytes inline, without the final CRLF. EOFError when the connection is closed."""
    line = file.readline(MAX_LINE)
    if not line.endswith(b"}\r\n"):
        if line.endswith(b"\r\n"):
            return line[:-2]
        if not line:
            raise EOFError("the server closed the connection")
        raise ParseError("a response line is too long or cut short")
    parts = []
    while True:
        start = line.rfind(b"{")
        size = line[start + 1 : -3]
        if start < 0 or not size.isdigit():  # "}" at the end, but not a literal
            parts.append(line[:-2])
            return b"".join(parts)
        size = int(size)
        if size > MAX_LITERAL:
            raise ParseError(f"a literal of {size} bytes is more than we accept")
        data = file.read(size)
        if len(data) != size:
            raise EOFError("the server closed the connection inside a literal")
        parts.append(line)
        parts.append(data)
        line = file.readline(MAX_LINE)
        if not line.endswith(b"\r\n"):
            if not line:
                raise EOFError("the server closed the connection")
            raise ParseError("a response line is too long or cut short")
        if not line.endswith(b"}\r\n"):
            parts.append(line[:-2])
            return b"".join(parts)


# --- the pieces ---------------------------------------------------------------------------------

_QUOTED_BODY = rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"'  # "unrolled": the fastest form for sre
_QUOTED = re.compile(rb'"([^"\\]*+(?:\\.[^"\\]*+)*+)"', re.DOTALL)
_ESCAPE = re.compile(rb"\\(.)", re.DOTALL)
_LITERAL = re.compile(rb"\{(\d+)\}\r\n")
_ATOM = re.compile(rb'[^ ()"{\r\n]+')
_NUMBER = re.compile(rb"\d+")
_SPACES = re.compile(rb" *")


def _balanced(depth):
    """A regex for a parenthesised list nested at most ``depth`` deep, without literals.

    Written "unrolled" (runs of plain bytes between quoted strings and sublists) with
    possessive quantifiers (Python 3.11): nothing is ever retried, so a match or a failure
    costs one pass, and sre does the least work per byte this way."""
    plain = rb'[^()"{]*+'
    level = rb"\(" + plain + rb"(?:" + _QUOTED_BODY + plain + rb")*+\)"
    for _ in range(depth):
        level = rb"\(" + plain + rb"(?:(?:" + _QUOTED_BODY + rb"|" + level + rb")" + plain
        level += rb")*+\)"
    return level


_LIST = re.compile(_balanced(FAST_DEPTH), re.DOTALL)
_STRUCTURE = re.compile(rb'[()"{]')


def list_end(raw, pos):
    """The index just past the list that opens at ``raw[pos]`` (which is ``(``)."""
    match = _LIST.match(raw, pos)
    if match is not None:
        return match.end()
    return _scan_list_end(raw, pos)


def _scan_list_end(raw, pos):
    """The slow way: step over quoted strings and literals (any depth)."""
    depth = 0
    while True:
        match = _STRUCTURE.search(raw, pos)
        if match is None:
            raise ParseError("a list is not closed")
        pos = match.start()
        char = raw[pos]
        if char == 0x28:  # (
            depth += 1
            pos += 1
        elif char == 0x29:  # )
            depth -= 1
            pos += 1
            if depth == 0:
                return pos
        elif char == 0x22:  # "
            quoted = _QUOTED.match(raw, pos)
            if quoted is None:
                raise ParseError("a quoted string is not closed")
            pos = quoted.end()
        else:  # {
            literal = _LITERAL.match(raw, pos)
            pos = literal.end() + int(literal.group(1)) if literal else pos + 1


def unquote(body):
    """The text of a quoted string's inside (escapes resolved)."""
    return _ESCAPE.sub(rb"\1", body) if b"\\" in body else body


def parse_value(raw, pos):
    """One value at ``raw[pos]``: bytes for an atom, number or string, None for NIL, a list for a
    parenthesised list. Returns ``(value, position after it)``."""
    char = raw[pos]
    if char == 0x28:  # (
        values = []
        pos += 1
        while True:
            pos = _SPACES.match(raw, pos).end()
            if pos >= len(raw):
                raise ParseError("a list is not closed")
            if raw[pos] == 0x29:
                return values, pos + 1
            value, pos = parse_value(raw, pos)
            values.append(value)
    if char == 0x22:  # "
        match = _QUOTED.match(raw, pos)
        if match is None:
            raise ParseError("a quoted string is not closed")
        return unquote(match.group(1)), match.end()
    if char == 0x7B:  # {
        match = _LITERAL.match(raw, pos)
        if match is None:
            raise ParseError("a literal is malformed")
        start = match.end()
        end = start + int(match.group(1))
        if end > len(raw):
            raise ParseError("a literal is cut short")
        return raw[start:end], end
    match = _ATOM.match(raw, pos)
    if match is None:
        raise ParseError(f"unexpected {raw[pos : pos + 20]!r}")
    atom = match.group()
    if atom == b"NIL" or atom == b"nil":
        return None, match.end()
    return atom, match.end()


def parse_values(raw, pos=0):
    """Every value from ``raw[pos]`` to the end, separated by spaces."""
    values = []
    end = len(raw)
    while True:
        pos = _SPACES.match(raw, pos).end()
        if pos >= end:
            return values
        value, pos = parse_value(raw, pos)
        values.append(value)


def text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


# --- flags and dates ----------------------------------------------------------------------------

_FLAGS_SEEN = {}


def parse_flags(inside):
    """``b"\\\\Seen $Label1"`` -> ``("\\\\Seen", "$Label1")``, memoised: few combinations recur.

    ``\\Recent`` is left out: it belongs to one session, not to the message (IMAP4rev2 dropped
    it), and a cache that stored it would see every message change when the session ends."""
    flags = _FLAGS_SEEN.get(inside)
    if flags is None:
        words = inside.decode("utf-8", "replace").split()
        flags = tuple(word for word in words if word.lower() != "\\recent")
        if len(_FLAGS_SEEN) < 4096:
            _FLAGS_SEEN[inside] = flags
    return flags


_MONTH_NUMBERS = {
    name: number
    for number, name in enumerate(
        (
            b"Jan",
            b"Feb",
            b"Mar",
            b"Apr",
            b"May",
            b"Jun",
            b"Jul",
            b"Aug",
            b"Sep",
            b"Oct",
            b"Nov",
            b"Dec",
        ),
        1,
    )  # fmt: skip
}
_DAYS = {}  # b"01-Jan-2024" -> (2024, 1, 1): mail comes in runs of days
_ZONES = {}  # b"+0100" -> its timezone
_DATE_TIME = re.compile(rb" ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-]\d\d\d\d)\Z")


def _day(text):
    day = _DAYS.get(text)
    if day is None:
        day = (int(text[7:11]), _MONTH_NUMBERS[text[3:6].title()], int(text[0:2]))
        datetime.date(*day)  # ValueError if there is no such day
        if len(_DAYS) < 100_000:
            _DAYS[text] = day
    return day


def _zone(text):
    zone = _ZONES.get(text)
    if zone is None:
        offset = datetime.timedelta(hours=int(text[1:3]), minutes=int(text[3:5]))
        zone = datetime.timezone(-offset if text[:1] == b"-" else offset)
        if len(_ZONES) < 1000:
            _ZONES[text] = zone
    return zone


def parse_internaldate(value):
    """``b"17-Jul-1996 02:44:25 -0700"`` (day may be space-padded) -> an aware datetime, by
    slicing the fixed layout; days and zones are memoised."""
    try:
        if len(value) == 26 and value[11] == 0x20 and value[20] == 0x20:
            year, month, day = _day(value[:11])
            return datetime.datetime(
                year, month, day, int(value[12:14]), int(value[15:17]), int(value[18:20]), 0,
                _zone(value[21:]),
            )  # fmt: skip
        match = _DATE_TIME.match(value.strip())
        if match is not None:
            day, month, year, hour, minute, second, zone = match.groups()
            year, month, day = _day(b"%02d-%s-%s" % (int(day), month, year))
            return datetime.datetime(
                year, month, day, int(hour), int(minute), int(second), 0, _zone(zone)
            )
    except (KeyError, ValueError):
        pass
    raise ParseError(f"not an INTERNALDATE: {value[:40]!r}")


# --- FETCH --------------------------------------------------------------------------------------

_FETCH = re.compile(rb"\* (\d+) FETCH \(")
_ITEM = re.compile(rb"([A-Za-z0-9.\-_]+)(\[[^\]]*\](?:<\d+>)?)? ")
_PAREN_ATOMS = re.compile(rb"\(([^()]*)\)")
_FLAGS_KEY, _MODSEQ_KEY, _DATE_KEY = b"FLAGS", b"MODSEQ", b"INTERNALDATE"


def parse_fetch(raw):
    """``(sequence number, {item: value})`` of a ``* n FETCH (...)`` response, or None when
    ``raw`` is not one. Item names are upper case and keep their section (``BODY[1]<0>``).
    Values: int for UID, RFC822.SIZE and MODSEQ; a tuple of str for FLAGS; an aware datetime
    for INTERNALDATE; raw list bytes for BODYSTRUCTURE, BODY and ENVELOPE; bytes or None for
    strings (BODY[...] sections, literal or quoted); bytes for any other atom."""
    match = _FETCH.match(raw)
    if match is None:
        return None
    return int(match.group(1)), parse_fetch_items(raw, match.end())


def parse_fetch_items(raw, pos):  # noqa: C901 - one flat loop on purpose: it runs per message
    items = {}
    item = _ITEM.match
    while True:
        match = item(raw, pos)
        if match is None:
            if raw.startswith(b")", pos):  # an empty item list
                return items
            raise ParseError(f"unexpected FETCH data: {raw[pos : pos + 40]!r}")
        name, section = match.groups()
        name = name.upper()
        pos = match.end()
        char = raw[pos]
        if char == 0x28:  # (
            if name in (_FLAGS_KEY, _MODSEQ_KEY):
                inner = _PAREN_ATOMS.match(raw, pos)
                if inner is None:
                    raise ParseError(f"unexpected {name.decode()} value")
                value = inner.group(1)
                value = parse_flags(value) if name == _FLAGS_KEY else int(value)
                pos = inner.end()
            else:
                end = list_end(raw, pos)
                value = raw[pos:end]
                pos = end
        elif char == 0x22:  # "
            quoted = _QUOTED.match(raw, pos)
            if quoted is None:
                raise ParseError("a quoted string is not closed")
            value = unquote(quoted.group(1))
            pos = quoted.end()
            if name == _DATE_KEY:
                value = parse_internaldate(value)
        elif char == 0x7B:  # {
            literal = _LITERAL.match(raw, pos)
            if literal is None:
                raise ParseError("a literal is malformed")
            start = literal.end()
            pos = start + int(literal.group(1))
            value = raw[start:pos]
        else:
            atom = _ATOM.match(raw, pos)
            if atom is None:
                raise ParseError(f"unexpected FETCH data: {raw[pos : pos + 40]!r}")
            value = atom.group()
            pos = atom.end()
            if value.isdigit():
                value = int(value)
            elif value == b"NIL":
                value = None
        items[name + section.upper() if section else name] = value
        if raw.startswith(b" ", pos):
            pos += 1
        elif raw.startswith(b")", pos):
            return items
        else:
            raise ParseError(f"unexpected FETCH data: {raw[pos : pos + 40]!r}")


_META_KEYS = (b"UID", b"FLAGS", b"RFC822.SIZE", b"INTERNALDATE", b"BODYSTRUCTURE")

# The FETCH response for fetch_meta laid out as we ask for it (Dovecot answers in that order):
# one match instead of a loop over seven items. Anything else takes parse_fetch.
_META = re.compile(
    rb"\* \d+ FETCH \(UID (\d+) FLAGS \(([^()]*)\) RFC822\.SIZE (\d+) "
    rb'INTERNALDATE "([^"\\]*)" (?:MODSEQ \((\d+)\) )?BODYSTRUCTURE ('
    + _balanced(FAST_DEPTH)
    + rb") BODY\[HEADER\.FIELDS \([^()\]]*\)\] \{(\d+)\}\r\n",
    re.DOTALL,
)


def parse_meta(raw, header_key):
    """The MessageMeta fields (uid, flags, size, internaldate, modseq, header, bodystructure)
    of a FETCH response to fetch_meta's command, or None when it lacks what was asked for (as
    an unsolicited FETCH of a flag change does)."""
    match = _META.match(raw)
    if match is not None:
        uid, flags, size, date, modseq, structure, length = match.groups()
        start = match.end()
        end = start + int(length)
        if len(raw) == end + 1:
            return (
                int(uid),
                parse_flags(flags),
                int(size),
                parse_internaldate(date),
                int(modseq) if modseq is not None else None,
                raw[start:end],
                structure,
            )
    parsed = parse_fetch(raw)
    return None if parsed is None else meta_fields(parsed[1], header_key)


def meta_fields(items, header_key):
    """The same from parsed FETCH items, in whatever order they came."""
    try:
        uid, flags, size, date, structure = (items[key] for key in _META_KEYS)
        header = items[header_key] if header_key in items else _find_header(items, header_key)
        modseq = items.get(_MODSEQ_KEY)  # absent without CONDSTORE, or in a NOMODSEQ folder
    except KeyError:
        return None
    return uid, flags, size, date, modseq, header or b"", structure


def _find_header(items, header_key):
    """A server that spells the section differently (spaces, order, case) than we asked."""
    prefix = header_key.split(b" ", 1)[0]
    for key, value in items.items():
        if key.startswith(prefix):
            return value
    raise KeyError(header_key)


# --- UID sets -----------------------------------------------------------------------------------


def expand_uid_set(value, limit=MAX_UID_SET):
    """``b"1:3,7,9:8"`` -> ``[1, 2, 3, 7, 8, 9]``, refusing sets of more than ``limit`` UIDs."""
    uids = []
    for part in value.split(b","):
        first, _, last = part.partition(b":")
        try:
            low = int(first)
            high = int(last) if last else low
        except ValueError as exc:
            raise ParseError(f"not a UID set: {value[:40]!r}") from exc
        if low > high:
            low, high = high, low
        if len(uids) + high - low + 1 > limit:
            raise ParseError("a UID set is larger than we accept")
        uids.extend(range(low, high + 1))
    return uids


# --- responses ----------------------------------------------------------------------------------

_TAGGED = re.compile(rb"([^ *+]+) (OK|NO|BAD)(?: (.*))?\Z", re.IGNORECASE | re.DOTALL)
_UNTAGGED = re.compile(rb"\* (?:(\d+) )?([A-Za-z][A-Za-z0-9.\-]*)(?: (.*))?\Z", re.DOTALL)
_CODE = re.compile(rb"\[([A-Za-z0-9.\-]+)(?: ([^\]]*))?\] ?", re.DOTALL)


def parse_tagged(raw):
    """``(tag, STATUS, text)`` of a tagged completion, or None."""
    match = _TAGGED.match(raw)
    if match is None:
        return None
    return match.group(1), match.group(2).upper().decode(), match.group(3) or b""


def parse_untagged(raw):
    """``(number or None, KIND, rest)`` of an untagged response, or None."""
    match = _UNTAGGED.match(raw)
    if match is None:
        return None
    number = match.group(1)
    return (
        int(number) if number is not None else None,
        match.group(2).upper().decode(),
        match.group(3) or b"",
    )


def parse_code(rest):
    """``(CODE, argument bytes or None, text after)`` of ``[CODE arg] text``; CODE None if
    there is no response code."""
    match = _CODE.match(rest)
    if match is None:
        return None, None, rest
    return match.group(1).upper().decode(), match.group(2), rest[match.end() :]


def parse_copyuid(argument):
    """``{old uid: new uid}`` from the argument of ``[COPYUID validity old-set new-set]``."""
    _validity, old, new = argument.split()
    old_uids, new_uids = expand_uid_set(old), expand_uid_set(new)
    if len(old_uids) != len(new_uids):
        raise ParseError("COPYUID sets differ in length")
    return dict(zip(old_uids, new_uids, strict=True))


def parse_list(rest):
    """``(attributes, delimiter, name bytes)`` of a LIST or LSUB response's rest."""
    values = parse_values(rest)
    if len(values) < 3 or not isinstance(values[0], list):
        raise ParseError(f"unexpected LIST response: {rest[:80]!r}")
    attributes = frozenset(text(a) for a in values[0] if isinstance(a, bytes))
    delimiter = text(values[1]) if values[1] is not None else None
    return attributes, delimiter, values[2] if values[2] is not None else b""


def parse_status(rest):
    """``(name bytes, {ITEM: int})`` of a STATUS response's rest."""
    values = parse_values(rest)
    if len(values) < 2 or not isinstance(values[1], list):
        raise ParseError(f"unexpected STATUS response: {rest[:80]!r}")
    pairs = values[1]
    return values[0] or b"", {
        text(pairs[i]).upper(): int(pairs[i + 1]) for i in range(0, len(pairs) - 1, 2)
    }


def parse_esearch(rest):
    """``(tag or None, uid?, {RESULT: bytes})`` of an ESEARCH response's rest."""
    values = parse_values(rest)
    tag = None
    if values and isinstance(values[0], list):
        correlator = values.pop(0)
        if len(correlator) == 2 and text(correlator[0]).upper() == "TAG":
            tag = correlator[1]
    uid = bool(values) and isinstance(values[0], bytes) and values[0].upper() == b"UID"
    if uid:
        values.pop(0)
    results = {text(values[i]).upper(): values[i + 1] for i in range(0, len(values) - 1, 2)}
    return tag, uid, results


def parse_search(rest):
    """The numbers of a SEARCH response's rest (a CONDSTORE ``(MODSEQ n)`` is dropped)."""
    return [int(n) for n in rest.split(b"(", 1)[0].split()]


def parse_vanished(rest):
    """``(earlier, [uids])`` of a VANISHED response's rest."""
    earlier = rest[:9].upper() == b"(EARLIER)"
    if earlier:
        rest = rest[9:]
    return earlier, expand_uid_set(rest.strip())
