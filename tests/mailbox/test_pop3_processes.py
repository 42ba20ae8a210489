"""POP3 fetches in real processes: a Celery worker started here takes "Check now" from the queue
(Redis) and fetches; a worker process killed outright (SIGKILL) in the middle of a fetch loses
nothing, and the next fetch finishes its work without storing anything twice."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from accounts.models import MailAccount
from mailbox.models import Message
from tests.mailbox.pop3_world import OtherClient, deliver, new_mailbox, pop3_account, stored_ids
from tests.running_app import process_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.servers, pytest.mark.slow]

KILLER = """
import os, signal, sys
import django
django.setup()
from mailbox.sync import fetch
point = sys.argv[2]
def checkpoint(name, **details):
    if name == point:
        os.kill(os.getpid(), signal.SIGKILL)
fetch.checkpoint = checkpoint
fetch.fetch_account(int(sys.argv[1]))
print("the fetch ended without reaching", point)
"""


@pytest.fixture
def login(mail_world):
    return new_mailbox(mail_world)


@pytest.mark.parametrize("retention", ["delete", "days", "keep"])
@pytest.mark.parametrize("point", ["file_kept", "committed", "before_quit"])
def test_a_worker_killed_mid_fetch_loses_nothing(alice, mail_world, login, point, retention):
    from mailbox.sync.fetch import fetch_account

    ids = deliver(mail_world, login, "One", "Two", "Three")
    account = pop3_account(alice, mail_world, login, retention=retention)
    killed = subprocess.run([sys.executable, "-c", KILLER, str(account.pk), point], cwd=ROOT,
                            env=process_env(), capture_output=True, timeout=60)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    server = OtherClient(mail_world, login)
    lost = set(ids) - set(server.message_ids()) - set(stored_ids(account))
    assert not lost
    # the killed worker's lease runs out by time; here, at once
    MailAccount.objects.filter(pk=account.pk).update(sync_lease_until=None, sync_lease_token="")
    fetch_account(account.pk)
    assert stored_ids(account) == sorted(ids)
    assert server.message_ids() == ([] if retention == "delete" else ids)


def test_check_now_goes_through_the_queue_to_a_worker(
    alice, alice_client, mail_world, login, celery_worker
):
    account = pop3_account(alice, mail_world, login)  # its first fetch is queued: nothing yet
    ids = deliver(mail_world, login, "Fresh")
    response = alice_client.post(f"/mail/accounts/{account.pk}/sync/", {"next": "accounts"})
    assert response.status_code == 302
    deadline = time.monotonic() + 30
    while not Message.objects.filter(folder__account=account, message_id=ids[0]).exists():
        if time.monotonic() > deadline or celery_worker.poll() is not None:
            celery_worker.terminate()
            pytest.fail(f"no worker fetched: {celery_worker.communicate(timeout=10)[0][-3000:]}")
        time.sleep(0.2)
    assert stored_ids(account) == ids  # once, although two fetches were queued
