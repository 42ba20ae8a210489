"""Alice, in a real browser, goes from her folders to her Inbox and opens an HTML message: the
sanitized body shows in its sandboxed frame, and no script of the sender's ever runs."""

from pathlib import Path

import pytest

from accounts.models import Preferences
from mailbox.sync import run_account
from tests.mailbox.conftest import imap_account, mailbox_login, other_client  # noqa: F401
from tests.mailbox.test_reading_views import HOSTILE_HTML, email

pytestmark = [pytest.mark.browser, pytest.mark.servers, pytest.mark.django_db(transaction=True)]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_alice_reads_an_html_message(logged_in_page, imap_account, other_client):  # noqa: F811
    Preferences.objects.create(user_id=imap_account.user_id, conversations=False)  # a row each
    other_client.seed(8, seed=2, folders=["INBOX"])
    status, data = other_client.imap.append(
        "INBOX", None, None, email("Newsletter", html=HOSTILE_HTML)
    )
    assert status == "OK", data
    assert run_account(imap_account.pk)
    page = logged_in_page
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(f"/mail/accounts/{imap_account.pk}/folders/")
    page.click("li[data-folder-name='INBOX'] a.name")
    page.wait_for_url("**/mail/folders/*/")
    assert page.locator("#message-list li.row").count() == 9
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "inbox.png", full_page=True)
    page.click("#message-list >> text=Newsletter")
    page.wait_for_url("**/mail/messages/*/")

    frame = page.frame_locator("iframe.message-body")
    assert frame.locator("b").inner_text() == "Alice"
    assert frame.locator("img[alt=logo]").evaluate("img => img.complete && img.naturalWidth") == 1
    assert page.is_visible("#remote-blocked")
    page.screenshot(path=ARTIFACTS / "message.png", full_page=True)
    assert dialogs == []
