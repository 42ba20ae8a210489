"""Compose stays in reach on a phone (390 x 844) and on a tablet, and never hides for good what
it floats over: the last row of the list, the end of a newsletter's frame."""

import pytest

from tests.browser.test_mail_screen import ARTIFACTS, inbox  # noqa: F401
from tests.mailbox.conftest import imap_account, mailbox_login, other_client  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.servers, pytest.mark.django_db(transaction=True)]


def box(page, selector):
    found = page.locator(selector).bounding_box()
    assert found, f"{selector} is shown"
    return found


def overlaps(a, b):
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])  # fmt: skip


def scrolled_to_the_end(page):
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    page.wait_for_function(
        "Math.ceil(window.scrollY + innerHeight) >= document.documentElement.scrollHeight - 1"
    )


def in_viewport(page, found):
    size = page.viewport_size
    return (
        found["y"] >= 0
        and found["y"] + found["height"] <= size["height"]
        and (found["x"] >= 0 and found["x"] + found["width"] <= size["width"])
    )


def test_on_a_phone_compose_floats_over_the_list_and_the_last_row_stays_reachable(
    logged_in_page,
    inbox,  # noqa: F811
):
    page = logged_in_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/mail/folders/{inbox.pk}/")
    assert page.is_visible("#compose-fab")
    scrolled_to_the_end(page)
    assert page.evaluate("window.scrollY") > 0, "the list is longer than the phone"
    assert page.is_hidden("#compose-button") or not in_viewport(page, box(page, "#compose-button"))
    fab = box(page, "#compose-fab")
    assert in_viewport(page, fab), "Compose is still in reach, the one at the top scrolled away"
    last = box(page, "#message-list li.row:last-child")
    assert not overlaps(fab, last), "the last row can be scrolled from under Compose"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "phone-list-compose.png")
    page.click("#compose-fab")
    page.wait_for_url("**/mail/compose/?account=*")


def test_on_a_phone_compose_leaves_the_end_of_a_newsletter_uncovered(
    logged_in_page,
    inbox,  # noqa: F811
):
    page = logged_in_page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/mail/folders/{inbox.pk}/")
    page.click("#message-list >> text=Newsletter")
    page.frame_locator("iframe.message-body").locator("b").wait_for()
    assert page.is_visible("#compose-fab")
    scrolled_to_the_end(page)
    fab, frame = box(page, "#compose-fab"), box(page, "iframe.message-body")
    assert in_viewport(page, fab)
    assert not overlaps(fab, frame), "the frame's end can be scrolled from under Compose"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "phone-message-compose.png")


def test_on_a_tablet_compose_floats_over_the_list_not_the_message(
    logged_in_page,
    inbox,  # noqa: F811
):
    page = logged_in_page
    page.set_viewport_size({"width": 900, "height": 700})
    page.goto(f"/mail/folders/{inbox.pk}/")
    assert page.is_hidden("#compose-fab"), "the folders' own Compose is in view"
    page.click("#message-list >> text=Newsletter")
    page.frame_locator("iframe.message-body").locator("b").wait_for()
    assert page.is_hidden("#compose-button")
    fab = box(page, "#compose-fab")
    assert in_viewport(page, fab)
    assert not overlaps(fab, box(page, "#reading-pane")), "the message is never covered"
    page.locator("#message-list").evaluate("list => list.scrollTo(0, list.scrollHeight)")
    last = box(page, "#message-list li.row:last-child")
    assert not overlaps(fab, last), "the last row can be scrolled from under Compose"
