"""Alice looks closer at a message: she downloads the original (.eml), opens "show details" to
see every header field, and previews an image or a PDF attachment without downloading it.

Everything comes from a hostile sender: the .eml's name is safe whatever the subject, header
fields are decoded and escaped, and a preview is served only when the bytes really are an image
or a PDF (never HTML, SVG or XML, whatever they claim to be). A server that does not answer is
said in one calm sentence. Bob should have no access to Alice's mail: every URL is a 404."""

import base64
import email.policy
import re
import socket
from email.message import EmailMessage
from urllib.parse import unquote

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from mailbox.models import BodyPart
from mailbox.parsing import BodyPart as PartInfo
from mailbox.parsing import headers, parse_bodystructure
from mailbox.parsing.headers import list_header_fields
from mailbox.sources.imap import ImapSource
from mailbox.views import download as views_download

pytestmark = [pytest.mark.django_db, pytest.mark.servers]

# a 1x1 transparent PNG
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
HTML = b"<html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def pdf():
    """A small valid one-page PDF."""
    stream = b"BT /F1 24 Tf 20 100 Td (Hello plan) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 6\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref


def mail(subject="Plans", attachments=(), extra_headers=()):
    """A message as the wire has it (CRLF), with attachments as (bytes, type, filename)."""
    message = EmailMessage()
    message["From"] = "=?utf-8?q?Mall=C3=B6ry?= <mallory@example.com>"
    message["To"] = "Alice <alice@example.com>"
    message["Subject"] = "SUBJECT"  # replaced below, exactly as given
    for name, value in extra_headers:
        message[name] = value
    message.set_content("Hello Alice,\nhere it is.\n")
    for data, content_type, filename in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    raw = message.as_bytes(policy=email.policy.SMTP)
    return raw.replace(b"Subject: SUBJECT\r\n", b"Subject: %s\r\n" % subject.encode(), 1)


@pytest.fixture
def server_down(imap_account):
    def stop():
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            imap_account.incoming_port = sock.getsockname()[1]  # nothing listens there
        imap_account.incoming_password = imap_account.incoming_password  # typed for that port
        imap_account.save()
        return imap_account.incoming_port

    return stop


def section_of(message, filename):
    tree = parse_bodystructure(bytes(message.bodystructure))
    return next(part.section for part in tree.walk() if part.filename == filename)


def content(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


# --- the original message ------------------------------------------------------------------------


def test_alice_downloads_the_original_byte_for_byte(as_alice, deliver, monkeypatch):
    raw = mail(attachments=[(bytes(range(256)) * 1200, "application/octet-stream", "a.bin")])
    assert len(raw) > 300_000
    message = deliver(raw)
    monkeypatch.setattr(views_download, "CHUNK_SIZE", 64 * 1024)
    response = as_alice.get(f"/mail/messages/{message.pk}/original/")
    assert response.status_code == 200 and response.streaming
    chunks = list(response.streaming_content)
    assert len(chunks) > 4  # partial fetches, never the whole message at once
    assert b"".join(chunks) == raw
    assert response["Content-Type"] == "message/rfc822"
    assert response["Content-Disposition"] == (
        "attachment; filename=\"Plans.eml\"; filename*=UTF-8''Plans.eml"
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_under_daphne_the_original_streams_chunk_by_chunk(alice, deliver, monkeypatch):
    """Django's ASGI handler would read a synchronous iterator whole into memory."""
    raw = mail(attachments=[(bytes(range(256)) * 1200, "application/octet-stream", "a.bin")])
    message = deliver(raw)
    monkeypatch.setattr(views_download, "CHUNK_SIZE", 64 * 1024)
    client = AsyncClient()

    async def download():
        await client.aforce_login(alice)
        response = await client.get(f"/mail/messages/{message.pk}/original/")
        return response, [chunk async for chunk in response.streaming_content]

    response, chunks = async_to_sync(download)()
    assert response.status_code == 200 and response.is_async
    assert len(chunks) > 4
    assert b"".join(chunks) == raw


def test_the_eml_name_is_safe_whatever_the_subject(as_alice, deliver):
    hostile = "=?utf-8?q?Re=3A_=22Plans=22=0D=0A/etc/passwd_=5C_=E2=80=AEgpj.exe_r=C3=A9sum=C3=A9?="
    message = deliver(mail(subject=hostile))
    assert message.subject == 'Re: "Plans"  /etc/passwd \\ \u202egpj.exe résumé'
    header = as_alice.get(f"/mail/messages/{message.pk}/original/")["Content-Disposition"]
    expected = "Re_ _Plans_  _etc_passwd _ _gpj.exe résumé.eml"
    fallback, encoded = re.fullmatch(
        r"attachment; filename=\"([^\"\\\r\n/]*)\"; filename\*=UTF-8''([A-Za-z0-9%._~-]+)", header
    ).groups()
    assert unquote(encoded) == expected
    assert fallback == expected.replace("é", "_")


def test_a_message_without_a_subject_downloads_as_message_eml(as_alice, deliver):
    message = deliver(mail(subject=""))
    header = as_alice.get(f"/mail/messages/{message.pk}/original/")["Content-Disposition"]
    assert 'filename="message.eml"' in header


def test_a_message_deleted_elsewhere_is_not_found(as_alice, deliver, other_client):
    message = deliver(mail())
    other_client.expunge("INBOX", [message.uid])
    assert as_alice.get(f"/mail/messages/{message.pk}/original/").status_code == 404
    assert as_alice.get(f"/mail/messages/{message.pk}/headers/").status_code == 404


# --- show details: every header field ------------------------------------------------------------


def test_alice_sees_every_header_field_decoded_and_escaped(as_alice, deliver):
    extra = [
        ("X-Greeting", "=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?="),
        ("X-Markup", '<img src=x onerror="alert(2)">'),
        ("X-Long", "one two three " * 10),  # folded on the wire
    ]
    raw = mail(subject="<script>alert(1)</script>", extra_headers=extra)
    assert b"\r\n " in raw.partition(b"\r\n\r\n")[0]  # there is a folded line
    message = deliver(raw)
    response = as_alice.get(f"/mail/messages/{message.pk}/headers/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "private"
    page = response.content.decode()
    assert not page.lstrip().startswith("<!doctype")  # a fragment for the reading pane
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in page
    assert "Grüße aus Köln" in page and "Mallöry &lt;mallory@example.com&gt;" in page
    assert "one two three " * 9 in page  # unfolded
    names = re.findall(r"<dt>([^<]*)</dt>", page)
    wire = re.findall(rb"^([!-9;-~]+):", raw.partition(b"\r\n\r\n")[0], re.M)
    assert names == [name.decode() for name in wire]  # every field, in order
    assert "X-Greeting" in names and names.count("Content-Type") == 1


def test_the_headers_are_cached_and_shown_while_the_server_is_down(as_alice, deliver, server_down):
    message = deliver(mail(subject="Cached"))
    assert as_alice.get(f"/mail/messages/{message.pk}/headers/").status_code == 200
    assert BodyPart.objects.filter(message=message, section="HEADER").exists()
    server_down()
    response = as_alice.get(f"/mail/messages/{message.pk}/headers/")
    assert response.status_code == 200 and "Cached" in response.content.decode()


def test_header_fields_are_bounded():
    raw = b"".join(b"X-N%d: =?utf-8?q?caf=C3=A9?=\r\n" % n for n in range(600))
    fields, truncated = list_header_fields(raw + b"Subject: " + b"x" * 20000 + b"\r\n")
    assert len(fields) == 500 and truncated
    assert fields[0] == ("X-N0", "café")
    fields, truncated = list_header_fields(b"Subject: " + b"x" * 20000 + b"\r\n")
    assert len(fields[0][1]) == headers.MAX_LISTED_VALUE_CHARS + 1 and not truncated


# --- previews ------------------------------------------------------------------------------------

ATTACHMENTS = [
    (PNG, "image/png", "pixel.png"),
    (HTML, "image/png", "fake.png"),
    (GIF, "image/png", "really-a.gif"),
    (SVG, "image/svg+xml", "drawing.svg"),
    (HTML, "text/html", "page.html"),
    (b"<?xml version='1.0'?><a/>", "application/xml", "data.xml"),
    (pdf(), "application/pdf", "plan.pdf"),
    (HTML, "application/pdf", "fake.pdf"),
]


@pytest.fixture
def previews(deliver):
    message = deliver(mail(attachments=ATTACHMENTS))

    def url(filename):
        return f"/mail/messages/{message.pk}/parts/{section_of(message, filename)}/preview/"

    return message, url


def test_alice_previews_a_real_png_inline(as_alice, previews):
    response = as_alice.get(previews[1]("pixel.png"))
    assert response.status_code == 200
    assert content(response) == PNG
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith('inline; filename="pixel.png"')
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_an_image_is_served_as_what_its_bytes_are(as_alice, previews):
    response = as_alice.get(previews[1]("really-a.gif"))
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert content(response) == GIF


@pytest.mark.parametrize(
    "filename", ["fake.png", "drawing.svg", "page.html", "data.xml", "fake.pdf"]
)
def test_html_svg_xml_and_impostors_are_never_previewed(as_alice, previews, filename):
    assert as_alice.get(previews[1](filename)).status_code == 404


def test_alice_previews_a_pdf_inline(as_alice, previews):
    response = as_alice.get(previews[1]("plan.pdf"))
    assert response.status_code == 200
    assert content(response) == pdf()
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith('inline; filename="plan.pdf"')
    assert response["X-Content-Type-Options"] == "nosniff"
    csp = response["Content-Security-Policy"]
    assert csp.startswith("default-src 'none';") and "sandbox" not in csp  # Chrome's viewer
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_a_preview_too_large_is_refused_with_a_reason(as_alice, previews, monkeypatch):
    monkeypatch.setattr(views_download, "PREVIEW_LIMIT", 10)
    response = as_alice.get(previews[1]("pixel.png"))
    assert response.status_code == 413
    assert "too large to preview" in response.content.decode()


def test_the_list_offers_a_preview_by_declared_type_and_size():
    def part(content_type, size=1000):
        return PartInfo(section="2", content_type=content_type, size=size)

    assert views_download.previewable(part("image/png")) == "image"
    assert views_download.previewable(part("image/webp")) == "image"
    assert views_download.previewable(part("application/pdf")) == "pdf"
    for content_type in ("image/svg+xml", "text/html", "application/xml", "text/plain"):
        assert views_download.previewable(part(content_type)) is None
    assert views_download.previewable(part("image/png", size=10**9)) is None


def test_the_bytes_decide_the_image_type():
    sniff = views_download.sniff_image
    assert sniff(PNG) == "image/png" and sniff(GIF) == "image/gif"
    assert sniff(b"\xff\xd8\xff\xe0\x00\x10JFIF") == "image/jpeg"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff(HTML) is None and sniff(SVG) is None and sniff(b"") is None


# --- a server that does not answer ---------------------------------------------------------------


def test_a_server_that_does_not_answer_is_said_calmly(as_alice, previews, server_down):
    message, url = previews
    port = server_down()
    paths = [
        f"/mail/messages/{message.pk}/original/",
        f"/mail/messages/{message.pk}/parts/{section_of(message, 'plan.pdf')}/",
        url("plan.pdf"),
    ]
    for path in paths:
        response = as_alice.get(path)
        assert response.status_code == 503, path
        assert not response.streaming and response["Content-Type"].startswith("text/plain")
        assert response.content.decode().startswith(f"127.0.0.1:{port} refused the connection.")
    response = as_alice.get(f"/mail/messages/{message.pk}/headers/")
    assert response.status_code == 503
    assert response["Cache-Control"] == "no-store"
    page = response.content.decode()
    assert 'role="alert"' in page and "The header fields could not be fetched:" in page


# --- Bob -----------------------------------------------------------------------------------------


def test_bob_gets_404_for_alices_message(client, bob, previews):
    message, url = previews
    client.force_login(bob)
    for path in [
        f"/mail/messages/{message.pk}/original/",
        f"/mail/messages/{message.pk}/headers/",
        f"/mail/messages/{message.pk}/parts/{section_of(message, 'plan.pdf')}/",
        url("plan.pdf"),
        url("pixel.png"),
    ]:
        assert client.get(path).status_code == 404, path
    assert not BodyPart.objects.filter(message=message).exists()


def test_a_stream_peeks_without_losing_a_byte(deliver):
    raw = mail(attachments=[(PNG * 100, "image/png", "big.png")])
    message = deliver(raw)
    stream = ImapSource().stream_message(message, chunk_size=1024)
    assert stream.peek(5) == b"From:"
    assert b"".join(stream) == raw
    stream.close()
    stream.close()  # twice is harmless
