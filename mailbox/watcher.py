"""New mail at once: one IDLE connection per IMAP account's Inbox, a sync when it speaks.

``watch_imap`` (a management command, its own process and compose service) runs a Watchers
supervisor; operators with many accounts run several, each with ``--shard i/N``.
"""

import logging
import threading

from django.db import close_old_connections

from accounts.models import MailAccount, Protocol
from mailbox.protocols.base import ConnectionProblem

logger = logging.getLogger(__name__)
NEWS = {"EXISTS", "EXPUNGE", "FETCH", "VANISHED"}


class AccountWatcher(threading.Thread):
    """Holds IDLE on one account's Inbox; reconnects with backoff; calls ``on_news(account_id)``
    on every notice, and once after each (re)connect to catch up on what it missed."""

    def __init__(self, account_id, on_news, *, idle_seconds=60.0, max_backoff=300.0):
        super().__init__(name=f"watch-{account_id}", daemon=True)
        self.account_id, self.on_news = account_id, on_news
        self.idle_seconds, self.max_backoff = idle_seconds, max_backoff
        self.stopping = threading.Event()
        self.session = None

    def stop(self):
        """Stop now, even in the middle of an IDLE."""
        self.stopping.set()
        session = self.session
        if session is not None:
            session.interrupt()

    def run(self):
        backoff = 1.0
        while not self.stopping.is_set():
            try:
                self._watch()
                backoff = 1.0
            except (ConnectionProblem, OSError) as problem:
                logger.info(
                    "watcher of account %s: %s; retry in %.0fs", self.account_id, problem, backoff
                )
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            except MailAccount.DoesNotExist:
                return
            finally:
                close_old_connections()

    def _watch(self):
        from mailbox.sync import imap_session

        account = MailAccount.objects.get(pk=self.account_id)
        close_old_connections()
        with imap_session(account) as session:
            self.session = session
            try:
                session.select("INBOX", readonly=True)
                self.on_news(self.account_id)
                while not self.stopping.is_set():
                    notices = session.idle(self.idle_seconds)
                    if any(kind in NEWS for kind, _value in notices):
                        self.on_news(self.account_id)
            finally:
                self.session = None


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

    def refresh(self):
        wanted = self.wanted()
        for account_id in set(self.running) - wanted:
            self.running.pop(account_id).stop()
        for account_id in wanted - set(self.running):
            watcher = AccountWatcher(account_id, self.on_news, **self.options)
            watcher.start()
            self.running[account_id] = watcher
        close_old_connections()

    def stop(self):
        for watcher in self.running.values():
            watcher.stop()
        for watcher in self.running.values():
            watcher.join(timeout=5)
        self.running.clear()
