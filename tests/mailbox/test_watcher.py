"""New mail reaches the cache at once: the watcher's IDLE notices trigger a sync."""

import threading
import time

import pytest

from mailbox.models import Message
from mailbox.sync import run_account
from mailbox.watcher import AccountWatcher, Watchers, shard_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.servers]


def test_new_mail_is_noticed_and_synced(imap_account, other_client):
    other_client.seed(3, seed=1, folders=["INBOX"])
    news = threading.Event()
    calls = []

    def on_news(account_id):
        calls.append(account_id)
        run_account(account_id, folder_names=["INBOX"])
        news.set()

    # IDLE is renewed every 60 s: news within 15 s came from the IDLE notice, not a renewal
    watcher = AccountWatcher(imap_account.pk, on_news, idle_seconds=60)
    watcher.start()
    try:
        assert news.wait(10), "the watcher did not catch up after connecting"
        assert Message.objects.filter(folder__account=imap_account).count() == 3
        news.clear()
        started = time.monotonic()
        other_client.seed(1, seed=2, folders=["INBOX"])
        assert news.wait(15), "no IDLE notice after new mail"
        assert time.monotonic() - started < 15
        assert Message.objects.filter(folder__account=imap_account).count() == 4
    finally:
        stopping = time.monotonic()
        watcher.stop()
        watcher.join(10)
    assert not watcher.is_alive() and time.monotonic() - stopping < 5  # not after the IDLE
    assert calls and set(calls) == {imap_account.pk}


def test_a_dead_server_is_retried_with_backoff(imap_account):
    from mailbox.testing.servers import free_port

    imap_account.incoming_port = free_port()
    imap_account.incoming_password = imap_account.incoming_password  # as typed for that port
    imap_account.save()
    watcher = AccountWatcher(imap_account.pk, lambda _: None, max_backoff=0.2)
    watcher.start()
    time.sleep(0.5)
    assert watcher.is_alive()  # it keeps trying instead of dying
    watcher.stop()
    watcher.join(5)
    assert not watcher.is_alive()


def test_shards_split_the_accounts(imap_account):
    mine = Watchers(lambda _: None, shard=shard_of(imap_account.pk, 2), shards=2)
    other = Watchers(lambda _: None, shard=1 - shard_of(imap_account.pk, 2), shards=2)
    assert imap_account.pk in mine.wanted()
    assert imap_account.pk not in other.wanted()
