"""An account on a private address, where the operator allows none (the demo's accounts under
`make run`): the watcher says so on the account and waits for a change, not a loop of retries."""

import logging
import threading
import time

import pytest

from accounts.models import MailAccount
from mailbox.watcher import AccountWatcher, Watchers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.servers]


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def watcher_lines(caplog, account):
    return [r.getMessage() for r in caplog.records
            if r.name == "mailbox.watcher" and f"account {account.pk}:" in r.getMessage()]  # fmt: skip


def test_a_refused_private_host_is_shown_on_the_account_and_not_retried_in_a_loop(
    imap_account, settings, caplog
):
    settings.WEBMAIL_ALLOW_PRIVATE_HOSTS = False
    caplog.set_level(logging.INFO, logger="mailbox.watcher")
    # were it a passing trouble, 0.05 s, 0.1 s, 0.2 s ... : some twenty tries in two seconds
    watcher = AccountWatcher(imap_account.pk, lambda pk: None, first_backoff=0.05,
                             max_backoff=30.0, jitter=0)  # fmt: skip
    watcher.start()
    try:
        assert wait_for(lambda: MailAccount.objects.get(pk=imap_account.pk).last_error)
        time.sleep(2)
        assert watcher.is_alive()
        lines = watcher_lines(caplog, imap_account)
        assert len(lines) == 1, lines
        assert "private_host" in lines[0] and "tried again in 30s" in lines[0]
        error = MailAccount.objects.get(pk=imap_account.pk).last_error
        assert "private, loopback or link-local address" in error and "operator" in error
    finally:
        watcher.stop()
        watcher.join(5)
    assert not watcher.is_alive()


def test_once_the_account_is_changed_it_is_watched_again_at_once(imap_account, settings):
    settings.WEBMAIL_ALLOW_PRIVATE_HOSTS = False
    news, heard = [], threading.Event()
    watchers = Watchers(lambda pk: (news.append(pk), heard.set()), first_backoff=0.05,
                        max_backoff=60.0, jitter=0)  # fmt: skip
    try:
        watchers.refresh()
        assert wait_for(lambda: MailAccount.objects.get(pk=imap_account.pk).last_error)
        settings.WEBMAIL_ALLOW_PRIVATE_HOSTS = True  # the operator allows the local network
        watchers.follow(imap_account.pk)  # as when Alice saves her account
        assert heard.wait(5), "still waiting out the long pause"
        assert news == [imap_account.pk]
    finally:
        watchers.stop()
