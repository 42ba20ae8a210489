"""The message as we send it (mailbox/composing/build.py, headers.py, fields.py).

Plain pytest: no database, no servers. Each built message is read back with Python's own parser
(email.parser.BytesParser, policy.default) and, for names, with our reader (mailbox.parsing).
"""

import base64
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.header import decode_header, make_header
from email.parser import BytesParser

import pytest

from mailbox.composing.build import (
    Attachment,
    Outgoing,
    attachment_filename,
    build_message,
    forwarded_filename,
    make_message_id,
)
from mailbox.composing.fields import LINE_BREAKS, Address, BadField, parse_address_field
from mailbox.parsing import parse_header_fields
from mailbox.parsing.mime import header_end

ALICE = Address("Alice Martin", "alice@example.com")
BOB = Address("Bob", "bob@example.org")

SUBJECTS = [
    "Lunch?",
    "Réunion très importante: le budget de l'année prochaine",
    "Привет! Как дела? Встреча в пятницу в 15:00 в переговорной",
    "会議の議事録について（第3回）",
    "مرحبا، هل يمكننا تأجيل الاجتماع إلى الغد؟",
    "Party 🎉👨‍👩‍👧 tonight",
    "Ελληνικά και עברית μαζί",
    "  two leading spaces, two trailing  ",
    "tabs\tand  double  spaces",
    "looks encoded =?utf-8?q?x?= but is not",
    "a" * 120,
    "b" * 70 + " a first word too long for the first line",
    "word " * 60,
    "Zoë " * 80,
    "Дмитрий Александрович Константинопольский " * 8,
    "会議の議事録について" * 30,
    "😀" * 150,
    "",
]

NAMES = [
    "Bob",
    "Smith, John",
    'Ann "the boss" O\'Neil',
    "back\\slash (and parens) @home",
    "J. R. R. Tolkien",
    "Zoë Ünïcødé",
    "Иван Петров",
    "李小龍",
    "محمد علي",
    "🦊 Fox",
    'Zoë, "the" (great) @ \\ home',
    "=?utf-8?q?not_encoded?=",
    " leading and trailing ",
]
LONG_NAMES = [
    "Дмитрий Александрович Константинопольский",
    "会議の議事録について" * 10,
    'Zoë Ünïcødé-Smith, "the" (greatest) @ home ' * 5,
    "محمد بن عبد الله " * 10,
]


def parse(raw: bytes):
    return BytesParser(policy=policy.default).parsebytes(raw)


def content(part) -> str:
    """A text part's decoded content with LF line ends (the parser keeps the CRLF)."""
    return part.get_content().replace("\r\n", "\n")


def head_lines(raw: bytes) -> list[str]:
    return raw[: header_end(raw)].decode("ascii").split("\r\n")[:-2]


def build(**fields) -> bytes:
    fields.setdefault("sender", ALICE)
    fields.setdefault("to", [BOB])
    fields.setdefault("text", "Hello\n")
    with_bcc = fields.pop("with_bcc", False)
    return build_message(Outgoing(**fields), with_bcc=with_bcc)


def assert_folded_cleanly(raw: bytes):
    for line in head_lines(raw):
        assert line.strip(), f"a header line of only whitespace: {line!r}"
        assert not line.startswith("  "), f"a continuation with two spaces: {line!r}"
        assert len(line) <= 78, f"a header line of {len(line)} chars: {line!r}"


def rfc2047_decoded(value: str) -> str:
    """An RFC 2047 reading of a raw header value (whitespace between words dropped, 6.2)."""
    return str(make_header(decode_header(value)))


# --- subjects and names ------------------------------------------------------------------------


@pytest.mark.parametrize("subject", SUBJECTS)
def test_a_subject_in_any_script_reads_back_exactly_and_folds_cleanly(subject):
    raw = build(subject=subject)
    assert raw.isascii()
    assert parse(raw)["Subject"] == subject
    assert_folded_cleanly(raw)
    if not subject.isascii():
        subject_line = next(line for line in head_lines(raw) if line.startswith("Subject:"))
        assert "=?utf-8?" in subject_line


@pytest.mark.parametrize("name", NAMES + LONG_NAMES)
def test_a_display_name_reads_back_exactly_by_our_reader_and_rfc_2047(name):
    raw = build(sender=Address(name, "alice@example.com"), to=[Address(name, "b@example.org")])
    assert raw.isascii()
    assert_folded_cleanly(raw)
    assert parse_header_fields(raw[: header_end(raw)]).from_name == name.strip()
    from_value = dict(parse(raw).raw_items())["From"]
    phrase = from_value.rpartition("<")[0]
    if "=?" in phrase:
        assert rfc2047_decoded(phrase.strip()) == name
    if not name.isascii():
        assert "=?utf-8?" in phrase


@pytest.mark.parametrize("name", NAMES)
def test_a_display_name_reads_back_exactly_by_python(name):
    """Names of one encoded-word (every usual one). Longer ones are read with extra spaces by
    Python 3.11 (CPython gh-128110), exactly by RFC 2047 readers (the test above)."""
    raw = build(
        sender=Address(name, "alice@example.com"),
        to=[Address(name, "b@example.org"), Address(name, "c@example.org")],
        cc=[Address(name, "d@example.org")],
        reply_to=[Address(name, "e@example.org")],
    )
    message = parse(raw)
    for field_name, count in (("From", 1), ("To", 2), ("Cc", 1), ("Reply-To", 1)):
        addresses = message[field_name].addresses
        assert [a.display_name for a in addresses] == [name] * count
        assert not message[field_name].defects


def test_many_recipients_fold_between_addresses():
    to = [Address(f"Person Number {n}", f"person{n}@example.org") for n in range(30)]
    raw = build(to=to)
    assert_folded_cleanly(raw)
    assert [(a.display_name, a.addr_spec) for a in parse(raw)["To"].addresses] == [
        (a.name, a.address) for a in to
    ]


def test_typed_address_boxes_read_back():
    typed = '"Smith, John" <john@example.org>, Zoë <zoe@example.org>, plain@example.net'
    to = parse_address_field("to", typed)
    assert to == [
        Address("Smith, John", "john@example.org"),
        Address("Zoë", "zoe@example.org"),
        Address("", "plain@example.net"),
    ]
    found = [(a.display_name, a.addr_spec) for a in parse(build(to=to))["To"].addresses]
    assert found == [(a.name, a.address) for a in to]


def test_an_international_domain_goes_out_in_idna():
    message = build(to=[Address("Jürgen", "jurgen@bücher.example")])
    assert parse(message)["To"].addresses[0].addr_spec == "jurgen@xn--bcher-kva.example"
    outgoing = Outgoing(sender=ALICE, to=[Address("", "jurgen@bücher.example")])
    assert outgoing.recipients == ["jurgen@xn--bcher-kva.example"]


@pytest.mark.parametrize(
    "address",
    ["josé@example.org", "no-at-sign", "two words@example.org", "a,b@example.org", "<a>@x.org",
     "a@b@example.org", "a(comment)@example.org", "a@localhost", "", "a@exa mple.org"],
)  # fmt: skip
@pytest.mark.parametrize("field_name", ["from", "to", "cc", "bcc", "reply_to"])
def test_a_bad_address_is_refused_naming_its_field(address, field_name):
    fields = {"from": "sender", "reply_to": "reply_to"}
    bad = Address("Name", address)
    key = fields.get(field_name, field_name)
    with pytest.raises(BadField) as refused:
        build(**{key: bad if key == "sender" else [bad]})
    assert refused.value.field == field_name
    with pytest.raises(BadField) as refused:
        parse_address_field(field_name, f"Name <{address}>, ok@example.org")
    assert refused.value.field == field_name


# --- line breaks in every typed field ----------------------------------------------------------

CHARS = sorted(LINE_BREAKS)


def _with_break(field_name, char):
    """build() arguments putting ``char`` into one typed field, and the field BadField names."""
    bad_name = Address(f"Eve{char}Bcc: victim@example.net", "eve@example.org")
    bad_address = Address("Eve", f"eve@example.org{char}Bcc: victim@example.net")
    return {
        "sender name": ({"sender": bad_name}, "from"),
        "sender address": ({"sender": bad_address}, "from"),
        "reply-to name": ({"reply_to": [bad_name]}, "reply_to"),
        "reply-to address": ({"reply_to": [bad_address]}, "reply_to"),
        "to name": ({"to": [bad_name]}, "to"),
        "to address": ({"to": [BOB, bad_address]}, "to"),
        "cc name": ({"cc": [bad_name]}, "cc"),
        "cc address": ({"cc": [bad_address]}, "cc"),
        "bcc name": ({"bcc": [bad_name]}, "bcc"),
        "bcc address": ({"bcc": [bad_address]}, "bcc"),
        "subject": ({"subject": f"Hi{char}Bcc: victim@example.net"}, "subject"),
        "attachment": (
            {"attachments": [Attachment(f"a{char}.txt", "text/plain", b"x")]},
            "attachment",
        ),
        "in_reply_to": ({"in_reply_to": f"<a@b>{char}X-Evil: 1"}, "in_reply_to"),
        "references": ({"references": ["<a@b>", f"<c@d>{char}X-Evil: 1"]}, "references"),
        "message_id": ({"message_id": f"<a@b>{char}X-Evil: 1"}, "message_id"),
    }[field_name]


# (an attachment's name keeps its line breaks as spaces instead: the test after this one)
BUILT_FIELDS = ["sender name", "sender address", "reply-to name", "reply-to address", "to name",
                "to address", "cc name", "cc address", "bcc name", "bcc address", "subject",
                "in_reply_to", "references", "message_id"]  # fmt: skip


@pytest.mark.parametrize("with_bcc", [False, True])
@pytest.mark.parametrize("field_name", BUILT_FIELDS)
@pytest.mark.parametrize("char", CHARS, ids=[f"U+{ord(c):04X}" for c in CHARS])
def test_a_line_break_in_any_field_is_refused_naming_the_field(char, field_name, with_bcc):
    fields, named = _with_break(field_name, char)
    with pytest.raises(BadField) as refused:
        build(with_bcc=with_bcc, **fields)
    assert refused.value.field == named


@pytest.mark.parametrize("char", CHARS, ids=[f"U+{ord(c):04X}" for c in CHARS])
def test_a_line_break_in_an_attachment_name_is_a_space_and_adds_no_header(char):
    fields, _named = _with_break("attachment", char)
    raw = build(**fields)
    attached = list(parse(raw).iter_attachments())[0]
    assert attached.get_filename() == "a .txt"
    assert b"X-Evil" not in raw and not any(
        line.lower().startswith(b"bcc:") for line in raw.split(b"\r\n")
    )


TYPED_BOXES = ["to", "cc", "bcc", "reply_to"]


@pytest.mark.parametrize("field_name", TYPED_BOXES)
@pytest.mark.parametrize("char", CHARS, ids=[f"U+{ord(c):04X}" for c in CHARS])
@pytest.mark.parametrize(
    "typed", ["Eve{c}Bcc: v@example.net <eve@example.org>", "eve@example.org{c}", "{c}"]
)
def test_a_line_break_typed_in_an_address_box_is_refused_naming_the_box(typed, char, field_name):
    with pytest.raises(BadField) as refused:
        parse_address_field(field_name, typed.format(c=char))
    assert refused.value.field == field_name


@pytest.mark.parametrize("char", CHARS, ids=[f"U+{ord(c):04X}" for c in CHARS])
def test_a_line_break_in_a_forwarded_subject_cannot_reach_our_headers(char):
    """The forwarded message's subject (decoded from an encoded-word, where any character can
    hide) names its attachment: it is cleaned there, and our header fields stay ours."""
    hidden = base64.b64encode(f"Hello{char}X-Evil: 1".encode()).decode()
    original = f"From: a@example.net\r\nSubject: =?utf-8?b?{hidden}?=\r\n\r\nHi\r\n".encode()
    raw = build(forwarded=[original])
    message = parse(raw)
    assert list(message.keys()) == [
        "From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"
    ]  # fmt: skip
    part = list(message.iter_attachments())[0]
    assert list(part.keys()) == [
        "Content-Type", "Content-Transfer-Encoding", "Content-Disposition"
    ]  # fmt: skip
    assert re.fullmatch(r"Hello ?X-Evil_ 1\.eml", part.get_filename())
    for _, value in [*message.items(), *part.items()]:
        assert LINE_BREAKS.isdisjoint(str(value))


def test_the_header_set_is_exactly_the_one_we_write():
    raw = build(
        cc=[Address("C", "c@example.org")],
        bcc=[Address("D", "d@example.org")],
        reply_to=[Address("", "replies@example.com")],
        subject="Hi",
        in_reply_to="<parent@example.org>",
        references=["<root@example.org>", "<parent@example.org>"],
        html="<p>Hello</p>",
        with_bcc=True,
    )
    assert list(parse(raw).keys()) == [
        "From", "To", "Cc", "Bcc", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To",
        "References", "MIME-Version", "Content-Type",
    ]  # fmt: skip


# --- ids, dates, recipients ------------------------------------------------------------------


def test_the_message_id_is_on_the_senders_domain_and_unique():
    ids = {make_message_id("alice@example.com") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"<[0-9a-z]+\.[0-9a-f]{20}@example\.com>", i) for i in ids)
    message = parse(build())
    assert re.fullmatch(r"<[^<>@]+@example\.com>", message["Message-ID"])
    assert parse(build(message_id="<given@example.com>"))["Message-ID"] == "<given@example.com>"


@pytest.mark.parametrize(
    "bad",
    ["given@example.com", "<a b@example.com>", "<a<b@example.com>", "<>", "<" + "x" * 950 + ">"],
)
def test_a_malformed_message_id_is_refused(bad):
    for field_name in ("message_id", "in_reply_to"):
        with pytest.raises(BadField) as refused:
            build(**{field_name: bad})
        assert refused.value.field == field_name
    with pytest.raises(BadField) as refused:
        build(references=["<ok@example.com>", bad])
    assert refused.value.field == "references"


def test_threading_headers_are_written_and_folded():
    references = [f"<{n}.{'x' * 30}@example.org>" for n in range(20)]
    raw = build(in_reply_to=references[-1], references=references)
    assert_folded_cleanly(raw)
    message = parse(raw)
    assert message["In-Reply-To"] == references[-1]
    assert message["References"].split() == references


def test_the_date_is_the_given_one_or_now():
    when = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    assert parse(build(date=when))["Date"].datetime == when
    before = datetime.now(UTC).replace(microsecond=0)
    written = parse(build())["Date"].datetime
    assert before <= written <= datetime.now(UTC)


def test_bcc_is_written_only_for_the_copy_we_keep():
    bcc = [Address("Secret", "secret@example.net")]
    assert "Bcc" not in parse(build(bcc=bcc))
    assert b"secret@example.net" not in build(bcc=bcc)
    kept = parse(build(bcc=bcc, with_bcc=True))
    assert kept["Bcc"].addresses[0].addr_spec == "secret@example.net"


def test_recipients_are_to_cc_and_bcc_once_each_ignoring_case():
    outgoing = Outgoing(
        sender=ALICE,
        to=[Address("B", "Bob@Example.org"), Address("C", "carol@example.org")],
        cc=[Address("", "bob@example.org"), Address("D", "dan@example.org")],
        bcc=[Address("", "CAROL@EXAMPLE.ORG"), Address("", "eve@example.org")],
    )
    assert outgoing.recipients == [
        "Bob@Example.org", "carol@example.org", "dan@example.org", "eve@example.org"
    ]  # fmt: skip


# --- bodies ------------------------------------------------------------------------------------


def body_lines(raw: bytes) -> list[bytes]:
    return raw[header_end(raw) :].split(b"\r\n")


def test_short_ascii_text_goes_7bit():
    message = parse(build(text="Hello Bob,\n\nsee you.\n"))
    assert message["Content-Transfer-Encoding"] == "7bit"
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert content(message) == "Hello Bob,\n\nsee you.\n"


@pytest.mark.parametrize(
    "text",
    ["x" * 5000 + "\n", ("word " * 400 + "\n") * 3, "Zoë " * 2000 + "\n", "会議" * 3000,
     "a line of 79 chars " + "x" * 60 + "\n", "nul\0and\x1bescape\n"],
)  # fmt: skip
def test_long_lines_and_non_ascii_go_quoted_printable_under_998_octets(text):
    raw = build(text=text, html=f"<p>{text}</p>")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    message = parse(raw)
    plain, html = message.get_payload()
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert content(plain).rstrip("\n") == text.rstrip("\n")
    assert html.get_content_type() == "text/html"
    assert html.get_content_charset() == "utf-8"
    assert content(html).rstrip("\n") == f"<p>{text}</p>".rstrip("\n")


def test_formatted_mail_is_multipart_alternative_text_first():
    message = parse(build(text="Hello *Bob*\n", html="<p>Hello <b>Bob</b></p>"))
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.get_payload()] == ["text/plain", "text/html"]


def test_attachments_go_base64_after_the_body():
    data = bytes(range(256)) * 40
    raw = build(
        text="See attached.\n",
        html="<p>See attached.</p>",
        attachments=[Attachment("data.bin", "application/octet-stream", data)],
    )
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    message = parse(raw)
    assert message.get_content_type() == "multipart/mixed"
    body, attached = message.get_payload()
    assert body.get_content_type() == "multipart/alternative"
    assert attached["Content-Transfer-Encoding"] == "base64"
    assert attached.get_content_disposition() == "attachment"
    assert attached.get_content() == data


@pytest.mark.parametrize(
    "filename",
    ["résumé 2026.pdf", "会議の議事録について" * 20 + ".pdf", 'доклад (final) "v2"; a=b.txt'],
)
def test_a_non_ascii_file_name_goes_rfc_2231(filename):
    raw = build(attachments=[Attachment(filename, "application/pdf", b"%PDF")])
    assert raw.isascii()
    assert re.search(rb"filename\*(0\*)?=utf-8''", raw)
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    attached = list(parse(raw).iter_attachments())[0]
    assert attached.get_filename() == filename


@pytest.mark.parametrize(
    ("given", "sent"),
    [("../../x", "_.._x"), ("C:\\a\\b.txt", "C:_a_b.txt"), ("/etc/passwd", "_etc_passwd"),
     ("", "attachment"), ("dir/", "dir_"), ("..", "attachment"), (" a\tb.txt ", "a b.txt"),
     ("plain.txt", "plain.txt"), ("invoice\u202egnp.exe", "invoicegnp.exe"),
     ("evil\r\nContent-Type: text/html.txt", "evil  Content-Type: text_html.txt"),
     ("a\x00b\x07c\u2028d.txt", "a b c d.txt")],
)  # fmt: skip
def test_attachment_names_keep_their_whole_name_and_make_no_folder(given, sent):
    assert attachment_filename(given) == sent
    attached = list(
        parse(build(attachments=[Attachment(given, "text/plain", b"x")])).iter_attachments()
    )
    assert attached[0].get_filename() == sent


@pytest.mark.parametrize(
    ("given", "sent"),
    [("application/pdf", "application/pdf"), ("Image/PNG", "image/png"),
     ("text/plain; charset=x", "application/octet-stream"), ("nonsense", "application/octet-stream"),
     ("", "application/octet-stream"), ("multipart/mixed", "application/octet-stream"),
     ("message/rfc822", "application/octet-stream"), ("a/b/c", "application/octet-stream"),
     ("text/pl ain", "application/octet-stream"), ("tëxt/plain", "application/octet-stream")],
)  # fmt: skip
def test_an_odd_content_type_falls_back_to_octet_stream(given, sent):
    raw = build(attachments=[Attachment("f.bin", given, b"\x00\x01data")])
    attached = list(parse(raw).iter_attachments())[0]
    assert attached.get_content_type() == sent
    assert attached.get_content() == b"\x00\x01data"


# --- forwarding as an attachment ------------------------------------------------------------

ORIGINAL = (
    b"Return-Path: <carol@example.net>\r\n"
    b"From: Carol <carol@example.net>\r\n"
    b"To: alice@example.com\r\n"
    b"Subject: =?utf-8?q?Caf=C3=A9_notes/minutes?=\r\n"
    b"Message-ID: <orig@example.net>\r\n"
    b"X-Long: " + b"y" * 300 + b"\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Caf\xc3\xa9 at 10.\r\n"
    b"--===============0000000000==\r\n"
    b"\r\n"
)


def forwarded_bytes(raw: bytes) -> bytes:
    """The bytes between the message/rfc822 part's header block and the next boundary."""
    message = parse(raw)
    boundary = message.get_boundary().encode()
    start = raw.index(b"Content-Type: message/rfc822")
    start = raw.index(b"\r\n\r\n", start) + 4
    end = raw.index(b"\r\n--" + boundary, start)
    return raw[start:end]


def test_a_forwarded_message_is_attached_byte_for_byte():
    raw = build(text="FYI\n", forwarded=[ORIGINAL])
    assert forwarded_bytes(raw) == ORIGINAL
    message = parse(raw)
    part = list(message.iter_attachments())[0]
    assert part.get_content_type() == "message/rfc822"
    assert part["Content-Transfer-Encoding"] == "8bit"
    assert part.get_content_disposition() == "attachment"
    assert part.get_filename() == "Café notes_minutes.eml"
    inner = part.get_content()
    assert inner["Message-ID"] == "<orig@example.net>"
    assert inner["Subject"] == "Café notes/minutes"
    assert content(inner) == "Café at 10.\n--===============0000000000==\n\n"


def test_a_forwarded_message_with_bare_line_feeds_goes_with_crlf():
    original = b"From: c@example.net\nSubject: hi\n\nline one\nline two\n"
    raw = build(forwarded=[original])
    assert forwarded_bytes(raw) == original.replace(b"\n", b"\r\n")
    part = list(parse(raw).iter_attachments())[0]
    assert part["Content-Transfer-Encoding"] == "7bit"
    assert part.get_filename() == "hi.eml"


def test_a_forwarded_message_with_overlong_lines_goes_as_a_file():
    original = b"From: c@example.net\r\n\r\n" + b"z" * 3000 + b"\r\n"
    raw = build(forwarded=[original])
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    part = list(parse(raw).iter_attachments())[0]
    assert part.get_content_type() == "application/octet-stream"
    assert part.get_filename() == "message.eml"
    assert part.get_content() == original


@pytest.mark.parametrize(
    ("subject", "name"),
    [("Re: plans", "Re_ plans.eml"), ("", "message.eml"), ("...", "message.eml"),
     ('a<b>c|d?"e"*', "a_b_c_d_e_.eml"), ("invoice\u202egnp.exe", "invoicegnp.exe.eml"), ("x" * 400, "x" * 150 + ".eml")],
)  # fmt: skip
def test_a_forwarded_message_is_named_after_its_subject(subject, name):
    assert forwarded_filename(f"Subject: {subject}\r\n\r\nbody".encode()) == name


ALPHABET = (
    "abcXYZ019 .,;:!?'\"()<>[]@\\/=?_-*%\t  "
    "éèüßøåñç"
    "ЖжЩщЯя"
    "会議録の"
    "مرحبا"
    "שלום"
    "🎉👨\u200d👩\u200d👧\u0301\u00a0"
)


def random_text(rng, length):
    return "".join(rng.choice(ALPHABET) for _ in range(length))


@pytest.mark.parametrize("seed", range(20))
def test_random_subjects_and_names_read_back_exactly(seed):
    rng = random.Random(seed)
    for _ in range(20):
        subject = random_text(rng, rng.choice([1, 5, 30, 80, 200, 400]))
        name = random_text(rng, rng.choice([1, 5, 20, 60, 150])).strip() or "x"
        raw = build(subject=subject, sender=Address(name, "alice@example.com"))
        assert_folded_cleanly(raw)
        message = parse(raw)
        assert message["Subject"] == subject
        phrase = dict(message.raw_items())["From"].rpartition("<")[0].strip()
        if "=?" in phrase:
            assert rfc2047_decoded(phrase) == name
        else:
            assert message["From"].addresses[0].display_name == name
