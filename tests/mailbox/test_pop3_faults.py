"""A POP3 fetch stopped anywhere loses nothing and stores nothing twice.

Each case stops a fetch at one point (the connection dropped by a proxy in front of the real
Dovecot, an exception where the fetch stores or commits, the storage or the database failing),
under each retention mode. Then one clean fetch runs, and:
- every delivered message is stored here exactly once (by Message-ID);
- the server lost nothing that is not stored here;
- the retention was applied (removed: the server is empty; kept: the server has everything);
- no DELE was ever sent for a message whose row was not committed (checked at each DELE).

The cases where the worker process is killed outright are in test_pop3_kill.py.
"""

import errno

import pytest
from django.db import OperationalError

from mailbox.models import Message, Pop3Download
from mailbox.sources import rawstore
from mailbox.sync import fetch, store
from mailbox.sync.lease import Lease, LeaseLost
from mailbox.testing.pop3_proxy import Pop3Proxy
from tests.mailbox.pop3_world import OtherClient, deliver, new_mailbox, pop3_account, stored_ids

pytestmark = [pytest.mark.django_db, pytest.mark.servers]
RETENTIONS = ["delete", "days", "keep"]


class Stop(Exception):
    """The fault: the fetch stops here."""


# name -> how the proxy drops the connection: (command prefix, options)
DROPS = {
    "dropped at login": ("AUTH", {"forward": False}),
    "dropped mid-UIDL": ("UIDL", {"after_bytes": 40}),
    "dropped as RETR begins": ("RETR 1", {"after_bytes": 0}),
    "dropped mid-RETR of the first": ("RETR 1", {"after_bytes": 300}),
    "dropped mid-RETR of the third": ("RETR 3", {"after_bytes": 500}),
    "dropped before the first DELE": ("DELE 1", {"forward": False}),
    "dropped after the first DELE": ("DELE 1", {"after_bytes": 0}),
    "dropped after the second DELE": ("DELE 2", {"after_bytes": 3}),
    "dropped before QUIT": ("QUIT", {"forward": False}),
    "dropped after QUIT, before its answer": ("QUIT", {"after_bytes": 0}),
    # RETR pipelined (RFC 2449): the drop falls in the stream of answers to RETR 1, 2, 3 ...
    "dropped amid pipelined RETRs": ("RETR 1", {"after_bytes": 1500}),
    "dropped early in pipelined RETRs": ("RETR 1", {"after_bytes": 700}),
}
PIPELINED = {"dropped amid pipelined RETRs", "dropped early in pipelined RETRs"}
# name -> the checkpoint of mailbox.sync.fetch where an exception stops it
RAISES = {
    "stopped after logging in": "logged_in",
    "stopped after listing": "listed",
    "stopped after a RETR": "retrieved",
    "stopped after the file was kept": "file_kept",
    "stopped before the commit": "before_commit",
    "stopped after the commit": "committed",
    "stopped before a DELE": "before_dele",
    "stopped before QUIT": "before_quit",
    "stopped after QUIT": "after_quit",
}
OTHERS = ["storage write fails", "fsync fails", "rename fails", "database down at commit",
          "lease lost"]  # fmt: skip
CASES = [*DROPS, *RAISES, *OTHERS]


@pytest.fixture
def world(mail_world):
    login = new_mailbox(mail_world)
    ids = deliver(mail_world, login, "One", "Two", "Three", "Four")
    with Pop3Proxy(mail_world.dovecot.ports["pop3"]) as proxy:
        yield mail_world, login, ids, proxy


def guarded(world, login, stop_at=None):
    """A checkpoint that, at every DELE, records whether the message's row is committed (the
    numbers are the server's now: UIDL asked by the other client), and raises at ``stop_at``."""
    uidls = OtherClient(world, login).uidls()
    committed = []

    def checkpoint(name, **details):
        if name == "before_dele":
            committed.append(Pop3Download.objects.filter(uidl=uidls[details["number"]]).exists())
        if name == stop_at:
            raise Stop(name)

    return checkpoint, committed


def arm(case, monkeypatch, proxy):
    """Make the next fetch fail as ``case`` says."""
    if case in DROPS:
        prefix, options = DROPS[case]
        proxy.drop_on(prefix, **options)
        if case in PIPELINED:
            monkeypatch.setattr(proxy, "hidden_capabilities", frozenset())
    elif case not in RAISES:
        _arm_other(case, monkeypatch)


def _arm_other(case, monkeypatch):
    failures = {
        "storage write fails": (rawstore.Spool, "file", OSError(errno.ENOSPC, "No space left")),
        "fsync fails": (rawstore, "make_durable", OSError(errno.EIO, "Input/output error")),
        "rename fails": (rawstore.os, "replace", OSError(errno.EACCES, "Permission denied")),
        "database down at commit": (
            store,
            "insert_downloads",
            OperationalError("server closed the connection"),
        ),
        "lease lost": (Lease, "renew", None),
    }
    where, name, error = failures[case]
    if case == "lease lost":
        monkeypatch.setattr(fetch, "RENEW_SECONDS", -1)
        error = LeaseLost(0)

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(where, name, fail)


def checked_fetch(account, world, login, monkeypatch, stop_at=None):
    """A fetch whose every DELE is checked: (whether each DELE followed its commit, whether the
    fetch failed: raised, or recorded an error on the account)."""
    checkpoint, committed = guarded(world, login, stop_at)
    with monkeypatch.context() as patch:
        patch.setattr(fetch, "checkpoint", checkpoint)
        try:
            result = fetch.fetch_account(account.pk)
        except (Stop, LeaseLost, OperationalError):  # what a fetch that dies would leave
            return committed, True
    return committed, "error" in result


def applies(case, retention):
    """A fault at a DELE happens only where something is deleted: with "remove after download"
    (with "days", nothing is old enough in these tests)."""
    return "DELE" not in case or retention == "delete"


@pytest.mark.parametrize("retention", RETENTIONS)
@pytest.mark.parametrize("case", CASES)
def test_a_fetch_stopped_anywhere_loses_nothing_and_doubles_nothing(
    alice, world, case, retention, monkeypatch
):
    mail_world, login, ids, proxy = world
    account = pop3_account(alice, mail_world, login, port=proxy.port, retention=retention)
    with monkeypatch.context() as patch:
        arm(case, patch, proxy)
        committed, failed = checked_fetch(account, mail_world, login, patch, RAISES.get(case))
    proxy.clear_faults()
    assert failed == applies(case, retention), "the fault did not happen where it should"
    assert all(committed), "a DELE before its message was committed"
    _assert_safe(account, mail_world, login, ids)
    committed, failed = checked_fetch(account, mail_world, login, monkeypatch)  # a clean fetch
    assert all(committed) and not failed
    _assert_safe(account, mail_world, login, ids)
    assert stored_ids(account) == sorted(ids)  # every message, exactly once
    on_server = OtherClient(mail_world, login).message_ids()
    assert on_server == ([] if retention == "delete" else ids)


def _assert_safe(account, world, login, ids):
    stored = stored_ids(account)
    assert len(stored) == len(set(stored)), "a message was stored twice"
    on_server = set(OtherClient(world, login).message_ids())
    lost = set(ids) - on_server - set(stored)
    assert not lost, f"the server lost {lost} and they are not stored here"
    for message in Message.objects.filter(folder__account=account):
        assert rawstore.storage().exists(message.raw_name), "a row without its raw message"
