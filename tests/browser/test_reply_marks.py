"""Alice has a message open when her reply goes out (or another client of hers marks it): the
list's row and the open message say "Replied" / "Forwarded" without a reload, and stop saying it
when the flag goes (the running app, daphne, and its live socket)."""

import pytest

from mailbox.actions import do_set_flags
from tests.browser.test_content_security_policy import watched_page  # noqa: F401
from tests.browser.test_mail_screen import inbox  # noqa: F401
from tests.mailbox.conftest import imap_account, mailbox_login, other_client  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.servers, pytest.mark.django_db(transaction=True)]


def test_the_marks_follow_the_flags_live(watched_page, alice, inbox):  # noqa: F811
    page, seen = watched_page
    letter = inbox.messages.get(subject="Newsletter")
    page.goto(f"/mail/messages/{letter.pk}/")
    row = f"#message-list li.row[data-message-id='{letter.pk}']"
    page.wait_for_selector("#message .message-subject")
    assert page.is_hidden("#message-marks .answered") and page.is_hidden("#message-marks")
    page.wait_for_timeout(500)  # the socket is open and subscribed

    do_set_flags(alice, [letter.pk], add=["\\Answered"])
    page.wait_for_selector(f"{row}.answered .reply-mark.answered")
    page.wait_for_selector("#message-marks .answered", state="visible")
    assert page.locator(f"{row} .reply-mark.answered").get_attribute("title") == "Replied"
    assert page.is_hidden("#message-marks .forwarded")

    do_set_flags(alice, [letter.pk], add=["$Forwarded"], remove=["\\Answered"])
    page.wait_for_selector(f"{row}.forwarded .reply-mark.forwarded")
    page.wait_for_selector("#message-marks .forwarded", state="visible")
    page.wait_for_selector("#message-marks .answered", state="hidden")
    assert page.locator(f"{row} .reply-mark.answered").count() == 0
    assert seen.violations == [] and seen.errors == []
