"""Sending in real processes: a Celery worker started here sends a message queued with its undo
delay (the ETA path), and a worker killed outright (SIGKILL) between the server's acceptance and
the state update never makes a second delivery: the recovery marks it "may have been sent"."""

import datetime
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.utils import timezone

from mailbox.models import OutboxMessage, OutboxState
from mailbox.sync import outbox as sending
from mailbox.testing.smtp_faults import FaultySmtp
from tests.mailbox.outbox_world import Reader, new_login, queue, sending_account
from tests.running_app import process_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.servers, pytest.mark.slow]

KILLER = """
import os, signal, sys
import django
django.setup()
from mailbox.sync import outbox
point = sys.argv[2]
def checkpoint(name, **details):
    if name == point:
        os.kill(os.getpid(), signal.SIGKILL)
outbox.checkpoint = checkpoint
outbox.send_message(int(sys.argv[1]))
print("the sending ended without reaching", point)
"""


@pytest.fixture
def smtp():
    with FaultySmtp() as server:
        yield server


@pytest.fixture
def login(mail_world):
    return new_login(mail_world)


def killed_at(outbox, point):
    killed = subprocess.run([sys.executable, "-c", KILLER, str(outbox.pk), point], cwd=ROOT,
                            env=process_env(), capture_output=True, timeout=60)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    return OutboxMessage.objects.get(pk=outbox.pk)


def test_a_worker_killed_after_the_servers_acceptance_never_sends_twice(
    alice, mail_world, login, smtp
):
    account = sending_account(alice, mail_world, login, smtp_port=smtp.port, security="none")
    outbox = queue(account, ["bob@example.org"])
    left = killed_at(outbox, "accepted")
    assert (left.state, left.stage) == (OutboxState.SENDING, "data")
    assert len(smtp.deliveries) == 1
    later = timezone.now() + datetime.timedelta(hours=1)  # the claim is stale by then
    assert sending.due_outbox_ids(now=later) == []
    assert sending.recover_stale(now=later) == []
    failed = OutboxMessage.objects.get(pk=outbox.pk)
    assert failed.state == OutboxState.FAILED and "it may have been sent" in failed.error
    assert sending.send_message(outbox.pk, now=later) is None
    assert len(smtp.deliveries) == 1


def test_a_worker_killed_before_filing_the_copy_leaves_it_for_the_next_round(
    alice, mail_world, login, smtp
):
    account = sending_account(alice, mail_world, login, smtp_port=smtp.port, security="none")
    outbox = queue(account, ["bob@example.org"])
    left = killed_at(outbox, "sent")
    assert (left.state, left.copy_state) == (OutboxState.SENT, "")
    assert Reader(mail_world, login).messages("Sent") == []
    later = timezone.now() + datetime.timedelta(minutes=1)
    assert sending.due_outbox_ids(now=later) == [outbox.pk]
    sending.send_message(outbox.pk, now=later)
    sending.send_message(outbox.pk, now=later)
    assert len(Reader(mail_world, login).messages("Sent")) == 1
    assert len(smtp.deliveries) == 1


def test_a_queued_message_goes_through_a_worker_after_its_undo_delay(
    alice, mail_world, login, celery_worker
):
    account = sending_account(alice, mail_world, login)  # submission, STARTTLS, AUTH
    bob = new_login(mail_world, "b")
    outbox = queue(account, [bob[0]], when=timezone.now() + datetime.timedelta(seconds=2))
    deadline = time.monotonic() + 60
    while OutboxMessage.objects.get(pk=outbox.pk).copy_state != "done":
        if time.monotonic() > deadline or celery_worker.poll() is not None:
            celery_worker.terminate()
            pytest.fail(f"no worker sent it: {celery_worker.communicate(timeout=10)[0][-3000:]}")
        time.sleep(0.2)
    sent = OutboxMessage.objects.get(pk=outbox.pk)
    assert sent.state == OutboxState.SENT and sent.sent_at >= sent.send_at
    (received,) = Reader(mail_world, bob).messages()
    assert received["Message-ID"].strip("<>") == outbox.message_id
    assert len(Reader(mail_world, login).messages("Sent")) == 1


def test_the_beat_sends_a_message_whose_task_was_lost(alice, mail_world, login, celery_worker):
    from mailbox.tasks import send_due_outbox

    account = sending_account(alice, mail_world, login)
    bob = new_login(mail_world, "b")
    lost = queue(account, [bob[0]], when=timezone.now() + datetime.timedelta(days=1))  # no task
    OutboxMessage.objects.filter(pk=lost.pk).update(
        send_at=timezone.now() - datetime.timedelta(minutes=1)  # due since, as after a restart
    )
    send_due_outbox.delay()  # what beat does every WEBMAIL_OUTBOX_TICK_SECONDS
    deadline = time.monotonic() + 60
    while OutboxMessage.objects.get(pk=lost.pk).state != OutboxState.SENT:
        if time.monotonic() > deadline or celery_worker.poll() is not None:
            celery_worker.terminate()
            pytest.fail(f"no worker sent it: {celery_worker.communicate(timeout=10)[0][-3000:]}")
        time.sleep(0.2)
    assert len(Reader(mail_world, bob).messages()) == 1
