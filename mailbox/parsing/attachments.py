"""What the reader lists as attachments beyond the MIME leaves themselves: names for parts sent
without one, sizes as the user will get them, and the files hidden inside something else.

Hidden files ("embedded files") are not MIME parts, so they get section names of their own that
cannot be an RFC 3501 section: the host part's section, "~", a kind and a 1-based index
("2~tnef.1": the first file in the TNEF part 2; "1~uu.2": the second uuencoded block in the text
part 1; "1~yenc.1"). :func:`parse_virtual_section` is the one place that reads them.

- TNEF (application/ms-tnef, Outlook's winmail.dat, MS-OXTNEF) is read by the PyPI library
  ``tnefparse``;
- uuencoded blocks ("begin 644 name" ... "end", POSIX uuencode) in a text body, each line
  decoded by binascii.a2b_uu;
- yEnc blocks ("=ybegin ... name=..." ... "=yend", yEnc 1.3), decoded here: a tiny format.

Every reader is bounded (MAX_FILES per host, MAX_EMBEDDED_BYTES decoded) and never raises on
what a sender wrote.
"""

import binascii
import mimetypes
import re
from dataclasses import dataclass

from .bodystructure import BodyPart
from .charsets import decode_raw

__all__ = [
    "EmbeddedFile",
    "decoded_size",
    "extension_for",
    "parse_virtual_section",
    "part_name",
    "split_embedded",
    "tnef_files",
]

MAX_FILES = 100  # embedded files taken from one host part
MAX_EMBEDDED_BYTES = 64 << 20  # decoded bytes taken from one host part
MAX_NAME_CHARS = 255
KINDS = ("tnef", "uu", "yenc")

# Common mail types first: mimetypes' answer depends on the machine's /etc/mime.types, and
# it knows none of the mail-only types.
EXTENSIONS = {
    "application/octet-stream": ".bin",
    "application/pdf": ".pdf",
    "application/msword": ".doc",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.ms-powerpoint": ".ppt",
    "application/ms-tnef": ".dat",
    "application/vnd.ms-tnef": ".dat",
    "application/zip": ".zip",
    "application/x-zip-compressed": ".zip",
    "application/pgp-signature": ".asc",
    "application/pgp-encrypted": ".asc",
    "application/pgp-keys": ".asc",
    "application/pkcs7-signature": ".p7s",
    "application/x-pkcs7-signature": ".p7s",
    "application/pkcs7-mime": ".p7m",
    "application/x-pkcs7-mime": ".p7m",
    "application/ics": ".ics",
    "text/calendar": ".ics",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/csv": ".csv",
    "text/vcard": ".vcf",
    "text/x-vcard": ".vcf",
    "text/rfc822-headers": ".txt",
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "image/jpeg": ".jpg",
    "image/pjpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "audio/mpeg": ".mp3",
}

_VIRTUAL = re.compile(
    r"([1-9][0-9]{0,5}(?:\.[1-9][0-9]{0,5}){0,49})~(tnef|uu|yenc)\.([1-9][0-9]{0,5})"
)


def extension_for(content_type: str) -> str:
    """ ".pdf" for "application/pdf"; our table, then Python's mimetypes; ".bin" when unknown."""
    content_type = content_type.lower()
    found = EXTENSIONS.get(content_type) or mimetypes.guess_extension(content_type, strict=False)
    return found or ".bin"


def part_name(part: BodyPart, subject: str | None = None) -> str:
    """The name a part is listed and downloaded under: its own (disposition filename or
    Content-Type name); for a forwarded message, its ``subject`` + ".eml"; else one made from
    its section and type: "Part 1.2.doc"."""
    if part.filename:
        return part.filename
    if part.message is not None and subject and subject.strip():
        return subject.strip()[:150] + extension_for(part.content_type)
    return f"Part {part.section}{extension_for(part.content_type)}"


def decoded_size(part: BodyPart) -> tuple[int | None, str]:
    """(octets the download will have, how sure: "exact", "estimate" or "bound"), from the
    encoded size IMAP gives.

    base64 (RFC 2045 6.8): the line breaks taken off (lines of 76 characters and CRLF, as
    every common encoder writes them), then 3 octets per 4 characters: an "estimate", off by a
    few octets. quoted-printable (6.7): the encoded size, an upper "bound". Other encodings:
    the size as it is."""
    size = part.size
    if size is None:
        return None, "exact"
    encoding = (part.encoding or "").lower()
    if encoding == "base64":
        lines = -(-size // 78)
        return max(size - 2 * lines, 0) * 3 // 4, "estimate"
    if encoding == "quoted-printable":
        return size, "bound"
    return size, "exact"


def parse_virtual_section(section: str) -> tuple[str, str, int] | None:
    """("2", "tnef", 1) for "2~tnef.1"; None for anything else (a real section included)."""
    found = _VIRTUAL.fullmatch(section)
    if found is None:
        return None
    return found.group(1), found.group(2), int(found.group(3))


@dataclass(frozen=True, slots=True)
class EmbeddedFile:
    kind: str  # "tnef", "uu" or "yenc"
    index: int  # 1-based, in the order the host holds them
    name: str
    data: bytes

    def section(self, host: str) -> str:
        return f"{host}~{self.kind}.{self.index}"

    @property
    def content_type(self) -> str:
        guessed, _encoding = mimetypes.guess_type(self.name, strict=False)
        return (guessed or "application/octet-stream").lower()


def _clean_name(raw: bytes | str, fallback: str) -> str:
    """A sender's file name as text, without directory, control characters or NULs."""
    text = raw if isinstance(raw, str) else decode_raw(raw.rstrip(b"\x00"))
    text = "".join(c for c in text if c.isprintable()).replace("\\", "/").rpartition("/")[2]
    return text.strip()[:MAX_NAME_CHARS] or fallback


# --- TNEF ----------------------------------------------------------------------------------------


def tnef_files(data: bytes) -> list[EmbeddedFile]:
    """The files inside a TNEF stream (winmail.dat), by their long names; [] when it holds
    none or cannot be read (tnefparse raises many kinds of error on a damaged stream)."""
    try:
        from tnefparse import TNEF
    except ImportError:  # the dependency is missing: winmail.dat stays one opaque file
        return []
    try:
        attachments = TNEF(data, do_checksum=False).attachments
    except Exception:  # noqa: BLE001 - a damaged stream: no files, the part stays downloadable
        return []
    files, total = [], 0
    for index, attachment in enumerate(attachments[:MAX_FILES], 1):
        payload = bytes(getattr(attachment, "data", b"") or b"")
        total += len(payload)
        if total > MAX_EMBEDDED_BYTES:
            break
        files.append(EmbeddedFile("tnef", index, _tnef_name(attachment, index), payload))
    return files


def _tnef_name(attachment, index: int) -> str:
    try:
        name = attachment.long_filename()
    except Exception:  # noqa: BLE001 - a name in a codepage the stream does not declare
        name = getattr(attachment, "name", b"")
    return _clean_name(name or b"", f"Attachment {index}.bin")


# --- uuencode and yEnc in a text body -------------------------------------------------------------

_UU_BEGIN = re.compile(rb"begin ([0-7]{3,4}) ([^\r\n]+?)[ \t]*\r?\n")
_YENC_BEGIN = re.compile(rb"=ybegin [^\r\n]*?name=([^\r\n]*?)[ \t]*\r?\n")
_UU_END = re.compile(rb"(?:\r?\n|^)end[ \t]*(?:\r?\n|$)")
_YENC_END = re.compile(rb"(?:\r?\n|^)=yend[^\r\n]*(?:\r?\n|$)")
_BEGIN = re.compile(rb"(?m)^(?:begin [0-7]{3,4} |=ybegin )")
_Y_TABLE = bytes((byte - 42) % 256 for byte in range(256))


def split_embedded(data: bytes) -> tuple[bytes, list[EmbeddedFile]]:
    """A text body's bytes without its uuencoded and yEnc blocks, and the files they hold, in
    order. A block is taken only whole: a begin line, then its end line ("end", "=yend");
    a begin line without one stays text. CRLF or LF; a missing "`" line before "end" and
    3- or 4-digit modes are tolerated."""
    if b"begin " not in data:
        return data, []
    kept, files, position, counts = [], [], 0, {"uu": 0, "yenc": 0}
    for found in _BEGIN.finditer(data):
        start = found.start()
        if start < position or len(files) >= MAX_FILES:
            continue
        block = _block(data, start)
        if block is None:
            continue
        kind, name, payload, end = block
        counts[kind] += 1
        files.append(EmbeddedFile(kind, counts[kind], name, payload))
        kept.append(data[position:start])
        position = end
    kept.append(data[position:])
    return b"".join(kept), files


def _block(data: bytes, start: int) -> tuple[str, str, bytes, int] | None:
    """(kind, name, decoded bytes, offset after the block) of the block at ``start``."""
    if data.startswith(b"=ybegin ", start):
        begin, end_line, kind = _YENC_BEGIN.match(data, start), _YENC_END, "yenc"
    else:
        begin, end_line, kind = _UU_BEGIN.match(data, start), _UU_END, "uu"
    if begin is None:
        return None
    end = end_line.search(data, begin.end() - 1)
    if end is None:
        return None
    body = data[begin.end() : end.start()]
    payload = _ydecode(body) if kind == "yenc" else _uudecode(body)
    if payload is None:
        return None
    name = _clean_name(begin.group(2 if kind == "uu" else 1), f"{kind} file.bin")
    return kind, name, payload, end.end()


def _uudecode(body: bytes) -> bytes | None:
    """The bytes of uuencoded lines; None when a line is not uuencoding."""
    out, size = [], 0
    for line in body.splitlines():
        if not line.strip() or line in (b"`", b" "):
            continue
        if min(line) < 0x20 or max(line) > 0x60:  # not a uuencoding character: not a block
            return None
        # a line's first character gives its length; encoders pad differently after it
        count = (((line[0] - 32) & 63) * 4 + 5) // 3
        try:
            chunk = binascii.a2b_uu(line[:count])
        except binascii.Error:
            return None
        size += len(chunk)
        if size > MAX_EMBEDDED_BYTES:
            return None
        out.append(chunk)
    return b"".join(out)


def _ydecode(body: bytes) -> bytes | None:
    """yEnc: each byte minus 42; "=" escapes the next one (minus 64 more); line breaks and
    "=ypart" lines are not data."""
    out = bytearray()
    for line in body.splitlines():
        if line.startswith(b"=ypart "):
            continue
        pieces = line.split(b"=")
        out += pieces[0].translate(_Y_TABLE)
        for piece in pieces[1:]:
            if piece:
                out.append((piece[0] - 106) % 256)
                out += piece[1:].translate(_Y_TABLE)
        if len(out) > MAX_EMBEDDED_BYTES:
            return None
    return bytes(out)
