"""Redis stops and comes back under Alice's open Inbox (a private redis-server: the shared one is
never stopped). Her page's socket, which lived on Redis (its group is there), reconnects by
itself once Redis is back, and hears events again: a star set elsewhere shows in place."""

import pytest

from mailbox.models import Folder
from mailbox.sync import run_account
from mailbox.testing.redis_server import RedisServer
from tests.browser.conftest import close_quietly
from tests.mailbox.conftest import imap_account, mailbox_login, other_client  # noqa: F401
from tests.running_app import Client, Daphne

pytestmark = [
    pytest.mark.browser,
    pytest.mark.servers,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

LIVE = "() => document.body.dataset.live"


@pytest.fixture
def inbox(imap_account, other_client):  # noqa: F811
    other_client.seed(4, seed=41, folders=["INBOX"])
    assert run_account(imap_account.pk)
    return Folder.objects.get(account=imap_account, name="INBOX")


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def web(redis_server, inbox):
    server = Daphne(TEST_REDIS_URL=redis_server.url)
    yield server
    server.stop()


@pytest.fixture
def page(browser, web):
    context = browser.new_context(base_url=web.url)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto("/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "alice-portal-pw")
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)
    yield page
    close_quietly(context)


def test_a_page_reconnects_after_redis_comes_back_and_hears_events_again(
    page, web, redis_server, inbox
):
    message = inbox.messages.filter(flagged=False).order_by("-date", "-id").first()
    page.goto(f"/mail/folders/{inbox.pk}/")
    page.wait_for_function(f"{LIVE} === 'connected'")

    redis_server.stop()
    page.wait_for_timeout(3000)  # down a while: the socket's tries fail
    redis_server.start()  # back, empty: the groups of before are gone with it
    page.wait_for_function(f"{LIVE} === 'reconnected'", timeout=45_000)

    elsewhere = Client(web.url)  # Alice on her phone's browser
    assert elsewhere.login("alice", "alice-portal-pw")[0] == 302
    status, _headers, body = elsewhere.post(
        "/mail/messages/action/", {"action": "flag", "ids": [message.pk]}
    )
    assert status == 200, body[-1000:]
    page.wait_for_selector(f"li.row.flagged[data-message-id='{message.pk}']", timeout=10_000)
