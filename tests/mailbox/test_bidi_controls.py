"""Text that lies about itself: a stranger's subject, name, attachment name or folder name with
bidi controls in it (U+202E turns "invoice", RLO, "gnp.exe" into "invoice" + "exe.png" on screen)
is shown without them, each field isolated, wherever the running webmail shows it: the list, the
tab title, the reading pane, the header details, the folder tree, the folder page, the move menu.
"""

import email.policy
from email.headerregistry import Address
from email.message import EmailMessage
from urllib.parse import unquote

import pytest

from mailbox.models import Folder
from mailbox.parsing.bidi import BIDI_CONTROLS, drop_bidi_controls
from mailbox.protocols.imap.names import encode_mailbox_name
from mailbox.sync import run_account
from mailbox.templatetags.mail import bidi_safe
from tests.mailbox.test_message_extras import section_of
from tests.running_app import Client

from .conftest import _quote

pytestmark = [pytest.mark.servers, pytest.mark.django_db(transaction=True)]

RLO, PDF, RLI, PDI = "\u202e", "\u202c", "\u2067", "\u2069"
SUBJECT = f"invoice{RLO}gnp.exe"  # shows as "invoiceexe.png"
SENDER = f"Support {RLO}knaB"  # shows as "Support Bank"
ATTACHMENT = f"report{RLO}fdp.exe"  # shows as "reportexe.pdf"
FOLDER = f"Invoices {RLO}diap{PDF}"  # shows as "Invoices paid"


def lying_mail():
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = Address(SENDER, addr_spec="support@bank.example")
    message["To"] = Address(f"{RLI}Alice{PDI}", addr_spec="alice@example.com")
    message["Subject"] = SUBJECT
    message.set_content("Please pay the attached invoice.\n")
    message.add_attachment(b"MZ\x90\x00", maintype="application", subtype="octet-stream",
                           filename=ATTACHMENT)  # fmt: skip
    return message.as_bytes()


@pytest.fixture
def lying(imap_account, other_client, deliver):
    """Alice's mail with a lying message in the Inbox and a lying folder on the server."""
    for command in (other_client.imap.create, other_client.imap.subscribe):
        status, data = command(_quote(encode_mailbox_name(FOLDER)))
        assert status == "OK", data
    message = deliver(lying_mail())
    assert message.subject == SUBJECT and message.from_name == SENDER  # stored as sent
    assert run_account(imap_account.pk)
    invoices = Folder.objects.get(account=imap_account, name=FOLDER)
    return imap_account, message, invoices


def shown(daphne, *paths):
    client = Client(daphne.url)
    assert client.login("alice", "alice-portal-pw")[0] == 302
    pages = {}
    for path in paths:
        status, headers, body = client.get(path)
        assert status == 200, path
        where = next((i for i, ch in enumerate(body) if ch in BIDI_CONTROLS), None)
        assert where is None, f"{path}: a bidi control in {body[where - 80 : where + 20]!r}"
        pages[path] = body
    return client, pages


def test_the_list_the_title_and_the_folders_show_no_bidi_control(daphne, lying):
    account, message, invoices = lying
    inbox = Folder.objects.get(account=account, name="INBOX")
    _client, pages = shown(daphne, f"/mail/folders/{inbox.pk}/", f"/mail/folders/{invoices.pk}/",
                           f"/mail/accounts/{account.pk}/folders/", f"/mail/folders/{invoices.pk}/delete/")  # fmt: skip
    listing = pages[f"/mail/folders/{inbox.pk}/"]
    row = listing[listing.index(f'data-message-id="{message.pk}"') :].split("</li>")[0]
    assert '<span class="sender"><bdi>Support knaB</bdi></span>' in row
    assert '<span class="subject"><bdi>invoicegnp.exe</bdi></span>' in row
    # the folder in the sidebar, the move menu, the folder's own page and its title
    assert '<span class="name"><bdi>Invoices diap</bdi></span>' in listing
    assert f'<option value="{invoices.pk}" dir="auto">Invoices diap</option>' in listing
    assert "<title>Invoices diap</title>" in pages[f"/mail/folders/{invoices.pk}/"]
    folder_page = pages[f"/mail/accounts/{account.pk}/folders/"]
    assert "<bdi>Invoices diap</bdi>" in folder_page
    assert 'value="Invoices diap" dir="auto"' in folder_page  # the rename field
    assert "Invoices diap" in pages[f"/mail/folders/{invoices.pk}/delete/"]


def test_the_reading_pane_and_the_details_show_no_bidi_control(daphne, lying):
    _account, message, _invoices = lying
    paths = (f"/mail/messages/{message.pk}/", f"/mail/messages/{message.pk}/?part=pane",
             f"/mail/messages/{message.pk}/headers/")  # fmt: skip
    client, pages = shown(daphne, *paths)
    page, pane, details = (pages[path] for path in paths)
    assert " – invoicegnp.exe</title>" in page  # after the folder and its unread count
    for html in (page, pane):
        assert '<h1 class="message-subject"><bdi>invoicegnp.exe</bdi></h1>' in html
        assert "<bdi>Support knaB</bdi> &lt;<bdi>support@bank.example</bdi>&gt;" in html
        assert '<dd class="to"><bdi>Alice &lt;alice@example.com&gt;</bdi></dd>' in html
        assert "📎 <bdi>reportfdp.exe</bdi>" in html
    assert "<dd><bdi>invoicegnp.exe</bdi></dd>" in details
    assert "<dd><bdi>Support knaB &lt;support@bank.example&gt;</bdi></dd>" in details
    # and the download's name replaces them (the one set of controls, shared)
    section = section_of(message, ATTACHMENT)
    headers = client.get(f"/mail/messages/{message.pk}/parts/{section}/")[1]
    assert unquote(headers["Content-Disposition"].split("''")[1]) == "report_fdp.exe"


def test_bidi_safe_drops_every_control_and_keeps_honest_right_to_left_text():
    assert bidi_safe(SUBJECT) == "invoicegnp.exe"
    assert bidi_safe("".join(sorted(BIDI_CONTROLS))) == ""
    assert bidi_safe("שלום \u200fעולם") == "שלום עולם"  # Hebrew reads right without its mark
    assert bidi_safe(None) is None
    assert drop_bidi_controls("\u202a\u202b\u202d\u2066\u2068\u061c\u200ex") == "x"
