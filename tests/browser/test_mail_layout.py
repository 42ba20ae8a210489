"""The mail screen's layout as Alice sees it at 1440 x 900 and on a phone (390 x 844): a list wide
enough for a subject, a split she drags (or moves with the keyboard) and finds again after a
reload, a toolbar that keeps its height when she selects a row, rows of one height, and on the
phone a header of one line with the list first and the folders behind a button (issue 14)."""

import pytest

from accounts.models import get_preferences
from mailbox.models import Folder
from tests.browser.test_mail_screen import ARTIFACTS, inbox  # noqa: F401
from tests.mailbox.conftest import imap_account, mailbox_login, other_client  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.servers, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def box(page, selector):
    found = page.locator(selector).first.bounding_box()
    assert found, f"{selector} is shown"
    return found


def screenshot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / name)


def row_heights(page):
    return page.locator("#message-list li.row").evaluate_all(
        "rows => rows.map(r => r.getBoundingClientRect().height)"
    )


def eventually(check, page, timeout=5.0):
    """check()'s answer once it is true (the page's requests take their time), else the last."""
    for _ in range(int(timeout * 10)):
        answer = check()
        if answer:
            return answer
        page.wait_for_timeout(100)
    return check()


def saved_width(page, user, differs_from=None):
    """The list width saved in the user's preferences, once the page's save has come in."""

    def width():
        user.refresh_from_db()
        saved = get_preferences(user).list_width
        return saved if saved != differs_from else None

    return eventually(width, page)


def open_inbox(page, folder, size):
    page.set_viewport_size(size)
    page.goto(f"/mail/folders/{folder.pk}/")
    page.wait_for_selector("#message-list li.row")


def test_at_1440_the_list_is_wide_enough_for_a_subject(logged_in_page, inbox):  # noqa: F811
    page = logged_in_page
    open_inbox(page, inbox, DESKTOP)
    assert box(page, "#list-pane")["width"] >= 520, "about 70 characters of subject"
    assert box(page, "#reading-pane")["width"] >= 352
    screenshot(page, "layout-1440.png")


def test_selecting_a_row_leaves_the_toolbar_and_the_list_where_they_were(logged_in_page, inbox):  # noqa: F811
    page = logged_in_page
    for size in (DESKTOP, PHONE):
        open_inbox(page, inbox, size)
        toolbar, first_row = box(page, "#toolbar"), box(page, "#message-list li.row")
        page.locator("#message-list li.row .pick").first.check()
        page.wait_for_selector("#mail.has-selection")
        assert page.is_visible("[data-action=archive]") and page.is_visible("#more-toggle")
        assert box(page, "#toolbar") == toolbar, f"the toolbar keeps its place and height at {size}"
        assert box(page, "#message-list li.row") == first_row, "the list does not jump"
        screenshot(page, f"layout-selection-{size['width']}.png")


def test_the_more_menu_opens_and_acts_by_keyboard(logged_in_page, inbox):  # noqa: F811
    page = logged_in_page
    open_inbox(page, inbox, DESKTOP)
    first = page.locator("#message-list li.row").first
    first.locator(".pick").check()
    assert page.is_hidden("#more-menu") and page.is_hidden("[data-action=flag]")
    page.focus("#more-toggle")
    page.keyboard.press("Enter")
    assert page.get_attribute("#more-toggle", "aria-expanded") == "true"
    assert page.evaluate("document.activeElement.dataset.action") == "junk", "focus in the menu"
    page.keyboard.press("Escape")
    assert page.is_hidden("#more-menu")
    assert page.evaluate("document.activeElement.id") == "more-toggle"
    page.keyboard.press("Enter")
    for _ in range(3):  # junk, read, unread, star
        page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.dataset.action") == "flag"
    page.keyboard.press("Enter")
    page.wait_for_selector("#message-list li.row.flagged")
    assert page.is_hidden("#more-menu"), "a choice closes the menu"
    message_id = int(first.get_attribute("data-message-id"))
    assert eventually(lambda: inbox.messages.get(pk=message_id).flagged, page)


def test_rows_are_of_one_height_with_or_without_a_preview(logged_in_page, inbox):  # noqa: F811
    page = logged_in_page
    first = inbox.messages.order_by("-date", "-id").first()
    inbox.messages.filter(pk=first.pk).update(preview="")
    inbox.messages.exclude(pk=first.pk).update(preview="A line of the text " * 10)
    for size in (DESKTOP, PHONE):
        open_inbox(page, inbox, size)
        heights = row_heights(page)
        assert len(heights) == inbox.messages.count()
        assert max(heights) - min(heights) < 0.5, heights
        assert page.locator(f"li.row[data-message-id='{first.pk}'] .preview").count() == 1


def test_alice_drags_the_split_and_finds_it_again_after_a_reload(logged_in_page, inbox, alice):  # noqa: F811
    page = logged_in_page
    open_inbox(page, inbox, DESKTOP)
    before = box(page, "#list-pane")["width"]
    handle = box(page, "#pane-resizer")
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + 200
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 60, y, steps=5)
    page.mouse.move(x - 150, y, steps=5)
    page.mouse.up()
    after = box(page, "#list-pane")["width"]
    assert after == pytest.approx(before - 150, abs=3)
    assert saved_width(page, alice) == pytest.approx(after, abs=3)
    page.reload()
    assert box(page, "#list-pane")["width"] == pytest.approx(after, abs=1), "no jump on reload"
    assert int(page.get_attribute("#pane-resizer", "aria-valuenow")) == pytest.approx(after, abs=1)


def test_the_split_moves_with_the_arrow_keys(logged_in_page, inbox, alice):  # noqa: F811
    page = logged_in_page
    open_inbox(page, inbox, DESKTOP)
    before = box(page, "#list-pane")["width"]
    page.focus("#pane-resizer")
    assert page.get_attribute("#pane-resizer", "role") == "separator"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert box(page, "#list-pane")["width"] == pytest.approx(before + 32, abs=1)
    assert int(page.get_attribute("#pane-resizer", "aria-valuenow")) == pytest.approx(
        before + 32, abs=1
    )
    assert saved_width(page, alice) == pytest.approx(before + 32, abs=1)
    page.reload()
    assert box(page, "#list-pane")["width"] == pytest.approx(before + 32, abs=1)


def test_on_a_phone_the_header_is_one_line_and_the_list_comes_first(logged_in_page, inbox):  # noqa: F811
    page = logged_in_page
    open_inbox(page, inbox, PHONE)
    header = box(page, "header.topbar")
    assert header["height"] < 56, "one line"
    assert page.is_hidden("#folder-pane") and page.is_hidden("#topbar-nav")
    bar = box(page, "#list-pane")
    assert bar["y"] == pytest.approx(header["y"] + header["height"], abs=1), "the list first"
    assert box(page, "#message-list li.row")["y"] < 844 * 0.35, "mail on the first screen"
    screenshot(page, "layout-390.png")

    page.click("#folders-toggle")
    assert page.is_visible("#folder-pane")
    assert page.get_attribute("#folders-toggle", "aria-expanded") == "true"
    screenshot(page, "layout-390-folders.png")
    page.keyboard.press("Escape")
    assert page.is_hidden("#folder-pane")

    page.click("#nav-toggle")
    assert page.is_visible("#topbar-nav a[href='/accounts/preferences/']")
    screenshot(page, "layout-390-menu.png")
    page.keyboard.press("Escape")
    assert page.is_hidden("#topbar-nav")
    page.click("#message-list li.row .subject >> nth=0")
    page.wait_for_url("**/mail/messages/*/")


def test_a_folder_opened_from_the_phone_menu_shows_its_list(logged_in_page, inbox):  # noqa: F811
    page = logged_in_page
    open_inbox(page, inbox, PHONE)
    sent = (
        Folder.objects.filter(account=inbox.account, selectable=True).exclude(pk=inbox.pk).first()
    )
    assert sent is not None
    page.click("#folders-toggle")
    page.click(f"#folder-pane li.mail-folder[data-folder-id='{sent.pk}'] > a")
    page.wait_for_url(f"**/mail/folders/{sent.pk}/")
    assert page.is_hidden("#folder-pane")


def test_without_scripts_a_phone_still_shows_the_links_and_the_folders(
    browser,
    live_server,
    alice,
    inbox,  # noqa: F811
):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        page.set_viewport_size(PHONE)
        page.goto("/login/")
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", "alice-portal-pw")
        page.click("button[type=submit]")
        page.goto(f"/mail/folders/{inbox.pk}/")
        assert page.is_visible("#topbar-nav a[href='/accounts/preferences/']")
        assert page.is_visible("#folder-pane") and page.is_hidden("#folders-toggle")
        assert page.is_hidden("#nav-toggle")
    finally:
        context.close()
