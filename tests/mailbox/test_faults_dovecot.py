"""Faults on the IMAP side: Alice's first sync of a big Inbox loses its connection in the middle,
cut by a relay between us and Dovecot, or by a restart of a Dovecot of this test's own. The next
sync resumes from what was cached, and the cache ends level with the server: every message
there once, with its flags and its Message-ID, none lost, none twice."""

import email
import email.policy
import threading
import time

import pytest
from django.db import connection

from mailbox.models import Message
from mailbox.sync import messages as folder_sync
from mailbox.sync import run_account
from mailbox.testing.servers import Dovecot
from mailbox.testing.tcp_relay import TcpRelay

from .conftest import OtherClient, assert_cache_equals_server

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


@pytest.fixture
def own_dovecot():
    """A Dovecot of this test's own, with Alice's mailbox: it may be restarted."""
    dovecot = Dovecot().start()
    login = (dovecot.add_user("alice", "alice-mail-pw"), "alice-mail-pw")
    yield dovecot, login
    dovecot.stop()


@pytest.fixture
def account_on_own_dovecot(imap_account, own_dovecot):
    dovecot, (address, password) = own_dovecot
    imap_account.incoming_port = dovecot.ports["imap"]
    imap_account.incoming_username = address
    imap_account.incoming_password = password
    imap_account.save()
    return imap_account


class World:  # what OtherClient needs of a mail world: its Dovecot
    def __init__(self, dovecot):
        self.dovecot = dovecot


def cut_once_cached(fault, account, rows, timeout=60):
    """A thread that calls ``fault()`` as soon as ``rows`` messages of ``account`` are in the
    cache; its ``seen`` list gets the count it saw then."""
    seen = []

    def watch():
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if (count := cached(account)) >= rows:
                    seen.append(count)
                    fault()
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


def first_sync_interrupted(account, seeded_client, fault):
    """Seed COUNT messages, then sync with ``fault()`` in the middle; returns them."""
    seeded = seeded_client.seed(COUNT, seed=15, folders=["INBOX"])
    cutter = cut_once_cached(fault, account, rows=400)
    assert run_account(account.pk)  # the connection goes in the middle: the error is recorded
    cutter.join(30)  # a restart is over before the next sync
    assert cutter.seen, "the sync ended before the fault"
    interrupted = cached(account)
    assert cutter.seen[0] <= interrupted < COUNT, (cutter.seen, interrupted)
    account.refresh_from_db()
    assert account.last_error
    return seeded


def resumes_and_converges(account, client, seeded):
    assert run_account(account.pk)  # the next sync (the server is back): it resumes
    account.refresh_from_db()
    assert account.last_error == ""
    assert_cache_equals_server(account, client)
    found = Message.objects.filter(folder__account=account).values_list("message_id", flat=True)
    assert sorted(found) == message_ids(seeded)  # each message once, none lost


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(folder_sync, "BATCH", 300)  # several commits before the end


def test_a_first_sync_cut_in_the_middle_resumes_and_ends_level_with_the_server(
    small_batches, account_via_relay, relay, other_client
):
    seeded = first_sync_interrupted(account_via_relay, other_client, relay.cut)
    resumes_and_converges(account_via_relay, other_client, seeded)


def test_a_first_sync_through_a_dovecot_restart_resumes_and_ends_level_with_the_server(
    small_batches, account_on_own_dovecot, own_dovecot
):
    dovecot, login = own_dovecot
    seeder = OtherClient(World(dovecot), login)
    seeded = first_sync_interrupted(account_on_own_dovecot, seeder, dovecot.restart)
    seeder.close()  # its connection went with the restart
    phone = OtherClient(World(dovecot), login)
    try:
        resumes_and_converges(account_on_own_dovecot, phone, seeded)
    finally:
        phone.close()
