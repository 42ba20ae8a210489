"""Alice archives, deletes, junks or moves messages and changes her mind: the answer says what
happened and "Undo" puts them back where they were, in the cache at once and on her server with
the next push, even when the first move has not reached the server yet. Bob, replaying Alice's
undo, changes nothing; an undo replayed changes nothing the second time.
"""

import email
import json
import re

import pytest

from mailbox.models import Folder, Message, PendingChange, Role
from mailbox.sources import rawstore
from mailbox.sync import run_account
from mailbox.sync.fetch import fetch_account
from tests.mailbox.pop3_world import deliver, new_mailbox, pop3_account

from .conftest import assert_cache_equals_server, cache_of, folder

pytestmark = [pytest.mark.django_db, pytest.mark.servers]

ACTION, UNDO = "/mail/messages/action/", "/mail/messages/undo/"


@pytest.fixture
def synced_account(imap_account, other_client):
    other_client.seed(8, seed=7)
    assert other_client.imap.create("Projects")[0] == "OK"
    assert run_account(imap_account.pk)
    return imap_account


def some(account, name="INBOX", count=3):
    return list(folder(account, name).messages.order_by("uid")[:count])


def act(client, action, messages, **data):
    response = client.post(ACTION, {"action": action, "ids": [m.pk for m in messages], **data})
    assert response.status_code == 200, response.content
    return response.json()


def undo(client, moves):
    response = client.post(UNDO, {"moves": json.dumps(moves)})
    return response.status_code, response.json()


def push(account):
    assert run_account(account.pk, push_only=True)
    assert not PendingChange.objects.filter(account=account).exists()


MESSAGE_ID = re.compile(rb"Message-ID:\s*<([^>\r\n]+)>", re.IGNORECASE)


def message_ids_on_server(other_client, name):
    """The Message-IDs in a folder on the server, as the other client (plain imaplib) sees it."""
    if not other_client.select(name):
        return set()
    status, data = other_client.imap.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    assert status == "OK", data
    found = set()
    for item in data:
        if isinstance(item, tuple):
            match = MESSAGE_ID.search(item[1])
            found.add(match.group(1).decode() if match else None)
    return found


def server_folders(other_client):
    return {name: message_ids_on_server(other_client, name) for name in other_client.folders()}


# --- IMAP ---------------------------------------------------------------------------------------

CASES = [
    ("archive", "Archive", "2 messages archived."),
    ("junk", "Junk", "2 messages marked as junk."),
    ("delete", "Trash", "2 messages moved to Trash."),
    ("move", "Projects", "2 messages moved to Projects."),
]


@pytest.mark.parametrize("pushed_first", [False, True], ids=["still-pending", "pushed"])
@pytest.mark.parametrize(("action", "target", "notice"), CASES, ids=[c[0] for c in CASES])
def test_alice_undoes_a_move_and_her_server_is_as_before(
    as_alice, synced_account, other_client, action, target, notice, pushed_first
):
    before = server_folders(other_client)
    messages = some(synced_account, count=2)
    inbox, projects = folder(synced_account, "INBOX"), folder(synced_account, "Projects")

    extra = {"folder": projects.pk} if action == "move" else {}
    answer = act(as_alice, action, messages, **extra)
    assert (answer["count"], answer["notice"]) == (2, notice)
    (move,) = answer["undo"]
    placed = folder(synced_account, target)
    assert (move["from"], move["to"]) == (inbox.pk, placed.pk)
    assert set(placed.messages.values_list("pk", flat=True)) >= set(move["ids"])
    if pushed_first:
        push(synced_account)

    status, body = undo(as_alice, answer["undo"])
    assert (status, body["ok"], body["count"], body["skipped"]) == (200, True, 2, 0)
    assert body["notice"] == "2 messages put back."
    (restored,) = body["restored"]
    assert (restored["from"], restored["to"]) == (placed.pk, inbox.pk)
    # in the cache at once: the same messages back in the Inbox, none left in the target
    back = Message.objects.filter(pk__in=restored["ids"])
    assert {m.message_id for m in back} == {m.message_id for m in messages}
    assert all(m.folder_id == inbox.pk for m in back)
    assert not placed.messages.filter(message_id__in=[m.message_id for m in messages]).exists()

    push(synced_account)
    assert server_folders(other_client) == before
    assert run_account(synced_account.pk)
    assert_cache_equals_server(synced_account, other_client)


def test_when_the_server_refuses_the_move_its_undo_leaves_the_server_as_it_was(
    as_alice, synced_account, other_client
):
    before = server_folders(other_client)
    projects = folder(synced_account, "Projects")
    answer = act(as_alice, "move", some(synced_account, count=2), folder=projects.pk)
    assert undo(as_alice, answer["undo"])[1]["count"] == 2  # both changes still queued
    assert other_client.imap.delete('"Projects"')[0] == "OK"  # the phone, before the push

    push(synced_account)  # the move refused, and so its undo: each rolled back
    assert not Message.objects.filter(folder__account=synced_account, uid=None).exists()
    assert run_account(synced_account.pk)
    assert_cache_equals_server(synced_account, other_client)
    del before["Projects"]
    assert server_folders(other_client) == before


def test_an_undo_replayed_changes_nothing_the_second_time(as_alice, synced_account, other_client):
    answer = act(as_alice, "archive", some(synced_account, count=2))
    assert undo(as_alice, answer["undo"])[1]["count"] == 2
    push(synced_account)
    cache, server = cache_of(synced_account), server_folders(other_client)

    status, body = undo(as_alice, answer["undo"])
    assert (status, body["ok"], body["count"], body["skipped"]) == (200, True, 0, 2)
    assert body["notice"] == "Nothing to undo: those messages were moved again or are gone."
    assert not PendingChange.objects.exists()
    assert cache_of(synced_account) == cache
    assert server_folders(other_client) == server


def test_a_message_moved_again_stays_where_alice_put_it_last(as_alice, synced_account):
    first, second = some(synced_account, count=2)
    answer = act(as_alice, "archive", [first, second])
    push(synced_account)
    archived = folder(synced_account, "Archive").messages.get(message_id=second.message_id)
    act(as_alice, "move", [archived], folder=folder(synced_account, "Projects").pk)

    body = undo(as_alice, answer["undo"])[1]
    assert (body["count"], body["skipped"]) == (1, 1)
    assert body["notice"] == (
        "1 message put back. 1 was moved again or is gone, and stays as it is."
    )
    assert folder(synced_account, "INBOX").messages.filter(message_id=first.message_id).exists()
    assert folder(synced_account, "Projects").messages.filter(message_id=second.message_id).exists()


def test_a_whole_folder_archived_comes_back_whole(as_alice, synced_account, other_client):
    before = server_folders(other_client)
    inbox = folder(synced_account, "INBOX")
    count = inbox.messages.count()
    response = as_alice.post(ACTION, {"action": "archive", "in_folder": inbox.pk})
    answer = response.json()
    assert (answer["count"], len(answer["undo"][0]["ids"])) == (count, count)

    assert undo(as_alice, answer["undo"])[1]["count"] == count
    push(synced_account)
    assert server_folders(other_client) == before


def test_deleting_for_good_says_so_and_offers_no_undo(as_alice, synced_account):
    act(as_alice, "delete", some(synced_account, count=2))
    push(synced_account)
    answer = act(as_alice, "delete", some(synced_account, "Trash", count=2))
    assert answer == {"ok": True, "count": 2, "notice": "2 messages deleted for good."}


def test_read_star_and_copy_give_no_notice(as_alice, synced_account):
    messages = some(synced_account, count=1)
    assert act(as_alice, "read", messages) == {"ok": True, "count": 1}
    projects = folder(synced_account, "Projects")
    assert act(as_alice, "copy", messages, folder=projects.pk) == {"ok": True, "count": 1}


def test_bob_cannot_undo_alices_move(client, bob, as_alice, synced_account, other_client):
    answer = act(as_alice, "archive", some(synced_account, count=2))
    push(synced_account)
    cache, server = cache_of(synced_account), server_folders(other_client)
    client.force_login(bob)

    status, body = undo(client, answer["undo"])
    assert (status, body["count"], body["skipped"]) == (200, 0, 2)
    assert cache_of(synced_account) == cache
    assert not PendingChange.objects.exists()
    assert server_folders(other_client) == server


@pytest.mark.parametrize(
    "moves",
    ["", "not json", "[]", '[{"from": 1, "to": 2}]', '[{"from": "1", "to": 2, "ids": [3]}]',
     '[{"from": 1, "to": 2, "ids": [-3]}]', '[{"from": 1, "to": 2, "ids": [true]}]'],
)  # fmt: skip
def test_a_malformed_undo_is_a_400(as_alice, moves):
    response = as_alice.post(UNDO, {"moves": moves})
    assert (response.status_code, response.json()) == (
        400,
        {"ok": False, "error": "There is nothing to undo."},
    )


def test_undo_wants_a_logged_in_post(client, alice):
    assert client.post(UNDO, {"moves": "[]"}).status_code == 302
    client.force_login(alice)
    assert client.get(UNDO).status_code == 405


# --- POP3: mail kept here moves at once, and back ------------------------------------------------


@pytest.fixture
def pop3(alice, mail_world):
    login = new_mailbox(mail_world)
    deliver(mail_world, login, "Garden plans", "Invoice 42", "Kumquat jam")
    account = pop3_account(alice, mail_world, login)
    fetch_account(account.pk)
    return account


@pytest.mark.parametrize(("action", "role"), [("archive", Role.ARCHIVE), ("delete", Role.TRASH),
                                              ("junk", Role.JUNK)])  # fmt: skip
def test_alice_undoes_a_move_of_mail_kept_here(as_alice, pop3, action, role):
    inbox = Folder.objects.get(account=pop3, role=Role.INBOX)
    messages = list(inbox.messages.order_by("uid")[:2])
    answer = act(as_alice, action, messages)
    target = Folder.objects.get(account=pop3, role=role)
    assert answer["undo"] == [{"from": inbox.pk, "to": target.pk, "ids": [m.pk for m in messages]}]

    body = undo(as_alice, answer["undo"])[1]
    assert (body["count"], body["skipped"]) == (2, 0)
    assert set(inbox.messages.values_list("pk", flat=True)) >= {m.pk for m in messages}
    assert not target.messages.exists()
    inbox.refresh_from_db()
    assert inbox.total == 3
    assert not PendingChange.objects.exists()
    assert undo(as_alice, answer["undo"])[1]["count"] == 0  # once only


def test_raw_bytes_of_kept_mail_survive_the_round_trip(as_alice, pop3):
    message = Message.objects.filter(folder__account=pop3).first()
    answer = act(as_alice, "archive", [message])
    undo(as_alice, answer["undo"])
    message.refresh_from_db()
    with rawstore.open_raw(message.raw_name) as handle:
        parsed = email.message_from_bytes(handle.read())
    assert parsed["Subject"] == message.subject
