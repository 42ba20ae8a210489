"""Alice uses the mail screen in a real browser: three panes on a desktop, one column on a phone,
the keyboard, several messages at once, dragging to a folder, dark mode, and remote content.

Each test checks what she sees and what the cache (the source of the server's changes) holds."""

from pathlib import Path

import pytest

from accounts.models import Preferences, get_preferences
from mailbox.models import Folder, Message, TrustedSender
from mailbox.sync import run_account
from tests.mailbox.conftest import imap_account, mailbox_login, other_client  # noqa: F401
from tests.mailbox.test_reading_views import HOSTILE_HTML, email

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
pytestmark = [pytest.mark.browser, pytest.mark.servers, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def inbox(imap_account, other_client):  # noqa: F811
    """Alice's Inbox with 12 generated messages and a newsletter with a tracker, all unread;
    she reads them a message at a time (conversations: tests/browser/test_conversations.py)."""
    Preferences.objects.create(user_id=imap_account.user_id, conversations=False)
    other_client.seed(12, seed=5, folders=["INBOX"])
    status, data = other_client.imap.append(
        "INBOX", None, None, email("Newsletter", html=HOSTILE_HTML)
    )
    assert status == "OK", data
    assert run_account(imap_account.pk)
    folder = Folder.objects.get(account=imap_account, name="INBOX")
    folder.messages.update(seen=False, flagged=False)
    return folder


def ids_in_list(page):
    return [int(i) for i in page.locator("#message-list li.row").evaluate_all(
        "rows => rows.map(r => r.dataset.messageId)")]  # fmt: skip


def newest_first(folder):
    return list(folder.messages.order_by("-date", "-id").values_list("id", flat=True))


def test_alice_reads_in_three_panes_and_goes_back(logged_in_page, inbox):
    page = logged_in_page
    page.goto(f"/mail/folders/{inbox.pk}/")
    assert page.is_visible("#folder-pane") and page.is_visible("#reading-pane")
    assert ids_in_list(page) == newest_first(inbox)
    page.click("#message-list >> text=Newsletter")
    page.wait_for_url("**/mail/messages/*/")
    opened = Message.objects.get(folder=inbox, subject="Newsletter")
    assert page.frame_locator("iframe.message-body").locator("b").inner_text() == "Alice"
    assert page.is_visible("#message-list"), "the list stays beside the message"
    row = page.locator(f"li.row[data-message-id='{opened.pk}']")
    assert "unread" not in row.get_attribute("class")
    assert Message.objects.get(pk=opened.pk).seen
    page.keyboard.press("u")
    page.wait_for_url(f"**/mail/folders/{inbox.pk}/")
    assert page.locator("#message").count() == 0


def test_the_keyboard_moves_opens_stars_and_archives(logged_in_page, inbox):
    page = logged_in_page
    page.goto(f"/mail/folders/{inbox.pk}/")
    order = newest_first(inbox)
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert page.locator("li.row.cursor").get_attribute("data-message-id") == str(order[0])
    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_selector(f"#message[data-message-id='{order[1]}']")
    page.keyboard.press("s")
    page.wait_for_selector(f"li.row.flagged[data-message-id='{order[1]}']")
    assert Message.objects.get(pk=order[1]).flagged
    page.keyboard.press("Shift+U")
    page.wait_for_selector(f"li.row.unread[data-message-id='{order[1]}']")
    assert not Message.objects.get(pk=order[1]).seen
    page.keyboard.press("j")  # in the reading pane, j opens the next message
    page.wait_for_selector(f"#message[data-message-id='{order[2]}']")
    page.keyboard.press("e")
    page.wait_for_selector(f"li.row[data-message-id='{order[2]}']", state="detached")
    assert not inbox.messages.filter(pk=order[2]).exists()
    assert (
        Message.objects.filter(folder__role="archive", folder__account=inbox.account).count() == 1
    )
    page.wait_for_selector(f"#message[data-message-id='{order[3]}']")  # the next one opens


def test_shortcuts_never_fire_while_typing_and_help_lists_them(logged_in_page, inbox):
    page = logged_in_page
    page.goto(f"/mail/folders/{inbox.pk}/")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search-q"
    page.keyboard.type("jjk#e")
    assert page.input_value("#search-q") == "jjk#e"
    assert page.locator("li.row.cursor").count() == 0
    assert inbox.messages.count() == 13, "no shortcut acted on a message"
    page.locator("#search-q").blur()
    page.keyboard.press("?")
    assert page.is_visible("#shortcuts")
    assert "Go to the Inbox" in page.inner_text("#shortcuts")
    page.keyboard.press("Escape")
    assert not page.is_visible("#shortcuts")
    page.keyboard.press("c")
    page.wait_for_url("**/mail/compose/?account=*")


def test_alice_selects_a_range_and_marks_it_read(logged_in_page, inbox):
    page = logged_in_page
    page.goto(f"/mail/folders/{inbox.pk}/")
    order = newest_first(inbox)
    page.click(f"li.row[data-message-id='{order[1]}'] .pick")
    page.click(f"li.row[data-message-id='{order[4]}'] .pick", modifiers=["Shift"])
    assert page.locator("li.row.selected").count() == 4
    page.click("#more-toggle")  # Read is in the toolbar's More menu
    page.click("#toolbar button[data-action=read]")
    # a function, not an expression: Playwright evals an expression in the page, which its
    # Content-Security-Policy refuses (no 'unsafe-eval')
    page.wait_for_function("() => document.querySelectorAll('li.row.unread').length === 9")
    read = set(inbox.messages.filter(seen=True).values_list("id", flat=True))
    assert read == set(order[1:5])
    page.click("#select-all")  # all on, then all off
    page.click("#select-all")
    page.click(f"li.row[data-message-id='{order[7]}'] .pick")
    page.keyboard.press("Shift+I")  # the focus is on a checkbox: shortcuts still work
    page.wait_for_function("() => document.querySelectorAll('li.row.unread').length === 8")
    assert inbox.messages.get(pk=order[7]).seen


def test_select_all_in_the_folder_reaches_past_the_page(logged_in_page, imap_account, other_client):  # noqa: F811
    Preferences.objects.create(user_id=imap_account.user_id, conversations=False)  # a row each
    other_client.seed(60, seed=9, folders=["INBOX"])
    assert run_account(imap_account.pk)
    inbox = Folder.objects.get(account=imap_account, name="INBOX")
    inbox.messages.update(seen=False)
    page = logged_in_page
    page.goto(f"/mail/folders/{inbox.pk}/")
    assert page.locator("li.row").count() == 50
    page.check("#select-all")
    assert page.is_visible("#select-all-folder")
    page.click("[data-select-folder]")
    page.click("#more-toggle")  # Read is in the toolbar's More menu
    page.click("#toolbar button[data-action=read]")
    page.wait_for_load_state("load")
    page.wait_for_function("() => document.querySelectorAll('li.row.unread').length === 0")
    assert not inbox.messages.filter(seen=False).exists(), "all 60, not just the page's 50"


def test_alice_drags_a_message_to_a_folder(logged_in_page, inbox):
    page = logged_in_page
    page.goto(f"/mail/folders/{inbox.pk}/")
    first = newest_first(inbox)[0]
    junk = Folder.objects.get(account=inbox.account, role="junk")
    subject = Message.objects.get(pk=first).subject
    page.drag_and_drop(
        f"li.row[data-message-id='{first}']", f"li.mail-folder[data-folder-id='{junk.pk}']"
    )
    page.wait_for_selector(f"li.row[data-message-id='{first}']", state="detached")
    assert not inbox.messages.filter(pk=first).exists()
    assert list(junk.messages.values_list("subject", flat=True)) == [subject]


def test_more_messages_load_as_the_list_scrolls(logged_in_page, imap_account, other_client):  # noqa: F811
    Preferences.objects.create(user_id=imap_account.user_id, conversations=False)  # a row each
    other_client.seed(120, seed=4, folders=["INBOX"])
    assert run_account(imap_account.pk)
    inbox = Folder.objects.get(account=imap_account, name="INBOX")
    page = logged_in_page
    page.goto(f"/mail/folders/{inbox.pk}/")
    for expected in (100, 120):
        page.locator("li.row").last.scroll_into_view_if_needed()
        page.wait_for_function(f"() => document.querySelectorAll('li.row').length === {expected}")
    assert ids_in_list(page) == newest_first(inbox)


def test_dark_mode_follows_the_system_and_the_toggle(logged_in_page, inbox, alice):
    page = logged_in_page
    page.emulate_media(color_scheme="dark")
    page.goto(f"/mail/folders/{inbox.pk}/")
    background = "getComputedStyle(document.body).backgroundColor"
    dark = page.evaluate(background)
    page.emulate_media(color_scheme="light")
    light = page.evaluate(background)
    assert dark != light
    page.click("#theme-toggle")  # system -> dark, even though the system is light
    page.wait_for_function("() => document.documentElement.dataset.theme === 'dark'")
    assert page.evaluate(background) == dark
    assert get_preferences(alice).theme == "dark"
    page.reload()
    assert page.evaluate(background) == dark
    page.click("#message-list >> text=Newsletter")
    page.frame_locator("iframe.message-body").locator("b").wait_for()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "mail-dark.png")


def test_a_phone_shows_one_column(browser, live_server, alice, inbox):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 800})
    page = context.new_page()
    page.goto("/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "alice-portal-pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"**/mail/folders/{inbox.pk}/")  # her Inbox is where she lands
    assert page.is_visible("#message-list") and not page.is_visible("#reading-pane")
    page.click("#message-list >> text=Newsletter")
    page.frame_locator("iframe.message-body").locator("b").wait_for()
    assert page.is_visible("#reading-pane") and not page.is_visible("#message-list")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "mail-phone-message.png", full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "nothing wider than the phone"
    page.click("[data-back]")
    page.wait_for_selector("#message-list", state="visible")
    assert not page.is_visible("#reading-pane")
    context.close()


def test_remote_content_shows_this_time_or_always_for_the_sender(logged_in_page, inbox, alice):
    page = logged_in_page
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    newsletter = Message.objects.get(folder=inbox, subject="Newsletter")
    page.goto(f"/mail/messages/{newsletter.pk}/")
    assert page.is_visible("#remote-blocked")
    assert not [url for url in requests if "tracker.example" in url]
    page.click("#show-remote")
    page.wait_for_url("**?remote=1")
    frame = page.frame_locator("iframe.message-body")
    assert frame.locator("img[alt=tracker]").get_attribute("src").startswith("https://tracker")
    page.goto(f"/mail/messages/{newsletter.pk}/")
    page.click("#trust-sender")
    page.wait_for_selector("#remote-trusted")
    assert TrustedSender.objects.filter(user=alice, address="mallory@example.com").exists()


def test_a_link_in_a_message_opens_in_a_new_tab(
    logged_in_page,
    imap_account,  # noqa: F811
    other_client,  # noqa: F811
    live_server,
):
    """The frame runs no script, but the reader can still follow a link: in a new tab, with no
    way back to the webmail (no opener, no referrer)."""
    target = f"{live_server.url}/healthz"
    html = f'<p>See <a href="{target}" onclick="alert(1)">the report</a></p>'
    status, data = other_client.imap.append("INBOX", None, None, email("Report", html=html))
    assert status == "OK", data
    assert run_account(imap_account.pk)
    message = Message.objects.get(folder__account=imap_account, subject="Report")
    page = logged_in_page
    page.goto(f"/mail/messages/{message.pk}/")
    with page.context.expect_page() as opened:
        page.frame_locator("iframe.message-body").locator("text=the report").click()
    tab = opened.value
    tab.wait_for_load_state()
    assert tab.url == target
    assert tab.evaluate("window.opener") is None
    assert tab.evaluate("document.referrer") == ""


def test_details_of_a_message_gone_meanwhile_say_so_without_a_page_inside(logged_in_page, inbox):
    """The headers' 404 is the site's whole error page now: it must not land inside the
    message as if it were the header fields."""
    page = logged_in_page
    letter = inbox.messages.get(subject="Newsletter")
    page.goto(f"/mail/messages/{letter.pk}/")
    page.wait_for_selector("#message .message-subject")
    Message.objects.filter(pk=letter.pk).delete()  # expunged by another client, say
    page.click("#message-details summary")
    page.wait_for_selector(".toast >> text=404")
    assert page.locator("#message-details .topbar").count() == 0
    assert page.locator("#message-details .error-page").count() == 0
