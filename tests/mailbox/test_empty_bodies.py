"""A message forwarded as an attachment with no words of its own (no text part, an empty or
blank one, an empty formatted part) shows no empty body above the forwarded message: one line
says it has no text; a body with words, or only an image, is shown as before."""

import re
from email.message import EmailMessage

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.servers]

PIXEL = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"


def inner():
    message = EmailMessage()
    message["From"] = "Ann <ann@example.org>"
    message["Subject"] = "Kumquat harvest"
    message.set_content("Forty jars this year.\n")
    return message


def forwarding(text=None, html=None):
    """Alice's forward as attachment: ``text`` / ``html`` of its own (None: no such part)."""
    message = EmailMessage()
    message["From"] = "Bob <bob@example.org>"
    message["Subject"] = "Fwd: Kumquat harvest"
    if text is not None:
        message.set_content(text)
    if html is not None and text is not None:
        message.add_alternative(html, subtype="html")
    elif html is not None:
        message.set_content(html, subtype="html")
    message.add_attachment(inner())  # message/rfc822
    return bytes(message)


def above_the_forwarded(page):
    """The reading pane from the headers to the forwarded message."""
    found = re.search(r'<dl class="headers">(.*?)<section class="forwarded"', page, re.S)
    assert found, "the forwarded message is shown in place"
    return found.group(1)


@pytest.mark.parametrize(
    "text, html",
    [(None, None), ("", None), ("  \n\n \t\n", None), ("\n", "<p><br></p>"),
     (None, "<html><body><div>&nbsp;</div><p></p></body></html>")],
    ids=["no text part", "empty text", "blank text", "empty alternative", "empty html"],
)  # fmt: skip
def test_a_forward_with_no_words_of_its_own_shows_no_empty_body(as_alice, deliver, text, html):
    message = deliver(forwarding(text, html))
    page = as_alice.get(f"/mail/messages/{message.pk}/").content.decode()
    top = above_the_forwarded(page)
    assert "message-body" not in top  # neither the frame nor an empty text block
    assert "This message has no text to show." in top
    assert "Forty jars this year." in page.split('<section class="forwarded"', 1)[1]


@pytest.mark.parametrize(
    "text, html, shown",
    [("See below.\n", None, '<div class="message-body text">'),
     ("See below.\n", "<p>See <b>below</b>.</p>", '<iframe class="message-body"'),
     (None, f'<p><img src="{PIXEL}" alt=""></p>', '<iframe class="message-body"')],
    ids=["text", "formatted", "only an image"],
)  # fmt: skip
def test_a_forward_with_a_body_still_shows_it(as_alice, deliver, text, html, shown):
    message = deliver(forwarding(text, html))
    page = as_alice.get(f"/mail/messages/{message.pk}/").content.decode()
    top = above_the_forwarded(page)
    assert shown in top and "This message has no text to show." not in top


def test_a_forward_of_a_forward_shows_no_empty_block_either(as_alice, deliver):
    middle = EmailMessage()
    middle["From"] = "Carol <carol@example.org>"
    middle["Subject"] = "Fwd: Kumquat harvest"
    middle.set_content(" \n\n")
    middle.add_attachment(inner())
    outer = EmailMessage()
    outer["From"] = "Bob <bob@example.org>"
    outer["Subject"] = "Fwd: Fwd: Kumquat harvest"
    outer.set_content("Look at this.\n")
    outer.add_attachment(middle)
    message = deliver(bytes(outer))
    page = as_alice.get(f"/mail/messages/{message.pk}/").content.decode()
    first, second = page.split('<section class="forwarded"')[1:3]
    assert "message-body" not in first  # Carol's blank text: no block above Ann's message
    assert "Forty jars this year." in second


def test_a_wordless_html_message_without_a_forward_keeps_its_frame(as_alice, deliver):
    # it may still show something (a coloured cell), and nothing else would be on the page
    message = EmailMessage()
    message["From"] = "Bob <bob@example.org>"
    message["Subject"] = "Red"
    message.set_content('<table><tr><td bgcolor="red"></td></tr></table>', subtype="html")
    shown = deliver(bytes(message))
    page = as_alice.get(f"/mail/messages/{shown.pk}/").content.decode()
    assert '<iframe class="message-body"' in page
