"""Alice archives two messages and presses Undo at once: through the real queue (Redis) and a real
Celery worker, her server ends as it was, the same messages (by Message-ID) in the Inbox and none
left in the Archive, whether the worker had pushed the archive already or not.
"""

import json

import pytest

from mailbox.models import Message, PendingChange
from mailbox.sync import run_account
from tests.running_app import wait_until

from .conftest import assert_cache_equals_server, folder
from .test_push_worker import worker_output
from .test_undo import ACTION, UNDO, server_folders

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.servers]


@pytest.fixture
def synced_account(imap_account, other_client):
    other_client.seed(6, seed=11)
    assert run_account(imap_account.pk)
    return imap_account


def archive_then_undo(client, account):
    messages = list(folder(account, "INBOX").messages.order_by("uid")[:2])
    answer = client.post(ACTION, {"action": "archive", "ids": [m.pk for m in messages]}).json()
    body = client.post(UNDO, {"moves": json.dumps(answer["undo"])}).json()
    assert (body["count"], body["skipped"]) == (2, 0)
    return {m.message_id for m in messages}


def settled(account):
    return not PendingChange.objects.filter(account=account).exists()


def test_an_undo_queued_before_the_worker_starts_puts_the_server_back(
    request, as_alice, synced_account, other_client
):
    before = server_folders(other_client)
    moved = archive_then_undo(as_alice, synced_account)
    # both changes wait, in order: the archive (placeholders without UIDs), then its undo
    assert PendingChange.objects.filter(account=synced_account).count() == 2
    assert Message.objects.filter(folder__account=synced_account, uid=None).count() == 2

    worker = request.getfixturevalue("celery_worker")
    assert wait_until(lambda: settled(synced_account), 60), worker_output(worker)
    after = server_folders(other_client)
    assert after == before
    assert moved <= after["INBOX"] and not after["Archive"]
    assert wait_until(lambda: run_account(synced_account.pk), 30)  # once the worker lets go
    assert_cache_equals_server(synced_account, other_client)


def test_an_undo_while_the_worker_pushes_the_archive_puts_the_server_back(
    as_alice, synced_account, other_client, celery_worker
):
    before = server_folders(other_client)
    archive_then_undo(as_alice, synced_account)  # the worker may be pushing the archive now

    assert wait_until(lambda: settled(synced_account), 60), worker_output(celery_worker)
    assert wait_until(lambda: server_folders(other_client) == before, 10)
    assert wait_until(lambda: run_account(synced_account.pk), 30)  # once the worker lets go
    assert_cache_equals_server(synced_account, other_client)
