"""Charset labels decoded the way browsers decode them (the WHATWG Encoding Standard,
https://encoding.spec.whatwg.org/), and the HTML charset prescan (WHATWG HTML, "prescan a byte
stream to determine its encoding").

Mail software labels text with a charset and then writes its vendor superset: ISO-8859-1 that
is Windows-1252, KS_C_5601 that is Windows-949, ISO-2022-JP carrying the NEC and IBM extension
characters (①, ㈱, ㍍). The Encoding Standard's label table says which decoder each label gets;
it is the table of ``encodings.json``, carried as data by Mozilla's ``webencodings`` package
(``webencodings.labels.LABELS``, generated from that file). Python's codecs then stand in for
the standard's decoders, with the differences mended by the ``webmail-whatwg`` error handler.

One deliberate difference: the standard sends ISO-2022-KR, HZ-GB-2312 and ISO-2022-CN to the
"replacement" decoder (one U+FFFD for the whole text), because a browser cannot trust a server
filter that read the escape sequences differently. We decode first and sanitize the text we
decoded, so that risk does not exist here, and mail is never lost: those labels get Python's
codec where it has one (iso2022_kr, hz), else the raw 8-bit rule.

Pure: no Django.
"""

import codecs
import functools
import re
from collections.abc import Callable

from webencodings.custom import user_codec_info
from webencodings.labels import LABELS

__all__ = ["LABELS", "decoder_for", "html_prescan", "sniff_bom"]

Decoder = Callable[[bytes], str]

# The standard's encoding name -> the Python codec that decodes what the standard's decoder
# does (names missing here are Python's own names for the same codec).
_PYTHON = {
    "gbk": "gb18030",  # the standard's GBK decoder is its gb18030 decoder
    "big5": "big5hkscs",  # Big5 means Big5-HKSCS (with the ETEN extensions, below)
    "shift_jis": "cp932",  # Windows-31J: NEC and IBM extensions
    "euc-kr": "cp949",  # Windows-949 (Unified Hangul Code)
    "euc-jp": "euc_jp",  # plus the NEC and IBM rows, below
    "windows-874": "cp874",
    "iso-8859-8-i": "iso8859-8",
    "macintosh": "mac-roman",
    "x-mac-cyrillic": "mac-cyrillic",
}
# the table with "_" written "-": mail writes both (KS_C_5601-1987, ks_c_5601_1987)
_DASHED = {label.replace("_", "-"): name for label, name in LABELS.items()}
# labels outside the table that are ISO-2022-JP's extensions: the same decoder reads them
_ISO2022JP_LABELS = {"iso-2022-jp", "iso-2022-jp-1", "iso-2022-jp-2", "iso-2022-jp-ext"}


def sniff_bom(data: bytes) -> tuple[str | None, bytes]:
    """(the standard's encoding name the byte order mark gives, or None; data without it)."""
    for bom, name in (
        (codecs.BOM_UTF8, "utf-8"),
        (b"\xff\xfe", "utf-16le"),
        (b"\xfe\xff", "utf-16be"),
    ):
        if data.startswith(bom):
            return name, data[len(bom) :]
    return None, data


@functools.lru_cache(maxsize=256)
def decoder_for(label: str) -> Decoder | None:
    """A function bytes -> str for a charset label, or None when the table does not know it.

    The label is matched as the standard says (ASCII case-insensitive, outer ASCII whitespace
    stripped); mail's ``_`` for ``-`` ("ks_c_5601-1987" and "KS_C_5601_1987") is also accepted.
    Bytes a decoder cannot read become U+FFFD; the function never raises."""
    label = label.strip("\t\n\f\r ").encode("ascii", "replace").lower().decode()
    name = LABELS.get(label) or _DASHED.get(label.replace("_", "-"))
    if label in _ISO2022JP_LABELS or name == "iso-2022-jp":
        return decode_iso2022jp
    if name is None:
        return None
    if name == "x-user-defined":
        return lambda data: user_codec_info.decode(data, "replace")[0]
    if name == "replacement":
        return _literal_decoder(label)
    codec = codecs.lookup(_PYTHON.get(name, name)).name
    # charmap codecs report their errors as "charmap": the single-byte rule has its own name
    errors = "webmail-c1" if codec.startswith("cp12") or codec == "cp874" else "webmail-whatwg"
    return lambda data: data.decode(codec, errors)


def _literal_decoder(label: str) -> Decoder | None:
    try:
        codec = codecs.lookup(label).name
    except LookupError:
        return None
    return lambda data: data.decode(codec, "replace")


# --- where Python's codecs and the standard's decoders differ -----------------------------------


def _jis_to_cp932(lead: int, trail: int) -> str | None:
    """A JIS X 0208 code (row and cell bytes 0x21-0x7E) read through Windows-31J, which holds
    the NEC row 13 and the NEC-selected IBM rows 89-92 that the standard's index has."""
    if not (0x21 <= lead <= 0x7E and 0x21 <= trail <= 0x7E):
        return None
    row, cell = lead - 0x20, trail - 0x20
    first = (row + 1) // 2 + (0x80 if row <= 62 else 0xC0)
    if row % 2:
        second = cell + 0x3F + (cell >= 64)
    else:
        second = cell + 0x9E
    try:
        return bytes((first, second)).decode("cp932")
    except UnicodeDecodeError:
        return None


def _c1_errors(error: UnicodeDecodeError) -> tuple[str, int]:
    """windows-125x and windows-874 as the standard reads them: the bytes 0x80-0x9F that
    Windows leaves unmapped are the C1 controls; other unmapped bytes are U+FFFD."""
    byte = error.object[error.start]
    return (chr(byte) if 0x80 <= byte <= 0x9F else "\ufffd"), error.start + 1


def _whatwg_errors(error: UnicodeDecodeError) -> tuple[str, int]:
    """What the standard's decoder gives where Python's codec gives up (else U+FFFD):

    - gb18030: 0x80 is the euro sign;
    - big5hkscs: the ETEN and Microsoft extensions (the euro at A3E1, box drawing at F9xx);
    - euc_jp: the NEC and IBM rows of JIS X 0208."""
    data, start, encoding = error.object, error.start, error.encoding.replace("_", "")
    byte = data[start]
    if encoding == "gb18030" and byte == 0x80:
        return "\u20ac", start + 1
    pair = bytes(data[start : start + 2])
    if encoding == "big5hkscs" and len(pair) == 2:
        try:
            return pair.decode("cp950"), start + 2
        except UnicodeDecodeError:
            pass
    if encoding == "eucjp" and len(pair) == 2:
        text = _jis_to_cp932(pair[0] - 0x80, pair[1] - 0x80)
        if text is not None:
            return text, start + 2
    return "\ufffd", error.end  # as "replace": one U+FFFD for what the codec could not read


codecs.register_error("webmail-c1", _c1_errors)
codecs.register_error("webmail-whatwg", _whatwg_errors)


# --- ISO-2022-JP ------------------------------------------------------------------------------

# the escape sequences that switch the standard's decoder: ASCII, JIS X 0201 Roman and
# Katakana, JIS X 0208 (1978 and 1983); then ISO-2022-JP-2's GB 2312, KS C 5601, JIS X 0212
_ISO2022JP_SWITCH = re.compile(rb"\x1b(\(B|\(J|\(I|\$@|\$B|\$A|\$\(C|\$\(D)")


def decode_iso2022jp(data: bytes) -> str:
    """ISO-2022-JP (RFC 1468) as browsers read it: JIS X 0208 with the NEC and IBM extension
    rows of Windows-31J, so ①, ㈱ and ㍍ come out; JIS X 0201 Katakana as half-width Katakana. Text
    in the other ISO-2022-JP-2 sets (JIS X 0212, KS C 5601, GB 2312, ISO-8859 G2) goes through
    Python's iso2022_jp_2. A line end inside two-byte text ends it (RFC 1468 asks senders
    to switch back first; some forget). 8-bit text with no escape at all under this 7-bit
    label is what some mailers send as "ISO-2022-JP": UTF-8 when it is, else Shift_JIS."""
    if b"\x1b" not in data and not data.isascii():
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("cp932", "replace")
    pieces = _ISO2022JP_SWITCH.split(data)
    out = [_iso2022jp_other(pieces[0])]
    for index in range(1, len(pieces), 2):
        mode, text = pieces[index], pieces[index + 1]
        if mode in (b"$@", b"$B"):
            out.append(_jis0208(text))
        elif mode == b"(I":
            out.append(
                "".join(chr(0xFF61 + b - 0x21) if 0x21 <= b <= 0x5F else chr(b) for b in text)
            )
        elif mode not in (b"(B", b"(J"):  # ISO-2022-JP-2's other two-byte sets
            out.append((b"\x1b" + mode + text).decode("iso2022_jp_2", "replace"))
        elif mode == b"(J":
            out.append(_iso2022jp_other(text).replace("\\", "\u00a5").replace("~", "\u203e"))
        else:
            out.append(_iso2022jp_other(text))
    return "".join(out)


def _iso2022jp_other(text: bytes) -> str:
    if b"\x1b" not in text and text.isascii():
        return text.decode("ascii")
    return text.decode("iso2022_jp_2", "replace")


def _jis0208(text: bytes) -> str:
    """Two-byte JIS X 0208 text up to the first line end, then the rest as ASCII."""
    pairs, newline, rest = _split_line(text)
    try:  # the usual case, at the speed of the C codec
        out = (b"\x1b$B" + pairs + b"\x1b(B").decode("iso2022_jp")
    except UnicodeDecodeError:  # NEC or IBM characters, or bytes out of place
        table = _jis_table()
        out = "".join(table.get(pairs[i : i + 2], "\ufffd") for i in range(0, len(pairs) - 1, 2))
        out += "\ufffd" * (len(pairs) % 2)
    return out + newline.decode("ascii") + _iso2022jp_other(rest)


@functools.cache
def _jis_table() -> dict[bytes, str]:
    """{JIS X 0208 code: character}: the standard's characters as Python's iso2022_jp reads
    them (the WHATWG index agrees: WAVE DASH, not Windows' FULLWIDTH TILDE), and the rows it
    lacks (NEC row 13, the NEC-selected IBM rows 89-92) through Windows-31J."""
    table = {}
    for lead in range(0x21, 0x7F):
        for trail in range(0x21, 0x7F):
            code = bytes((lead, trail))
            try:
                table[code] = (b"\x1b$B" + code + b"\x1b(B").decode("iso2022_jp")
            except UnicodeDecodeError:
                char = _jis_to_cp932(lead, trail)
                if char is not None:
                    table[code] = char
    return table


def _split_line(text: bytes) -> tuple[bytes, bytes, bytes]:
    match = re.search(rb"\r?\n", text)
    if match is None:
        return text, b"", b""
    return text[: match.start()], match.group(), text[match.end() :]


# --- the HTML prescan -------------------------------------------------------------------------

_PRESCAN_BYTES = 1024
_COMMENT = re.compile(rb"<!--.*?(?:-->|\Z)", re.S)
_META = re.compile(rb"<meta[\t\n\f\r /]([^>]*)", re.I)
_ATTRIBUTE = re.compile(  # a name, then maybe "=" and a quoted or bare value
    rb"([^\t\n\f\r /=>]+)"
    rb"""(?:[\t\n\f\r ]*=[\t\n\f\r ]*("[^"]*"|'[^']*'|[^\t\n\f\r >]*))?"""
)
_CHARSET_IN_CONTENT = re.compile(
    rb"""charset[\t\n\f\r ]*=[\t\n\f\r ]*("[^"]*"|'[^']*'|[^\t\n\f\r ;]+)""", re.I
)


def html_prescan(data: bytes) -> str | None:
    """The charset label an HTML document declares in its first 1024 bytes, or None.

    WHATWG HTML "prescan a byte stream to determine its encoding", in short: comments are
    skipped; the first ``<meta>`` with a ``charset`` attribute, or with ``http-equiv`` of
    Content-Type and a ``content`` holding ``charset=``, whose label the Encoding Standard
    knows, decides. A UTF-16 label means UTF-8 there (the bytes were read as ASCII to find
    it), and x-user-defined means Windows-1252."""
    head = _COMMENT.sub(b"", data[:_PRESCAN_BYTES])
    for meta in _META.finditer(head):
        label = _meta_charset(_attributes(meta.group(1)))
        name = LABELS.get(label.strip("\t\n\f\r ").lower()) if label else None
        if name is not None:
            return {"utf-16le": "utf-8", "utf-16be": "utf-8", "x-user-defined": "windows-1252"}.get(
                name, name
            )
    return None


def _attributes(text: bytes) -> dict[bytes, bytes]:
    attributes: dict[bytes, bytes] = {}
    for name, value in _ATTRIBUTE.findall(text):
        if value[:1] in (b'"', b"'"):
            value = value[1:-1]
        attributes.setdefault(name.lower(), value)  # the first of a name wins
    return attributes


def _meta_charset(attributes: dict[bytes, bytes]) -> str | None:
    if b"charset" in attributes:
        return attributes[b"charset"].decode("ascii", "replace")
    if attributes.get(b"http-equiv", b"").strip().lower() != b"content-type":
        return None
    found = _CHARSET_IN_CONTENT.search(attributes.get(b"content", b""))
    if found is None:
        return None
    value = found.group(1)
    if value[:1] in (b'"', b"'"):
        if not value.endswith(value[:1]) or len(value) < 2:
            return None  # an unmatched quote: the spec finds no encoding
        value = value[1:-1]
    return value.decode("ascii", "replace")
