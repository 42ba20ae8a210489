"""The MIME fields of one header block (Content-Type, -Disposition, -Transfer-Encoding, -ID,
-Description, -MD5, -Language, -Location), read the way Dovecot 2.3 reads them, so that a
message kept here reads as the same message on an IMAP server (mailbox.parsing.mime).

Ported from Dovecot's rfc822 and RFC 2231 parsers: the first Content-Type wins, a broken one is
kept as far as it parses, parameters come back merged (RFC 2231 continuations) but not decoded:
decoding is ``charsets.decode_params``'s, as for a BODYSTRUCTURE. Pure: no Django.
"""

import re
from dataclasses import dataclass

from .charsets import decode_raw

NUL_REPLACEMENT = "\ufffd".encode()  # what Dovecot puts for a NUL in a parameter or field
BOUNDARY_MAX = 80  # Dovecot keeps this much of a boundary parameter (RFC 2046 allows 70)


# --- Dovecot's reading of a Content-* field -----------------------------------------------------

# rfc822-parser.c: a MIME token (and '.'), an atom; 8-bit bytes count as letters
_TOKEN = re.compile(rb"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~\x80-\xff]*")
_ATOM = re.compile(rb"[!#$%&'*+\-/0-9=?A-Z^_`a-z{|}~\x80-\xff]+")
_LWSP = re.compile(rb"[ \t\r\n]*")
_PLAIN_QUOTED = re.compile(rb'"([^"\\\r\n\0]*)"')
_DIGITS = re.compile(rb"[0-9]*")
_RAW_VALUE = re.compile(rb"[^; \t\r\n]*")  # Dovecot's workaround for name==?utf-8?b?...?=


class _Cursor:
    """Dovecot's rfc822-parser.c over one field value, function for function (2.3 series):
    each returns 1 (more data follows), 0 (at the end) or -1 (malformed), as there."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0
        self.nul: bytes | None = None  # what a NUL in a quoted string becomes, if anything

    def skip_lwsp(self) -> int:
        data = self.data
        while True:
            self.pos = _LWSP.match(data, self.pos).end()
            if self.pos >= len(data):
                return 0
            if data[self.pos] != 0x28:  # (
                return 1
            if self._skip_comment() < 0:
                return -1

    def _skip_comment(self) -> int:
        data, pos, level = self.data, self.pos + 1, 1
        while pos < len(data):
            byte = data[pos]
            if byte == 0x28:
                level += 1
            elif byte == 0x29:  # )
                level -= 1
                if not level:
                    self.pos = pos + 1
                    return 1
            elif byte == 0x5C:  # backslash: skips the next byte, unless a line break or NUL
                pos += 1
                if pos < len(data) and data[pos] in b"\r\n\0":
                    pos -= 1
            pos += 1
        self.pos = len(data)
        return -1

    def token(self, out: bytearray) -> int:
        match = _TOKEN.match(self.data, self.pos)
        out += match.group()
        self.pos = match.end()
        return self.skip_lwsp() if self.pos < len(self.data) else 0

    def atom(self, out: bytearray) -> int:
        match = _ATOM.match(self.data, self.pos)
        if match is None:
            return -1
        out += match.group()
        self.pos = match.end()
        return self.skip_lwsp() if self.pos < len(self.data) else 0

    def quoted(self, out: bytearray) -> int:
        plain = _PLAIN_QUOTED.match(self.data, self.pos)
        if plain is not None:
            out += plain.group(1)
            self.pos = plain.end()
            return self.skip_lwsp()
        data, pos = self.data, self.pos + 1
        start = pos
        while pos < len(data):
            byte = data[pos]
            if byte == 0 and self.nul is not None:
                out += data[start:pos] + self.nul
                start = pos + 1
            elif byte == 0x22:  # "
                out += data[start:pos]
                self.pos = pos + 1
                return self.skip_lwsp()
            elif byte == 0x0A:  # folding: the line break goes, the white space stays
                out += data[start : pos - 1 if pos > start and data[pos - 1] == 0x0D else pos]
                start = pos + 1
            elif byte == 0x5C:
                pos += 1
                if pos < len(data) and data[pos] in b"\r\n\0":
                    pos -= 1
                elif pos < len(data):
                    out += data[start : pos - 1]
                    start = pos
            pos += 1
        self.pos = len(data)
        return -1

    def content_type(self) -> tuple[int, bytes]:
        """rfc822_parse_content_type: "type/subtype", or what is kept of a broken one."""
        out = bytearray()
        if self.skip_lwsp() <= 0:
            return -1, b""
        if self.token(out) <= 0 or not out:
            return -1, bytes(out)  # "text" alone is kept
        if self.data[self.pos] != 0x2F or not self._after_slash():  # /
            return -1, b""
        out += b"/"
        ret = self.token(subtype := bytearray())
        if ret < 0 or not subtype or (self.pos < len(self.data) and self.data[self.pos] != 0x3B):
            return -1, b""
        return ret, bytes(out + subtype)

    def _after_slash(self) -> bool:
        self.pos += 1
        return self.skip_lwsp() > 0

    def param(self) -> tuple[int, bytes, bytes]:
        """rfc822_parse_content_param: one "; name=value" as (1, name, value), 0 at the end."""
        data = self.data
        if self.pos >= len(data):
            return 0, b"", b""
        if data[self.pos] != 0x3B or self._after_semicolon() <= 0:
            return -1, b"", b""
        key = bytearray()
        if self.token(key) <= 0 or data[self.pos] != 0x3D:  # =
            return -1, b"", b""
        self.pos += 1
        value = bytearray()
        ret = self.skip_lwsp()
        if ret > 0:
            ret = self._value(value)
        return (-1 if ret < 0 else 1), bytes(key), bytes(value)

    def _after_semicolon(self) -> int:
        self.pos += 1
        return self.skip_lwsp()

    def _value(self, value: bytearray) -> int:
        byte = self.data[self.pos]
        if byte == 0x22:
            return self.quoted(value)
        if byte == 0x3D:  # =
            end = _RAW_VALUE.match(self.data, self.pos).end()
            value += self.data[self.pos : end]
            self.pos = end
            return 1
        return self.token(value)

    def params(self) -> list[tuple[bytes, bytes]]:
        """rfc2231_parse: the parameters in order, RFC 2231 sections merged (not decoded)."""
        self.nul = NUL_REPLACEMENT
        plain: list[tuple[bytes, bytes]] = []
        sections: list[tuple[bytes, int, bool, bytes]] = []
        index = 0  # Dovecot reuses one struct: "name*" takes the index of the section before
        while (found := self.param())[0]:
            ret, key, value = found
            if ret < 0:
                if self.pos >= len(self.data):
                    break
                self.pos += 1
                continue
            value = value.partition(b"\0")[0]  # a C string
            section = _section(key, index)
            if section is None:
                plain.append((key, value))
            else:
                index = section[1]
                sections.append((*section, value))
        return plain + _merge(sections)


def _section(key: bytes, index: int) -> tuple[bytes, int, bool] | None:
    """(name, index, extended) of an RFC 2231 "name*1*" key, None for a plain name."""
    star = key.find(b"*")
    if star < 0:
        return None
    rest = key[star:]
    if len(rest) > 1:
        rest = rest[1:]
        digits = _DIGITS.match(rest).group()
        index = int(digits) % (1 << 32) if digits else 0
        rest = rest[len(digits) :]
    extended = rest.startswith(b"*")
    if rest[extended:]:
        return None
    return key[:star], index, extended


def _merge(sections: list[tuple[bytes, int, bool, bytes]]) -> list[tuple[bytes, bytes]]:
    """The second half of rfc2231_parse: sections joined per name when they run 0, 1, 2 ...;
    with a "*" section the name gets a "*" and plain sections are %-escaped."""
    sections.sort(key=lambda item: (item[0], item[1]))
    out: list[tuple[bytes, bytes]] = []
    first = 0
    while first < len(sections):
        name = sections[first][0].lower()
        last = first
        while last < len(sections) and sections[last][0].lower() == name:
            last += 1
        group = sections[first:last]
        first = last
        if any(item[1] != number for number, item in enumerate(group)):
            out += [(_section_key(*item[:3]), item[3]) for item in group]
            continue
        extended = any(item[2] for item in group)
        value = b"''" if extended and not group[0][2] else b""
        for item in group:
            value += item[3].replace(b"%", b"%25") if extended and not item[2] else item[3]
        out.append((group[0][0] + b"*" * extended, value))
    return out


def _section_key(name: bytes, index: int, extended: bool) -> bytes:
    return name + b"*" + str(index).encode() + b"*" * extended


# --- one header block -----------------------------------------------------------------------

# a field: its name up to the first ':', the value with its continuation lines
_FIELD = re.compile(rb"^([^:\n]*):([^\n]*(?:\n[ \t][^\n]*)*)", re.M)
_LEADING_LWSP = re.compile(rb"[ \t]*")
_BREAK_BEFORE_SPACE = re.compile(rb"[\r\n](?=[ \t\r\n]|\Z)")
_BREAK = re.compile(rb"[\r\n]")


def field_text(data: bytes) -> str:
    """As parse_bodystructure reads a string of BODYSTRUCTURE: ASCII, else UTF-8 or Latin-1."""
    return data.decode("ascii") if data.isascii() else decode_raw(data)


def _field_value(raw: bytes) -> bytes:
    """A field's full value as Dovecot keeps it: white space after the colon skipped (one
    character when there is nothing else on the line), the final CR gone."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    first_line_end = raw.find(b"\n")
    line = raw if first_line_end < 0 else raw[:first_line_end]
    skip = _LEADING_LWSP.match(line).end()
    if skip == len(line) and skip:
        skip = 1
    return raw[skip:]


def nstring(value: bytes | None) -> str | None:
    """A field written as an IMAP nstring without line breaks, as parse_bodystructure reads
    it: NUL becomes U+FFFD; CR and LF go (a space where no white space follows)."""
    if value is None:
        return None
    value = value.replace(b"\0", NUL_REPLACEMENT)
    if b"\r" in value or b"\n" in value:
        value = _BREAK.sub(b" ", _BREAK_BEFORE_SPACE.sub(b"", value))
    return field_text(value)


# fields kept as they are written (Dovecot's message_part_data)
_PLAIN_FIELDS = {b"id": "id", b"description": "description", b"md5": "md5", b"location": "location"}


@dataclass(slots=True)
class Head:
    """What one header block says, as Dovecot's message_part_data holds it."""

    mime: bool = False  # MIME-Version or Content-Type present (or a part of a multipart)
    content_type: bytes | None = None  # "type/subtype" as parsed, maybe cut short
    type_ok: bool = False  # the Content-Type parsed to its end
    params: list[tuple[bytes, bytes]] | None = None
    encoding: bytes | None = None
    id: bytes | None = None
    description: bytes | None = None
    md5: bytes | None = None
    location: bytes | None = None
    language: list[bytes] | None = None
    disposition: bytes | None = None
    disposition_params: list[tuple[bytes, bytes]] | None = None

    def read(self, name: bytes, value: bytes) -> None:
        """One field; the first of each kind counts (a Content-Disposition until one has
        parameters, a Content-Transfer-Encoding or Content-Language until one parses)."""
        if name == b"mime-version":
            self.mime = True
        if not name.startswith(b"content-"):
            return
        kind = name[8:]
        if kind == b"type":
            self.mime = True
            if self.content_type is None:
                self._read_type(value)
        elif kind == b"transfer-encoding" and self.encoding is None:
            self.encoding = _encoding(value)
        elif kind == b"disposition" and not self.disposition_params:
            self._read_disposition(value)
        elif kind == b"language" and self.language is None:
            self.language = _languages(value)
        elif kind in _PLAIN_FIELDS and getattr(self, _PLAIN_FIELDS[kind]) is None:
            setattr(self, _PLAIN_FIELDS[kind], value)

    def _read_type(self, value: bytes) -> None:
        cursor = _Cursor(value)
        ret, self.content_type = cursor.content_type()
        self.type_ok = ret >= 0
        self.params = cursor.params() if self.type_ok else []

    def _read_disposition(self, value: bytes) -> None:
        cursor = _Cursor(value)
        cursor.skip_lwsp()
        kind = bytearray()
        if cursor.token(kind) >= 0:
            self.disposition = bytes(kind)
            self.disposition_params = cursor.params()

    @property
    def media(self) -> tuple[bytes, bytes | None]:
        """(type, subtype) of the Content-Type; the subtype None when there is no "/"."""
        media, slash, subtype = (self.content_type or b"").partition(b"/")
        return media, subtype if slash else None

    def boundary(self) -> bytes | None:
        """The boundary of a multipart whose Content-Type parsed, as Dovecot keeps it."""
        if not self.type_ok:
            return None
        for name, value in self.params or ():
            if name.lower() == b"boundary":
                return value[:BOUNDARY_MAX]
        return None


def _encoding(value: bytes) -> bytes | None:
    cursor = _Cursor(value)
    cursor.skip_lwsp()
    token = bytearray()
    if cursor.token(token) >= 0 and cursor.skip_lwsp() == 0 and token:
        return bytes(token)
    return None


def _languages(value: bytes) -> list[bytes] | None:
    cursor = _Cursor(value)
    cursor.skip_lwsp()
    languages = []
    while cursor.atom(language := bytearray()) >= 0:
        languages.append(bytes(language))
        if cursor.pos >= len(value) or value[cursor.pos] != 0x2C:  # ,
            break
        cursor.pos += 1
        cursor.skip_lwsp()
    return languages or None


def _field_name(raw: bytes) -> bytes:
    """A field name as Dovecot compares it: a C string, without the white space before ':'."""
    return raw.partition(b"\0")[0].rstrip(b" \t").lower()


def is_mime_field(line: bytes) -> bool:
    name = _field_name(line[: max(line.find(b":"), 0)])
    return name == b"mime-version" or name.startswith(b"content-")


def read_head(block: bytes, mime: bool) -> Head:
    """The Content-* fields of a header block. Without MIME-Version or Content-Type (and not
    a part of a multipart), the others are forgotten, as RFC 2045 4 has it."""
    head = Head(mime=mime)
    for raw_name, raw_value in _FIELD.findall(block):
        name = _field_name(raw_name)
        if name == b"mime-version" or name.startswith(b"content-"):
            head.read(name, _field_value(raw_value))
    return head if head.mime else Head()
