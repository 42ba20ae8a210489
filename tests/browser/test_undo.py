"""Alice archives a message on a 1440 px screen and changes her mind: a notice says what happened,
announced to screen readers, and its Undo (or z) brings the row back in its place, once, and
puts her server back as it was. End to end: daphne (HTTP and WebSocket, so the live events of
the move and of its undo arrive too), a real Celery worker pushing to the fixture Dovecot.
"""

from pathlib import Path

import pytest

from mailbox.models import Folder, Message, PendingChange
from mailbox.sync import run_account
from tests.browser.conftest import close_quietly
from tests.mailbox.conftest import imap_account, mailbox_login, other_client  # noqa: F401
from tests.mailbox.test_undo import server_folders
from tests.running_app import wait_until

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.servers,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def inbox(imap_account, other_client):  # noqa: F811
    """Six messages in Alice's Inbox, an empty Archive, all in the cache."""
    other_client.seed(6, seed=3, folders=["INBOX"])
    assert run_account(imap_account.pk)
    return Folder.objects.get(account=imap_account, name="INBOX")


@pytest.fixture
def open_mail(browser, daphne, celery_worker, alice, inbox):
    """``open_mail(width, height)``: Alice's Inbox in a window of that size, logged in, its
    socket connected."""
    contexts = []

    def open_mail(width, height):
        context = browser.new_context(
            base_url=daphne.url, viewport={"width": width, "height": height}
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto("/login/")
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", "alice-portal-pw")
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login/" not in url)
        page.goto(f"/mail/folders/{inbox.pk}/")
        page.wait_for_function("() => document.body.dataset.live === 'connected'")
        page.evaluate("() => { window.notReloaded = true; }")  # gone if the page ever reloads
        return page

    yield open_mail
    for context in contexts:
        close_quietly(context)


@pytest.fixture
def mail_page(open_mail):
    """Alice's Inbox at 1440 × 900."""
    return open_mail(1440, 900)


def listed(page):
    """The Message-IDs of the rows shown, top to bottom (a row put back has a new id of ours)."""
    ids = page.locator("#message-list li.row").evaluate_all(
        "rows => rows.map(r => Number(r.dataset.messageId))"
    )
    by_id = dict(Message.objects.filter(pk__in=ids).values_list("pk", "message_id"))
    return [by_id.get(pk) for pk in ids]


def settled(account):
    return not PendingChange.objects.filter(account=account).exists()


def archive_third_row(page, inbox, how):
    """Archive the third row (a click on its box and Archive, or the keyboard); its Message-ID."""
    pk = page.locator("#message-list li.row").nth(2).get_attribute("data-message-id")
    third = page.locator(f"#message-list li.row[data-message-id='{pk}']")
    message_id = Message.objects.get(pk=pk).message_id
    if how == "toolbar":
        third.locator(".pick").check()
        page.click("#toolbar button[data-action=archive]")
    else:
        page.keyboard.press("j")
        page.keyboard.press("j")
        page.keyboard.press("j")
        page.keyboard.press("e")
    third.wait_for(state="detached")
    return message_id


@pytest.mark.parametrize("how", ["toolbar", "keyboard"])
def test_alice_archives_a_row_and_undoes_it(mail_page, inbox, other_client, how):  # noqa: F811
    page = mail_page
    before_rows, before_server = listed(page), server_folders(other_client)
    assert len(before_rows) == 6

    archived = archive_third_row(page, inbox, how)
    notice = page.locator("#action-notice .toast")
    notice.wait_for()
    assert notice.inner_text().startswith("1 message archived.")
    assert page.get_attribute("#action-notice", "role") == "status"
    assert archived not in listed(page)
    if how == "toolbar":
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "undo-notice-1440.png")

    if how == "toolbar":
        page.click("#undo-action")
    else:
        page.keyboard.press("z")
    page.wait_for_selector("#action-notice >> text=1 message put back.")
    # the row is back in its place, once, whatever the live events of the move and undo do
    assert wait_until(lambda: listed(page) == before_rows, 10), listed(page)
    assert wait_until(lambda: settled(inbox.account), 60)
    assert wait_until(lambda: server_folders(other_client) == before_server, 20)
    page.wait_for_timeout(1500)  # the events of the push (placeholders confirmed) arrive
    assert listed(page) == before_rows
    assert page.evaluate("window.notReloaded === true")
    if how == "toolbar":
        page.screenshot(path=ARTIFACTS / "undo-restored-1440.png")


def test_the_undo_goes_once_and_the_notice_goes_after_a_while(mail_page, inbox):
    page = mail_page
    archive_third_row(page, inbox, "keyboard")
    page.wait_for_selector("#undo-action")
    page.keyboard.press("z")
    page.keyboard.press("z")  # a second z: nothing left to undo
    page.wait_for_selector("#action-notice >> text=1 message put back.")
    assert page.locator("#undo-action").count() == 0
    assert wait_until(lambda: len(listed(page)) == 6, 10)
    page.wait_for_selector("#action-notice .toast", state="detached", timeout=12_000)


def test_the_shortcuts_list_z(mail_page):
    page = mail_page
    page.keyboard.press("?")
    assert page.is_visible("#shortcuts >> text=Undo the last archive, delete, junk or move")


def test_a_drag_to_a_folder_and_the_reading_panes_delete_are_undone_too(
    mail_page,
    inbox,
    other_client,  # noqa: F811
):
    page = mail_page
    before_rows, before_server = listed(page), server_folders(other_client)
    trash = Folder.objects.get(account=inbox.account, role="trash")
    first = page.locator("#message-list li.row").first.get_attribute("data-message-id")
    page.drag_and_drop(
        f"li.row[data-message-id='{first}']", f"li.mail-folder[data-folder-id='{trash.pk}']"
    )
    page.wait_for_selector("#action-notice >> text=Moved to Trash.")
    page.click("#undo-action")
    page.wait_for_selector("#action-notice >> text=1 message put back.")
    assert wait_until(lambda: listed(page) == before_rows, 10), listed(page)

    page.locator("#message-list li.row a.open").nth(1).click()
    page.wait_for_selector("#message")
    page.click("#reading-pane [data-message-action=delete]")
    page.wait_for_selector("#action-notice >> text=1 message moved to Trash.")
    assert len(listed(page)) == 5
    page.keyboard.press("z")
    page.wait_for_selector("#action-notice >> text=1 message put back.")
    assert wait_until(lambda: listed(page) == before_rows, 10), listed(page)
    assert wait_until(lambda: settled(inbox.account), 60)
    assert wait_until(lambda: server_folders(other_client) == before_server, 20)


def test_on_a_phone_the_notice_fits_and_its_undo_works(open_mail, inbox, other_client):  # noqa: F811
    page = open_mail(390, 800)
    before_rows, before_server = listed(page), server_folders(other_client)
    archive_third_row(page, inbox, "toolbar")
    notice = page.locator("#action-notice .toast")
    notice.wait_for()
    box, undo_box = notice.bounding_box(), page.locator("#undo-action").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    fab = page.locator("#compose-fab")
    if fab.is_visible():  # Compose floats bottom-right: the Undo stays clear of it
        other = fab.bounding_box()
        assert (
            undo_box["x"] + undo_box["width"] <= other["x"]
            or undo_box["y"] + undo_box["height"] <= other["y"]
        ), (undo_box, other)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "undo-notice-390.png")
    page.click("#undo-action")
    page.wait_for_selector("#action-notice >> text=1 message put back.")
    assert wait_until(lambda: listed(page) == before_rows, 10), listed(page)
    assert wait_until(lambda: settled(inbox.account), 60)
    assert wait_until(lambda: server_folders(other_client) == before_server, 20)
