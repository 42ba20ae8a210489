"""The same message reads the same whether it came by IMAP or by POP3.

Each message is delivered once over LMTP to a mailbox that Alice has added twice: read by IMAP
(synced, parts fetched on demand) and by POP3 (downloaded and kept here). Everything the
reading code answers for it (the reading pane, the body's frame, every attachment download and
preview, the inline images, the original, "show details", and search by a word of its body)
must be the same for both, but for our own ids in URLs."""

import base64
import re
from email.message import EmailMessage

import pytest

from mailbox.models import Message
from mailbox.search import search_messages
from mailbox.sync import run_account
from mailbox.sync.fetch import fetch_account
from tests.corpus import CORPUS, absent_param
from tests.mailbox.conftest import content_of
from tests.mailbox.pop3_world import pop3_account

pytestmark = [pytest.mark.django_db, pytest.mark.servers]
REALWORLD = CORPUS / "realworld"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def plain():
    mail = _headers("Plain words")
    mail.set_content("The kumquat harvest is in.\nSee you soon.\n")
    return bytes(mail)


def html_with_inline_image():
    mail = _headers("Newsletter")
    mail.set_content("The kumquat newsletter, in plain text.\n")
    mail.add_alternative(
        '<p>The <b>kumquat</b> newsletter <img src="cid:logo@x"> '
        '<a href="https://example.org/k">read</a></p>',
        subtype="html",
    )
    mail.get_payload()[1].add_related(PNG, "image", "png", cid="<logo@x>", filename="logo.png")
    return bytes(mail)


def attachments():  # searched for "pixel" (a name) and "Forwarded" (the inner text)
    mail = _headers("Report attached")
    mail.set_content("Kumquat figures attached, café.\n", cte="quoted-printable")
    mail.add_attachment(bytes(range(256)) * 40, maintype="application", subtype="octet-stream",
                        filename="Übersicht März.bin")  # fmt: skip
    mail.add_attachment(PNG, maintype="image", subtype="png", filename="pixel.png")
    inner = EmailMessage()
    inner["From"], inner["Subject"] = "bob@example.org", "The original"
    inner.set_content("Forwarded kumquat text.\n")
    mail.add_attachment(inner)
    return bytes(mail)


def _headers(subject):
    mail = EmailMessage()
    mail["From"], mail["To"] = "Zoë Example <zoe@example.org>", "alice@example.com"
    mail["Subject"], mail["Date"] = subject, "Mon, 30 Nov 2026 10:00:00 +0100"
    mail["Message-ID"] = f"<{subject.replace(' ', '.')}@example.org>"
    return mail


MADE = {"plain": plain, "html-inline-image": html_with_inline_image, "attachments": attachments}
FILES = sorted(path.name for path in REALWORLD.glob("*.eml")) or [absent_param(REALWORLD)]


def raw_of(case):
    if case in MADE:
        return MADE[case]()
    return (REALWORLD / case).read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.fixture
def both(alice, mail_world, imap_account, mailbox_login):
    """Deliver ``raw`` to the mailbox; (the message as IMAP shows it, as POP3 brought it)."""
    account = pop3_account(alice, mail_world, mailbox_login, retention="keep")

    def deliver(raw):
        mail_world.dovecot.deliver(mailbox_login[0], raw)
        assert run_account(imap_account.pk)
        fetch_account(account.pk)
        by_imap = Message.objects.filter(folder__account=imap_account).latest("id")
        by_pop3 = Message.objects.filter(folder__account=account).latest("id")
        return by_imap, by_pop3

    return deliver


def answers(client, message, words):
    """What the reading code answers for ``message``, with our own ids made neutral."""
    base = f"/mail/messages/{message.pk}/"
    got = {"pane": _neutral(client.get(base + "?part=pane").content.decode(), message)}
    got["page_status"] = client.get(base).status_code
    got["body"] = _neutral(client.get(base + "body/").content.decode(), message)
    got["headers"] = _neutral(client.get(base + "headers/").content.decode(), message)
    got["original"] = content_of(client.get(base + "original/"))
    for section in sorted(set(re.findall(r"/parts/([^/]+)/", got["pane"]))):
        download = client.get(f"{base}parts/{section}/")
        got[f"part {section}"] = (download.status_code, download.get("Content-Disposition"),
                                  content_of(download))  # fmt: skip
        preview = client.get(f"{base}parts/{section}/preview/")
        got[f"preview {section}"] = preview.status_code
    folder = message.folder
    for word in words:
        found = search_messages(folder.account.user, folder_id=folder.pk, query=word).messages
        got[f"search {word}"] = [row.pk == message.pk for row in found]
    return got


def _neutral(html, message):
    html = html.replace(f"/mail/messages/{message.pk}/", "/mail/messages/N/")
    html = re.sub(rf"/mail/compose/(\w+)/{message.pk}/", r"/mail/compose/\1/N/", html)
    html = html.replace(f'data-message-id="{message.pk}"', 'data-message-id="N"')
    # a 404 (no HTML body to frame) is the site's page now, with a fresh CSRF token each time
    html = re.sub(r'name="csrfmiddlewaretoken" value="\w+"', 'name="csrfmiddlewaretoken"', html)
    return re.sub(r"/mail/folders/\d+/", "/mail/folders/N/", html)


@pytest.mark.parametrize("case", [*MADE, *FILES])
def test_a_message_reads_the_same_by_imap_and_by_pop3(case, both, alice_client):
    by_imap, by_pop3 = both(raw_of(case))
    # a word of the body, of an attachment's name, of a forwarded message's text
    words = ["kumquat", "pixel", "Forwarded"] if case in MADE else by_imap.subject.split()[-1:]
    imap_answers = answers(alice_client, by_imap, words)
    pop3_answers = answers(alice_client, by_pop3, words)
    assert imap_answers["page_status"] == 200
    for key in imap_answers.keys() | pop3_answers.keys():
        assert imap_answers.get(key) == pop3_answers.get(key), key
    if case in MADE:
        assert imap_answers["search kumquat"] == [True]  # found by a word of its body
    if case == "attachments":  # by an attachment's name, and by the forwarded message's text
        assert imap_answers["search pixel"] == imap_answers["search Forwarded"] == [True]
        fields = ("subject", "from_name", "from_address", "to", "date", "has_attachments")
        for field in fields:
            assert getattr(by_imap, field) == getattr(by_pop3, field), field
