"""A change Alice makes in the web reaches her IMAP server through the real queue (Redis) and a
real Celery worker, as it does in production; a second IMAP client (her phone) sees it there.

Nothing here runs a task by hand: the change waits in the queue until a worker takes it.
"""

import pytest

from mailbox.models import Message, PendingChange
from mailbox.sync import run_account
from tests.running_app import wait_until

from .conftest import folder

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.servers]

URL = "/mail/messages/action/"


@pytest.fixture
def synced_account(imap_account, other_client):
    other_client.seed(6, seed=11, folders=["INBOX", "Receipts"])
    assert run_account(imap_account.pk)
    return imap_account


def newest(account, name="INBOX"):
    return folder(account, name).messages.order_by("-uid").first()


def act(client, action, message, **data):
    response = client.post(URL, {"action": action, "ids": [message.pk], **data})
    assert (response.status_code, response.json()["ok"]) == (200, True)


def worker_output(worker):
    if worker.poll() is None:
        return "the worker is running"
    return worker.stdout.read().decode(errors="replace")[-3000:]


def test_a_flag_set_in_the_web_waits_in_the_queue_until_a_worker_takes_it_to_the_server(
    request, as_alice, synced_account, other_client
):
    message = newest(synced_account)
    assert "\\Flagged" not in other_client.flags("INBOX")[message.uid]

    act(as_alice, "flag", message)
    assert Message.objects.get(pk=message.pk).flagged  # the page shows it at once
    # No worker yet: the change is still ours alone, queued.
    assert not wait_until(lambda: "\\Flagged" in other_client.flags("INBOX")[message.uid], 1.0)
    assert PendingChange.objects.filter(account=synced_account).exists()

    worker = request.getfixturevalue("celery_worker")  # a worker starts: it takes the queue
    reached = wait_until(lambda: "\\Flagged" in other_client.flags("INBOX")[message.uid], 60)
    assert reached, worker_output(worker)
    assert wait_until(lambda: not PendingChange.objects.filter(account=synced_account).exists())


def test_read_unread_and_a_move_reach_the_server_through_the_worker(
    as_alice, synced_account, other_client, celery_worker
):
    message = newest(synced_account)
    uid = message.uid
    receipts = folder(synced_account, "Receipts")
    in_receipts = len(other_client.flags("Receipts"))

    act(as_alice, "read", message)
    assert wait_until(lambda: "\\Seen" in other_client.flags("INBOX")[uid], 60), worker_output(
        celery_worker
    )
    act(as_alice, "unread", message)
    assert wait_until(lambda: "\\Seen" not in other_client.flags("INBOX")[uid], 60)

    act(as_alice, "move", message, folder=receipts.pk)
    assert wait_until(lambda: uid not in other_client.flags("INBOX"), 60)
    assert len(other_client.flags("Receipts")) == in_receipts + 1
