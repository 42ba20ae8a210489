"""Text out of hostile header bytes: raw 8-bit, RFC 2047 encoded-words, RFC 2231 parameters.

Every function here returns a string for any input and raises nothing: a word that does not
decode stays as it was written, a charset label is decoded as browsers decode it (the WHATWG
Encoding Standard, whatwg.py), a label nobody knows falls back to the raw 8-bit rule
(well-formed UTF-8 first, else Windows-1252), and bytes invalid in a known charset become U+FFFD.
"""

import binascii
import codecs
import encodings
import encodings.aliases
import functools
import pkgutil
import re
from urllib.parse import unquote_to_bytes

from . import whatwg

__all__ = [
    "clean",
    "decode_body",
    "decode_bytes",
    "decode_params",
    "decode_raw",
    "decode_text_part",
    "decode_words",
]

# charset'?'B|Q'?'text'?=' -- the charset may carry an RFC 2231 language ("utf-8*en")
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,64})\?([bBqQ])\?([^?\s]*)\?=")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# tabs and line breaks become spaces; every other C0/C1 control character goes
_CONTROL_TABLE = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)])
_CONTROL_TABLE.update({9: " ", 10: " ", 13: " "})

# codecs that turn bytes into something other than text in that charset
_REFUSED = {"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined", "mbcs"}
# Only names Python ships are looked up: codecs.lookup tries an import for any other name and
# the encodings package remembers every miss forever, which hostile mail could fill.
_SHIPPED = (
    set(encodings.aliases.aliases)
    | set(encodings.aliases.aliases.values())
    | {module.name for module in pkgutil.iter_modules(encodings.__path__)}
)
_NOT_ALNUM = re.compile(r"[^a-z0-9.]+")  # as encodings.normalize_encoding sees names
# labels that promise nothing about 8-bit bytes: those get the raw 8-bit rule
_RAW = {"us-ascii", "ascii", "unknown-8bit", "x-unknown", "8bit"}


def decode_raw(data: bytes) -> str:
    """Raw 8-bit bytes: UTF-8 when they are well-formed UTF-8, else Windows-1252 as browsers
    read it (every byte is a character: nothing is lost, never U+FFFD)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "webmail-c1")


def clean(text: str) -> str:
    """Drop control characters (tabs and line breaks become spaces) and outer whitespace."""
    if _CONTROL.search(text):
        text = text.translate(_CONTROL_TABLE)
    return text.strip()


def _label(charset: str) -> str:
    """The label of a MIME charset value: an RFC 2231 language ("utf-8*en") goes."""
    return charset.partition("*")[0].strip().lower()


@functools.lru_cache(maxsize=256)
def _decoder(charset: str) -> whatwg.Decoder | None:
    """How to decode a MIME charset label: the WHATWG decoder for a label in its table; else
    Python's codec for a name Python ships (utf-7, iso-2022-jp-3, cp437 ...); else None."""
    label = _label(charset)
    if label in _RAW:
        return None
    decoder = whatwg.decoder_for(label)
    if decoder is not None or _NOT_ALNUM.sub("_", label) not in _SHIPPED:
        return decoder
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED:
        return None
    return functools.partial(_decode_python, codec=info.name)


def _decode_python(data: bytes, codec: str) -> str:
    try:
        return data.decode(codec, "replace")
    except (UnicodeError, LookupError):  # a stateful codec can still give up
        return decode_raw(data)


def decode_bytes(data: bytes, charset: str) -> str:
    """``data`` in ``charset``, decoded as browsers decode that label (the WHATWG Encoding
    Standard: ISO-8859-1 is Windows-1252, KS_C_5601-1987 is Windows-949 ...); a label nobody
    knows gets the raw 8-bit rule (UTF-8 when the bytes are UTF-8, else Windows-1252). A byte
    order mark wins over the label (WHATWG "decode")."""
    bom, rest = whatwg.sniff_bom(data)
    if bom is not None:  # a byte order mark wins over the label, as in browsers
        return _decoder(bom)(rest)
    decoder = _decoder(charset) if charset else None
    return decode_raw(data) if decoder is None else decoder(data)


# Single-byte charsets that mail mislabels most: text in them is almost never also valid UTF-8
# with multi-byte sequences ("Ã©" and the like), so such bytes are UTF-8 under the wrong label.
_SINGLE_BYTE_LATIN = {"windows-1252", "iso-8859-15", "iso-8859-2", "windows-1250"}


def decode_body(data: bytes, charset: str) -> str:
    """A text body in its declared charset, or in the one it plainly is when the label is wrong:

    - no charset, or one nobody knows: UTF-8 when the bytes are UTF-8, else Windows-1252 (the
      browsers' default for mail without a label; every byte decodes, so nothing is lost);
    - labelled UTF-8 but not UTF-8: Windows-1252 (what mislabelled 8-bit mail mostly is);
    - labelled Latin-1 or the like but valid UTF-8 with non-ASCII characters: UTF-8;
    - any other label: its WHATWG decoder (decode_bytes);
    - a byte order mark before all that (UTF-8, UTF-16LE or UTF-16BE, whatever the label)."""
    if whatwg.sniff_bom(data)[0] is not None:
        return decode_bytes(data, charset)
    decoder = _decoder(charset) if charset else None
    name = whatwg.LABELS.get(_label(charset).replace("_", "-")) if charset else None
    if decoder is None or name == "utf-8" or name in _SINGLE_BYTE_LATIN:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            if decoder is None or name == "utf-8":
                return data.decode("cp1252", "webmail-c1")
    return decode_bytes(data, charset)


def decode_text_part(data: bytes, media_type: str, charset: str) -> str:
    """A text part's bytes as text: the one place both protocols decode a body.

    Which encoding, first that applies (as browsers choose, WHATWG HTML "determining the
    character encoding"): a byte order mark; the MIME charset parameter when it is a label we
    can decode (not US-ASCII and the like, which promise nothing about 8-bit bytes: a
    mailer's default, not a statement); for text/html, a ``<meta charset>`` or
    ``<meta http-equiv="Content-Type">`` in the first 1024 bytes (whatwg.html_prescan); else
    decode_body's rules for no label."""
    if whatwg.sniff_bom(data)[0] is not None:
        return decode_bytes(data, charset)
    if charset and _decoder(charset) is not None:
        return decode_body(data, charset)
    if media_type.lower() == "text/html":
        declared = whatwg.html_prescan(data)
        if declared is not None:
            return decode_bytes(data, declared)
    return decode_body(data, charset)


def _word_bytes(encoding: str, text: str) -> bytes | None:
    """The bytes of one encoded-word's text, or None when it is malformed."""
    if not text.isascii():
        return None
    try:
        if encoding in "bB":
            if not _BASE64.fullmatch(text):
                return None
            return binascii.a2b_base64(text + "=" * (-len(text) % 4))
        return binascii.a2b_qp(text, header=True)
    except ValueError:  # binascii.Error
        return None


def decode_words(text: str) -> str:
    """Decode the RFC 2047 encoded-words in ``text``.

    1. Words separated only by whitespace are joined (the whitespace goes), and the bytes of
       neighbours in the same charset are decoded together, so a character split across two
       words (common with iso-2022-jp and UTF-8 in B encoding) comes out whole.
    2. A malformed word (bad base64, non-ASCII inside) stays as it was written.
    3. Words are decoded wherever they occur, even inside quoted strings or glued to text, as
       mail clients do.
    """
    if "=?" not in text:
        return text
    parts = _ENCODED_WORD.split(text)  # text, (charset, B|Q, payload, text)*
    out: list[str] = []
    run: list[bytes] = []  # bytes of neighbouring words in run_charset
    run_charset = ""
    gap = parts[0]  # the text before the next word
    after_word = False  # whether gap follows a decoded word
    for index in range(1, len(parts), 4):
        charset, encoding, payload, following = parts[index : index + 4]
        data = _word_bytes(encoding, payload)
        if data is None:  # malformed: it stays as text
            gap += f"=?{charset}?{encoding}?{payload}?={following}"
            continue
        charset = charset.partition("*")[0].lower()
        if not (after_word and (not gap or gap.isspace())):
            if run:
                out.append(decode_bytes(b"".join(run), run_charset))
                run = []
            out.append(gap)
        elif charset != run_charset:
            out.append(decode_bytes(b"".join(run), run_charset))
            run = []
        run.append(data)
        run_charset = charset
        gap = following
        after_word = True
    if run:
        out.append(decode_bytes(b"".join(run), run_charset))
    out.append(gap)
    return "".join(out)


# --- RFC 2231 parameters ------------------------------------------------------------------------

MAX_PARAMS = 64
MAX_SECTIONS = 100


def _percent_decoded(value: str, charset: str) -> str:
    return decode_bytes(unquote_to_bytes(value), charset)


def decode_params(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """A parameter list as a dict: names lower-case, RFC 2231 values decoded and joined.

    ``name*=utf-8''na%C3%AFve.pdf`` gives ``name``; ``name*0*``, ``name*1`` ... are joined in
    order (percent-encoded sections in the first section's charset). The first value for a
    name wins; at most MAX_PARAMS parameters and MAX_SECTIONS sections each are read.
    RFC 2047 words in values are left alone: only a caller knows where they belong.
    """
    params: dict[str, str] = {}
    sections: dict[str, dict[int, tuple[str, bool]]] = {}
    for name, value in pairs[:MAX_PARAMS]:
        name = name.strip().lower()
        if "*" not in name:
            params.setdefault(name, value)
            continue
        base, _, section = name.partition("*")
        number = section.removesuffix("*")
        if not section:  # name*: one encoded value
            number, encoded = "0", True
        elif not (number.isascii() and number.isdigit() and len(number) <= 3):
            continue
        else:
            encoded = section.endswith("*")
        parts = sections.setdefault(base, {})
        if len(parts) < MAX_SECTIONS:
            parts.setdefault(int(number), (value, encoded))
    for base, parts in sections.items():
        params[base] = _join_sections(parts)  # RFC 2231 beats a plain value of the same name
    return params


def _join_sections(parts: dict[int, tuple[str, bool]]) -> str:
    charset = ""
    first = min(parts)
    out: list[str] = []
    run: list[str] = []  # neighbouring encoded sections, decoded together
    for number in sorted(parts):
        value, encoded = parts[number]
        if not encoded:
            if run:
                out.append(_percent_decoded("".join(run), charset))
                run = []
            out.append(value)
            continue
        if number == first:
            pieces = value.split("'", 2)
            if len(pieces) == 3:
                charset, _language, value = pieces
        run.append(value)
    if run:
        out.append(_percent_decoded("".join(run), charset))
    return "".join(out)
