"""Alice's cache follows her IMAP server, whoever changes it: her phone or the web."""

import random

import pytest

from mailbox import actions
from mailbox.models import Folder, Message, PendingChange
from mailbox.sync import messages as sync_messages
from mailbox.sync import run_account
from mailbox.sync.lease import account_lease

from .conftest import assert_cache_equals_server, cache_of

pytestmark = [pytest.mark.django_db, pytest.mark.servers]

CAPABILITY_SETS = {
    "qresync": frozenset(),
    "condstore-only": frozenset({"QRESYNC"}),
    "plain-imap4": frozenset({"CONDSTORE", "QRESYNC", "ESEARCH", "MOVE"}),
}


@pytest.fixture(params=list(CAPABILITY_SETS))
def without(request):
    return {"without": CAPABILITY_SETS[request.param]}


def sync(account, **options):
    assert run_account(account.pk, **options)
    account.refresh_from_db()
    assert account.last_error == ""


def test_the_first_sync_caches_every_folder(imap_account, other_client):
    other_client.seed(120, seed=1)
    sync(imap_account)
    assert_cache_equals_server(imap_account, other_client)
    roles = dict(Folder.objects.filter(account=imap_account).values_list("name", "role"))
    assert roles["INBOX"] == "inbox" and roles["Sent"] == "sent" and roles["Trash"] == "trash"
    inbox = Folder.objects.get(account=imap_account, name="INBOX")
    assert inbox.backfill_done and inbox.uidvalidity and inbox.uidnext
    assert inbox.total == inbox.messages.count() > 0
    assert inbox.unread == inbox.messages.filter(seen=False).count()
    message = inbox.messages.order_by("-date").first()
    assert message.subject and message.from_address and message.message_id
    assert bytes(message.bodystructure).startswith(b"(")


def test_the_newest_page_comes_first(imap_account, other_client, monkeypatch):
    other_client.seed(80, seed=2, folders=["INBOX"])
    seen_first = []

    def stop_after_first_batch():
        seen_first.extend(
            Message.objects.filter(folder__account=imap_account).values_list("uid", flat=True)
        )
        raise KeyboardInterrupt  # a worker killed between two batches

    monkeypatch.setattr(sync_messages, "FIRST_PAGE", 10)
    with pytest.raises(KeyboardInterrupt):
        _sync_with_hook(imap_account, stop_after_first_batch)
    server_uids = sorted(other_client.flags("INBOX"))
    assert sorted(seen_first) == server_uids[-10:]


def _sync_with_hook(account, hook):
    from mailbox.sync import imap_session
    from mailbox.sync.folders import sync_folder_list

    with account_lease(account.pk) as lease, imap_session(account) as session:
        for folder in sync_folder_list(account, session):
            if folder.name == "INBOX":
                sync_messages.sync_folder(folder, session, lease, between_batches=hook)


def test_an_interrupted_first_sync_resumes_without_duplicates(
    imap_account, other_client, monkeypatch
):
    other_client.seed(90, seed=3, folders=["INBOX"])
    monkeypatch.setattr(sync_messages, "BATCH", 20)
    monkeypatch.setattr(sync_messages, "SQLITE_BATCH", 20)
    calls = []

    def killed_on_the_second_batch():
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _sync_with_hook(imap_account, killed_on_the_second_batch)
    inbox = Folder.objects.get(account=imap_account, name="INBOX")
    assert not inbox.backfill_done and 0 < inbox.messages.count() < 90
    other_client.store("INBOX", [1, 2], "+FLAGS", "(\\Flagged)")  # changed while we were away
    sync(imap_account)
    assert_cache_equals_server(imap_account, other_client)


def test_changes_by_another_client_converge(imap_account, other_client, without):
    other_client.seed(60, seed=4, folders=["INBOX", "Archive"])
    sync(imap_account, session_options=without)
    inbox = sorted(other_client.flags("INBOX"))
    other_client.store("INBOX", inbox[:10], "+FLAGS", "(\\Flagged $Work)")
    other_client.store("INBOX", inbox[10:15], "-FLAGS", "(\\Seen)")
    other_client.expunge("INBOX", inbox[15:20])
    other_client.move("INBOX", inbox[20:25], "Archive")
    other_client.seed(5, seed=5, folders=["INBOX"])
    sync(imap_account, session_options=without)
    assert_cache_equals_server(imap_account, other_client)


def test_every_path_gives_the_same_cache(imap_account, other_client):
    other_client.seed(40, seed=6, folders=["INBOX"])
    caches = []
    for options in CAPABILITY_SETS.values():
        Folder.objects.filter(account=imap_account).delete()
        sync(imap_account, session_options={"without": options})
        caches.append(cache_of(imap_account))
    assert caches[0] == caches[1] == caches[2]


def test_a_recreated_folder_starts_over(imap_account, other_client):
    other_client.seed(20, seed=7, folders=["Projects"])
    sync(imap_account)
    old_ids = set(
        Message.objects.filter(folder__name="Projects").values_list("message_id", flat=True)
    )
    other_client.imap.delete('"Projects"')
    other_client.seed(7, seed=8, folders=["Projects"])
    sync(imap_account)
    assert_cache_equals_server(imap_account, other_client)
    new_ids = set(
        Message.objects.filter(folder__name="Projects").values_list("message_id", flat=True)
    )
    assert len(new_ids) == 7 and not new_ids & old_ids


def test_a_flag_change_in_the_web_reaches_the_server(imap_account, other_client, alice):
    other_client.seed(10, seed=9, folders=["INBOX"])
    sync(imap_account)
    message = Message.objects.filter(folder__name="INBOX", seen=False).first()
    actions.do_set_flags(alice, [message.pk], add=["\\Seen", "\\Flagged"])
    assert Message.objects.get(pk=message.pk).seen  # shown at once
    sync(imap_account, push_only=True)
    assert {"\\Seen", "\\Flagged"} <= other_client.flags("INBOX")[message.uid]
    assert not PendingChange.objects.exists()
    sync(imap_account)
    assert_cache_equals_server(imap_account, other_client)


def test_moves_and_deletes_in_the_web_reach_the_server(imap_account, other_client, alice):
    other_client.seed(12, seed=10, folders=["INBOX"])
    sync(imap_account)
    inbox = list(Message.objects.filter(folder__name="INBOX").order_by("uid"))
    archive = Folder.objects.get(account=imap_account, role="archive")
    actions.do_move_messages(alice, [m.pk for m in inbox[:3]], archive.pk)
    actions.do_delete_messages(alice, [inbox[3].pk])  # to Trash
    assert archive.messages.count() == 3  # shown at once, before the server knows
    sync(imap_account, push_only=True)
    assert set(archive.messages.values_list("uid", flat=True)) == set(other_client.flags("Archive"))
    trashed = Message.objects.get(folder__role="trash")
    actions.do_delete_messages(alice, [trashed.pk])  # for good, from Trash
    sync(imap_account)
    assert other_client.flags("Trash") == {}
    assert len(other_client.flags("INBOX")) == 8
    assert_cache_equals_server(imap_account, other_client)


def test_a_refused_change_is_rolled_back(imap_account, other_client, alice):
    other_client.seed(5, seed=11, folders=["INBOX", "Old"])
    sync(imap_account)
    old = Folder.objects.get(account=imap_account, name="Old")
    message = Message.objects.filter(folder__name="INBOX").first()
    actions.do_move_messages(alice, [message.pk], old.pk)
    other_client.imap.delete('"Old"')  # the phone deletes the folder before the push
    sync(imap_account, push_only=True)
    assert Message.objects.filter(folder__name="INBOX", uid=message.uid).exists()
    assert not PendingChange.objects.exists()
    sync(imap_account)
    assert_cache_equals_server(imap_account, other_client)


@pytest.mark.parametrize("seed", [20261126, 7])
def test_a_random_mix_of_changes_converges(imap_account, other_client, alice, seed):
    """Two hundred changes from the web and from the phone, with syncs in between."""
    rng = random.Random(seed)
    other_client.seed(40, seed=12, folders=["INBOX", "Archive"])
    sync(imap_account)
    flags = ["\\Seen", "\\Flagged", "\\Answered", "$Work"]
    for step in range(200):
        messages = list(Message.objects.filter(folder__account=imap_account, uid__isnull=False))
        folders = list(Folder.objects.filter(account=imap_account, selectable=True))
        kind = rng.choice(["web-flag", "web-move", "web-delete", "phone-flag", "phone-expunge",
                           "phone-move", "phone-append", "sync"])  # fmt: skip
        if kind == "sync" or not messages:
            sync(imap_account)
        elif kind.startswith("web-"):
            picked = [m.pk for m in rng.sample(messages, min(len(messages), rng.randint(1, 3)))]
            if kind == "web-flag":
                flag = rng.choice(flags)
                if rng.random() < 0.5:
                    actions.do_set_flags(alice, picked, add=[flag])
                else:
                    actions.do_set_flags(alice, picked, remove=[flag])
            elif kind == "web-move":
                actions.do_move_messages(alice, picked, rng.choice(folders).pk)
            else:
                actions.do_delete_messages(alice, picked)
            if rng.random() < 0.5:
                sync(imap_account, push_only=True)
        else:
            name = rng.choice([f.name for f in folders])
            uids = sorted(other_client.flags(name))
            if kind == "phone-append" or not uids:
                other_client.seed(1, seed=1000 + step, folders=[name])
                continue
            picked = rng.sample(uids, min(len(uids), rng.randint(1, 3)))
            if kind == "phone-flag":
                op = rng.choice(["+FLAGS", "-FLAGS"])
                other_client.store(name, picked, op, f"({rng.choice(flags)})")
            elif kind == "phone-expunge":
                other_client.expunge(name, picked)
            else:
                other_client.move(name, picked, rng.choice([f.name for f in folders]))
    sync(imap_account)
    sync(imap_account)
    assert not PendingChange.objects.exists()
    assert_cache_equals_server(imap_account, other_client)


def test_one_sync_at_a_time_and_none_lost(imap_account, other_client):
    other_client.seed(3, seed=13, folders=["INBOX"])
    with account_lease(imap_account.pk):
        assert run_account(imap_account.pk) is False  # busy: asks the holder to run again
        imap_account.refresh_from_db()
        assert imap_account.sync_again
    sync(imap_account)
    assert_cache_equals_server(imap_account, other_client)


def test_a_broken_account_says_why(imap_account):
    imap_account.incoming_password = "not-the-password"
    imap_account.save()
    assert run_account(imap_account.pk)
    imap_account.refresh_from_db()
    assert "refused the user name or password" in imap_account.last_error
    assert imap_account.sync_lease_until is None


def test_inserting_a_batch_twice_changes_nothing(imap_account, other_client):
    """A task can run twice: the second insert of the same messages adds nothing."""
    from mailbox.sync import imap_session, store

    other_client.seed(5, seed=14, folders=["INBOX"])
    sync(imap_account)
    inbox = Folder.objects.get(account=imap_account, name="INBOX")
    with imap_session(imap_account) as session:
        session.select("INBOX")
        metas = list(session.fetch_meta(sorted(other_client.flags("INBOX"))))
    assert store.insert_messages(inbox, inbox.uidvalidity, metas) == 0
    assert inbox.messages.count() == 5


def test_a_sync_asked_for_while_busy_is_done_in_full(imap_account, other_client, monkeypatch):
    """The watcher's Inbox-only sync holds the account when the whole sync is asked for: the
    holder runs again, for every folder."""
    import mailbox.sync as sync_module

    other_client.seed(30, seed=15, folders=["INBOX", "Archive"])
    real = sync_module._sync_folders
    asked = []

    def sync_folders(account, session, lease, folder_names):
        if not asked:
            asked.append(run_account(imap_account.pk))  # the whole sync, asked for meanwhile
        return real(account, session, lease, folder_names)

    monkeypatch.setattr(sync_module, "_sync_folders", sync_folders)
    assert run_account(imap_account.pk, folder_names=["INBOX"])
    assert asked == [False]  # it found the account busy and left its request
    assert_cache_equals_server(imap_account, other_client)


def test_changes_that_could_not_be_sent_are_tried_again_later(imap_account, other_client, alice):
    from mailbox.tasks import MAX_RETRY_SECONDS, retry_countdown
    from mailbox.testing.servers import free_port

    other_client.seed(3, seed=16, folders=["INBOX"])
    sync(imap_account)
    assert retry_countdown(imap_account.pk, 0) is None  # all is well: nothing to retry
    message = Message.objects.filter(folder__name="INBOX").first()
    actions.do_set_flags(alice, [message.pk], add=["\\Flagged"])
    port = imap_account.incoming_port
    imap_account.incoming_port = free_port()  # the server stops answering
    imap_account.incoming_password = imap_account.incoming_password  # as typed for that port
    imap_account.save()
    assert run_account(imap_account.pk, push_only=True)
    assert PendingChange.objects.count() == 1  # kept for later, not lost
    assert retry_countdown(imap_account.pk, 0) == 30
    assert retry_countdown(imap_account.pk, 10) == MAX_RETRY_SECONDS
    imap_account.incoming_port = port  # back again
    imap_account.incoming_password = imap_account.incoming_password
    imap_account.save()
    sync(imap_account, push_only=True)
    assert "\\Flagged" in other_client.flags("INBOX")[message.uid]
    assert retry_countdown(imap_account.pk, 1) is None
