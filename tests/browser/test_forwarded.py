"""Alice opens a forwarded message in Chromium: the forwarded message reads in place (its
headers, its text, its own attachment), under the page's Content-Security-Policy, which the
browser reports no violation of."""

import pytest

from mailbox.models import Folder
from mailbox.sync import run_account
from tests.browser.test_content_security_policy import watched_page  # noqa: F401
from tests.corpus import require
from tests.mailbox.conftest import imap_account, mailbox_login, other_client  # noqa: F401
from tests.mailbox.test_sources_parity import REALWORLD

pytestmark = [pytest.mark.browser, pytest.mark.servers, pytest.mark.django_db(transaction=True)]


def test_a_forwarded_message_reads_in_place(watched_page, imap_account, other_client):  # noqa: F811
    path = require(REALWORLD) / "10-forward-rfc822-noname.eml"
    raw = path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert other_client.imap.append("INBOX", None, None, raw)[0] == "OK"
    assert run_account(imap_account.pk)
    inbox = Folder.objects.get(account=imap_account, name="INBOX")
    page, seen = watched_page
    page.goto(f"/mail/messages/{inbox.messages.get().pk}/")
    forwarded = page.locator("section.forwarded")
    assert forwarded.locator("dd.subject").inner_text() == "Angebot Gartenpflege 2027"
    assert "Sehr geehrte Frau Kreuzer" in forwarded.locator(".message-body").inner_text()
    assert forwarded.locator(".attachments .name").inner_text() == "📎 Angebot-Gartenpflege.pdf"
    names = page.locator("#attachments .name").all_inner_texts()
    assert names == ["📎 Angebot Gartenpflege 2027.eml"]
    assert forwarded.is_visible()
    assert seen.violations == [] and seen.errors == []
