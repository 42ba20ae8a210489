"""The pure parsers: header fields for the message list, BODYSTRUCTURE for the reader.

Plain pytest: no database, no servers. The BODYSTRUCTURE fixtures are what Dovecot sent for
generated mail (see mailbox/testing/seed.py) plus hand-made odd ones.
"""

import base64
import datetime
import re
import time

import pytest

from mailbox.parsing import (
    BodyStructureError,
    find_parts,
    has_attachments,
    parse_bodystructure,
    parse_header_fields,
    tree_has_attachments,
)
from mailbox.parsing.charsets import decode_body
from tests.corpus import CORPUS, absent_param

UTC = datetime.UTC


def tz(hours, minutes=0):
    return datetime.timezone(datetime.timedelta(hours=hours, minutes=minutes))


def block(*lines):
    """A HEADER.FIELDS block as a server sends it: CRLF lines and an empty line at the end."""
    return "".join(line + "\r\n" for line in lines).encode() + b"\r\n"


def b64(text, charset="utf-8"):
    return base64.b64encode(text.encode(charset)).decode()


# --- header fields ------------------------------------------------------------------------------


def test_a_usual_message_gives_every_field():
    fields = parse_header_fields(
        block(
            "From: David Okafor <david.okafor@example.org>",
            "To: Alice <alice@example.com>",
            "Cc: =?utf-8?q?=C3=93lafur_Sigur=C3=B0sson?= <olafur@example.is>",
            "Subject: Notes from Tuesday",
            "Date: Fri, 23 May 2025 00:11:52 +0100",
            "Message-ID: <20250522231152.5.583.23a333d984@example.org>",
            "In-Reply-To: <parent@example.org>",
            "References: <root@example.org> <parent@example.org>",
            'Content-Type: text/plain; charset="utf-8"',
        )
    )
    assert fields.subject == "Notes from Tuesday"
    assert fields.from_name == "David Okafor"
    assert fields.from_address == "david.okafor@example.org"
    assert fields.to == "Alice <alice@example.com>"
    assert fields.cc == "Ólafur Sigurðsson <olafur@example.is>"
    assert fields.date == datetime.datetime(2025, 5, 23, 0, 11, 52, tzinfo=tz(1))
    assert fields.message_id == "20250522231152.5.583.23a333d984@example.org"
    assert fields.in_reply_to == "parent@example.org"
    assert fields.references == ["root@example.org", "parent@example.org"]
    assert fields.content_type == "text/plain"


def test_an_empty_block_gives_empty_fields():
    for raw in (b"", b"\r\n", b"\r\n\r\n"):
        fields = parse_header_fields(raw)
        assert fields.subject == fields.from_name == fields.from_address == ""
        assert fields.to == fields.cc == fields.message_id == fields.in_reply_to == ""
        assert fields.date is None
        assert fields.references == []
        assert fields.content_type == "text/plain"


def test_a_message_without_from_has_no_sender():
    fields = parse_header_fields(block("Subject: anonymous", "To: bob@example.com"))
    assert (fields.from_name, fields.from_address) == ("", "")
    assert fields.to == "bob@example.com"


def test_field_names_are_case_insensitive_and_the_first_of_duplicates_wins():
    fields = parse_header_fields(
        block("SUBJECT: first", "subject: second", "from: a@example.com", "FROM: b@example.com")
    )
    assert fields.subject == "first"
    assert fields.from_address == "a@example.com"


def test_a_folded_subject_is_unfolded_keeping_the_whitespace():
    fields = parse_header_fields(
        block("Subject: a long subject", " that goes on", "\tand on", "From: a@example.com")
    )
    assert fields.subject == "a long subject that goes on and on"
    assert fields.from_address == "a@example.com"


def test_bare_lf_lines_are_read_too():
    raw = b"Subject: one\n two\nFrom: Ann <ann@example.com>\nDate: 1 Jul 2003 10:52:37 GMT\n\n"
    fields = parse_header_fields(raw)
    assert fields.subject == "one two"
    assert fields.from_address == "ann@example.com"
    assert fields.date == datetime.datetime(2003, 7, 1, 10, 52, 37, tzinfo=UTC)


def test_a_lone_cr_cannot_smuggle_in_a_field():
    fields = parse_header_fields(b"Subject: hello\rFrom: evil@example.com\r\n\r\n")
    assert fields.from_address == ""
    assert "\r" not in fields.subject and fields.subject.startswith("hello")


def test_control_characters_are_removed_from_the_subject():
    fields = parse_header_fields(b"Subject: a\x00b\x1b[31mc\x7f\td\r\n\r\n")
    assert fields.subject == "ab[31mc d"


# RFC 2047


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=?utf-8?q?R=C3=A9union_de_lundi?=", "Réunion de lundi"),
        ("=?UTF-8?B?" + b64("✓ done") + "?=", "✓ done"),
        ("=?iso-8859-1?q?caf=E9?= au lait", "café au lait"),
        ("=?windows-1252?q?=93Caf=E9=94_=80?=", "“Café” €"),
        ("=?iso-2022-jp?b?" + b64("日本語のテスト", "iso-2022-jp") + "?=", "日本語のテスト"),
        ("=?koi8-r?b?" + b64("Привет", "koi8-r") + "?= world", "Привет world"),
        ("=?utf-8*fr?q?=C3=A9t=C3=A9?=", "été"),  # RFC 2231 language in the charset
    ],
)
def test_encoded_words_in_any_charset_python_knows_are_decoded(raw, expected):
    assert parse_header_fields(block(f"Subject: {raw}")).subject == expected


def test_words_in_different_charsets_and_encodings_are_joined_across_folds():
    raw = block(
        "Subject: =?utf-8?q?=C3=9Cbersicht_f=C3=BCr_?=",
        " =?ISO-8859-1?B?" + b64("das Quartal à ", "iso-8859-1") + "?=",
        "\t=?iso-2022-jp?b?" + b64("日本", "iso-2022-jp") + "?= end",
    )
    # the whitespace between two encoded words goes, the one before plain text stays
    assert parse_header_fields(raw).subject == "Übersicht für das Quartal à 日本 end"


def test_a_character_split_across_two_words_comes_out_whole():
    japanese = "日本語のテスト".encode("iso-2022-jp")
    utf8 = "✓✓".encode()
    words = [
        f"=?iso-2022-jp?b?{base64.b64encode(japanese[:7]).decode()}?=",
        f"=?iso-2022-jp?b?{base64.b64encode(japanese[7:]).decode()}?=",
        f"=?utf-8?b?{base64.b64encode(utf8[:4]).decode()}?=",
        f"=?utf-8?b?{base64.b64encode(utf8[4:]).decode()}?=",
    ]
    assert parse_header_fields(block("Subject: " + " ".join(words))).subject == "日本語のテスト✓✓"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=?utf-8?b?!!not base64!!?=", "=?utf-8?b?!!not base64!!?="),
        ("=?utf-8?b?w?=", "=?utf-8?b?w?="),  # impossible length
        ("=?utf-8?q?unterminated", "=?utf-8?q?unterminated"),
        ("=?utf-8?x?unknown_encoding?=", "=?utf-8?x?unknown_encoding?="),
        ("before=?utf-8?q?glued?=after", "beforegluedafter"),
        ("=?x-no-such-charset?q?caf=C3=A9?=", "café"),  # unknown: UTF-8 if it is
        ("=?x-no-such-charset?q?caf=E9?=", "café"),  # else Latin-1
        ("=?rot13?q?abc?=", "abc"),  # a codec that is not a charset is not used
        ("=?utf-8?q?bad_=FF_byte?=", "bad \ufffd byte"),
        ("=?utf-8?q?a=0D=0Ab?=", "a  b"),  # line breaks in a word are not kept
    ],
)
def test_broken_encoded_words_do_no_harm(raw, expected):
    assert parse_header_fields(block(f"Subject: {raw}")).subject == expected


def test_raw_8bit_headers_are_utf8_when_well_formed_else_latin1():
    utf8 = parse_header_fields("Subject: Grüße aus Köln\r\n\r\n".encode())
    assert utf8.subject == "Grüße aus Köln"
    latin1 = parse_header_fields("Subject: Grüße aus Köln\r\n\r\n".encode("latin-1"))
    assert latin1.subject == "Grüße aus Köln"
    mixed = parse_header_fields(
        "From: Zoë <zoe@example.fr>\r\n".encode() + "Subject: café\r\n\r\n".encode("latin-1")
    )
    assert mixed.from_name == "Zoë" and mixed.subject == "café"


def test_garbage_bytes_never_raise():
    fields = parse_header_fields(b"\xff\xfe\x00Subject: \xc3\x28\xa0\xa1\r\n: no name\r\n\xff\r\n")
    assert isinstance(fields.subject, str)


# addresses


@pytest.mark.parametrize(
    ("value", "name", "address"),
    [
        ("Ann Example <ann@example.com>", "Ann Example", "ann@example.com"),
        ('"Smith, Jonathan" <jsmith@example.com>', "Smith, Jonathan", "jsmith@example.com"),
        (r'"Jo \"JJ\" (Jr.)" <jo@example.com>', 'Jo "JJ" (Jr.)', "jo@example.com"),
        ("jsmith@example.com (John Smith)", "John Smith", "jsmith@example.com"),
        ("John (the boss) Smith <js@example.com>", "John Smith", "js@example.com"),
        (
            "=?utf-8?q?Ana=C3=AFs_Lef=C3=A8vre?= <anais@example.fr>",
            "Anaïs Lefèvre",
            "anais@example.fr",
        ),
        (
            '"=?utf-8?b?' + b64("Zoë, Dupré") + '?=" <zoe@example.fr>',
            "Zoë, Dupré",
            "zoe@example.fr",
        ),
        ("=?utf-8?b?" + b64("Dupré, Zoë") + "?= <zoe@example.fr>", "Dupré, Zoë", "zoe@example.fr"),
        ("Joe Bloggs joe@example.com", "Joe Bloggs", "joe@example.com"),
        ("<bare@example.com>", "", "bare@example.com"),
        ("bare@example.com", "", "bare@example.com"),
        ("Ann < ann @ example.com >", "Ann", "ann@example.com"),
        ("<@relay.example:route@example.com>", "", "route@example.com"),
        ("Team: Ann <ann@example.com>, bob@example.com;", "Ann", "ann@example.com"),
        ("undisclosed-recipients:;", "undisclosed-recipients:;", ""),
        ('"unterminated <x@example.com>', "unterminated <x@example.com>", ""),
    ],
)
def test_the_sender_is_the_first_mailbox_of_from(value, name, address):
    fields = parse_header_fields(block(f"From: {value}"))
    assert (fields.from_name, fields.from_address) == (name, address)


@pytest.mark.parametrize(
    ("value", "display"),
    [
        ("Ann <ann@example.com>, bob@example.com", "Ann <ann@example.com>, bob@example.com"),
        (
            '"Smith, Jonathan" <js@example.com>, "Doe, Jane" <jd@example.com>',
            '"Smith, Jonathan" <js@example.com>, "Doe, Jane" <jd@example.com>',
        ),
        ("undisclosed-recipients:;", "undisclosed-recipients:;"),
        (
            "Friends: a@example.com, B <b@example.com>;, c@example.com",
            "a@example.com, B <b@example.com>, c@example.com",
        ),
        ("Empty:;, Ann <ann@example.com>", "Empty:;, Ann <ann@example.com>"),
        ("a@example.com,,, ,b@example.com", "a@example.com, b@example.com"),
        ("root", "root"),
        (",", ""),
    ],
)
def test_recipients_are_shown_as_a_list(value, display):
    fields = parse_header_fields(block(f"To: {value}", f"Cc: {value}"))
    assert fields.to == fields.cc == display


def test_a_long_recipient_list_is_cut_at_a_mailbox():
    value = ", ".join(f"Person {i} <person{i}@example.com>" for i in range(500))
    fields = parse_header_fields(block(f"To: {value}"))
    assert len(fields.to) <= 2000
    assert fields.to.endswith(">") and fields.to.startswith("Person 0 <person0@example.com>")


# dates


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 1 Jul 2003 10:52:37 +0200", datetime.datetime(2003, 7, 1, 10, 52, 37, tzinfo=tz(2))),
        ("1 Jul 2003 10:52:37 GMT", datetime.datetime(2003, 7, 1, 10, 52, 37, tzinfo=UTC)),
        (
            "Tue, 01 Jul 2003 10:52:37 -0530",
            datetime.datetime(2003, 7, 1, 10, 52, 37, tzinfo=tz(-5, -30)),
        ),
        ("Tue, 1 Jul 2003 10:52:37 EST", datetime.datetime(2003, 7, 1, 10, 52, 37, tzinfo=tz(-5))),
        ("Tue, 1 Jul 2003 10:52:37 PDT", datetime.datetime(2003, 7, 1, 10, 52, 37, tzinfo=tz(-7))),
        ("Tue, 1 Jul 2003 10:52:37 UT", datetime.datetime(2003, 7, 1, 10, 52, 37, tzinfo=UTC)),
        ("Tue, 1 Jul 2003 10:52:37 Q", datetime.datetime(2003, 7, 1, 10, 52, 37, tzinfo=UTC)),
        ("Tue, 1 Jul 03 10:52:37 +0000", datetime.datetime(2003, 7, 1, 10, 52, 37, tzinfo=UTC)),
        ("Thu, 1 Jul 99 10:52:37 +0000", datetime.datetime(1999, 7, 1, 10, 52, 37, tzinfo=UTC)),
        ("Tue, 1 Jul 103 10:52:37 +0000", datetime.datetime(2003, 7, 1, 10, 52, 37, tzinfo=UTC)),
        ("Tue, 1 Jul 2003 10:52:37", datetime.datetime(2003, 7, 1, 10, 52, 37, tzinfo=UTC)),
        ("Tue, 1 Jul 2003 10:52", datetime.datetime(2003, 7, 1, 10, 52, tzinfo=UTC)),
        ("Tue,1 Jul 2003 10:52:37 -0000", datetime.datetime(2003, 7, 1, 10, 52, 37, tzinfo=UTC)),
        (
            "tue, 1 JULY 2003 10:52:37 +02:00 (CEST)",
            datetime.datetime(2003, 7, 1, 10, 52, 37, tzinfo=tz(2)),
        ),
        ("1-Jul-2003 10:52:37 +0200", datetime.datetime(2003, 7, 1, 10, 52, 37, tzinfo=tz(2))),
        ("Tue, 30 Jun 2015 23:59:60 +0000", datetime.datetime(2015, 6, 30, 23, 59, 59, tzinfo=UTC)),
        ("Tue Jul  1 10:52:37 2003", datetime.datetime(2003, 7, 1, 10, 52, 37, tzinfo=UTC)),
        ("2003-07-01T10:52:37+02:00", datetime.datetime(2003, 7, 1, 10, 52, 37, tzinfo=tz(2))),
        ("Tue, 1 Jul 2003 10:52:37 +9999", datetime.datetime(2003, 7, 1, 10, 52, 37, tzinfo=UTC)),
    ],
)
def test_dates_in_usual_and_obsolete_forms(value, expected):
    date = parse_header_fields(block(f"Date: {value}")).date
    assert date == expected
    assert date.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "yesterday afternoon",
        "Tue, 31 Feb 2003 10:52:37 +0000",
        "Tue, 1 Jul 2003 25:52:37 +0000",
        "Tue, 1 Jul 1066 10:52:37 +0000",
        "Tue, 1 Jul 9999 10:52:37 +0000",
        "Tue, 1 Jul 99999999999999999999 10:52:37 +0000",
        "Tue, 1 Foo 2003 10:52:37 +0000",
        "1" * 5000,
    ],
)
def test_an_unreadable_or_absurd_date_is_none(value):
    assert parse_header_fields(block(f"Date: {value}")).date is None


def test_a_folded_date_is_read():
    raw = block("Date: Tue, 1 Jul 2003", " 10:52:37 +0200")
    assert parse_header_fields(raw).date == datetime.datetime(2003, 7, 1, 10, 52, 37, tzinfo=tz(2))


# ids and content type


def test_message_ids_lose_their_brackets_and_are_bounded():
    fields = parse_header_fields(
        block(
            "Message-ID:   <abc@example.com>  ",
            'In-Reply-To: "Ann\'s message of Tuesday" <first@example.com> <second@example.com>',
        )
    )
    assert fields.message_id == "abc@example.com"
    assert fields.in_reply_to == "first@example.com"
    long_id = "x" * 1000 + "@example.com"
    fields = parse_header_fields(block(f"Message-ID: <{long_id}>", f"In-Reply-To: {long_id}"))
    assert fields.message_id == long_id[:255]
    assert fields.in_reply_to == long_id[:255]
    assert parse_header_fields(block("Message-ID: no-brackets@example.com")).message_id == (
        "no-brackets@example.com"
    )


def test_very_long_references_keep_the_last_fifty():
    ids = [f"<msg{i}@example.com>" for i in range(5000)]
    raw = ("References: " + "\r\n ".join(ids) + "\r\n\r\n").encode()
    references = parse_header_fields(raw).references
    assert references == [f"msg{i}@example.com" for i in range(4950, 5000)]
    huge = parse_header_fields(block("References: <" + "y" * 100_000 + ">")).references
    assert all(len(item) <= 255 for item in huge)


def test_references_without_brackets_are_split_on_whitespace():
    fields = parse_header_fields(block("References: a@example.com b@example.com"))
    assert fields.references == ["a@example.com", "b@example.com"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('text/plain; charset="utf-8"', "text/plain"),
        ("Multipart/Mixed;", "multipart/mixed"),
        ("multipart/alternative;\r\n boundary=x", "multipart/alternative"),
        ("text/html (comment) ; charset=us-ascii", "text/html"),
        ("TEXT / HTML", "text/html"),
        ("text", "text/plain"),
        ("", "text/plain"),
        ("<script>/x", "text/plain"),
    ],
)
def test_content_type_is_a_lower_case_type_and_subtype(value, expected):
    raw = f"Content-Type: {value}\r\n\r\n".encode()
    assert parse_header_fields(raw).content_type == expected


def test_absurdly_long_values_are_bounded():
    raw = block(
        "Subject: " + "s" * 100_000,
        "From: " + "n" * 100_000 + " <a@example.com>",
        "To: " + ", ".join(f"u{i}@example.com" for i in range(20_000)),
    )
    fields = parse_header_fields(raw)
    assert len(fields.subject) == 998
    assert len(fields.from_name) <= 255
    assert len(fields.to) <= 2000


# --- BODYSTRUCTURE ------------------------------------------------------------------------------

PLAIN = b'("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 31015 588 NIL NIL NIL NIL)'
ALTERNATIVE = (
    b'(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 470 13 NIL NIL NIL NIL)'
    b'("text" "html" ("charset" "utf-8") NIL NIL "7bit" 2488 26 NIL NIL NIL NIL)'
    b' "alternative" ("boundary" "===============0010588813277346207==") NIL NIL NIL)'
)
MIXED = (
    b'(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 120 4 NIL NIL NIL NIL)'
    b'("image" "png" ("name" "a.png") "<id1>" NIL "base64" 3000 NIL'
    b' ("attachment" ("filename" "a.png")) NIL NIL) "mixed" ("boundary" "x") NIL NIL NIL)'
)
MIXED_SEVERAL = (
    b'(("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 808 18 NIL NIL NIL NIL)'
    b'("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 886 16 NIL'
    b' ("attachment" ("filename" "README.txt")) NIL NIL)'
    b'("text" "csv" ("charset" "utf-8") NIL NIL "7bit" 307 10 NIL'
    b' ("attachment" ("filename*" "utf-8\'\'%C3%9Cbersicht.csv")) NIL NIL)'
    b'("application" "pdf" NIL NIL NIL "base64" 1052 NIL ("attachment" ("filename" "agenda.pdf"))'
    b' NIL NIL) "mixed" ("boundary" "===============1344671346529806791==") NIL NIL NIL)'
)
RELATED = (
    b'(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 2854 58 NIL NIL NIL NIL)'
    b'(("text" "html" ("charset" "utf-8") NIL NIL "7bit" 3138 51 NIL NIL NIL NIL)'
    b'("image" "png" NIL "<e244bdab23fe0540.e49@codeforge.example.org>" NIL "base64" 230 NIL'
    b' ("inline" ("filename" "image4.png")) NIL NIL) "related"'
    b' ("boundary" "===============6518278927130029948==") NIL NIL NIL) "alternative"'
    b' ("boundary" "===============1302090163739767461==") NIL NIL NIL)'
)
# as Dovecot sent it, subject as a literal because of its quotes and parentheses
FORWARDED = (
    b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 12 0 NIL NIL NIL NIL)'
    b'("message" "rfc822" NIL NIL NIL "7bit" 215 (NIL {22}\r\ninner "quoted" (paren)'
    b' ((NIL NIL "b" "example.com")) ((NIL NIL "b" "example.com")) ((NIL NIL "b" "example.com"))'
    b' NIL NIL NIL NIL NIL) (("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 2 0 NIL NIL'
    b' NIL NIL)("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 9 0 NIL NIL NIL NIL)'
    b' "alternative" ("boundary" "b2") NIL NIL NIL) 14 NIL ("attachment" ("filename" "fwd.eml"))'
    b' NIL NIL)("application" "pdf" ("name*" "utf-8\'\'na%C3%AFve.pdf") NIL NIL "base64" 4 NIL'
    b' ("attachment" ("filename*" "utf-8\'\'na%C3%AFve.pdf")) NIL NIL) "mixed"'
    b' ("boundary" "b1") NIL NIL NIL)'
)
ESCAPED = (
    b'("application" "octet-stream" ("name" "we \\"ird\\" (x).bin") NIL'
    b' "=?utf-8?q?caf=C3=A9?=" "7bit" 4 NIL NIL NIL NIL)'
)
FORWARDED_QUOTED = FORWARDED.replace(b'{22}\r\ninner "quoted" (paren)', b'"inner"')
FORWARDED_SINGLE = (
    b'(("text" "plain" NIL NIL NIL "7bit" 5 1)("message" "rfc822" NIL NIL NIL "7bit" 300'
    b' ("Tue, 1 Jul 2003 10:52:37 +0200" "hello" NIL NIL NIL NIL NIL NIL NIL "<m@x>")'
    b' ("text" "plain" NIL NIL NIL "7bit" 5 1) 9) "mixed")'
)
NAMED_IMAGE = (
    b'(("text" "plain" NIL NIL NIL "7bit" 5 1)("image" "jpeg" ("name" "photo.jpg") NIL NIL'
    b' "base64" 999 NIL NIL NIL NIL) "mixed" ("boundary" "z") NIL NIL NIL)'
)
NAMED_TEXT = (
    b'(("text" "plain" NIL NIL NIL "7bit" 5 1)("text" "plain" ("name" "notes.txt") NIL NIL'
    b' "7bit" 99 3 NIL NIL NIL NIL) "mixed" ("boundary" "z") NIL NIL NIL)'
)
NIL_EVERYWHERE = b"((NIL NIL NIL NIL NIL NIL NIL) NIL NIL NIL NIL NIL)"
BODY_FORM = b'(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3 1)("application" "zip" ("name" "x.zip") NIL NIL "base64" 40) "mixed")'

FIXTURES = {
    "plain": PLAIN,
    "alternative": ALTERNATIVE,
    "mixed": MIXED,
    "mixed_several": MIXED_SEVERAL,
    "related": RELATED,
    "forwarded": FORWARDED,
    "forwarded_quoted": FORWARDED_QUOTED,
    "forwarded_single": FORWARDED_SINGLE,
    "escaped": ESCAPED,
    "named_image": NAMED_IMAGE,
    "named_text": NAMED_TEXT,
    "nil_everywhere": NIL_EVERYWHERE,
    "body_form": BODY_FORM,
}


def sections(tree):
    return [(part.section, part.content_type) for part in tree.walk()]


def test_a_single_part_message_is_part_1():
    part = parse_bodystructure(PLAIN)
    assert part.section == "1"
    assert part.content_type == "text/plain"
    assert part.params == {"charset": "utf-8"}
    assert (part.id, part.description, part.encoding) == (None, None, "7bit")
    assert (part.size, part.lines, part.md5) == (31015, 588, None)
    assert (part.disposition, part.disposition_params, part.filename) == (None, {}, None)
    assert part.children == [] and part.message is None
    assert find_parts(part) == (part, None, [], [])
    assert not has_attachments(PLAIN)


def test_alternative_gives_both_bodies():
    tree = parse_bodystructure(ALTERNATIVE)
    assert sections(tree) == [
        ("TEXT", "multipart/alternative"),
        ("1", "text/plain"),
        ("2", "text/html"),
    ]
    assert tree.params == {"boundary": "===============0010588813277346207=="}
    text, html, attachments, inline = find_parts(tree)
    assert (text.section, html.section, attachments, inline) == ("1", "2", [], [])
    assert not has_attachments(ALTERNATIVE)


def test_mixed_with_an_attachment():
    tree = parse_bodystructure(MIXED)
    assert sections(tree) == [("TEXT", "multipart/mixed"), ("1", "text/plain"), ("2", "image/png")]
    image = tree.children[1]
    assert image.params == {"name": "a.png"}
    assert (image.id, image.content_id, image.encoding, image.size) == (
        "<id1>",
        "id1",
        "base64",
        3000,
    )
    assert image.disposition == "attachment"
    assert image.disposition_params == {"filename": "a.png"}
    assert image.filename == "a.png"
    text, html, attachments, inline = find_parts(tree)
    assert text is tree.children[0] and html is None
    assert attachments == [image] and inline == []
    assert has_attachments(MIXED)


def test_several_attachments_keep_their_order_and_decoded_names():
    tree = parse_bodystructure(MIXED_SEVERAL)
    text, html, attachments, inline = find_parts(tree)
    assert text.section == "1" and html is None and inline == []
    assert [(a.section, a.filename) for a in attachments] == [
        ("2", "README.txt"),
        ("3", "Übersicht.csv"),
        ("4", "agenda.pdf"),
    ]


def test_related_with_a_cid_image_is_inline_not_an_attachment():
    tree = parse_bodystructure(RELATED)
    assert sections(tree) == [
        ("TEXT", "multipart/alternative"),
        ("1", "text/plain"),
        ("2", "multipart/related"),
        ("2.1", "text/html"),
        ("2.2", "image/png"),
    ]
    text, html, attachments, inline = find_parts(tree)
    assert (text.section, html.section) == ("1", "2.1")
    assert attachments == []
    assert [(p.section, p.content_id, p.filename) for p in inline] == [
        ("2.2", "e244bdab23fe0540.e49@codeforge.example.org", "image4.png")
    ]
    assert not has_attachments(RELATED)


def test_an_attached_message_is_numbered_inside_and_is_an_attachment():
    tree = parse_bodystructure(FORWARDED)
    assert sections(tree) == [
        ("TEXT", "multipart/mixed"),
        ("1", "text/plain"),
        ("2", "message/rfc822"),
        ("2.TEXT", "multipart/alternative"),
        ("2.1", "text/plain"),
        ("2.2", "text/html"),
        ("3", "application/pdf"),
    ]
    forwarded = tree.children[1]
    assert (forwarded.size, forwarded.lines, forwarded.filename) == (215, 14, "fwd.eml")
    assert forwarded.message.children[1].content_type == "text/html"
    text, html, attachments, inline = find_parts(tree)
    assert text.section == "1"
    assert html is None  # the attached message's HTML is not this message's body
    assert [a.section for a in attachments] == ["2", "3"]
    assert attachments[1].filename == "naïve.pdf"
    assert attachments[1].params == {"name": "naïve.pdf"}
    assert has_attachments(FORWARDED)


def test_an_attached_single_part_message_has_part_n_1():
    tree = parse_bodystructure(FORWARDED_SINGLE)
    assert sections(tree) == [
        ("TEXT", "multipart/mixed"),
        ("1", "text/plain"),
        ("2", "message/rfc822"),
        ("2.1", "text/plain"),
    ]
    assert tree.children[1].lines == 9


def test_quoted_strings_with_escapes_and_encoded_words():
    part = parse_bodystructure(ESCAPED)
    assert part.filename == 'we "ird" (x).bin'
    assert part.description == "café"
    assert has_attachments(ESCAPED)


def test_a_literal_may_stand_for_any_string():
    raw = (
        b'("application" "pdf" ("name" {17}\r\nreport "2024".pdf) NIL NIL "base64" 10 NIL'
        b" ({10}\r\nATTACHMENT NIL) NIL NIL)"
    )
    part = parse_bodystructure(raw)
    assert part.filename == 'report "2024".pdf'
    assert part.disposition == "attachment"
    assert has_attachments(raw)


def test_nil_everywhere_is_tolerated():
    tree = parse_bodystructure(NIL_EVERYWHERE)
    assert sections(tree) == [("TEXT", "multipart/mixed"), ("1", "application/octet-stream")]
    leaf = tree.children[0]
    assert leaf.params == {} and leaf.size is None and leaf.encoding is None
    assert find_parts(tree) == (None, None, [leaf], [])


def test_the_body_form_without_extension_data():
    tree = parse_bodystructure(BODY_FORM)
    assert tree.params == {} and tree.disposition is None
    assert tree.children[1].filename == "x.zip"
    assert has_attachments(BODY_FORM)


@pytest.mark.parametrize(
    ("params", "filename"),
    [
        (b'("filename*" "utf-8\'\'na%C3%AFve.pdf")', "naïve.pdf"),
        (b'("FILENAME*" "iso-8859-1\'fr\'na%EFve.pdf")', "naïve.pdf"),
        (
            b'("filename*0*" "utf-8\'\'%E2%82" "filename*1*" "%AC " "filename*2" "rates.txt")',
            "€ rates.txt",
        ),
        (b'("filename*1" "second" "filename*0" "first-")', "first-second"),
        (b'("filename" "=?utf-8?b?' + b64("Prüfung.pdf").encode() + b'?=")', "Prüfung.pdf"),
        (b'("filename" "C:\\\\Users\\\\ann\\\\secret.pdf")', "secret.pdf"),
        (b'("filename" "../../etc/passwd")', "passwd"),
        (b'("filename" "")', None),
        (b'("filename*" "x-unknown\'\'%FF.bin")', "\xff.bin"),
    ],
)
def test_attachment_file_names_are_decoded(params, filename):
    raw = (
        b'("application" "octet-stream" NIL NIL NIL "base64" 10 NIL ("attachment" '
        + params
        + b") NIL NIL)"
    )
    assert parse_bodystructure(raw).filename == filename


def test_a_content_type_name_is_the_fallback_file_name():
    raw = (
        b'("application" "pdf" ("NAME" "plan.pdf") NIL NIL "base64" 10 NIL ("inline" NIL) NIL NIL)'
    )
    part = parse_bodystructure(raw)
    assert (part.filename, part.disposition) == ("plan.pdf", "inline")


def test_language_and_location_extensions():
    raw = b'("text" "plain" NIL NIL NIL "7bit" 1 1 "md5sum" NIL ("en" "fr") "http://x/" 1 (2 "3"))'
    part = parse_bodystructure(raw)
    assert (part.md5, part.language, part.location) == ("md5sum", ["en", "fr"], "http://x/")
    raw = b'("text" "plain" NIL NIL NIL "7bit" 1 1 NIL NIL "de")'
    assert parse_bodystructure(raw).language == ["de"]


def test_nesting_deeper_than_fifty_levels_is_refused():
    leaf = b'("text" "plain" NIL NIL NIL "7bit" 1 1)'
    ok = leaf
    for _ in range(20):
        ok = b"(" + ok + b' "mixed")'
    assert parse_bodystructure(ok).children
    deep = leaf
    for _ in range(60):
        deep = b"(" + deep + b' "mixed")'
    with pytest.raises(BodyStructureError, match="deeper"):
        parse_bodystructure(deep)
    assert issubclass(BodyStructureError, ValueError)
    with pytest.raises(BodyStructureError):
        parse_bodystructure(b"(" * 100_000 + b")" * 100_000)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   ",
        b"NIL",
        b"(",
        b")",
        b"()",
        b"(())",
        b'("text" "plain")',
        b'("text" "plain" NIL NIL NIL "7bit" 1 1',
        b'("text" "plain" NIL NIL NIL "7bit" 1 1))',
        b'("text" "plain" NIL NIL NIL "7bit" 1 1) trailing',
        b'("text" "plain" NIL NIL NIL "7bit" 1 1)("text" "plain" NIL NIL NIL "7bit" 1 1)',
        b'("text" "plain" NIL NIL NIL "7bit" ATOM 1)',
        b'("text" "plain" NIL NIL NIL "7bit" 99999999999999999999999999 1)',
        b'("text" "plain" NIL NIL NIL "7bit" "10" 1)',
        b'("text" ("plain") NIL NIL NIL "7bit" 1 1)',
        b'("text" "plain" "charset" NIL NIL "7bit" 1 1)',
        b'("text" "plain" ("charset" ("utf-8")) NIL NIL "7bit" 1 1)',
        b'("image" "png" NIL NIL NIL "base64" 1 NIL "attachment")',
        b'("text" "plain" NIL NIL NIL "7bit" 1 1 NIL ())',
        b'("text" "plain" NIL NIL NIL {99}\r\nshort)',
        b'("text" "plain" NIL NIL NIL {x}\r\n)',
        b'("text" "plain" NIL NIL NIL "unterminated 1 1)',
        b'(("text" "plain" NIL NIL NIL "7bit" 1 1) ("mixed"))',
        b"(\x00\xff)",
    ],
)
def test_malformed_structures_raise_only_the_specific_error(raw):
    with pytest.raises(BodyStructureError):
        parse_bodystructure(raw)
    assert has_attachments(raw) in (True, False)


@pytest.mark.parametrize("name", FIXTURES)
def test_has_attachments_agrees_with_the_full_parse(name):
    raw = FIXTURES[name]
    tree = parse_bodystructure(raw)
    assert has_attachments(raw) == tree_has_attachments(tree) == bool(find_parts(tree)[2])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("plain", False),
        ("alternative", False),
        ("mixed", True),
        ("related", False),  # a cid image with disposition inline
        ("named_image", True),  # a named image without disposition
        # a second text/plain part outside an alternative is not the body: a file
        ("named_text", True),
        ("forwarded_single", True),  # a forwarded message, named or not
        ("nil_everywhere", True),  # a part of no known type, not a body: a file "Part 1.bin"
    ],
)
def test_the_paperclip_rule(name, expected):
    assert has_attachments(FIXTURES[name]) is expected


def test_a_forwarded_message_is_an_attachment_whatever_its_disposition():
    inline_message = FORWARDED_QUOTED.replace(
        b'("attachment" ("filename" "fwd.eml"))', b'("inline" ("filename" "fwd.eml"))'
    )
    without_pdf = inline_message.replace(b'("attachment" ("filename*"', b'("inline" ("filename*"')
    assert has_attachments(without_pdf) is True
    assert has_attachments(inline_message) is True


def test_parts_without_a_name_are_attachments_unless_they_are_the_body():
    nameless = (
        b'(("text" "plain" NIL NIL NIL "7bit" 5 1)("application" "msword" NIL NIL NIL'
        b' "base64" 999 NIL NIL NIL NIL) "mixed" ("boundary" "z") NIL NIL NIL)'
    )
    inline_nameless = nameless.replace(b"999 NIL NIL NIL", b'999 NIL ("inline" NIL) NIL')
    alternative = (
        b'(("text" "plain" NIL NIL NIL "7bit" 5 1)("text" "html" NIL NIL NIL "7bit" 5 1)'
        b' "alternative" ("boundary" "z") NIL NIL NIL)'
    )
    assert has_attachments(nameless) and has_attachments(inline_nameless)
    assert not has_attachments(alternative) and not has_attachments(PLAIN)
    assert not has_attachments(RELATED)  # the image has a Content-ID: the HTML shows it


def test_find_parts_prefers_the_top_level_alternative():
    raw = (
        b'((("text" "plain" NIL NIL NIL "7bit" 1 1)("text" "html" NIL NIL NIL "7bit" 1 1) "alternative")'
        b'("text" "plain" NIL NIL NIL "7bit" 1 1)'
        b'("text" "html" NIL NIL NIL "7bit" 1 1 NIL ("attachment" ("filename" "page.html")))'
        b'("image" "gif" NIL "<logo>" NIL "base64" 1 NIL NIL NIL NIL) "mixed")'
    )
    tree = parse_bodystructure(raw)
    text, html, attachments, inline = find_parts(tree)
    assert (text.section, html.section) == ("1.1", "1.2")
    # a second text part outside the alternative is something to download, as is the html file
    assert [a.section for a in attachments] == ["2", "3"]
    assert [p.section for p in inline] == ["4"]


def test_find_parts_takes_the_first_body_when_there_is_no_alternative():
    raw = (
        b'(("text" "html" NIL NIL NIL "7bit" 1 1)("text" "plain" NIL NIL NIL "7bit" 1 1)'
        b'("text" "plain" NIL NIL NIL "7bit" 1 1) "mixed")'
    )
    text, html, attachments, inline = find_parts(parse_bodystructure(raw))
    assert (text.section, html.section, [a.section for a in attachments]) == ("2", "1", ["3"])


def test_find_parts_drops_losing_alternatives_and_keeps_other_renderings():
    raw = (
        b'(("text" "plain" NIL NIL NIL "7bit" 1 1)("text" "plain" NIL NIL NIL "7bit" 1 1)'
        b'("text" "calendar" ("method" "REQUEST") NIL NIL "7bit" 1 1) "alternative")'
    )
    text, html, attachments, inline = find_parts(parse_bodystructure(raw))
    assert text.section == "1" and html is None
    assert [a.content_type for a in attachments] == ["text/calendar"]


def test_a_single_html_part_or_an_attached_text_is_handled():
    html_only = b'("text" "html" ("charset" "utf-8") NIL NIL "base64" 10 1 NIL NIL NIL NIL)'
    assert find_parts(parse_bodystructure(html_only))[:2] == (None, parse_bodystructure(html_only))
    attached = b'("text" "plain" NIL NIL NIL "7bit" 1 1 NIL ("attachment" ("filename" "a.txt")))'
    tree = parse_bodystructure(attached)
    assert find_parts(tree) == (None, None, [tree], [])
    assert has_attachments(attached)


# --- the public corpus --------------------------------------------------------------------------

FUZZ = CORPUS / "mime-fuzz"
CORPUS_FILES = [pytest.param(path, id=path.name[:12]) for path in sorted(FUZZ.glob("*.eml"))]


@pytest.mark.parametrize("path", CORPUS_FILES or [absent_param(FUZZ)])
def test_every_corpus_header_block_parses_quickly(path):
    header = re.split(rb"\r?\n\r?\n", path.read_bytes(), maxsplit=1)[0]
    start = time.perf_counter()
    fields = parse_header_fields(header)
    assert time.perf_counter() - start < 1
    assert isinstance(fields.subject, str) and len(fields.subject) <= 998
    assert fields.date is None or fields.date.tzinfo is not None


def test_missing_data_from_the_server_is_not_an_error():
    assert parse_header_fields(None).subject == ""
    assert has_attachments(None) is False and has_attachments(b"") is False
    with pytest.raises(BodyStructureError):
        parse_bodystructure(None)
    assert parse_bodystructure(bytearray(PLAIN)).content_type == "text/plain"
    assert parse_header_fields(memoryview(b"Subject: hi\r\n\r\n")).subject == "hi"


def test_an_absurd_number_of_parts_is_refused():
    leaf = b'("image" "png" ("name" "a.png") NIL NIL "base64" 1 NIL ("inline" NIL))'
    raw = b"(" + leaf * 10_000 + b' "mixed")'
    with pytest.raises(BodyStructureError, match="tokens"):
        parse_bodystructure(raw)
    assert has_attachments(raw) is False
    assert len(parse_bodystructure(b"(" + leaf * 1000 + b' "mixed")').children) == 1000


# --- text bodies whose charset label is missing or wrong ------------------------------------------


@pytest.mark.parametrize(
    ("data", "charset", "text"),
    [
        ("Zoë à Noël".encode(), "utf-8", "Zoë à Noël"),
        ("Zoë à Noël".encode("cp1252"), "utf-8", "Zoë à Noël"),  # labelled UTF-8, is Windows-1252
        ("Zoë à Noël".encode(), "iso-8859-1", "Zoë à Noël"),  # labelled Latin-1, is UTF-8
        ("Zoë “quoted”".encode("cp1252"), "iso-8859-1", "Zoë “quoted”"),  # Latin-1 means 1252
        ("Zoë".encode(), "", "Zoë"),  # no label: UTF-8 when it is
        ("Zoë".encode("cp1252"), "", "Zoë"),  # no label: else Windows-1252
        ("Zoë".encode(), "us-ascii", "Zoë"),  # 8-bit under a 7-bit label
        ("日本の園芸".encode("iso-2022-jp"), "iso-2022-jp", "日本の園芸"),
        ("Привет".encode("koi8-r"), "koi8-r", "Привет"),  # a label that is right stays
        (b"caf\xc3", "utf-8", "caf\u00c3"),  # cut in the middle of a character
    ],
)
def test_text_bodies_decode_even_when_their_charset_is_missing_or_wrong(data, charset, text):
    assert decode_body(data, charset) == text
