"""A worker is killed (SIGKILL) with Alice's move in flight: another worker does the work, once.

A relay between the workers and Dovecot lets the first worker's MOVE command go silent: either
the server never got it, or it did the move and its answer never came back. The first worker
dies there. The second one (with beat's resync, the queue's safety net) finds the change still
waiting in the database and pushes it: in the end the message is in the target folder once, not
in the source, and the cache, after the next sync, equals the server.
"""

import email
import email.policy

import pytest

from accounts.models import MailAccount
from mailbox.models import PendingChange
from mailbox.sync import run_account
from mailbox.testing.tcp_relay import TcpRelay
from tests.running_app import Worker, wait_until

from .conftest import assert_cache_equals_server, folder

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.servers]


@pytest.fixture
def relay(mail_world):
    relay = TcpRelay(mail_world.dovecot.ports["imap"])
    yield relay
    relay.close()


@pytest.fixture
def synced_account(imap_account, relay, other_client):
    imap_account.incoming_port = relay.port
    imap_account.incoming_password = imap_account.incoming_password  # as typed for that port
    imap_account.save()
    other_client.seed(6, seed=31, folders=["INBOX", "Receipts"])
    assert run_account(imap_account.pk)
    return imap_account


@pytest.fixture
def workers():
    started = []

    def start(name, **options):
        started.append(Worker(name, **options))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()


def message_ids_on_server(client, name):
    """The Message-ID of each message in folder ``name`` on the server, in UID order."""
    if not client.select(name):
        return []
    status, data = client.imap.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    assert status == "OK", data
    headers = [item[1] for item in data if isinstance(item, tuple)]
    return [
        email.message_from_bytes(header, policy=email.policy.compat32)["Message-ID"].strip("<> ")
        for header in headers
    ]


@pytest.mark.parametrize("server_got_it", [True, False], ids=["after-the-move", "before-it"])
def test_a_move_whose_worker_is_killed_is_done_once_by_another_worker(
    server_got_it, as_alice, synced_account, relay, other_client, workers
):
    message = folder(synced_account, "INBOX").messages.order_by("-uid").first()
    receipts = folder(synced_account, "Receipts")
    before = message_ids_on_server(other_client, "Receipts")
    assert message.message_id not in before
    held = relay.hold_at(b" MOVE ", forward=server_got_it)
    doomed = workers("doomed")

    response = as_alice.post(
        "/mail/messages/action/", {"action": "move", "ids": [message.pk], "folder": receipts.pk}
    )
    assert response.json()["ok"]
    assert held.wait(30), doomed.output()
    doomed.kill()  # in the middle of the push: its task never finishes, never acknowledged
    relay.cut()  # its hung connection goes with it
    in_receipts = message_ids_on_server(other_client, "Receipts")
    assert in_receipts.count(message.message_id) == (1 if server_got_it else 0)
    assert PendingChange.objects.filter(account=synced_account).exists()

    # The dead worker's lease on the account runs out after LEASE_SECONDS (two minutes): here
    # it is let run out at once rather than waited for.
    dead = MailAccount.objects.filter(pk=synced_account.pk).exclude(sync_lease_token="")
    assert dead.update(sync_lease_until="2000-01-01T00:00:00Z") == 1
    heir = workers("heir", beat=True, WEBMAIL_RESYNC_SECONDS="2")
    done = wait_until(lambda: not PendingChange.objects.filter(account=synced_account).exists(), 45)
    assert done, heir.output()
    assert wait_until(
        lambda: MailAccount.objects.filter(pk=synced_account.pk, sync_lease_token="").exists()
    )
    heir.stop()

    assert message_ids_on_server(other_client, "Receipts") == [*before, message.message_id]
    assert message.message_id not in message_ids_on_server(other_client, "INBOX")
    assert run_account(synced_account.pk)
    assert_cache_equals_server(synced_account, other_client)
    cached = receipts.messages.values_list("message_id", flat=True)
    assert sorted(cached) == sorted([*before, message.message_id])
