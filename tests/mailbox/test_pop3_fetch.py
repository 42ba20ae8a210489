"""Alice reads a mailbox by POP3: new mail is downloaded into her Inbox here, and the server keeps
or loses its copies as her account says. Nothing is ever stored twice, and the server loses
nothing that is not stored here."""

import datetime
import os
import stat
import tracemalloc
from email.message import EmailMessage

import pytest
from django.utils import timezone

from accounts.models import MailAccount
from mailbox import actions
from mailbox.models import Folder, Message, Pop3Download, Role
from mailbox.sources import rawstore
from mailbox.sync.fetch import due_pop3_accounts, fetch_account
from mailbox.testing.pop3_proxy import Pop3Proxy
from tests.mailbox.pop3_world import (
    OtherClient,
    deliver,
    new_mailbox,
    pop3_account,
    stored_ids,
)

pytestmark = [pytest.mark.django_db, pytest.mark.servers]


@pytest.fixture
def login(mail_world):
    return new_mailbox(mail_world)


@pytest.fixture
def server(mail_world, login):
    return OtherClient(mail_world, login)


def inbox(account):
    return Folder.objects.get(account=account, role=Role.INBOX)


def test_a_pop3_account_has_local_folders(alice, mail_world, login):
    account = pop3_account(alice, mail_world, login)
    roles = set(Folder.objects.filter(account=account).values_list("role", flat=True))
    assert roles == {"inbox", "drafts", "sent", "archive", "junk", "trash"}


def test_new_mail_is_downloaded_into_the_inbox(alice, mail_world, login, server):
    ids = deliver(mail_world, login, "First", "Second", "Third")
    account = pop3_account(alice, mail_world, login)
    summary = fetch_account(account.pk)
    assert summary["new"] == 3
    assert stored_ids(account) == sorted(ids)
    folder = inbox(account)
    assert (folder.total, folder.unread) == (3, 3)
    first = Message.objects.get(message_id=ids[0])
    assert (first.subject, first.from_name, first.from_address) == (
        "First",
        "Zoë",
        "zoe@example.org",
    )
    with rawstore.open_raw(first.raw_name) as handle:
        assert handle.read() == server.raw(1)  # byte for byte as the server sends it
    path = rawstore.storage().path(first.raw_name)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # private to the service's user
    account.refresh_from_db()
    assert account.last_error == "" and account.synced_at is not None


def test_a_second_fetch_stores_nothing_new(alice, mail_world, login):
    deliver(mail_world, login, "One", "Two")
    account = pop3_account(alice, mail_world, login)
    fetch_account(account.pk)
    assert fetch_account(account.pk)["new"] == 0
    assert Message.objects.filter(folder__account=account).count() == 2
    deliver(mail_world, login, "Three")
    assert fetch_account(account.pk)["new"] == 1
    assert Message.objects.filter(folder__account=account).count() == 3


def test_remove_after_download_empties_the_server(alice, mail_world, login, server):
    ids = deliver(mail_world, login, "One", "Two")
    account = pop3_account(alice, mail_world, login, retention="delete")
    assert fetch_account(account.pk)["deleted"] == 2
    assert server.message_ids() == []
    assert stored_ids(account) == sorted(ids)
    fetch_account(account.pk)  # the server no longer lists them: forgotten here too
    assert not Pop3Download.objects.filter(account=account).exists()
    assert stored_ids(account) == sorted(ids)


def test_keep_on_the_server_keeps_everything(alice, mail_world, login, server):
    ids = deliver(mail_world, login, "One", "Two")
    account = pop3_account(alice, mail_world, login, retention="keep")
    fetch_account(account.pk, now=timezone.now() + datetime.timedelta(days=3650))
    assert server.message_ids() == ids


def test_keep_for_some_days_removes_them_after_that(alice, mail_world, login, server):
    ids = deliver(mail_world, login, "Old")
    account = pop3_account(alice, mail_world, login, retention="days", days=7)
    start = timezone.now()
    fetch_account(account.pk, now=start)
    later = deliver(mail_world, login, "Newer")
    fetch_account(account.pk, now=start + datetime.timedelta(days=6, hours=23))
    assert server.message_ids() == ids + later  # not yet
    summary = fetch_account(account.pk, now=start + datetime.timedelta(days=7, seconds=1))
    assert summary["deleted"] == 1
    assert server.message_ids() == later  # the older one went, the newer one stays
    assert stored_ids(account) == sorted(ids + later)


def test_a_message_deleted_here_is_not_downloaded_again(alice, mail_world, login):
    deliver(mail_world, login, "Unwanted")
    account = pop3_account(alice, mail_world, login, retention="keep")
    fetch_account(account.pk)
    message = Message.objects.get(folder__account=account)
    actions.do_expunge_messages(alice, [message.pk])
    assert fetch_account(account.pk)["new"] == 0
    assert not Message.objects.filter(folder__account=account).exists()


@pytest.mark.parametrize("hide_top", [False, True])
def test_a_server_without_uidl_is_read_by_header_digests(
    alice, mail_world, login, server, hide_top
):
    ids = deliver(mail_world, login, "One", "Two")
    with Pop3Proxy(mail_world.dovecot.ports["pop3"], hide_uidl=True, hide_top=hide_top) as proxy:
        account = pop3_account(alice, mail_world, login, port=proxy.port, retention="keep")
        assert fetch_account(account.pk)["new"] == 2
        assert fetch_account(account.pk)["new"] == 0
        deliver(mail_world, login, "Three")
        assert fetch_account(account.pk)["new"] == 1
        assert ("RETR 1" if hide_top else "TOP 1 0") in proxy.commands  # how it read headers
    assert len(stored_ids(account)) == 3 and set(ids) <= set(stored_ids(account))
    assert all(
        uidl.startswith("sha256:") for uidl in Pop3Download.objects.values_list("uidl", flat=True)
    )


def test_a_wrong_password_is_recorded_and_other_accounts_go_on(alice, mail_world, login):
    deliver(mail_world, login, "Hello")
    broken = pop3_account(alice, mail_world, (login[0], "not-the-password"), email_="x@example.com")
    working = pop3_account(alice, mail_world, login)
    fetch_account(broken.pk)
    fetch_account(working.pk)
    broken.refresh_from_db()
    assert "refused the user name or password" in broken.last_error
    assert not Message.objects.filter(folder__account=broken).exists()
    assert Message.objects.filter(folder__account=working).count() == 1


def test_a_dead_server_is_recorded(alice, mail_world, login):
    from mailbox.testing.servers import free_port

    account = pop3_account(alice, mail_world, login, port=free_port())
    assert "error" in fetch_account(account.pk)
    account.refresh_from_db()
    assert "refused the connection" in account.last_error


def test_a_malformed_message_is_kept_as_it_came_and_shown(alice, mail_world, login, client):
    raw = (
        b"From: \xff\xfe broken <a@b\r\nSubject: =?utf-8?q?broken=ZZ?=\r\n"
        b'Content-Type: multipart/mixed; boundary="never"\r\n\r\n--never\r\n'
        b"Content-Type: text/plain\r\n\r\nStill readable.\r\n"
    )
    mail_world.dovecot.deliver(login[0], raw)
    account = pop3_account(alice, mail_world, login)
    fetch_account(account.pk)
    message = Message.objects.get(folder__account=account)
    client.force_login(alice)
    page = client.get(f"/mail/messages/{message.pk}/")
    assert page.status_code == 200 and "Still readable." in page.content.decode()
    original = client.get(f"/mail/messages/{message.pk}/original/")
    assert raw in b"".join(original.streaming_content)  # after the server's Return-Path


def test_a_50_mb_message_is_fetched_in_little_memory(alice, mail_world, login):
    big = b"".join(b"%07d " % n + b"x" * 60 + b"\r\n" for n in range(770_000))  # ~52 MB
    raw = b"From: a@example.org\r\nSubject: big\r\nContent-Type: text/plain\r\n\r\n" + big
    mail_world.dovecot.deliver(login[0], raw)
    account = pop3_account(alice, mail_world, login)
    tracemalloc.start()
    try:
        fetch_account(account.pk)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = Message.objects.get(folder__account=account)
    assert message.size > 50_000_000
    assert peak < 8_000_000, f"peak {peak / 1e6:.1f} MB for a {message.size / 1e6:.0f} MB message"


def test_the_beat_finds_the_accounts_that_are_due(alice, mail_world, login):
    account = pop3_account(alice, mail_world, login)
    assert account.pk in due_pop3_accounts()  # never fetched
    now = timezone.now()
    MailAccount.objects.filter(pk=account.pk).update(synced_at=now)
    assert account.pk not in due_pop3_accounts(now + datetime.timedelta(minutes=4))
    assert account.pk in due_pop3_accounts(now + datetime.timedelta(minutes=5))
    MailAccount.objects.filter(pk=account.pk).update(fetch_interval=0)  # only "check now"
    assert account.pk not in due_pop3_accounts(now + datetime.timedelta(days=1))


def test_a_fetch_waits_for_the_account_lease(alice, mail_world, login):
    from mailbox.sync.lease import account_lease

    deliver(mail_world, login, "Hello")
    account = pop3_account(alice, mail_world, login)
    with account_lease(account.pk):
        assert fetch_account(account.pk) is None  # another worker holds it: it fetches again
    account.refresh_from_db()
    assert account.sync_again
    assert not Message.objects.filter(folder__account=account).exists()


def test_removing_the_account_removes_the_mail_kept_for_it(
    alice, mail_world, login, django_capture_on_commit_callbacks
):
    from accounts.actions import do_delete_mail_account

    deliver(mail_world, login, "Hello")
    account = pop3_account(alice, mail_world, login)
    fetch_account(account.pk)
    name = Message.objects.get(folder__account=account).raw_name
    assert rawstore.storage().exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        do_delete_mail_account(account)
    assert not rawstore.storage().exists(name)


def test_saving_an_old_copy_of_the_account_keeps_the_workers_state(alice, mail_world, login):
    """A form (or the admin) holds a copy of the account while a worker claims and frees its
    lease: saving the copy must not write the worker's old state back."""
    from mailbox.sync.lease import account_lease

    account = pop3_account(alice, mail_world, login)
    copy = MailAccount.objects.get(pk=account.pk)
    with account_lease(account.pk):
        held = MailAccount.objects.get(pk=account.pk)
        copy_while_held = MailAccount.objects.get(pk=account.pk)
    copy_while_held.pop3_keep_days = 30
    copy_while_held.save()  # the lease was freed meanwhile: it stays free
    account.refresh_from_db()
    assert held.sync_lease_token and account.sync_lease_until is None
    assert account.sync_lease_token == "" and not account.sync_again
    assert account.pop3_keep_days == 30  # what the form changed is saved
    copy.save()
    account.refresh_from_db()
    assert account.sync_lease_until is None


def test_a_server_repeating_a_uidl_loses_neither_message(alice, mail_world, login, server):
    """RFC 1939 forbids two messages with one unique-id; a broken server does it anyway: both
    are downloaded, once, and neither is deleted from the server on their account."""
    ids = deliver(mail_world, login, "First", "Second", "Third")
    with Pop3Proxy(mail_world.dovecot.ports["pop3"], duplicate_uidl=True) as proxy:
        account = pop3_account(alice, mail_world, login, port=proxy.port, retention="delete")
        assert fetch_account(account.pk)["new"] == 3
        assert fetch_account(account.pk)["new"] == 0
    assert stored_ids(account) == sorted(ids)
    assert server.message_ids() == ids[:2]  # the third went; the two that share a UIDL stay


def test_the_preview_line_is_set_when_mail_is_downloaded(alice, mail_world, login):
    """POP3 brings the whole message: the list's preview line is there before any opening,
    for small mail (read in memory), an HTML-only one and one past the in-memory size."""
    html = EmailMessage()
    html["From"], html["To"], html["Subject"] = "news@example.org", "alice@example.com", "HTML"
    html["Message-ID"] = "<html-only@example.org>"
    html.set_content("<style>p{color:red}</style><p>Spring  <b>bulbs</b> are here</p>",
                     subtype="html")  # fmt: skip
    mail_world.dovecot.deliver(login[0], bytes(html))
    (plain,) = deliver(
        mail_world, login, "Plain", body="Dear Alice,\n\n  the garden\tclub meets.\n"
    )
    (big,) = deliver(mail_world, login, "Big", body="Large news follows.\n", size=2_000_000)
    account = pop3_account(alice, mail_world, login)
    assert fetch_account(account.pk)["new"] == 3
    assert Message.objects.get(message_id=plain).preview == "Dear Alice, the garden club meets."
    assert Message.objects.get(message_id="html-only@example.org").preview == (
        "Spring bulbs are here"
    )
    assert Message.objects.get(message_id=big).preview.startswith("Large news follows. xxxx")
