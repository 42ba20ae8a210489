"""Alice reads her mail: her folder's messages newest first, page by page, and one message with
its headers, attachments and body. Hostile headers are escaped, HTML bodies are sanitized and
shown in a sandboxed frame, remote images are blocked, and a server that does not answer is said
calmly. Bob should have no access to Alice's mail: every reading URL is a 404 for him."""

import base64
import re
import socket
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from django.utils import timezone

from accounts.models import Preferences
from mailbox.models import Message
from mailbox.sync import run_account

from .conftest import folder

pytestmark = [pytest.mark.django_db, pytest.mark.servers]

# a 1x1 transparent PNG
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
HOSTILE_HTML = (
    "<p>Hello <b>Alice</b></p><script>alert(1)</script>"
    '<img src="https://tracker.example/pixel.png" alt="tracker">'
    '<img src="cid:logo@example.com" alt="logo">'
)


def email(subject, body="Hello Alice,\nsee you tomorrow.\n", html=None, attachment=None):
    message = EmailMessage()
    message["From"] = "Mallory <mallory@example.com>"
    message["To"] = "Alice <alice@example.com>"
    message["Cc"] = '"<b>Carol</b>" <carol@example.com>'
    message["Subject"] = subject
    message["Date"] = format_datetime(timezone.now())
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
        message.get_payload()[1].add_related(PNG, "image", "png", cid="<logo@example.com>")
    if attachment is not None:
        message.add_attachment(
            attachment, maintype="application", subtype="pdf", filename="plan.pdf"
        )
    return message.as_bytes()


def row_ids(response):
    return [
        int(pk)
        for pk in re.findall(
            r'<li class="row[^"]*" data-message-id="(\d+)"', response.content.decode()
        )
    ]


def older_link(response):
    match = re.search(r'href="([^"]+)" rel="next"', response.content.decode())
    return match and match.group(1).replace("&amp;", "&")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the folder's messages ---------------------------------------------------------------------


def test_alice_lists_her_inbox_newest_first_page_by_page(as_alice, imap_account, other_client):
    # a row per message (conversations: tests/mailbox/test_conversation_views.py)
    Preferences.objects.create(user_id=imap_account.user_id, conversations=False)
    other_client.seed(70, seed=3, folders=["INBOX"])
    assert run_account(imap_account.pk)
    inbox = folder(imap_account, "INBOX")
    newest_first = list(inbox.messages.order_by("-date", "-id").values_list("pk", flat=True))
    assert len(newest_first) == 70

    first = as_alice.get(f"/mail/folders/{inbox.pk}/")
    assert first.status_code == 200
    assert row_ids(first) == newest_first[:50]
    second = as_alice.get(older_link(first))
    assert second.status_code == 200
    assert row_ids(second) == newest_first[50:]
    assert older_link(second) is None


def test_the_inbox_shows_unread_flagged_and_attachments(as_alice, deliver, imap_account):
    message = deliver(email("Plans", attachment=b"%PDF-1.4 plan"))
    Message.objects.filter(pk=message.pk).update(flagged=True)
    page = as_alice.get(f"/mail/folders/{message.folder_id}/").content.decode()
    assert f'<li class="row unread flagged" data-message-id="{message.pk}"' in page
    assert 'aria-pressed="true"' in page and 'class="clip"' in page
    assert f'href="/mail/messages/{message.pk}/"' in page
    assert "Mallory" in page


def test_the_folder_page_is_linked_from_the_folder_tree(as_alice, imap_account, other_client):
    assert run_account(imap_account.pk)
    inbox = folder(imap_account, "INBOX")
    page = as_alice.get(f"/mail/accounts/{imap_account.pk}/folders/").content.decode()
    assert f'href="/mail/folders/{inbox.pk}/"' in page


# --- one message ---------------------------------------------------------------------------------


def test_alice_opens_a_plain_message_and_it_is_read(as_alice, deliver):
    message = deliver(email("<script>alert(1)</script>", attachment=b"%PDF-1.4 plan"))
    assert not message.seen
    response = as_alice.get(f"/mail/messages/{message.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;Carol&lt;/b&gt;" in page
    assert "Hello Alice," in page and "<iframe" not in page
    assert "plan.pdf" in page and f"/mail/messages/{message.pk}/parts/" in page
    message.refresh_from_db()
    assert message.seen


def test_alice_opens_an_html_message_in_a_sandboxed_frame(as_alice, deliver):
    message = deliver(email("Newsletter", html=HOSTILE_HTML))
    page = as_alice.get(f"/mail/messages/{message.pk}/").content.decode()
    iframe = re.search(r"<iframe[^>]*>", page).group(0)
    sandbox = re.search(r'sandbox="([^"]*)"', iframe).group(1).split()
    assert sorted(sandbox) == ["allow-popups", "allow-popups-to-escape-sandbox"]
    assert f'src="/mail/messages/{message.pk}/body/"' in iframe
    assert 'referrerpolicy="no-referrer"' in iframe
    assert "Remote content was blocked" in page
    assert "logo" not in re.search(r'<ul class="attachments".*?</ul>|$', page, re.S).group(0)

    body = as_alice.get(f"/mail/messages/{message.pk}/body/")
    assert body.status_code == 200
    assert body["Content-Security-Policy"] == (
        "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
        "sandbox allow-popups allow-popups-to-escape-sandbox"
    )
    assert body["X-Content-Type-Options"] == "nosniff"
    assert body["Referrer-Policy"] == "no-referrer"
    assert body["X-Frame-Options"] == "SAMEORIGIN"
    html = body.content.decode()
    assert html.startswith("<!doctype html>")
    assert "<b>Alice</b>" in html
    assert "<script" not in html and "alert(1)" not in html
    assert "tracker.example" not in html
    # the frame has an opaque origin, without Alice's session: inline images come as data: URLs
    assert f'src="data:image/png;base64,{base64.b64encode(PNG).decode()}"' in html


BASE_HTML = (
    '<html><head><base href="https://shop.example.net/konto/"></head><body>'
    '<p><a href="bestellung?id=4711">Bestellung</a> <img src="bilder/paket.png" alt="Paket">'
    '<a href="javascript:alert(1)">nein</a></p></body></html>'
)


def test_a_base_href_gives_relative_links_and_images_their_targets(as_alice, deliver):
    message = deliver(email("Bestellung", html=BASE_HTML))
    page = as_alice.get(f"/mail/messages/{message.pk}/").content.decode()
    assert "Remote content was blocked" in page  # the image is on the shop's server

    body = as_alice.get(f"/mail/messages/{message.pk}/body/").content.decode()
    assert 'href="https://shop.example.net/konto/bestellung?id=4711"' in body
    assert "paket.png" not in body and "javascript" not in body and "<base" not in body

    shown = as_alice.get(f"/mail/messages/{message.pk}/body/?remote=1").content.decode()
    assert '<img alt="Paket" src="https://shop.example.net/konto/bilder/paket.png">' in shown


def test_the_frame_reflows_a_fixed_width_newsletter_below_its_width(as_alice, deliver):
    wide = deliver(email("Wide", html='<table width="640"><tr><td>Newsletter</td></tr></table>'))
    body = as_alice.get(f"/mail/messages/{wide.pk}/body/").content.decode()
    assert "@media (max-width: 704px)" in body  # 640 and the room for margins and a scrollbar
    assert body.index("@media") < body.index("Newsletter")

    fluid = deliver(email("Fluid", html='<table width="100%"><tr><td>Newsletter</td></tr></table>'))
    assert "@media" not in as_alice.get(f"/mail/messages/{fluid.pk}/body/").content.decode()


def test_alice_sees_the_inline_image_and_nothing_else(as_alice, deliver):
    message = deliver(email("Newsletter", html=HOSTILE_HTML))
    image = as_alice.get(f"/mail/messages/{message.pk}/cid/logo@example.com/")
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"
    assert image.content == PNG
    assert image["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in image["Content-Security-Policy"]
    assert as_alice.get(f"/mail/messages/{message.pk}/cid/nobody@example.com/").status_code == 404


def test_a_message_not_yet_confirmed_by_the_server_is_not_found(as_alice, deliver):
    message = deliver(email("Moving"))
    Message.objects.filter(pk=message.pk).update(uid=None)
    assert as_alice.get(f"/mail/messages/{message.pk}/").status_code == 404


def test_a_server_that_does_not_answer_is_said_calmly(as_alice, deliver, imap_account):
    message = deliver(email("Offline"))
    imap_account.incoming_port = free_port()
    imap_account.incoming_password = imap_account.incoming_password  # as typed for that port
    imap_account.save()
    response = as_alice.get(f"/mail/messages/{message.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "The message body could not be fetched:" in page
    assert "Offline" in page and "Mallory" in page


# --- Bob ---------------------------------------------------------------------------------------


def test_bob_gets_404_for_alices_mail(client, bob, alice, deliver):
    message = deliver(email("Newsletter", html=HOSTILE_HTML))
    client.force_login(bob)
    urls = [
        f"/mail/folders/{message.folder_id}/",
        f"/mail/messages/{message.pk}/",
        f"/mail/messages/{message.pk}/body/",
        f"/mail/messages/{message.pk}/cid/logo@example.com/",
    ]
    for url in urls:
        assert client.get(url).status_code == 404, url
    message.refresh_from_db()
    assert not message.seen
