"""New mail at once: one IDLE connection per IMAP account's Inbox, a sync when it speaks.

``watch_imap`` (a management command, its own process and compose service) runs a Watchers
supervisor; operators with many accounts run several, each with ``--shard i/N`` (README.md,
"Operators' commands"). Only the Inbox is watched: a change in another folder is picked up by
the scheduled resync (``sync_all_accounts``, every WEBMAIL_RESYNC_SECONDS).

The watchers are told of an account added, changed or deleted (``tell_watchers_on_commit``, from
accounts.actions): a message on a Redis pub/sub channel, which every watcher process listens to
(``serve``); each acts on the accounts of its shard. A periodic look at the whole table stays
as the net under a message lost while Redis or the watcher was down.
"""

import contextlib
import functools
import json
import logging
import random
import threading
import time

import redis
from django.conf import settings
from django.db import close_old_connections, connection, transaction

from accounts.models import MailAccount, Protocol
from mailbox.protocols.base import ConnectionProblem, Problem

logger = logging.getLogger(__name__)
NEWS = {"EXISTS", "EXPUNGE", "FETCH", "VANISHED"}
# Failures that no retry mends, only a change: of the account by its owner (which restarts its
# watcher at once, see Watchers.follow) or of the operator's settings (a restart). A private
# host is the usual one: the accounts `make demo` leaves behind, under `make run`.
NEEDS_A_CHANGE = frozenset({Problem.PRIVATE_HOST, Problem.PASSWORD_NEEDED, Problem.BAD_INPUT})


class AccountWatcher(threading.Thread):
    """Holds IDLE on one account's Inbox; calls ``on_news(account_id)`` on every notice, and
    once after each (re)connect to catch up on what it missed.

    A connection that fails or is lost is tried again after ``first_backoff`` seconds, then
    twice as long each time up to ``max_backoff``; each wait is shortened by up to ``jitter`` of
    itself at random, so that the watchers of a server that restarted do not all come back in
    the same second. A connection that got as far as SELECT starts the count again.

    A failure in NEEDS_A_CHANGE is recorded on the account, for its owner to read, and tried
    again only after ``max_backoff``: every second or two would change nothing but the log."""

    def __init__(self, account_id, on_news, *, idle_seconds=60.0, first_backoff=1.0,
                 max_backoff=300.0, jitter=0.5):  # fmt: skip
        super().__init__(name=f"watch-{account_id}", daemon=True)
        self.account_id, self.on_news = account_id, on_news
        self.idle_seconds, self.first_backoff = idle_seconds, first_backoff
        self.max_backoff, self.jitter = max_backoff, jitter
        self.stopping = threading.Event()
        self.session = None
        self.backoff = first_backoff

    def stop(self):
        """Stop now, even in the middle of an IDLE."""
        self.stopping.set()
        session = self.session
        if session is not None:
            session.interrupt()

    def run(self):
        try:
            self._run()
        finally:
            forget = getattr(self.on_news, "forget", None)
            if forget is not None:
                forget(self.account_id)

    def _run(self):
        while not self.stopping.is_set():
            try:
                self._watch()
            except (ConnectionProblem, OSError) as problem:
                self.stopping.wait(self._wait_after(problem))
            except MailAccount.DoesNotExist:
                return
            except Exception:  # a broken queue, a bug: logged, and tried again like the rest
                logger.exception("watcher of account %s failed", self.account_id)
                self.stopping.wait(self.backoff)
                self.backoff = min(self.backoff * 2, self.max_backoff)
            finally:
                close_old_connections()

    def _wait_after(self, problem):
        """Seconds to wait before the next try, after ``problem``; logged, one line."""
        spread = 1 - self.jitter * random.random()  # noqa: S311
        if getattr(problem, "problem", None) in NEEDS_A_CHANGE:
            self._record(problem)
            wait = self.max_backoff * spread
            logger.warning(
                "watcher of account %s: %s; waits for a change of the account or the settings, "
                "tried again in %.0fs", self.account_id, problem, wait,
            )  # fmt: skip
            return wait
        wait = self.backoff * spread
        logger.info("watcher of account %s: %s; retry in %.1fs", self.account_id, problem, wait)
        self.backoff = min(self.backoff * 2, self.max_backoff)
        return wait

    def _record(self, problem):
        """The problem on the account, in its owner's words, as a failed sync records it."""
        from accounts.connection import describe_error
        from mailbox.sync import record_result

        account = MailAccount.objects.filter(pk=self.account_id).first()
        if account is not None:
            record_result(account, describe_error(account, problem))
        connection.close()  # as in _watch: no database connection held through the long wait

    def _watch(self):
        from mailbox.sync import imap_session

        account = MailAccount.objects.get(pk=self.account_id)
        connection.close()  # a thread per account: it holds no database connection while idle
        with imap_session(account) as session:
            self.session = session
            try:
                session.select("INBOX", readonly=True)
                self.backoff = self.first_backoff
                self.on_news(self.account_id)
                while not self.stopping.is_set():
                    notices = session.idle(self.idle_seconds)
                    if any(kind in NEWS for kind, _value in notices):
                        self.on_news(self.account_id)
            finally:
                self.session = None


class InboxSync:
    """What the watch_imap command does on news: the Inbox synced at once, in this process.

    Not through the task queue: there the sync would wait behind whatever long task (a body
    prefetch, a pass of the search index) holds every worker, seconds at a time. Each account
    keeps a session of its own for its syncs, next to its IDLE one, so a new message costs no
    login and no cold SELECT of a large folder (Dovecot: up to ~300 ms at 100,000 messages).

    The syncs run on ``threads`` threads (each with one database connection, kept), whatever
    the number of accounts watched; the watcher that called waits for its sync, then goes back
    to IDLE. The follow-up work (prefetch, search index) is queued as ``sync_account`` queues
    it. Only the small syncs are done here: an Inbox not yet complete (a first sync, its
    backfill), a whole sync that others asked for meanwhile, and a sync that could not log in
    are queued (``sync_account``) for the workers, whose memory and time they are sized for."""

    def __init__(self, threads=4):
        from concurrent.futures import ThreadPoolExecutor

        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="inbox-sync")
        self.idle, self.generation, self.lock = {}, {}, threading.Lock()

    def __call__(self, account_id):
        logger.debug("news for account %s: %.4f", account_id, time.time())
        self.pool.submit(self._sync, account_id).result()

    def _sync(self, account_id):
        from mailbox.models import Folder, Role
        from mailbox.sync import run_account
        from mailbox.tasks import index_account_text, prefetch_bodies, sync_account

        inbox = Folder.objects.filter(account_id=account_id, role=Role.INBOX, backfill_done=True)
        if not inbox.exists():
            sync_account.delay(account_id, folder_names=["INBOX"])
            return
        try:
            session, generation = self._borrow(account_id)
        except (ConnectionProblem, OSError) as problem:  # logging in failed: the queue's turn
            logger.info("watcher: sync of account %s queued: %s", account_id, problem)
            sync_account.delay(account_id, folder_names=["INBOX"])
            return
        except MailAccount.DoesNotExist:
            return
        started = time.time()
        try:
            run_account(account_id, folder_names=["INBOX"], session=session,
                        hand_over=lambda: sync_account.delay(account_id))  # fmt: skip
        except MailAccount.DoesNotExist:
            return
        finally:
            self._give_back(account_id, session, generation)
            close_old_connections()
        # epoch seconds: bench/live.py reads them (LOG_LEVEL=DEBUG)
        logger.debug("inbox sync of account %s: %.4f %.4f", account_id, started, time.time())
        try:
            prefetch_bodies.delay(account_id)
            index_account_text.delay(account_id)
        except Exception as problem:  # the queue is down: the next sync's turn
            logger.warning("watcher: follow-up of account %s not queued: %s", account_id, problem)

    def _borrow(self, account_id):
        """The account's sync session, checked by a NOOP (a server may have dropped it while
        it sat unused); a new one if it has none or that one failed. Lent to one sync at a
        time: while lent it is out of ``idle``."""
        from accounts.connection import incoming_endpoint
        from mailbox.protocols import imap

        with self.lock:
            session = self.idle.pop(account_id, None)
            generation = self.generation.get(account_id, 0)
        if session is not None:
            try:
                session.noop()
            except (ConnectionProblem, OSError):
                session.close()
                session = None
        if session is None:
            account = MailAccount.objects.get(pk=account_id, incoming_protocol=Protocol.IMAP)
            session = imap.open_session(incoming_endpoint(account))
        return session, generation

    def _give_back(self, account_id, session, generation):
        with self.lock:
            if self.generation.get(account_id, 0) == generation and account_id not in self.idle:
                self.idle[account_id] = session
                return
        with contextlib.suppress(ConnectionProblem, OSError):
            session.logout()  # forgotten meanwhile (the account changed or went)

    def forget(self, account_id):
        """The account is no longer watched, or was changed: its session is closed now, or
        when the sync that has it is done."""
        with self.lock:
            session = self.idle.pop(account_id, None)
            self.generation[account_id] = self.generation.get(account_id, 0) + 1
        if session is not None:
            with contextlib.suppress(ConnectionProblem, OSError):
                session.logout()

    def close(self):
        self.pool.shutdown(wait=True)
        for account_id in list(self.idle):
            self.forget(account_id)


def shard_of(account_id, shards):
    return account_id % shards


class Watchers:
    """Keeps one AccountWatcher per IMAP account of this shard, following additions and removals."""

    def __init__(self, on_news, shard=0, shards=1, **watcher_options):
        self.on_news, self.shard, self.shards = on_news, shard, shards
        self.options = watcher_options
        self.running = {}

    def wanted(self):
        ids = MailAccount.objects.filter(incoming_protocol=Protocol.IMAP).values_list(
            "pk", flat=True
        )
        return {pk for pk in ids if shard_of(pk, self.shards) == self.shard}

    def follow(self, account_id):
        """An account was added, changed or deleted: its watcher starts again with what is saved
        now (new server, new password), or stops. Accounts of other shards are left alone."""
        if shard_of(account_id, self.shards) != self.shard:
            return
        watcher = self.running.pop(account_id, None)
        if watcher is not None:
            watcher.stop()
        imap = MailAccount.objects.filter(pk=account_id, incoming_protocol=Protocol.IMAP)
        if imap.exists():
            self._start(account_id)
        close_old_connections()

    def _start(self, account_id):
        watcher = AccountWatcher(account_id, self.on_news, **self.options)
        watcher.start()
        self.running[account_id] = watcher

    def refresh(self):
        """Every account of the shard watched, and none other: the net under lost messages."""
        wanted = self.wanted()
        for account_id in set(self.running) - wanted:
            self.running.pop(account_id).stop()
        for account_id in wanted - set(self.running):
            self._start(account_id)
        close_old_connections()

    def stop(self):
        for watcher in self.running.values():
            watcher.stop()
        for watcher in self.running.values():
            watcher.join(timeout=5)
        self.running.clear()


# --- telling the watchers: Redis pub/sub ------------------------------------------------------


def channel_name():
    """The pub/sub channel of this installation. Pub/sub ignores Redis's numbered databases, so
    the database is part of the name, with the key prefix the cache and channel layer use."""
    return _channel_name(settings.REDIS_URL, settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"])


@functools.lru_cache(maxsize=4)
def _channel_name(url, prefix):
    db = redis.connection.parse_url(url).get("db", 0)
    return f"{prefix}:{db}:watch_imap"


_publisher = {}


def tell_watchers(account_id):
    """Tell every watcher process that ``account_id`` was added, changed or deleted. Best
    effort: with Redis down the watchers' periodic look finds the change later."""
    try:
        client = _publisher.get("client") or _publisher.setdefault(
            "client",
            redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2),
        )
        client.publish(channel_name(), json.dumps({"account_id": int(account_id)}))
    except redis.RedisError as problem:
        logger.warning("could not tell the watchers of account %s: %s", account_id, problem)


def tell_watchers_on_commit(account_id):
    transaction.on_commit(lambda: tell_watchers(account_id))


def serve(watchers, stop, *, refresh_seconds=60.0, redis_url=None):
    """The watcher process's loop, until ``stop`` (a threading.Event) is set.

    1. Subscribe to ``channel_name()``, then look at the whole table (``refresh``): an account
       saved before the subscription is found by the look, one saved after by its message.
    2. Each message: ``watchers.follow(account_id)``, at once.
    3. Every ``refresh_seconds``: the look again, the net under a message that was lost.
    4. Redis gone: look at the table, wait (1 s, doubling up to 30 s) and go back to 1; the
       watchers keep watching meanwhile."""
    pause = {"seconds": 1.0}  # back to 1 s once subscribed again
    while not stop.is_set():
        try:
            _listen(watchers, stop, refresh_seconds, redis_url or settings.REDIS_URL, pause)
        except redis.RedisError as problem:
            logger.warning("watchers cannot hear of account changes: %s", problem)
            watchers.refresh()  # meanwhile every account of the shard is watched all the same
            stop.wait(pause["seconds"])
            pause["seconds"] = min(pause["seconds"] * 2, 30.0)


def _listen(watchers, stop, refresh_seconds, redis_url, pause):
    client = redis.Redis.from_url(redis_url, socket_timeout=None, health_check_interval=30)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(channel_name())
        pause["seconds"] = 1.0
        next_look = 0.0
        while not stop.is_set():
            if time.monotonic() >= next_look:
                watchers.refresh()
                next_look = time.monotonic() + refresh_seconds
            message = pubsub.get_message(timeout=min(1.0, refresh_seconds))
            if message is not None:
                _follow_message(watchers, message)
    finally:
        pubsub.close()
        client.close()


def _follow_message(watchers, message):
    try:
        account_id = int(json.loads(message["data"])["account_id"])
    except (ValueError, KeyError, TypeError):
        logger.warning("watchers: a message that is not ours: %r", message.get("data"))
        return
    watchers.follow(account_id)
