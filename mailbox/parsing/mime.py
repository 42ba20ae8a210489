"""A raw message (RFC 5322 + MIME, as a POP3 account stores it) as the BodyPart tree IMAP gives.

The tree is the one :func:`~.bodystructure.parse_bodystructure` makes of Dovecot's BODYSTRUCTURE
for the same bytes: the same sections (RFC 3501 6.4.5), types, parameters, sizes and line
counts, so that the reading code cannot tell a POP3 message from an IMAP one. Each part also
gets the byte offsets of its body in the file, so that one part can be read or streamed alone.

The file is read once, front to back, in blocks; memory holds a block or two, the MIME fields of
one header block (at most MAX_HEADER_BYTES) and the tree, never a body:

1. A part starts with its header block: lines up to an empty line (or the end of the file).
   A line that is a delimiter of an open multipart ends it early: that part is then empty,
   and (as Dovecot counts) the line break before the delimiter stays in the parts around it.
2. Its Content-* fields are read the way Dovecot reads them (mimefields.py ports its rfc822
   and RFC 2231 parsers: the first Content-Type wins, a broken one is kept as far as it
   parses, the parameters come back merged but not decoded), and the result goes through the
   very helpers
   parse_bodystructure uses (``_media_type``, ``decode_params``, ``_filename`` ...).
   Without MIME-Version or Content-Type, a message's own Content-* fields do not count
   (RFC 2045 4); a multipart/digest part without Content-Type is a message (RFC 2046 5.1.5).
3. The body of a multipart is scanned for delimiter lines (RFC 2046 5.1.1): "--" and the
   boundary at a line start, the longest open boundary that prefixes the line, the innermost
   first; "--" after it closes. The line break before a delimiter belongs to the delimiter.
   A delimiter of an outer multipart ends every part inside it. Preamble and epilogue are not
   parts; a multipart with no part gets one empty text/plain, as Dovecot shows it.
4. A message/rfc822 (or message/global, RFC 6532 3.7) part holds a message: back to step 1.
5. Size is the octets of a body with every bare LF counted as CRLF, lines its LF count: what
   IMAP reports. Counting runs as the blocks are read; a part's figures are the difference
   of the running counts at its two ends.
6. Limits: a multipart or message nested MAX_DEPTH deep, and the part after MAX_PARTS, is one
   opaque part to the end of what holds it. Nothing raises: a malformed file gives the tree
   Dovecot would show, as far as it is known (see tests/mailbox/test_mime_scan.py).
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from typing import BinaryIO

from .bodystructure import MAX_DEPTH, MAX_TOKENS, BodyPart, _filename, _header_text, _media_type
from .charsets import decode_params
from .mimefields import Head, field_text, is_mime_field, nstring, read_head
from .transfer import decoded

__all__ = [
    "ScannedMessage",
    "header_end",
    "iter_part",
    "may_have_attachments",
    "read_part",
    "scan_bytes",
    "scan_message",
]

MAX_PARTS = MAX_TOKENS // 20  # as many as parse_bodystructure takes from a server
MAX_HEADER_BYTES = 1 << 16  # of one part's MIME fields (Content-*); the rest is skipped
BLOCK = 1 << 18  # bytes read at a time
LINE_PIECE = 1 << 12  # a longer line is read in pieces of this size

Mark = tuple[int, int, int]  # (offset, LF count, bare LF count) at a point of the file


@dataclass(slots=True)
class ScannedMessage:
    tree: BodyPart  # as parse_bodystructure gives it, plus body_start/body_end on every part
    header_end: int  # offset just after the top header block (after its empty line)
    size: int  # bytes in the file


# --- reading the file ---------------------------------------------------------------------------


class _Reader:
    """The file as a sequence of bytes read block by block, with running line counts."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self._buf = b""
        self._pos = 0  # of the next unread byte in _buf
        self._base = 0  # file offset of _buf[0]
        self._eof = False
        self._last = 0  # the byte consumed last
        self.lf = 0
        self.bare = 0  # LFs without a CR before them

    @property
    def offset(self) -> int:
        return self._base + self._pos

    def mark(self) -> Mark:
        return self._base + self._pos, self.lf, self.bare

    def before(self, offset: int) -> int:
        """The byte at ``offset`` (one of the last two consumed), or -1."""
        index = offset - self._base
        return self._buf[index] if 0 <= index < len(self._buf) else -1

    def _more(self) -> bool:
        """Append a block to the buffer, dropping what was consumed but two bytes."""
        if self._eof:
            return False
        data = self._stream.read(BLOCK)
        if not data:
            self._eof = True
            return False
        keep = min(self._pos, 2)
        self._base += self._pos - keep
        self._buf = self._buf[self._pos - keep :] + data
        self._pos = keep
        return True

    def peek_line(self, limit: int = LINE_PIECE) -> bytes:
        """The next line with its LF, or its first ``limit`` bytes, or what is left."""
        while True:
            end = self._buf.find(b"\n", self._pos, self._pos + limit)
            if end >= 0:
                return self._buf[self._pos : end + 1]
            if len(self._buf) - self._pos >= limit or not self._more():
                return self._buf[self._pos : self._pos + limit]

    def consume(self, count: int) -> None:
        buf, start = self._buf, self._pos
        end = min(start + count, len(buf))
        if end <= start:
            return
        lf = buf.count(b"\n", start, end)
        if lf:
            crlf = buf.count(b"\r\n", start, end) + (buf[start] == 10 and self._last == 13)
            self.lf += lf
            self.bare += lf - crlf
        self._last = buf[end - 1]
        self._pos = end

    def skip_line(self) -> bool:
        """Consume the rest of the line, its LF included; False when the file ends first."""
        while line := self.peek_line(BLOCK):
            self.consume(len(line))
            if line.endswith(b"\n"):
                return True
        return False

    def next_dashes(self, at_line_start: bool) -> bool:
        """Consume up to the next line that starts with "--"; False at the end of the file."""
        if at_line_start and self.peek_line(2) == b"--":
            return True
        while True:
            found = self._buf.find(b"\n--", self._pos)
            if found >= 0:
                self.consume(found + 1 - self._pos)
                return True
            self.consume(len(self._buf) - self._pos - 2)  # "\n-" may go on in the next block
            if not self._more():
                self.consume(len(self._buf) - self._pos)
                return False

    def skip_to_end(self) -> None:
        while True:
            self.consume(len(self._buf) - self._pos)
            if not self._more():
                return


# --- the part tree ------------------------------------------------------------------------------

MULTIPART, MESSAGE, LEAF = "multipart", "message", "leaf"


def _kind(head: Head, digest: bool) -> str:
    """Dovecot's flags: what the part holds."""
    content_type = (head.content_type or b"").lower()
    if content_type in (b"message/rfc822", b"message/global"):
        return MESSAGE
    if content_type.startswith(b"multipart/"):
        return MULTIPART
    if head.content_type is None and digest:
        return MESSAGE
    return LEAF


def _params(pairs: list[tuple[bytes, bytes]] | None, default_charset: bool) -> dict[str, str]:
    pairs = list(pairs or ())
    if default_charset and not any(name.lower() == b"charset" for name, _ in pairs):
        pairs.append((b"charset", b"us-ascii"))
    return decode_params([(field_text(name), field_text(value)) for name, value in pairs])


def _body_part(section: str, head: Head, kind: str) -> BodyPart:
    """The BodyPart that parse_bodystructure makes of what Dovecot writes for ``head``."""
    media, subtype = head.media
    text = head.content_type is None or media.lower() == b"text"
    if kind == MESSAGE:
        is_global = (head.content_type or b"").lower() == b"message/global"
        content_type = "message/global" if is_global else "message/rfc822"
    elif head.content_type is None:
        content_type = "text/plain"
    elif kind == LEAF and media.lower() == b"multipart":  # a multipart not opened: opaque
        content_type = "application/octet-stream"
    else:
        content_type = _media_type(field_text(media), field_text(subtype or b""))
    part = BodyPart(section, content_type)
    part.params = _params(head.params, text and kind == LEAF)
    if kind != MULTIPART:
        part.id = _header_text(nstring(head.id))
        part.description = _header_text(nstring(head.description))
        part.encoding = field_text(head.encoding).lower() if head.encoding else "7bit"
        part.md5 = nstring(head.md5)
    if head.disposition is not None:
        part.disposition = field_text(head.disposition).strip().lower() or None
        part.disposition_params = _params(head.disposition_params, False)
    part.language = [field_text(language) for language in head.language or ()]
    part.location = _header_text(nstring(head.location))
    part.filename = _filename(part.disposition_params, part.params)
    return part


def _names(prefix: str, number: int | None, multipart: bool) -> tuple[str, str]:
    """(section, prefix of the sections inside) of a part (RFC 3501 6.4.5): ``number`` in a
    multipart, or (None) the body of a message, "TEXT" when it is a multipart."""
    if number is not None:
        section = f"{prefix}{number}"
        return section, section + "."
    if multipart:
        return prefix + "TEXT", prefix
    return prefix + "1", prefix + "1."


def _empty_text(section: str, offset: int) -> BodyPart:
    """The part Dovecot shows for a multipart without parts, or a message without a header."""
    return BodyPart(
        section, "text/plain", {"charset": "us-ascii"}, encoding="7bit", size=0, lines=0,
        body_start=offset, body_end=offset,
    )  # fmt: skip


@dataclass(slots=True)
class _Boundary:
    text: bytes
    owner: BodyPart


@dataclass(slots=True)
class _End:
    """A delimiter line that ended a part."""

    boundary: _Boundary
    close: bool
    mark: Mark  # where the part that met it ends: before the line break that leads it
    outer: Mark  # where the parts around that one end (after the break, when it cut a header)


def _minus_newline(mark: Mark, newline: int) -> Mark:
    """The mark ``newline`` bytes (a CRLF or an LF just read) earlier."""
    offset, lf, bare = mark
    if not newline:
        return mark
    return offset - newline, lf - 1, bare - (newline == 1)


class _Scanner:
    """One pass over a message; see the module docstring for the algorithm."""

    def __init__(self, stream: BinaryIO):
        self.reader = _Reader(stream)
        self.stack: list[_Boundary] = []  # the open multiparts' boundaries, innermost last
        self.parts = 0

    def scan(self) -> ScannedMessage:
        tree, header_end, _end = self.part("", None, 0, mime=False, digest=False)
        self.reader.skip_to_end()  # an epilogue or what follows a never-closed multipart
        return ScannedMessage(tree, header_end, self.reader.offset)

    # -- delimiters

    def match(self, line: bytes) -> tuple[_Boundary, bool] | None:
        """The open boundary that ``line`` (starting with "--") delimits, and whether it is a
        close delimiter. As RFC 2046 5.1.1 asks, the boundary need only start the line; of
        several, the longest wins, then the innermost. The boundaries of the multiparts
        inside the one it delimits are forgotten, its own too when it closes."""
        best = -1
        for index in range(len(self.stack) - 1, -1, -1):
            text = self.stack[index].text
            if line.startswith(text, 2) and (best < 0 or len(self.stack[best].text) < len(text)):
                best = index
        if best < 0:
            return None
        boundary = self.stack[best]
        close = line.startswith(b"--", 2 + len(boundary.text))
        del self.stack[best + (not close) :]
        return boundary, close

    def body(self) -> _End | None:
        """Read a body up to the next delimiter line (not consumed), or the end (None)."""
        reader = self.reader
        start = reader.offset
        if not self.stack:
            reader.skip_to_end()
            return None
        while reader.next_dashes(reader.offset == start):
            found = self.match(reader.peek_line())
            if found is not None:
                mark = reader.mark()
                newline = 0
                if mark[0] > start:
                    newline = 1 + (mark[0] - 2 >= start and reader.before(mark[0] - 2) == 13)
                inner = _minus_newline(mark, newline)
                return _End(*found, inner, inner)
            reader.consume(2)
        return None

    # -- parts

    def header(self) -> tuple[bytes, _End | None]:
        """The MIME fields of a header block (at most MAX_HEADER_BYTES of them) and, when a
        delimiter line cut it short, that line; the empty line that ends it is consumed."""
        reader = self.reader
        kept: list[bytes] = []
        size = newline = 0
        keep = False
        while line := reader.peek_line():
            if self.stack and line.startswith(b"--") and (found := self.match(line)):
                mark = reader.mark()
                return b"".join(kept), _End(*found, _minus_newline(mark, newline), mark)
            if line in (b"\r\n", b"\n"):
                reader.consume(len(line))
                break
            if line[0] not in (0x20, 0x09):  # not a continuation line: a new field
                keep = is_mime_field(line)
            while True:  # one line, in pieces
                if keep and size < MAX_HEADER_BYTES:
                    kept.append(line[: MAX_HEADER_BYTES - size])
                    size += len(kept[-1])
                reader.consume(len(line))
                if line.endswith(b"\n") or not (line := reader.peek_line()):
                    break
            newline = 2 if line.endswith(b"\r\n") else 1 if line.endswith(b"\n") else 0
        return b"".join(kept), None

    def part(
        self, prefix: str, number: int | None, depth: int, mime: bool, digest: bool
    ) -> tuple[BodyPart, int, _End | None]:
        """One part from its header on: (the part, where its header ends, the delimiter line
        that ended it or None at the end of the file)."""
        if self.parts >= MAX_PARTS:
            return self.opaque(prefix, number)
        self.parts += 1
        block, cut = self.header()
        head = read_head(block, mime)
        kind = _kind(head, digest)
        boundary = head.boundary() if kind == MULTIPART else None
        if depth >= MAX_DEPTH:
            kind = LEAF  # beyond the limit: one opaque part
        section, inner = _names(prefix, number, kind == MULTIPART)
        part = _body_part(section, head, kind)
        if cut is not None:
            return self.cut_short(part, kind, inner, cut), cut.mark[0], cut
        start = self.reader.mark()
        if kind == MESSAGE:
            part.message, _header_end, end = self.part(
                inner, None, depth + 1, mime=False, digest=False
            )
        elif kind == MULTIPART and boundary is not None:
            is_digest = (head.media[1] or b"").lower() == b"digest"
            end = self.multipart(part, boundary, inner, depth, is_digest)
        else:
            end = self.body()
        self.close(part, kind, start, end)
        if kind == MULTIPART and not part.children:
            part.children.append(_empty_text(inner + "1", start[0]))
        return part, start[0], end

    def multipart(
        self, part: BodyPart, text: bytes, prefix: str, depth: int, digest: bool
    ) -> _End | None:
        """The parts of a multipart, up to the delimiter line (or the end) that ends it."""
        own = _Boundary(text, part)
        self.stack.append(own)
        end = self.body()  # the preamble
        while end is not None and end.boundary is own:
            if not self.reader.skip_line():  # a part starts after the delimiter's line break
                return None
            if end.close:
                end = self.body()  # the epilogue, up to an outer delimiter
                continue
            child, _header_end, end = self.part(
                prefix, len(part.children) + 1, depth + 1, mime=True, digest=digest
            )
            part.children.append(child)
        return end

    def close(self, part: BodyPart, kind: str, start: Mark, end: _End | None) -> None:
        """Set the offsets, size and line count of a part whose body began at ``start``."""
        stop = self.reader.mark() if end is None else end.mark if kind == LEAF else end.outer
        part.body_start, part.body_end = start[0], stop[0]
        if kind != MULTIPART:
            part.size = stop[0] - start[0] + stop[2] - start[2]
        if part.content_type.startswith("text/") or part.message is not None:
            part.lines = stop[1] - start[1]

    def cut_short(self, part: BodyPart, kind: str, inner: str, cut: _End) -> BodyPart:
        """A part whose header a delimiter line cut short: an empty body (and an empty part
        inside, as Dovecot shows a multipart without parts or a message without a header)."""
        offset = cut.mark[0]
        part.body_start = part.body_end = offset
        if kind != MULTIPART:
            part.size = 0
        if kind == MULTIPART:
            part.children.append(_empty_text(inner + "1", offset))
        elif kind == MESSAGE:
            part.message = _empty_text(inner + "1", offset)
        if part.content_type.startswith("text/") or part.message is not None:
            part.lines = 0
        return part

    def opaque(self, prefix: str, number: int | None) -> tuple[BodyPart, int, None]:
        """Past MAX_PARTS: the rest of the file is one part, with no structure."""
        section, _inner = _names(prefix, number, False)
        start = self.reader.mark()
        self.stack.clear()
        self.reader.skip_to_end()
        part = BodyPart(section, "application/octet-stream", encoding="7bit")
        self.close(part, LEAF, start, None)
        return part, start[0], None


# --- the interface ------------------------------------------------------------------------------


def scan_message(stream: BinaryIO) -> ScannedMessage:
    """The part tree of the raw message in ``stream`` (a binary file object at offset 0, read
    once, front to back), as parse_bodystructure gives it for the same message from Dovecot,
    each part with ``body_start``/``body_end``: the byte offsets of its encoded body (for a
    message/rfc822 part, of the attached message; for a multipart, of all between its header
    and its end). CRLF or bare LF line endings; never raises on what the file holds (only the
    stream's own errors, OSError, pass through). RFC 2045, RFC 2046 5.1, RFC 3501 6.4.5/7.4.2.
    """
    return _Scanner(stream).scan()


def scan_bytes(data: bytes) -> ScannedMessage:
    """:func:`scan_message` of a message held in memory."""
    return scan_message(BytesIO(data))


def _encoded(stream: BinaryIO, part: BodyPart, chunk_size: int) -> Iterator[bytes]:
    if part.body_start is None or part.body_end is None:
        raise ValueError(f"part {part.section} has no offsets: it was not scanned from a file")
    start, end = part.body_start, part.body_end
    stream.seek(start)
    while start < end:
        chunk = stream.read(min(chunk_size, end - start))
        if not chunk:  # the file is shorter than when it was scanned
            return
        start += len(chunk)
        yield chunk


def iter_part(stream: BinaryIO, part: BodyPart, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """The body of ``part`` (from :func:`scan_message` of this ``stream``, which must be
    seekable), decoded from its Content-Transfer-Encoding (RFC 2045 6), in chunks of about
    ``chunk_size`` bytes, never an empty one; reads only [body_start, body_end). A part with
    no offsets (one from IMAP) raises ValueError; the stream's own errors pass through."""
    yield from decoded(_encoded(stream, part, max(chunk_size, 1)), part.encoding)


def read_part(stream: BinaryIO, part: BodyPart, limit: int | None = None) -> bytes:
    """The decoded body of ``part`` as bytes; with ``limit``, at most that many bytes, and the
    file is read only as far as needed for them. See :func:`iter_part`."""
    if limit is not None and limit <= 0:
        return b""
    chunks: list[bytes] = []
    size = 0
    chunk_size = 1 << 16 if limit is not None and limit < 1 << 20 else 1 << 20
    for chunk in iter_part(stream, part, chunk_size):
        chunks.append(chunk)
        size += len(chunk)
        if limit is not None and size >= limit:
            break
    data = b"".join(chunks)
    return data if limit is None else data[:limit]


# --- without a scan: what a fetch asks of every message -----------------------------------------

_HEADER_END = re.compile(rb"\r?\n\r?\n")


def may_have_attachments(data: bytes) -> bool:
    """False when no part of the message ``data`` can be an attachment
    (:func:`~.bodystructure.tree_has_attachments`): no Content-Type field (folded lines
    included) names a type other than text/plain or text/html, and no Content-Type or
    Content-Disposition field says "attachment". Such a message is one text part, the body.
    The scan need not run to know it. True means "scan to tell": a body line that looks like
    such a field makes only a false alarm.

    Each occurrence of the words is found by bytes.find and its field looked up from its line
    start: a few microseconds for common mail (a regular expression anchored at every line
    start took ~30 µs for 10 KB)."""
    lowered = data.lower()
    at = lowered.find(b"attachment")
    while at != -1:
        if _in_mime_field(lowered, at):
            return True
        at = lowered.find(b"attachment", at + 1)
    at = lowered.find(b"content-type")
    while at != -1:
        if (at == 0 or lowered[at - 1] == 10) and not _TEXT_BODY_TYPE.match(lowered, at):
            return True
        at = lowered.find(b"content-type", at + 1)
    return False


# a Content-Type field of a body type (text/plain or text/html), folding allowed before it
_TEXT_BODY_TYPE = re.compile(
    rb"content-type[ \t]*:\s*(?:\([^)]*\)\s*)?text/(?:plain|html)[ \t]*(?:[;(\r\n]|$)"
)


def _in_mime_field(lowered: bytes, at: int) -> bool:
    """Whether offset ``at`` is in a Content-Type or Content-Disposition field."""
    start = lowered.rfind(b"\n", 0, at) + 1
    while start > 0 and lowered[start : start + 1] in (b" ", b"\t"):  # folded: the line above
        start = lowered.rfind(b"\n", 0, start - 1) + 1
    return lowered.startswith((b"content-type", b"content-disposition"), start)


def header_end(data: bytes) -> int:
    """The offset just after the top header block of ``data`` (its empty line), as
    ScannedMessage.header_end; len(data) when there is no empty line."""
    if data.startswith((b"\r\n", b"\n")):
        return 2 if data.startswith(b"\r\n") else 1
    found = _HEADER_END.search(data)
    return found.end() if found else len(data)
