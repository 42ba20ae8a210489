"""Faults on the IMAP side: Alice's first sync of a big Inbox loses its connection in the middle
(a relay between us and Dovecot cuts it, as a server restart would). The next sync resumes
from what was cached, and the cache ends level with the server: every message there once, with
its flags and its Message-ID, none lost, none twice."""

import email
import email.policy
import threading
import time

import pytest
from django.db import connection

from mailbox.models import Message
from mailbox.sync import messages as folder_sync
from mailbox.sync import run_account
from mailbox.testing.tcp_relay import TcpRelay

from .conftest import assert_cache_equals_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.servers]

COUNT = 2000


@pytest.fixture
def relay(mail_world):
    relay = TcpRelay(mail_world.dovecot.ports["imap"])
    yield relay
    relay.close()


@pytest.fixture
def account_via_relay(imap_account, relay):
    imap_account.incoming_port = relay.port
    imap_account.incoming_password = imap_account.incoming_password  # as typed for that port
    imap_account.save()
    return imap_account


def cached(account):
    return Message.objects.filter(folder__account=account).count()


def cut_once_cached(relay, account, rows, timeout=60):
    """A thread that cuts every connection of ``relay`` as soon as ``rows`` messages of
    ``account`` are in the cache; its ``seen`` list gets the count it saw then."""
    seen = []

    def watch():
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if (count := cached(account)) >= rows:
                    relay.cut()
                    seen.append(count)
                    return
                time.sleep(0.02)
        finally:
            connection.close()  # this thread's own database connection

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    thread.seen = seen
    return thread


def message_ids(raw_messages):
    ids = []
    for _folder, _flags, _date, data in raw_messages:
        parsed = email.message_from_bytes(data, policy=email.policy.compat32)
        ids.append(parsed["Message-ID"].strip().strip("<>"))
    return sorted(ids)


def test_a_first_sync_cut_in_the_middle_resumes_and_ends_level_with_the_server(
    monkeypatch, account_via_relay, relay, other_client
):
    account = account_via_relay
    seeded = other_client.seed(COUNT, seed=15, folders=["INBOX"])
    monkeypatch.setattr(folder_sync, "BATCH", 300)  # several commits before the end
    cutter = cut_once_cached(relay, account, rows=400)

    assert run_account(account.pk)  # the connection goes in the middle: the error is recorded
    cutter.join(5)
    assert cutter.seen, "the sync ended before the cut"
    interrupted = cached(account)
    assert cutter.seen[0] <= interrupted < COUNT, (cutter.seen, interrupted)
    account.refresh_from_db()
    assert account.last_error

    assert run_account(account.pk)  # the next sync (the server is back): it resumes
    account.refresh_from_db()
    assert account.last_error == ""
    assert_cache_equals_server(account, other_client)
    found = Message.objects.filter(folder__account=account).values_list("message_id", flat=True)
    assert sorted(found) == message_ids(seeded)  # each message once, none lost
