"""What the reader lists as attachments: parts without a name, forwarded messages, and files
hidden inside something else (TNEF, uuencode, yEnc), with the sizes the user will get.

The pure rules first (mailbox.parsing.attachments), then Alice reading such mail through the
views, each message delivered once to Dovecot and read both by IMAP and by POP3."""

import base64
import binascii
import html
import re
from email.message import EmailMessage
from urllib.parse import unquote

import pytest

from mailbox.models import Message
from mailbox.parsing import mime
from mailbox.parsing.attachments import (
    decoded_size,
    extension_for,
    parse_virtual_section,
    part_name,
    split_embedded,
    tnef_files,
)
from mailbox.parsing.bodystructure import BodyPart
from mailbox.sync import run_account
from mailbox.sync.fetch import fetch_account
from tests.corpus import require
from tests.mailbox.pop3_world import pop3_account
from tests.mailbox.test_sources_parity import REALWORLD, raw_of

PAYLOAD = bytes(range(256)) * 3 + b"tail"


def uuencoded(data, name="hello.bin", mode=b"644", newline=b"\r\n", backtick=True):
    lines = [b"begin " + mode + b" " + name.encode()]
    lines += [binascii.b2a_uu(data[i : i + 45]).rstrip(b"\n") for i in range(0, len(data), 45)]
    lines += [b"`", b"end"] if backtick else [b"end"]
    return newline.join(lines) + newline


def yencoded(data, name="data.bin"):
    out = bytearray()
    for byte in data:
        code = (byte + 42) % 256
        if code in (0, 10, 13, 61):
            out += bytes((61, (code + 64) % 256))
        else:
            out.append(code)
    body = b"\r\n".join(bytes(out[i : i + 128]) for i in range(0, len(out), 128))
    size = str(len(data)).encode()
    return (
        b"=ybegin line=128 size="
        + size
        + b" name="
        + name.encode()
        + b"\r\n"
        + body
        + (b"\r\n=yend size=" + size + b"\r\n")
    )


# --- the rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "extension"),
    [("application/msword", ".doc"), ("application/pdf", ".pdf"), ("message/rfc822", ".eml"),
     ("text/calendar", ".ics"), ("image/jpeg", ".jpg"), ("application/x-unheard-of", ".bin")],
)  # fmt: skip
def test_a_part_without_a_name_is_named_from_its_section_and_type(content_type, extension):
    assert extension_for(content_type) == extension
    assert part_name(BodyPart("1.2", content_type)) == f"Part 1.2{extension}"
    assert part_name(BodyPart("3", content_type, filename="own.name")) == "own.name"


def test_a_forwarded_message_is_named_after_its_subject():
    part = BodyPart("2", "message/rfc822", message=BodyPart("2.1", "text/plain"))
    assert part_name(part, " Angebot 2027 ") == "Angebot 2027.eml"
    assert part_name(part, "") == part_name(part, None) == "Part 2.eml"


@pytest.mark.parametrize("size", [0, 1, 2, 3, 57, 1000, 300_000, 5_000_001])
def test_the_size_shown_is_the_decoded_size_within_a_few_bytes(size):
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")  # 76 characters a line
    part = BodyPart("2", "application/pdf", encoding="base64", size=len(encoded))
    shown, sureness = decoded_size(part)
    assert sureness == "estimate" and abs(shown - size) <= 3
    quoted = BodyPart("2", "text/csv", encoding="quoted-printable", size=120)
    assert decoded_size(quoted) == (120, "bound")
    assert decoded_size(BodyPart("2", "text/csv", encoding="7bit", size=120)) == (120, "exact")


@pytest.mark.parametrize(
    ("section", "parsed"),
    [("2~tnef.1", ("2", "tnef", 1)), ("1.2.3~uu.12", ("1.2.3", "uu", 12)),
     ("1~yenc.1", ("1", "yenc", 1)), ("2", None), ("TEXT~uu.1", None), ("2~tnef.0", None),
     ("2~zip.1", None), ("2~uu.1/", None), ("0~uu.1", None), ("2~uu.1\n", None)],
)  # fmt: skip
def test_virtual_sections_have_one_strict_syntax(section, parsed):
    assert parse_virtual_section(section) == parsed


@pytest.mark.parametrize(
    "block",
    [uuencoded(PAYLOAD), uuencoded(PAYLOAD, newline=b"\n"), uuencoded(PAYLOAD, backtick=False),
     uuencoded(PAYLOAD, mode=b"0644")],
    ids=["crlf", "lf", "no-backtick", "4-digit-mode"],
)  # fmt: skip
def test_uuencoded_blocks_are_taken_out_of_the_text(block):
    text, files = split_embedded(b"Hello,\r\n\r\n" + block + b"\r\nRegards\r\n")
    assert [(f.kind, f.index, f.name, f.data) for f in files] == [("uu", 1, "hello.bin", PAYLOAD)]
    assert b"begin" not in text and b"Hello," in text and b"Regards" in text


def test_yenc_blocks_are_taken_out_of_the_text():
    data = bytes(range(256)) * 4  # every byte, the escaped ones included
    text, files = split_embedded(b"See below.\r\n" + yencoded(data, "all bytes.bin") + b"Bye\r\n")
    assert [(f.kind, f.name, f.data) for f in files] == [("yenc", "all bytes.bin", data)]
    assert text == b"See below.\r\nBye\r\n"


def test_what_only_looks_like_a_block_stays_text():
    for text in (b"begin 644 x\r\nno end here\r\n", b"We begin 644 years ago\r\nend\r\n",
                 b"begin 644 x\r\n!!!!\xff\r\nend\r\n"):  # fmt: skip
        assert split_embedded(text) == (text, [])


def test_a_damaged_tnef_stream_gives_no_files():
    assert tnef_files(b"") == [] and tnef_files(b"\x78\x9f\x3e\x22garbage") == []


def test_the_files_in_a_winmail_dat_are_read_by_their_names():
    raw = (require(REALWORLD) / "07-winmail-dat.eml").read_bytes()
    scan = mime.scan_bytes(raw)
    winmail = next(p for p in scan.tree.walk() if p.content_type == "application/ms-tnef")
    from io import BytesIO

    files = tnef_files(mime.read_part(BytesIO(raw), winmail))
    assert [f.name for f in files] == ["Angebot-2026-117.txt", "Preisliste.csv"]
    assert files[1].data.startswith(b"Position;Preis")


# --- Alice reading such mail -----------------------------------------------------------------------


def pane(client, message):
    return client.get(f"/mail/messages/{message.pk}/?part=pane").content.decode()


def listed(page):
    """{name: section} of every file the pane lists (forwarded messages' own included)."""
    items = re.findall(
        r'<span class="name">📎 <bdi>(.*?)</bdi></span>.*?/parts/([^/]+)/"', page, re.S
    )
    return {html.unescape(name): unquote(section) for name, section in items}


def download(client, message, section):
    response = client.get(f"/mail/messages/{message.pk}/parts/{section}/")
    data = b"".join(response.streaming_content) if response.streaming else response.content
    name = re.search(r"filename\*=UTF-8''(.*)", response.get("Content-Disposition", ""))
    return response.status_code, unquote(name.group(1)) if name else None, data


def nameless():
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "zoe@example.org", "alice@example.com", "Nameless"
    mail.set_content("The document is attached.\n")
    mail.add_attachment(b"\xd0\xcf\x11\xe0 a word file", maintype="application", subtype="msword")
    del mail.get_payload()[1]["Content-Disposition"]
    return bytes(mail)


def with_blocks():
    """As a newsreader posts them: 8-bit yEnc bytes in a text body."""
    head = (
        b"From: zoe@example.org\r\nTo: alice@example.com\r\nSubject: Blocks\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    body = b"Two files below.\r\n\r\n" + uuencoded(PAYLOAD, "photo.bin") + b"\r\n"
    return head + body + yencoded(b"yenc bytes \x00\x0a\x0d=", "y.dat") + b"Goodbye\r\n"


def nested(depth):
    inner = EmailMessage()
    inner["From"], inner["Subject"] = "deep@example.org", f"Level {depth}"
    inner.set_content(f"Text at level {depth}.\n")
    for level in range(depth - 1, 0, -1):
        outer = EmailMessage()
        outer["From"], outer["Subject"] = "zoe@example.org", f"Level {level}"
        outer.set_content(f"Text at level {level}.\n")
        outer.add_attachment(inner)
        inner = outer
    inner["To"] = "alice@example.com"
    return bytes(inner)


@pytest.fixture
def both(alice, mail_world, imap_account, mailbox_login):
    """Deliver ``raw`` once to the mailbox Alice added twice: (by IMAP, by POP3)."""
    account = pop3_account(alice, mail_world, mailbox_login, retention="keep")

    def deliver(raw):
        mail_world.dovecot.deliver(mailbox_login[0], raw)
        assert run_account(imap_account.pk)
        fetch_account(account.pk)
        by_imap = Message.objects.filter(folder__account=imap_account).latest("id")
        return by_imap, Message.objects.filter(folder__account=account).latest("id")

    return deliver


def both_ways(both, raw):
    return dict(zip(("imap", "pop3"), both(raw), strict=True))


@pytest.mark.django_db
@pytest.mark.servers
def test_a_part_without_a_name_is_an_attachment_named_from_its_type(both, alice_client):
    for way, message in both_ways(both, nameless()).items():
        assert message.has_attachments, way
        assert listed(pane(alice_client, message)) == {"Part 2.doc": "2"}, way
        assert download(alice_client, message, "2")[1:] == (
            "Part 2.doc",
            b"\xd0\xcf\x11\xe0 a word file",
        )


@pytest.mark.django_db
@pytest.mark.servers
def test_uuencoded_and_yenc_files_are_listed_and_out_of_the_text(both, alice_client):
    for way, message in both_ways(both, with_blocks()).items():
        assert not message.has_attachments  # in the text: known once it is read
        page = pane(alice_client, message)
        assert listed(page) == {"photo.bin": "1~uu.1", "y.dat": "1~yenc.1"}, way
        assert "begin 644" not in page and "=ybegin" not in page and "Goodbye" in page
        assert download(alice_client, message, "1~uu.1") == (200, "photo.bin", PAYLOAD)
        assert download(alice_client, message, "1~yenc.1")[2] == b"yenc bytes \x00\x0a\x0d="
        assert download(alice_client, message, "1~uu.2")[0] == 404
        assert download(alice_client, message, "1~tnef.1")[0] == 404
        message.refresh_from_db()
        assert message.preview == "Two files below. Goodbye" and message.has_attachments


@pytest.mark.django_db
@pytest.mark.servers
def test_forwarded_messages_show_in_place_down_to_a_bound(both, alice_client):
    for way, message in both_ways(both, nested(8)).items():
        page = pane(alice_client, message)
        assert page.count('<section class="forwarded"') == 6, way  # 5 read, the 6th a file
        assert "Text at level 6." in page and "Text at level 7." not in page
        assert "forwarded too deep" in page
        names = listed(page)
        assert names["Level 2.eml"] == "2" and names["Level 7.eml"] == "2.2.2.2.2.2"
        status, name, data = download(alice_client, message, "2")
        assert (status, name) == (200, "Level 2.eml") and b"Text at level 8." in data


@pytest.mark.django_db
@pytest.mark.servers
@pytest.mark.parametrize(
    "case",
    ["01-rfc2231-continuation.eml", "05-ew-in-quoted-filename.eml", "07-winmail-dat.eml",
     "09-missing-final-boundary.eml", "10-forward-rfc822-noname.eml",
     "18-empty-plain-alternative.eml"],
)  # fmt: skip
def test_realworld_attachments_by_name_and_bytes(case, both, alice_client, expected):
    want = expected[case]
    for way, message in both_ways(both, raw_of(case)).items():
        page = pane(alice_client, message)
        names = listed(page)
        for item in want.get("attachments", []):
            assert item["name"] in names, (way, names)
            status, name, data = download(alice_client, message, names[item["name"]])
            assert (status, name) == (200, item["name"]) and data, way
        for text in want.get("body_contains", []):
            assert text in page or text in body(alice_client, message), (way, text)
        if "attachment_mark" in want.get("list", {}):
            assert message.has_attachments is want["list"]["attachment_mark"], way


def body(client, message):
    return client.get(f"/mail/messages/{message.pk}/body/").content.decode()


@pytest.fixture
def expected():
    import json

    path = require(REALWORLD) / "expected.json"
    return json.loads(path.read_text())


@pytest.mark.django_db
@pytest.mark.servers
def test_search_sees_inside_a_forwarded_message(both, alice):
    from mailbox.search import search_messages

    raw = raw_of("10-forward-rfc822-noname.eml")
    for way, message in both_ways(both, raw).items():
        for word in ("Heller", "Sehr geehrte"):  # its sender's name; its text
            found = search_messages(alice, folder_id=message.folder_id, query=word).messages
            assert [row.pk for row in found] == [message.pk], (way, word)


def uu_png():
    from tests.mailbox.test_sources_parity import PNG

    head = (
        b"From: zoe@example.org\r\nTo: alice@example.com\r\nSubject: Pixel\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    )
    return head + b"A pixel:\r\n" + uuencoded(PNG, "pixel.png") + b"That was it.\r\n", PNG


@pytest.mark.django_db
@pytest.mark.servers
def test_an_embedded_image_is_previewed_as_what_its_bytes_are(both, alice_client):
    raw, png = uu_png()
    for way, message in both_ways(both, raw).items():
        page = pane(alice_client, message)
        assert f"/mail/messages/{message.pk}/parts/1~uu.1/preview/" in page, way
        preview = alice_client.get(f"/mail/messages/{message.pk}/parts/1~uu.1/preview/")
        assert (preview.status_code, preview["Content-Type"], preview.content) == (
            200, "image/png", png)  # fmt: skip
        assert preview["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert preview["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
@pytest.mark.servers
def test_a_winmail_dat_stays_downloadable_as_itself(both, alice_client):
    for way, message in both_ways(both, raw_of("07-winmail-dat.eml")).items():
        names = listed(pane(alice_client, message))
        assert names["winmail.dat"] == "2", way
        status, name, data = download(alice_client, message, "2")
        assert (status, name, data[:4]) == (200, "winmail.dat", b"\x78\x9f\x3e\x22")
        inner = {"Angebot-2026-117.txt": "2~tnef.1", "Preisliste.csv": "2~tnef.2"}
        assert {key: names.get(key) for key in inner} == inner


def forwarded_html():
    inner = EmailMessage()
    inner["From"], inner["Subject"] = "shop@example.org", "Your order"
    inner.set_content(
        "<html><head><style>p { color: red }</style></head><body><p>Order <b>4711</b>"
        " shipped.</p><script>alert('x')</script><p>Thank you.</p></body></html>",
        subtype="html",
    )
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "zoe@example.org", "alice@example.com", "Fwd"
    mail.set_content("See below.\n")
    mail.add_attachment(inner)
    return bytes(mail)


@pytest.mark.django_db
@pytest.mark.servers
def test_a_forwarded_html_message_shows_its_words_not_its_markup(both, alice_client):
    for way, message in both_ways(both, forwarded_html()).items():
        page = pane(alice_client, message)
        section = page.split('<section class="forwarded"', 1)[1]
        assert "Order 4711 shipped." in section and "Thank you." in section, way
        assert "alert" not in section and "color: red" not in section and "&lt;p" not in section
        assert listed(page) == {"Your order.eml": "2"}
