"""Redis stops and comes back (a private redis-server: the shared one is never stopped).

While it is down Alice still reads her cached mail: the folder's list and a message answer 200,
never a 500. A flag she sets meanwhile is kept (the page shows it, the change waits in the
database); once Redis is back, the queue's safety net (beat's resync) takes it to her IMAP
server, with no one restarting anything.
"""

import time
from html import escape

import pytest

from mailbox.models import Message, PendingChange
from mailbox.sync import run_account
from mailbox.testing.redis_server import RedisServer
from tests.running_app import Client, Daphne, Worker, wait_until

from .conftest import folder

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.servers]

RESYNC_SECONDS = 3  # beat's safety net, every few seconds here (production: 300)


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def synced_account(imap_account, other_client):
    other_client.seed(8, seed=21, folders=["INBOX"])
    assert run_account(imap_account.pk)
    return imap_account


@pytest.fixture
def site(redis_server, synced_account):
    web = Daphne(TEST_REDIS_URL=redis_server.url)
    worker = Worker("faults-redis", beat=True, TEST_REDIS_URL=redis_server.url,
                    WEBMAIL_RESYNC_SECONDS=str(RESYNC_SECONDS))  # fmt: skip
    yield web, worker
    worker.stop()
    web.stop()


def timed_get(client, path):
    started = time.monotonic()
    status, _headers, body = client.get(path)
    return status, body, time.monotonic() - started


def test_with_redis_down_alice_reads_cached_mail_and_her_flag_reaches_the_server_when_it_is_back(
    site, redis_server, synced_account, other_client
):
    web, worker = site
    inbox = folder(synced_account, "INBOX")
    unread = inbox.messages.filter(seen=False, flagged=False).order_by("-uid")
    opened, flagged = unread[0], unread[1]
    alice = Client(web.url)
    status, _headers, _body = alice.login("alice", "alice-portal-pw")
    assert status == 302

    redis_server.stop()
    status, body, took = timed_get(alice, f"/mail/folders/{inbox.pk}/")
    assert (status, took < 5) == (200, True), body[-2000:]
    assert escape(flagged.subject) in body
    status, body, took = timed_get(alice, f"/mail/messages/{opened.pk}/")
    assert (status, took < 5) == (200, True), body[-2000:]
    assert escape(opened.subject) in body

    started = time.monotonic()
    status, _headers, body = alice.post(
        "/mail/messages/action/", {"action": "flag", "ids": [flagged.pk]}
    )
    assert (status, time.monotonic() - started < 5) == (200, True), body[-2000:]
    assert Message.objects.get(pk=flagged.pk).flagged  # kept, shown at once
    assert PendingChange.objects.filter(account=synced_account).exists()
    time.sleep(RESYNC_SECONDS + 1)  # no queue: nothing can reach the server yet
    assert "\\Flagged" not in other_client.flags("INBOX")[flagged.uid]

    redis_server.start()  # back, empty: the queue's tasks of before are gone with it
    reached = wait_until(lambda: "\\Flagged" in other_client.flags("INBOX")[flagged.uid], 40)
    assert reached, worker.output()
    assert wait_until(lambda: not PendingChange.objects.filter(account=synced_account).exists())
