"""Fetches on demand reuse an open IMAP session per account (mailbox.sync.pool), on the real
Dovecot: its own log counts the logins."""

import re
import subprocess
import threading

import pytest

from accounts.models import MailAccount
from mailbox.models import BodyPart, Folder, Message
from mailbox.sources.imap import ImapSource
from mailbox.sync import run_account
from mailbox.sync.pool import POOL, SessionPool, run_pooled
from mailbox.testing.seed import generate_messages, seed_imap
from tests.running_app import wait_until

pytestmark = [pytest.mark.django_db, pytest.mark.servers]


def logins(world, address):
    """How many IMAP logins Dovecot logged for ``address``."""
    log = (world.dovecot.state / "log" / "dovecot.log").read_text(errors="replace")
    return len(re.findall(rf"imap-login: Info: Login: user=<{re.escape(address)}>", log))


def settled_logins(world, address, expected):
    """The count once Dovecot's log has caught up with ``expected`` (it writes asynchronously);
    the count found when it does not within a few seconds."""
    wait_until(lambda: logins(world, address) >= expected, timeout=5)
    return logins(world, address)


@pytest.fixture
def messages(imap_account, other_client):
    seed_imap(other_client.imap, generate_messages(3, seed=5, folders=["INBOX"]))
    assert run_account(imap_account.pk)
    return list(Message.objects.filter(folder__account=imap_account).order_by("uid"))


def text_of(message):
    return ImapSource().get_part(message, _first_text(message))


def _first_text(message):
    tree = ImapSource().part_tree(message)
    return next(p.section for p in tree.walk() if p.content_type.startswith("text/"))


def test_a_second_uncached_open_reuses_the_session(mail_world, mailbox_login, messages):
    address = mailbox_login[0]
    before = settled_logins(mail_world, address, 1)  # the sync's
    text_of(messages[0])
    assert settled_logins(mail_world, address, before + 1) == before + 1
    text_of(messages[1])
    BodyPart.objects.all().delete()
    text_of(messages[0])  # uncached again
    assert settled_logins(mail_world, address, before + 2) == before + 1


def test_a_session_the_server_dropped_is_replaced(mail_world, mailbox_login, messages):
    address = mailbox_login[0]
    text_of(messages[0])
    before = settled_logins(mail_world, address, 2)
    config = str(mail_world.dovecot.state / "dovecot.conf")
    kicked = subprocess.run(["doveadm", "-c", config, "kick", address], capture_output=True)
    assert kicked.returncode == 0, kicked.stderr
    assert address.encode() in kicked.stdout  # it did drop our pooled session
    assert text_of(messages[1])  # no error: a new session did it
    assert settled_logins(mail_world, address, before + 1) == before + 1


def test_two_threads_never_share_a_session(imap_account, messages):
    both_inside = threading.Barrier(2, timeout=20)
    used, errors = [], []

    def work(session):
        used.append(session)
        both_inside.wait()  # each holds its session while the other takes one
        return session.noop()

    def reader():
        try:
            run_pooled(imap_account, work)
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert len(used) == 2 and used[0] is not used[1]
    assert POOL.idle_count(imap_account.pk) == 2 and POOL.lent(imap_account.pk) == 0


def test_a_full_pool_makes_the_next_thread_wait(imap_account, messages):
    pool = SessionPool(size=1, wait=0.5)
    from accounts.connection import incoming_endpoint
    from mailbox.protocols import imap
    from mailbox.protocols.base import ConnectionProblem

    def opener():
        return imap.open_session(incoming_endpoint(imap_account))

    holding, release = threading.Event(), threading.Event()

    def hold(session):
        holding.set()
        release.wait(20)

    thread = threading.Thread(target=pool.run, args=(imap_account.pk, "k", opener, hold))
    thread.start()
    try:
        assert holding.wait(20)
        with pytest.raises(ConnectionProblem, match="busy"):
            pool.run(imap_account.pk, "k", opener, lambda session: session.noop())
    finally:
        release.set()
        thread.join(20)
    assert pool.run(imap_account.pk, "k", opener, lambda session: session.noop()) == []
    pool.close_all()


def test_a_changed_password_closes_the_pool(mail_world, mailbox_login, imap_account, messages):
    address, password = mailbox_login
    text_of(messages[0])
    (old,) = [session for session, _at in POOL._slots[imap_account.pk].idle]
    account = MailAccount.objects.get(pk=imap_account.pk)
    account.incoming_password = password  # typed again (the same, stored anew)
    account.save()
    before = settled_logins(mail_world, address, 2)
    text_of(Message.objects.select_related("folder__account").get(pk=messages[1].pk))
    assert old._broken == "closed"
    assert settled_logins(mail_world, address, before + 1) == before + 1


def test_a_session_with_an_error_is_not_reused(imap_account, messages):
    from mailbox.sources import MessageGone

    gone = Message.objects.select_related("folder__account").get(pk=messages[0].pk)
    gone.uid = 999_999
    with pytest.raises(MessageGone):
        ImapSource().get_part(gone, "1")
    assert POOL.idle_count(imap_account.pk) == 0 and POOL.lent(imap_account.pk) == 0


def test_a_forked_process_starts_with_an_empty_pool(imap_account, messages):
    import os

    text_of(messages[0])
    assert POOL.idle_count(imap_account.pk) == 1
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's session is not its to use
        os.write(write, str(POOL.idle_count(imap_account.pk)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 10) == b"0"
    assert POOL.idle_count(imap_account.pk) == 1  # the parent's is still there, unharmed
    assert POOL.run(imap_account.pk, POOL._slots[imap_account.pk].key, None,
                    lambda session: session.noop()) == []  # fmt: skip


def test_an_idle_session_is_logged_out_after_the_timeout(imap_account, messages):
    import time

    pool = SessionPool(idle=60)
    from accounts.connection import incoming_endpoint
    from mailbox.protocols import imap

    def opener():
        return imap.open_session(incoming_endpoint(imap_account))

    held = []
    pool.run(imap_account.pk, "k", opener, held.append)
    pool.reap(now=time.monotonic() + 30)  # not yet
    assert pool.idle_count(imap_account.pk) == 1 and held[0]._broken is None
    pool.reap(now=time.monotonic() + 61)
    assert pool.idle_count(imap_account.pk) == 0 and held[0]._broken == "closed"


def test_mail_that_arrived_after_the_folder_was_opened_is_read(
    mail_world, mailbox_login, imap_account, other_client, messages
):
    address = mailbox_login[0]
    text_of(messages[0])  # the pooled session has the Inbox open
    before = settled_logins(mail_world, address, 2)
    seed_imap(other_client.imap, generate_messages(1, seed=6, folders=["INBOX"]))
    assert run_account(imap_account.pk)
    latest = Message.objects.filter(folder__account=imap_account).latest("uid")
    assert latest.uid > messages[-1].uid
    assert text_of(latest)
    assert settled_logins(mail_world, address, before + 2) == before + 1  # the sync's only


def test_searching_the_server_reuses_the_session(mail_world, mailbox_login, imap_account,
                                                 messages):  # fmt: skip
    address = mailbox_login[0]
    text_of(messages[0])  # the pooled session logs in
    before = settled_logins(mail_world, address, 2)
    folders = list(Folder.objects.filter(account=imap_account, uidvalidity__isnull=False))
    for _search in range(2):
        found = ImapSource().search_text(imap_account, folders, [messages[0].subject])
        assert found.failure is None and not found.unsearched
        inbox = next(f for f in folders if f.name == "INBOX")
        assert messages[0].pk in found.ids[inbox][0]
    assert settled_logins(mail_world, address, before + 1) == before  # no login of its own
    assert POOL.lent(imap_account.pk) == 0
