"""New mail reaches the cache at once: the watcher's IDLE notices trigger a sync; the watchers
are told of accounts added, changed and deleted, and come back after losing their server."""

import contextlib
import threading
import time

import pytest

from accounts.actions import do_delete_mail_account, do_save_mail_account
from accounts.models import MailAccount
from mailbox.models import Message
from mailbox.sync import run_account
from mailbox.testing.tcp_relay import TcpRelay
from mailbox.watcher import AccountWatcher, Watchers, serve, shard_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.servers]


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class News:
    """An ``on_news`` that notes each call."""

    def __init__(self):
        self.calls, self.lock = [], threading.Lock()

    def __call__(self, account_id):
        with self.lock:
            self.calls.append(account_id)

    def count(self, account_id):
        with self.lock:
            return self.calls.count(account_id)


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


@pytest.fixture
def relay(mail_world):
    relay = TcpRelay(mail_world.dovecot.ports["imap"])
    yield relay
    relay.close()


def gaps(times):
    return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]


def test_a_lost_server_is_retried_with_growing_waits_and_watched_again(imap_account, relay):
    imap_account.incoming_port = relay.port
    imap_account.incoming_password = imap_account.incoming_password  # as typed for that port
    imap_account.save()
    relay.refuse = True  # the server is down: each try is closed at once
    news = News()
    watcher = AccountWatcher(imap_account.pk, news, first_backoff=0.2, max_backoff=0.8, jitter=0)
    watcher.start()
    try:
        assert wait_for(lambda: len(relay.arrivals) >= 5), relay.arrivals
        waits = gaps(relay.arrivals[:5])
        # 0.2, 0.4, 0.8, then no longer: each wait at least its backoff (never hammering)
        assert all(w >= b for w, b in zip(waits, [0.2, 0.4, 0.8, 0.8], strict=True)), waits
        assert watcher.is_alive() and news.count(imap_account.pk) == 0

        relay.refuse = False  # the server is back: watched again, and it catches up
        assert wait_for(lambda: news.count(imap_account.pk) == 1, timeout=5)
        tries = len(relay.arrivals)

        cut = time.monotonic()
        relay.cut()  # lost in the middle of IDLE: back after the first wait, not the last one
        assert wait_for(lambda: news.count(imap_account.pk) == 2, timeout=5)
        assert len(relay.arrivals) == tries + 1
        assert relay.arrivals[-1] - cut >= 0.2
    finally:
        watcher.stop()
        watcher.join(5)
    assert not watcher.is_alive()


def test_shards_split_the_accounts(imap_account):
    mine = Watchers(lambda _: None, shard=shard_of(imap_account.pk, 2), shards=2)
    other = Watchers(lambda _: None, shard=1 - shard_of(imap_account.pk, 2), shards=2)
    assert imap_account.pk in mine.wanted()
    assert imap_account.pk not in other.wanted()
    other.follow(imap_account.pk)  # told of an account of another shard: not its business
    assert other.running == {}


@pytest.fixture
def serving():
    """The watcher process's loop (``serve``) in a thread, whose own look at the table comes
    once at the start and then not for an hour: whatever it watches later, it was told of."""
    news = News()
    watchers = Watchers(news)
    looks = []
    look = watchers.refresh
    watchers.refresh = lambda: (look(), looks.append(time.monotonic()))
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(watchers, stop), kwargs={"refresh_seconds": 3600})
    thread.start()
    assert wait_for(lambda: looks)
    yield watchers, news, looks
    stop.set()
    thread.join(10)
    watchers.stop()
    assert not thread.is_alive()


def test_with_redis_down_the_accounts_are_watched_all_the_same(imap_account):
    from mailbox.testing.servers import free_port

    news = News()
    watchers = Watchers(news)
    stop = threading.Event()
    nowhere = f"redis://127.0.0.1:{free_port()}/9"
    thread = threading.Thread(target=serve, args=(watchers, stop), kwargs={"redis_url": nowhere})
    thread.start()
    try:
        assert wait_for(lambda: news.count(imap_account.pk) == 1), "not watched"
    finally:
        stop.set()
        thread.join(10)
        watchers.stop()
    assert not thread.is_alive()


def new_imap_account(alice, mail_world, login, port):
    address, password = login
    account = MailAccount(
        user=alice, email=address, incoming_protocol="imap", incoming_host="127.0.0.1",
        incoming_port=port, incoming_security="none", incoming_username=address,
        smtp_host="127.0.0.1", smtp_port=mail_world.smtp.ports["plain"], smtp_security="none",
    )  # fmt: skip
    account.incoming_password = password
    return do_save_mail_account(account)


def test_accounts_added_changed_and_deleted_are_followed_at_once(
    serving, alice, mail_world, mailbox_login, relay
):
    watchers, news, looks = serving
    account = new_imap_account(alice, mail_world, mailbox_login, mail_world.dovecot.ports["imap"])
    assert wait_for(lambda: news.count(account.pk) == 1, timeout=5), "not watched once added"
    first = watchers.running[account.pk]

    account.incoming_port = relay.port  # changed: watched again, with what was saved
    account.incoming_password = mailbox_login[1]  # as typed for that port
    do_save_mail_account(account)
    assert wait_for(lambda: news.count(account.pk) == 2, timeout=5), "not watched once changed"
    assert len(relay.arrivals) == 1
    assert not first.is_alive() and watchers.running[account.pk] is not first

    second = watchers.running[account.pk]
    do_delete_mail_account(account)
    assert wait_for(lambda: account.pk not in watchers.running, timeout=5), "still watched"
    assert wait_for(lambda: not second.is_alive(), timeout=5)
    assert len(looks) == 1  # all of it was told, none found by looking


def test_an_account_that_turns_to_pop3_is_no_longer_watched(
    serving, alice, mail_world, mailbox_login
):
    watchers, news, _looks = serving
    account = new_imap_account(alice, mail_world, mailbox_login, mail_world.dovecot.ports["imap"])
    assert wait_for(lambda: news.count(account.pk) == 1, timeout=5)
    account.incoming_protocol = "pop3"
    account.incoming_port = mail_world.dovecot.ports["pop3"]
    do_save_mail_account(account)
    assert wait_for(lambda: account.pk not in watchers.running, timeout=5)


def test_the_watchers_sync_keeps_one_session_for_the_account(imap_account, other_client, relay):
    """The command's on_news: each new message synced at once on the account's own sync
    session (no new login per message), a new one when the server dropped it."""
    from mailbox.watcher import InboxSync

    assert run_account(imap_account.pk)  # the Inbox in the cache (a first sync is the queue's)
    imap_account.incoming_port = relay.port
    imap_account.incoming_password = imap_account.incoming_password  # as typed for that port
    imap_account.save()
    inbox_sync = InboxSync(threads=2)
    watcher = AccountWatcher(imap_account.pk, inbox_sync)
    cached = Message.objects.filter(folder__account=imap_account)
    try:
        watcher.start()
        assert wait_for(lambda: len(relay.arrivals) == 2), relay.arrivals  # IDLE, and sync
        for count in (1, 2, 3):
            other_client.seed(1, seed=20 + count, folders=["INBOX"])
            assert wait_for(lambda count=count: cached.count() == count), cached.count()
        assert len(relay.arrivals) == 2  # no login per message

        relay.cut()  # both dropped: IDLE comes back, the sync session is found dead and replaced
        other_client.seed(1, seed=30, folders=["INBOX"])
        assert wait_for(lambda: cached.count() == 4), cached.count()
        assert len(relay.arrivals) == 4
        imap_account.refresh_from_db()
        assert imap_account.last_error == ""
    finally:
        watcher.stop()
        watcher.join(5)
        inbox_sync.close()
    assert inbox_sync.idle == {}  # the watcher's end closed its session


def test_the_watch_imap_command_syncs_new_mail_itself(imap_account, other_client):
    """The command as operators run it, in its own process: new mail of an account whose Inbox
    is in the cache is synced by the watcher itself, with no Celery worker running."""
    import os
    import signal
    import subprocess
    import sys

    from tests.running_app import ROOT, process_env

    other_client.seed(2, seed=40, folders=["INBOX"])
    assert run_account(imap_account.pk)
    cached = Message.objects.filter(folder__account=imap_account)
    command = [sys.executable, "manage.py", "watch_imap"]
    watcher = subprocess.Popen(command, cwd=ROOT, env=process_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        assert watcher.stdout.readline().startswith(b"watching the IMAP accounts")
        for count in (3, 4):
            other_client.seed(1, seed=40 + count, folders=["INBOX"])
            assert wait_for(lambda count=count: cached.count() == count, timeout=20)
    finally:
        os.killpg(watcher.pid, signal.SIGTERM)
        try:
            output = watcher.communicate(timeout=20)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            os.killpg(watcher.pid, signal.SIGKILL)
            output = "did not stop on SIGTERM"
    assert watcher.returncode == 0, output


class Queued:
    """``sync_account.delay`` noted instead of queued."""

    def __init__(self):
        self.calls = []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))


def test_a_first_sync_and_a_whole_sync_asked_meanwhile_go_to_the_workers(
    imap_account, other_client, monkeypatch
):
    """The watcher syncs only what is small: an Inbox never synced (a first sync may be
    100,000 messages) is queued for the workers, and so is the whole sync another process asked
    for while the watcher's sync held the account."""
    from mailbox import tasks
    from mailbox.sync import lease
    from mailbox.watcher import InboxSync

    queued = Queued()
    monkeypatch.setattr(tasks.sync_account, "delay", queued)
    monkeypatch.setattr(tasks.prefetch_bodies, "delay", lambda *a: None)
    monkeypatch.setattr(tasks.index_account_text, "delay", lambda *a: None)
    other_client.seed(3, seed=50, folders=["INBOX", "Receipts"])
    inbox_sync = InboxSync(threads=1)
    try:
        inbox_sync(imap_account.pk)
        assert not Message.objects.filter(folder__account=imap_account).exists()
        assert queued.calls == [((imap_account.pk,), {"folder_names": ["INBOX"]})]

        assert run_account(imap_account.pk, folder_names=["INBOX"])  # as that task would
        queued.calls.clear()
        other_client.seed(1, seed=51, folders=["INBOX"])
        claim = lease.account_lease

        def claimed_and_asked_again(account_id):  # another process asks while we hold it
            with claim(account_id) as held:
                MailAccount.objects.filter(pk=account_id).update(sync_again=True)
                yield held

        monkeypatch.setattr(
            lease, "account_lease", contextlib.contextmanager(claimed_and_asked_again)
        )
        inbox = Message.objects.filter(folder__account=imap_account, folder__name="INBOX")
        before = inbox.count()
        inbox_sync(imap_account.pk)
        assert inbox.count() == before + 1  # the new message, synced here
        assert not Message.objects.filter(folder__name="Receipts").exists()  # not the rest
        assert queued.calls == [((imap_account.pk,), {})]  # the whole sync, to the workers
    finally:
        inbox_sync.close()


def test_a_change_in_another_folder_waits_for_the_scheduled_resync(
    imap_account, other_client, request
):
    """Only the Inbox is watched: mail filed into another folder by the server (or another
    client) shows once beat's resync (``sync_all_accounts``) has run on a worker."""
    from mailbox.models import Folder
    from mailbox.tasks import sync_all_accounts
    from mailbox.watcher import InboxSync

    other_client.seed(2, seed=60, folders=["INBOX", "Receipts"])
    assert run_account(imap_account.pk)
    receipts = Folder.objects.get(account=imap_account, name="Receipts").messages
    before = receipts.count()
    inbox_sync = InboxSync(threads=1)
    watcher = AccountWatcher(imap_account.pk, inbox_sync)
    try:
        watcher.start()
        other_client.seed(2, seed=61, folders=["Receipts"])
        other_client.seed(1, seed=62, folders=["INBOX"])  # news: the Inbox is synced, only it
        inbox = Folder.objects.get(account=imap_account, name="INBOX").messages
        assert wait_for(lambda: inbox.count() == len(other_client.flags("INBOX")))
        assert receipts.count() == before

        request.getfixturevalue("celery_worker")
        sync_all_accounts.delay()  # what beat sends every WEBMAIL_RESYNC_SECONDS
        assert wait_for(lambda: receipts.count() == before + 2, timeout=60), receipts.count()
    finally:
        watcher.stop()
        watcher.join(5)
        inbox_sync.close()
