"""Alice reads a conversation in a real browser: Bob's question, her reply from Sent and Bob's
answer are one row of her Inbox, and open in order, older messages folded; at 1440 px and on a
390 px phone. Acting on the row acts on the conversation's messages in the Inbox."""

from pathlib import Path

import pytest

from mailbox.models import Folder, Message
from mailbox.sync import run_account
from tests.mailbox.conftest import imap_account, mailbox_login, other_client  # noqa: F401
from tests.mailbox.test_conversations import append, raw

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
pytestmark = [pytest.mark.browser, pytest.mark.servers, pytest.mark.django_db(transaction=True)]
DAY = "Mon, 2 Nov 2026"


@pytest.fixture
def conversation(imap_account, other_client):  # noqa: F811
    """Three messages across Inbox and Sent, one older mail and one newer; the two oldest of
    the conversation read."""
    append(other_client, "INBOX", raw("q@bob", "Quick question about the migration",
           date=f"{DAY} 09:00:00 +0000"), "(\\Seen)")  # fmt: skip
    append(other_client, "Sent", raw("r@alice", "Re: Quick question about the migration",
           sender="Alice <alice@example.org>", to="bob@example.net", in_reply_to="q@bob",
           references="q@bob", date=f"{DAY} 10:00:00 +0000"), "(\\Seen)")  # fmt: skip
    append(other_client, "INBOX", raw("s@bob", "Re: Quick question about the migration",
           in_reply_to="r@alice", references="q@bob r@alice", date=f"{DAY} 11:00:00 +0000"))  # fmt: skip
    append(other_client, "INBOX", raw("lunch@carol", "Lunch on Friday?",
           sender="carol@example.net", date=f"{DAY} 08:00:00 +0000"))  # fmt: skip
    append(other_client, "INBOX", raw("news@dave", "Garden news",
           sender="dave@example.net", date=f"{DAY} 12:00:00 +0000"))  # fmt: skip
    assert run_account(imap_account.pk)
    found = Message.objects.filter(folder__account=imap_account)
    return [found.get(message_id=m) for m in ("q@bob", "r@alice", "s@bob")]


def log_in(browser, live_server, width, height):
    context = browser.new_context(base_url=live_server.url, viewport={"width": width,
                                                                      "height": height})  # fmt: skip
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "alice-portal-pw")
    page.click("button[type=submit]")
    page.wait_for_url("**/mail/folders/*/")
    return context, page


def sees_one_row_and_opens_it_in_order(page, conversation, name):
    question, reply, answer = conversation
    rows = page.locator("#message-list li.row")
    assert rows.count() == 3  # Dave's news, the conversation, and Carol's lunch
    row = page.locator(f"li.row[data-message-id='{answer.pk}']")
    assert set(row.get_attribute("data-ids").split(",")) == {str(question.pk), str(answer.pk)}
    assert row.locator(".thread-count").inner_text() == "3"
    assert "me" in row.locator(".sender").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"conversation-{name}-list.png")
    row.locator("a.open").click()
    page.wait_for_selector("#message.conversation")
    items = page.locator(".thread-item")
    ids = items.evaluate_all("items => items.map(i => Number(i.dataset.messageId))")
    assert ids == [question.pk, reply.pk, answer.pk]
    assert [("open" in (c or "")) for c in items.evaluate_all(
        "items => items.map(i => i.className)")] == [False, False, True]  # fmt: skip
    page.locator(".thread-item").first.locator(".thread-line").click()
    page.locator(".thread-item").first.locator(".message-body").wait_for()
    assert "Hello." in page.locator(".thread-item").first.locator(".message-body").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"conversation-{name}.png", full_page=True)


def test_a_conversation_across_inbox_and_sent_is_one_row_at_1440_px(
    browser, live_server, alice, conversation
):
    context, page = log_in(browser, live_server, 1440, 900)
    sees_one_row_and_opens_it_in_order(page, conversation, "1440")
    assert page.is_visible("#message-list"), "the list stays beside the conversation"
    page.click("#message [data-message-action=archive]")
    question, reply, answer = conversation
    page.wait_for_selector(f"li.row[data-message-id='{answer.pk}']", state="detached")
    # the next row below opens (Carol's lunch), not the list's first (Dave's news)
    page.wait_for_selector("#message .message-subject:has-text('Lunch on Friday?')")
    inbox = Folder.objects.get(account=question.folder.account, name="INBOX")
    assert set(inbox.messages.values_list("message_id", flat=True)) == {"lunch@carol", "news@dave"}
    assert Message.objects.filter(pk=reply.pk).exists(), "her reply stays in Sent"
    context.close()


def test_a_conversation_is_one_row_on_a_phone(browser, live_server, alice, conversation):
    context, page = log_in(browser, live_server, 390, 844)
    sees_one_row_and_opens_it_in_order(page, conversation, "390")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "nothing wider than the phone"
    context.close()
