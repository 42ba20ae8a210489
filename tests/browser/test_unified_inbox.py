"""Alice has an IMAP account and a POP3 one, and reads both in one list at 1440 px: "All
inboxes" shows each account's mail with its name on every row, and archiving one message of each
puts each in its own account's Archive: the IMAP one on the server too."""

from pathlib import Path

import pytest

from mailbox.models import Folder, Message, PendingChange, Role
from mailbox.sync import run_account
from mailbox.sync.fetch import fetch_account
from tests.browser.conftest import close_quietly
from tests.mailbox.conftest import imap_account, mailbox_login, other_client  # noqa: F401
from tests.mailbox.pop3_world import deliver, message, new_mailbox, pop3_account

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
pytestmark = [pytest.mark.browser, pytest.mark.servers, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_accounts(alice, mail_world, imap_account, other_client):  # noqa: F811
    """Alice's IMAP Inbox with 4 generated messages, her POP3 Inbox with 2, all fetched."""
    other_client.seed(4, seed=11, folders=["INBOX"])
    assert run_account(imap_account.pk)
    login = new_mailbox(mail_world)
    deliver(mail_world, login, "Seeds are here", "Allotment meeting")
    pop = pop3_account(alice, mail_world, login)
    fetch_account(pop.pk)
    return imap_account, pop


def rows_of(page):
    return page.locator("#message-list li.row")


def archive_uids_on_server(other_client):  # noqa: F811
    status, _data = other_client.imap.select("Archive", readonly=True)
    assert status == "OK"
    status, data = other_client.imap.uid("SEARCH", None, "ALL")
    return data[0].split()


def test_alice_reads_and_archives_from_both_accounts_in_one_list(
    logged_in_page,
    two_accounts,
    other_client,  # noqa: F811
):
    imap, pop = two_accounts
    page = logged_in_page
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"/mail/folders/{Folder.objects.get(account=imap, role=Role.INBOX).pk}/")
    page.click("#unified-links >> text=All inboxes")
    page.wait_for_url("**/mail/all/inbox/")
    assert rows_of(page).count() == 6
    for account in (imap, pop):
        assert (
            rows_of(page).filter(has_text=account.email).count()
            == Message.objects.filter(folder__account=account, folder__role=Role.INBOX).count()
        )
    assert page.title().startswith("All inboxes")
    assert not page.is_visible("#move-to"), "no move across accounts"

    # open one: the reading pane beside the list, which stays
    page.click("#message-list >> text=Seeds are here")
    page.wait_for_selector("#message .message-subject")
    assert rows_of(page).count() == 6

    picked = [
        Message.objects.filter(folder__account=imap, folder__role=Role.INBOX).first(),
        Message.objects.get(folder__account=pop, subject="Allotment meeting"),
    ]
    for one in picked:
        page.check(f"li.row[data-message-id='{one.pk}'] .pick")
    page.click("#toolbar button[data-action=archive]")
    for one in picked:
        page.wait_for_selector(f"li.row[data-message-id='{one.pk}']", state="detached")
    assert rows_of(page).count() == 4
    page.screenshot(path=str(ARTIFACTS / "unified-inbox.png"))

    # each went to its own account's Archive
    archived = Message.objects.filter(folder__role=Role.ARCHIVE)
    assert archived.filter(folder__account=pop, subject="Allotment meeting").exists()
    assert archived.filter(folder__account=imap, message_id=picked[0].message_id).exists()
    # and the IMAP one on the server, once the worker pushes the change
    assert archive_uids_on_server(other_client) == []
    assert run_account(imap.pk, push_only=True)
    assert not PendingChange.objects.filter(account=imap).exists()
    assert len(archive_uids_on_server(other_client)) == 1

    page.goto("/mail/all/inbox/")  # the list as the server has it now
    assert rows_of(page).count() == 4


def test_on_a_phone_alice_reads_and_archives_from_both_accounts(
    logged_in_page,
    two_accounts,
    other_client,  # noqa: F811
):
    """At 390 px: the lists across accounts are behind the "Folders" button, the list first."""
    imap, pop = two_accounts
    page = logged_in_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/mail/folders/{Folder.objects.get(account=imap, role=Role.INBOX).pk}/")
    assert not page.is_visible("#unified-links")
    page.click("#folders-toggle")
    page.click("#unified-links >> text=All inboxes")
    page.wait_for_url("**/mail/all/inbox/")
    assert page.inner_text(".phone-folder") == "All inboxes"
    assert rows_of(page).count() == 6
    for account in (imap, pop):
        assert (
            rows_of(page).filter(has_text=account.email).count()
            == Message.objects.filter(folder__account=account, folder__role=Role.INBOX).count()
        )
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "nothing wider"
    picked = [
        Message.objects.filter(folder__account=imap, folder__role=Role.INBOX).first(),
        Message.objects.get(folder__account=pop, subject="Allotment meeting"),
    ]
    for one in picked:
        page.check(f"li.row[data-message-id='{one.pk}'] .pick")
    page.click("#toolbar button[data-action=archive]")
    for one in picked:
        page.wait_for_selector(f"li.row[data-message-id='{one.pk}']", state="detached")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "unified-inbox-390.png"))
    archived = Message.objects.filter(folder__role=Role.ARCHIVE)
    assert archived.filter(folder__account=pop, subject="Allotment meeting").exists()
    assert archived.filter(folder__account=imap, message_id=picked[0].message_id).exists()
    assert run_account(imap.pk, push_only=True)
    assert len(archive_uids_on_server(other_client)) == 1


@pytest.fixture
def live_page(browser, daphne, alice):
    """Alice's tab on the webmail as daphne serves it (HTTP and its WebSocket), logged in."""
    context = browser.new_context(base_url=daphne.url, viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto("/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "alice-portal-pw")
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)
    yield page
    close_quietly(context)


@pytest.mark.slow
def test_new_mail_of_either_account_shows_in_all_inboxes_live(
    live_page,
    two_accounts,
    mail_world,
    other_client,  # noqa: F811
):
    imap, pop = two_accounts
    page = live_page
    page.goto("/mail/all/inbox/")
    page.wait_for_function("() => document.body.dataset.live === 'connected'")
    page.evaluate("() => { window.notReloaded = true; }")
    unread = int(page.get_attribute("#mail", "data-unread"))

    status, data = other_client.imap.append("INBOX", None, None, message("Fresh figs"))
    assert status == "OK", data
    assert run_account(imap.pk, folder_names=["INBOX"])  # what the watcher's sync does
    page.wait_for_selector("#message-list li.row >> text=Fresh figs")
    assert rows_of(page).first.inner_text().count(imap.email) == 1  # newest: at the top

    deliver(mail_world, (pop.incoming_username, ""), "Pears ripe")
    fetch_account(pop.pk)
    page.wait_for_selector("#message-list li.row >> text=Pears ripe")
    assert rows_of(page).filter(has_text="Pears ripe").inner_text().count(pop.email) == 1
    page.wait_for_function(f"() => document.title.startsWith('All inboxes ({unread + 2})')")
    page.wait_for_function(
        f"() => document.querySelector('#unified-links [data-unified=inbox] .badge').textContent === '{unread + 2}'"
    )
    assert rows_of(page).count() == 8
    assert page.evaluate("() => window.notReloaded === true")
