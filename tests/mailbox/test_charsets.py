"""Charset labels are decoded as browsers decode them (the WHATWG Encoding Standard's label
table), in subjects, names, bodies and attachment names alike; HTML that declares its charset
only inside itself is read in that charset."""

import base64
import codecs
import functools
from urllib.parse import quote_from_bytes

import pytest

from mailbox.parsing.charsets import (
    decode_body,
    decode_bytes,
    decode_params,
    decode_raw,
    decode_text_part,
    decode_words,
)
from mailbox.parsing.whatwg import LABELS, html_prescan

# The decoder the Encoding Standard names for each of its encodings, as a Python codec that
# decodes the same characters (written out here, apart from the code under test).
RIGHT_DECODER = {
    "utf-8": "utf-8",
    "ibm866": "cp866",
    "koi8-r": "koi8-r",
    "koi8-u": "koi8-u",
    "macintosh": "mac-roman",
    "x-mac-cyrillic": "mac-cyrillic",
    "windows-874": "cp874",
    "iso-8859-8-i": "iso8859-8",
    "gbk": "gb18030",
    "gb18030": "gb18030",
    "big5": "big5hkscs",
    "euc-jp": "euc_jp",
    "shift_jis": "cp932",
    "euc-kr": "cp949",
    "utf-16le": "utf-16le",
    "utf-16be": "utf-16be",
    **{f"iso-8859-{n}": f"iso8859-{n}" for n in (2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16)},
    **{f"windows-125{n}": f"cp125{n}" for n in range(9)},
}


MULTI_BYTE = {
    "utf-8",
    "gbk",
    "gb18030",
    "big5",
    "euc-jp",
    "shift_jis",
    "euc-kr",
    "utf-16le",
    "utf-16be",
}


@functools.cache
def encodable(codec: str) -> str:
    """Every character of the Basic Multilingual Plane that ``codec`` writes and reads back
    (not the best-fit ones it writes as another character)."""
    chars = []
    for point in range(0x20, 0x10000):
        if 0xD800 <= point < 0xE000 or 0x7F <= point < 0xA0 or point == 0xFFFD:
            continue
        try:
            if chr(point).encode(codec).decode(codec) == chr(point):
                chars.append(chr(point))
        except UnicodeError:
            continue
    return "".join(chars)


@functools.cache
def jis_x_0208() -> dict[bytes, str]:
    """{JIS X 0208 code: character} as the standard's iso-2022-jp decoder reads them: JIS X
    0208 as Python's iso2022_jp has it, and the rows it lacks (NEC row 13, NEC-selected IBM
    rows 89-92) as Windows-31J has them at the matching Shift_JIS code."""
    table = {}
    for row in range(1, 95):
        for cell in range(1, 95):
            code = bytes((row + 0x20, cell + 0x20))
            try:
                table[code] = (b"\x1b$B" + code + b"\x1b(B").decode("iso2022_jp")
                continue
            except UnicodeDecodeError:
                pass
            lead = (row + 1) // 2 + (0x80 if row < 63 else 0xC0)
            trail = cell + (0x3F + (cell > 63) if row % 2 else 0x9E)
            try:
                table[code] = bytes((lead, trail)).decode("cp932")
            except UnicodeDecodeError:
                pass
    return table


def jis(char: str) -> bytes:
    """The JIS X 0208 code of a two-byte Windows-31J character (rows 1-94), or b""."""
    code = char.encode("cp932")
    if len(code) != 2 or not (0x81 <= code[0] <= 0x9F or 0xE0 <= code[0] <= 0xEF):
        return b""
    first, second = code
    row = (first - (0x81 if first < 0xE0 else 0xC1)) * 2 + (second >= 0x9F)
    cell = second - 0x9F if second >= 0x9F else second - 0x40 - (second >= 0x80)
    return bytes((row + 0x21, cell + 0x21))


@functools.cache
def sample(name: str, limit: int = 0x10000) -> tuple[bytes, str]:
    """Bytes the right decoder for a WHATWG encoding reads without U+FFFD, and their text
    (at most ``limit`` characters of it)."""
    if name == "x-user-defined":
        data = bytes(range(256))
        return data, "".join(chr(b if b < 0x80 else 0xF700 + b) for b in data)
    if name == "iso-2022-jp":
        codes = list(jis_x_0208().items())[:limit]
        data = b"ASCII \x1b$B" + b"".join(code for code, _ in codes) + b"\x1b(B end"
        return data, "ASCII " + "".join(char for _, char in codes) + " end"
    codec = RIGHT_DECODER[name]
    if name not in MULTI_BYTE:  # every byte the codec maps
        data = bytes(b for b in range(256) if _decodes(bytes([b]), codec))
        return data, data.decode(codec)
    text = encodable(codec)[:limit]
    return text.encode(codec), text


def _decodes(data: bytes, codec: str) -> bool:
    try:
        data.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def literal(data: bytes, label: str) -> str | None:
    """What Python's codec for the label as written makes of the bytes (None: no codec)."""
    try:
        return data.decode(label, "replace")
    except LookupError:
        return None


DECODED_LABELS = sorted(label for label, name in LABELS.items() if name != "replacement")


def test_the_table_is_the_whole_whatwg_label_list():
    # encodings.json (2024): 228 labels for 40 encodings
    assert len(LABELS) == 228
    assert len(set(LABELS.values())) == 40
    assert set(LABELS.values()) - {"replacement", "x-user-defined", "iso-2022-jp"} <= set(
        RIGHT_DECODER
    )


@pytest.mark.parametrize("label", DECODED_LABELS)
def test_every_label_decodes_what_its_right_decoder_decodes_without_replacement(label):
    data, text = sample(LABELS[label])
    for spelled in (label, label.upper()):
        assert decode_bytes(data, spelled) == text
        assert "\ufffd" not in decode_bytes(data, spelled)
    assert decode_body(data, label) == text


@pytest.mark.parametrize("label", DECODED_LABELS)
def test_every_label_decodes_in_encoded_words_and_rfc2231_names(label):
    head, head_text = sample(LABELS[label], limit=200)
    assert decode_bytes(head, label) == head_text
    word = f"=?{label}?B?{base64.b64encode(head).decode()}?="
    assert decode_words(f"Subject {word} ok") == f"Subject {head_text} ok"
    params = decode_params([("name*", f"{label}''{quote_from_bytes(head)}")])
    assert params["name"] == head_text


def test_labels_that_understate_their_bytes_decode_what_pythons_literal_codec_cannot():
    worse = set()
    for label in DECODED_LABELS:
        data, text = sample(LABELS[label])
        if literal(data, label) != text:
            worse.add(label)
    # Python's codec of that name has no such label, gives U+FFFD, or other characters
    assert {
        "iso-2022-jp",
        "csiso2022jp",
        "ks_c_5601-1987",
        "euc-kr",
        "gb2312",
        "big5",
        "shift_jis",
        "sjis",
        "iso-8859-1",
        "us-ascii",
        "latin1",
        "iso-8859-9",
        "tis-620",
        "x-user-defined",
        "unicodefffe",
        "windows-874",
    } <= worse


@pytest.mark.parametrize(
    ("data", "charset", "text"),
    [
        (b"\x1b$B-!-j-C\x1b(B", "ISO-2022-JP", "①㈱㍍"),  # NEC row 13
        (
            b"\x1b$B" + jis("髙") + jis("﨑") + b"\x1b(B",
            "iso-2022-jp",
            "髙﨑",
        ),  # NEC-selected IBM rows
        ("①㈱".encode("cp932"), "Shift_JIS", "①㈱"),
        ("똠방각하".encode("cp949"), "ks_c_5601-1987", "똠방각하"),
        ("똠방각하".encode("cp949"), "KS_C_5601_1987", "똠방각하"),
        ("镕".encode("gbk"), "GB-2312", "镕"),
        ("镕".encode("gbk"), "gb2312", "镕"),
        (b"\xa3\xe1", "big5", "€"),
        ("“Zoë” €".encode("cp1252"), "iso-8859-1", "“Zoë” €"),
        ("İstanbul ğ".encode("cp1254"), "iso-8859-9", "İstanbul ğ"),
        ("€ไทย".encode("cp874"), "tis-620", "€ไทย"),
        (b"caf\x81", "windows-1252", "caf\x81"),  # an unmapped byte is its C1 control
        ("日本".encode("utf-16le"), "utf-16", "日本"),
        (b"\xad\xa1", "euc-jp", "①"),
    ],
)
def test_vendor_supersets_decode_in_every_place(data, charset, text):
    assert decode_bytes(data, charset) == text
    assert decode_body(data, charset) == text
    word = f"=?{charset}?B?{base64.b64encode(data).decode()}?="
    assert decode_words(word) == text
    assert (
        decode_params([("filename*", f"{charset}''{quote_from_bytes(data)}")])["filename"] == text
    )


def test_iso_2022_jp_2_sets_beyond_jis_x_0208_still_decode():
    text = "Γειά 日本 ①"
    data = "Γειά 日本".encode("iso2022_jp_2") + b" \x1b$B-!\x1b(B"
    assert decode_bytes(data, "iso-2022-jp") == text


def test_a_line_end_inside_two_byte_text_ends_it():
    assert decode_bytes(b"\x1b$BF|K\\\r\nplain", "iso-2022-jp") == "日本\r\nplain"


@pytest.mark.parametrize("label", ["x-nonsense", "utf-8x", "", "unknown-8bit", "x-unknown"])
def test_an_unknown_label_is_utf8_when_the_bytes_are_utf8_else_windows_1252(label):
    # UTF-8 first: legacy 8-bit text is almost never valid UTF-8 by chance, so valid UTF-8 is
    # what the sender meant; else Windows-1252, which reads every byte (nothing is lost) and is
    # what browsers and most mail clients assume for unlabelled Western text.
    assert decode_body("Zoë “hi”".encode(), label) == "Zoë “hi”"
    assert decode_body("Zoë “hi”".encode("cp1252"), label) == "Zoë “hi”"
    assert decode_bytes("Zoë “hi”".encode("cp1252"), label) == "Zoë “hi”"
    assert decode_raw(b"\x80\x81") == "€\x81"


def test_labels_the_standard_replaces_are_decoded_not_lost():
    # browsers give one U+FFFD (a server filter could have read the escapes otherwise); we decode
    # before we sanitize, so the text is kept
    assert decode_bytes("한국어".encode("iso2022_kr"), "ISO-2022-KR") == "한국어"
    assert decode_bytes(b"~{<:Ky2;S{#,~}", "hz-gb-2312") == "己所不欲，"
    assert decode_bytes(b"plain text", "iso-2022-cn") == "plain text"


# --- HTML that declares its charset only inside itself ------------------------------------------


CYRILLIC = "Привет, мир"


@pytest.mark.parametrize(
    "head",
    [
        '<meta charset="windows-1251">',
        "<META CHARSET=windows-1251>",
        '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">',
        "<meta content='text/html;charset=\"cp1251\"' http-equiv=content-type>",
        '<!-- <meta charset="koi8-r"> --><meta charset="bogus"><meta charset="cp1251">',
    ],
)
def test_html_without_a_charset_parameter_is_read_in_the_charset_it_declares(head):
    data = f"<html><head>{head}</head><body>{CYRILLIC}</body></html>".encode("cp1251")
    assert CYRILLIC in decode_text_part(data, "text/html", "")


def test_the_declaration_counts_only_in_the_first_1024_bytes():
    data = (" " * 1024 + '<meta charset="windows-1251">' + CYRILLIC).encode("cp1251")
    assert html_prescan(data) is None
    assert CYRILLIC not in decode_text_part(data, "text/html", "")


def test_the_mime_parameter_wins_over_the_meta_and_a_bom_over_both():
    data = f'<meta charset="windows-1251"><p>{CYRILLIC}</p>'.encode("koi8-r")
    assert CYRILLIC in decode_text_part(data, "text/html", "koi8-r")
    data = codecs.BOM_UTF8 + f'<meta charset="windows-1251"><p>{CYRILLIC}</p>'.encode()
    assert (
        decode_text_part(data, "text/html", "koi8-r")
        == f'<meta charset="windows-1251"><p>{CYRILLIC}</p>'
    )


def test_a_meta_in_plain_text_is_only_text():
    data = f'<meta charset="windows-1251"> {CYRILLIC}'.encode()
    assert decode_text_part(data, "text/plain", "") == f'<meta charset="windows-1251"> {CYRILLIC}'


def test_a_utf16_meta_means_utf8_as_the_standard_says():
    assert html_prescan(b'<meta charset="utf-16">') == "utf-8"
    assert html_prescan(b'<meta charset="x-user-defined">') == "windows-1252"


def test_a_byte_order_mark_wins_over_the_label_everywhere():
    assert decode_body(codecs.BOM_UTF8 + "Zoë".encode(), "iso-8859-1") == "Zoë"
    assert decode_bytes(b"\xff\xfe" + "Zoë".encode("utf-16le"), "utf-16") == "Zoë"
    assert decode_bytes(b"\xfe\xff" + "Zoë".encode("utf-16be"), "utf-16le") == "Zoë"
    assert decode_text_part(codecs.BOM_UTF8 + b"hi", "text/plain", "") == "hi"


def test_8bit_japanese_under_the_iso_2022_jp_label_is_read_as_it_was_written():
    assert decode_body("日本①".encode("cp932"), "iso-2022-jp") == "日本①"
    assert decode_body("日本①".encode(), "iso-2022-jp") == "日本①"


def test_iso_2022_jp_holds_the_nec_and_ibm_rows():
    table = jis_x_0208()
    assert len(table) > 7000
    assert (table[b"-!"], table[b"-j"], table[b"-C"]) == ("①", "㈱", "㍍")


@pytest.mark.parametrize("label", ["us-ascii", "x-no-such-label"])
def test_a_label_that_promises_nothing_gives_way_to_the_meta(label):
    # US-ASCII over 8-bit bytes is a mailer's default, not a statement; an unknown label is none
    data = f'<meta charset="windows-1251"><p>{CYRILLIC}</p>'.encode("cp1251")
    assert CYRILLIC in decode_text_part(data, "text/html", label)
