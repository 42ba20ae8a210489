"""Alice adds her POP3 mailbox in a real browser, chooses what stays on the server, and reads
her downloaded mail on the same mail screen as her IMAP mail: keyboard, star, archive, folders
she makes herself."""

from pathlib import Path

import pytest

from accounts.models import MailAccount
from mailbox.models import Folder, Message, Role
from mailbox.sync.fetch import fetch_account
from tests.mailbox.pop3_world import OtherClient, deliver, new_mailbox

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
pytestmark = [pytest.mark.browser, pytest.mark.servers, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pop3_mailbox(mail_world):
    login = new_mailbox(mail_world)
    deliver(mail_world, login, "Seeds are here", "Allotment meeting", body="Bring gloves.\n")
    return login


def test_alice_adds_a_pop3_account_and_reads_it(logged_in_page, mail_world, pop3_mailbox):
    page = logged_in_page
    page.goto("/accounts/add/")
    page.fill("input[name=email]", pop3_mailbox[0])
    page.check("input[name=incoming_protocol][value=pop3]")
    assert page.is_visible("#pop3-settings")  # shown for POP3 only
    assert page.is_visible("text=Uses the least space on the server")
    page.check("input[name=pop3_retention][value=keep]")
    assert not page.is_visible("#field-pop3_keep_days")  # only for "some days"
    page.fill("input[name=incoming_host]", "127.0.0.1")
    page.select_option("select[name=incoming_security]", "none")
    page.fill("input[name=incoming_port]", str(mail_world.dovecot.ports["pop3"]))
    page.fill("input[name=incoming_password]", pop3_mailbox[1])
    page.fill("input[name=smtp_host]", "127.0.0.1")
    page.select_option("select[name=smtp_security]", "none")
    page.fill("input[name=smtp_port]", str(mail_world.smtp.ports["plain"]))
    with page.expect_navigation():
        page.click("#account-form button[type=submit]")
    assert page.url.endswith("/accounts/"), page.inner_text("main")
    account = MailAccount.objects.get(incoming_protocol="pop3")
    assert account.pop3_retention == "keep"
    fetch_account(
        account.pk
    )  # what the worker does on "Check now" (queued: see test_pop3_processes)
    page.reload()
    assert page.is_visible("text=2 messages kept here")
    page.click(f"tr[data-account-id='{account.pk}'] >> text=Read")
    page.wait_for_selector("#message-list li.row")
    assert page.locator("#message-list li.row").count() == 2
    assert page.is_visible("#folders >> text=Archive")

    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_selector("#message .message-subject")
    assert page.is_visible("text=Bring gloves.")
    page.keyboard.press("s")  # star
    page.wait_for_function("() => document.querySelector('#message').dataset.flagged === '1'")
    page.screenshot(path=str(ARTIFACTS / "pop3-message.png"))
    page.keyboard.press("e")  # archive
    archive = Folder.objects.get(account=account, role=Role.ARCHIVE)
    page.wait_for_function("() => document.querySelectorAll('#message-list li.row').length === 1")
    archived = Message.objects.get(folder=archive)
    assert archived.flagged and archived.seen
    assert len(OtherClient(mail_world, pop3_mailbox).message_ids()) == 2  # kept on the server


def test_alice_makes_a_folder_for_her_pop3_mail(logged_in_page, mail_world, pop3_mailbox, alice):
    from tests.mailbox.pop3_world import pop3_account

    account = pop3_account(alice, mail_world, pop3_mailbox)
    fetch_account(account.pk)
    page = logged_in_page
    page.goto(f"/mail/accounts/{account.pk}/folders/")
    assert page.is_visible("text=These folders are kept here")
    page.fill("#new-folder input[name=name]", "Garden")
    page.click("#new-folder button[type=submit]")
    page.wait_for_selector("text=The folder Garden was created.")
    garden = Folder.objects.get(account=account, name="Garden")
    inbox = Folder.objects.get(account=account, role=Role.INBOX)
    page.goto(f"/mail/folders/{inbox.pk}/")
    page.locator("#message-list li.row input.pick").first.check()
    page.select_option("#move-to", str(garden.pk))
    page.wait_for_function("() => document.querySelectorAll('#message-list li.row').length === 1")
    assert garden.messages.count() == 1
