"""Alice's IMAP account on the real Dovecot, and "another client" (her phone) on the same mailbox.

The other client is plain imaplib, independent of our own IMAP code, so that the tests compare
our cache with what a second implementation sees on the server.
"""

import email
import email.policy
import imaplib
import re
import uuid
from pathlib import Path

import pytest

from accounts.models import MailAccount
from mailbox.models import Folder, Message
from mailbox.sync import run_account
from mailbox.testing.seed import generate_messages, seed_imap

ROOT = Path(__file__).resolve().parents[2]
FETCH_FLAGS = re.compile(rb"UID (\d+) FLAGS \(([^)]*)\)|FLAGS \(([^)]*)\) UID (\d+)")
UNSOLICITED_FLAGS = re.compile(rb"\d+ \(FLAGS \([^)]*\)\)")


@pytest.fixture
def mailbox_login(mail_world):
    """A fresh mailbox on the test server for each test: (address, password)."""
    name = "u" + uuid.uuid4().hex[:12]
    password = "pw-" + name
    return mail_world.dovecot.add_user(name, password), password


@pytest.fixture
def imap_account(alice, mail_world, mailbox_login):
    address, password = mailbox_login
    account = MailAccount(
        user=alice, email=address, incoming_protocol="imap", incoming_host="127.0.0.1",
        incoming_port=mail_world.dovecot.ports["imap"], incoming_security="none",
        incoming_username=address, smtp_host="127.0.0.1",
        smtp_port=mail_world.smtp.ports["plain"], smtp_security="none",
    )  # fmt: skip
    account.incoming_password = password
    account.save()
    return account


class OtherClient:
    """Another IMAP client on the same mailbox, as a phone or Thunderbird would be."""

    def __init__(self, world, login):
        self.imap = imaplib.IMAP4("127.0.0.1", world.dovecot.ports["imap"], timeout=10)
        self.imap.login(*login)

    def close(self):
        try:
            self.imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass

    def seed(self, count, seed=0, folders=None):
        messages = generate_messages(count, seed=seed, folders=folders)
        seed_imap(self.imap, messages)
        return messages

    def select(self, folder):
        status, data = self.imap.select(_quote(folder))
        assert status == "OK", data
        return int(data[0])

    def flags(self, folder):
        """{uid: frozenset(flags)} as the server has them, \\Recent left out."""
        return {uid: flags for uid, (flags, _id) in self.messages(folder).items()}

    def messages(self, folder):
        """{uid: (frozenset(flags), Message-ID without <>)} as the server has them, \\Recent
        left out. A line of the answer that is neither one of these nor an unsolicited flag
        change (imaplib mixes those in) fails the test rather than being dropped."""
        if not self.select(folder):
            return {}
        status, data = self.imap.uid(
            "FETCH", "1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"
        )
        assert status == "OK", data
        result = {}
        for item in data:
            if item == b")":  # the end of a response that carried a literal
                continue
            line, header = item if isinstance(item, tuple) else (item, None)
            match = FETCH_FLAGS.search(line)
            if header is None and match is None and UNSOLICITED_FLAGS.fullmatch(line):
                continue  # another session changed flags: the next FETCH has them
            assert match and header is not None, f"FETCH line not understood: {item!r}"
            uid = int(match.group(1) or match.group(4))
            flags = (match.group(2) if match.group(1) else match.group(3)).decode()
            parsed = email.message_from_bytes(header, policy=email.policy.compat32)
            message_id = (parsed.get("Message-ID") or "").strip().strip("<>")
            result[uid] = (frozenset(f for f in flags.split() if f != "\\Recent"), message_id)
        return result

    def store(self, folder, uids, op, flags):
        self.select(folder)
        status, data = self.imap.uid("STORE", ",".join(map(str, uids)), op, flags)
        assert status == "OK", data

    def expunge(self, folder, uids):
        self.store(folder, uids, "+FLAGS.SILENT", "(\\Deleted)")
        status, data = self.imap.uid("EXPUNGE", ",".join(map(str, uids)))
        assert status == "OK", data

    def move(self, folder, uids, target):
        self.select(folder)
        status, data = self.imap.uid("MOVE", ",".join(map(str, uids)), _quote(target))
        assert status == "OK", data

    def folders(self):
        status, data = self.imap.list('""', "*")
        assert status == "OK", data
        names = []
        for line in data:
            match = re.search(rb'\) "(?:[^"]*)" (.*)$', line)
            names.append(match.group(1).strip(b'"').decode())
        return names


def _quote(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture
def other_client(mail_world, mailbox_login):
    client = OtherClient(mail_world, mailbox_login)
    yield client
    client.close()


@pytest.fixture
def deliver(imap_account, other_client):
    """Put raw bytes in Alice's Inbox on the server, sync, and return the cached message."""

    def deliver(raw):
        status, data = other_client.imap.append("INBOX", None, None, raw)
        assert status == "OK", data
        assert run_account(imap_account.pk)
        return Message.objects.filter(folder__account=imap_account).latest("id")

    return deliver


def cache_of(account, with_message_ids=False):
    """{folder name: {uid: frozenset(flags)}} from our cache (with ``with_message_ids``, {uid:
    (flags, Message-ID)}); fails on duplicates."""
    result = {}
    for folder in Folder.objects.filter(account=account, selectable=True):
        rows = list(folder.messages.values_list("uid", "pk"))
        uids = [uid for uid, _ in rows]
        assert None not in uids, f"unconfirmed placeholders left in {folder.name}"
        assert len(uids) == len(set(uids)), f"duplicates in {folder.name}"
        result[folder.name] = {
            m.uid: (frozenset(m.flags), m.message_id) if with_message_ids else frozenset(m.flags)
            for m in folder.messages.all()
        }
    return result


def server_of(client, with_message_ids=False):
    if with_message_ids:
        return {name: client.messages(name) for name in client.folders()}
    return {name: client.flags(name) for name in client.folders()}


def assert_cache_equals_server(account, client):
    """The same folders, in each the same UIDs, each with the same flags and the same message
    (its Message-ID), and the folder counts the server's."""
    cache, server = cache_of(account, True), server_of(client, True)
    assert cache.keys() == server.keys()
    for name in server:
        assert cache[name] == server[name], f"{name} differs"
    for folder in Folder.objects.filter(account=account, selectable=True):
        unread = sum(1 for flags, _id in server[folder.name].values() if "\\Seen" not in flags)
        assert (folder.total, folder.unread) == (len(server[folder.name]), unread), folder.name


@pytest.fixture
def as_alice(alice_client):
    return alice_client


def folder(account, name):
    return Folder.objects.get(account=account, name=name)


def content_of(response):
    """A download's bytes, streamed (a part read from the source) or not (a file taken out of
    a winmail.dat or a uuencoded block)."""
    return b"".join(response.streaming_content) if response.streaming else response.content
