"""Alice acts on selected messages (read, flag, move, copy, delete, archive, junk) through the
endpoint the reading screens use; the change shows in the cache at once and reaches the server
with the next push. Bob, posting Alice's message ids, changes nothing."""

import pytest
from django.test import Client

from mailbox.models import Folder, Message, PendingChange
from mailbox.sync import run_account

from .conftest import assert_cache_equals_server, cache_of, folder

pytestmark = [pytest.mark.django_db, pytest.mark.servers]

URL = "/mail/messages/action/"


@pytest.fixture
def synced_account(imap_account, other_client):
    other_client.seed(16, seed=5, folders=["INBOX", "Receipts"])
    assert run_account(imap_account.pk)
    return imap_account


def some(account, name="INBOX", count=3):
    return list(folder(account, name).messages.order_by("uid")[:count])


def act(client, action, messages, **data):
    response = client.post(URL, {"action": action, "ids": [m.pk for m in messages], **data})
    return response.status_code, response.json()


def counted(answer):
    """(status, count) of a successful answer; a move's also has its notice and undo."""
    status, body = answer
    assert body["ok"], body
    return status, body["count"]


def push(account):
    assert run_account(account.pk, push_only=True)
    assert not PendingChange.objects.filter(account=account).exists()


def resync(account, other_client):
    assert run_account(account.pk)
    assert_cache_equals_server(account, other_client)


# --- Alice ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "off", "flag"), [("read", "unread", "\\Seen"), ("flag", "unflag", "\\Flagged")]
)
def test_alice_sets_and_clears_a_flag(as_alice, synced_account, other_client, on, off, flag):
    messages = some(synced_account)
    uids = [m.uid for m in messages]

    assert act(as_alice, on, messages) == (200, {"ok": True, "count": 3})
    assert all(flag in m.flags for m in Message.objects.filter(pk__in=[m.pk for m in messages]))
    push(synced_account)
    server = other_client.flags("INBOX")
    assert all(flag in server[uid] for uid in uids)

    assert act(as_alice, off, messages) == (200, {"ok": True, "count": 3})
    push(synced_account)
    server = other_client.flags("INBOX")
    assert not any(flag in server[uid] for uid in uids)
    resync(synced_account, other_client)


@pytest.mark.parametrize("copy", [False, True], ids=["move", "copy"])
def test_alice_moves_or_copies_messages_to_another_folder(
    as_alice, synced_account, other_client, copy
):
    messages, receipts = some(synced_account, count=2), folder(synced_account, "Receipts")
    uids, in_receipts = [m.uid for m in messages], len(other_client.flags("Receipts"))

    status, body = act(as_alice, "copy" if copy else "move", messages, folder=receipts.pk)
    assert (status, body["ok"], body["count"]) == (200, True, 2)  # and a move's undo (test_undo)
    assert receipts.messages.count() == in_receipts + 2  # shown there at once
    push(synced_account)

    assert len(other_client.flags("Receipts")) == in_receipts + 2
    still_in_inbox = set(uids) & set(other_client.flags("INBOX"))
    assert still_in_inbox == (set(uids) if copy else set())
    resync(synced_account, other_client)


@pytest.mark.parametrize(("action", "target"), [("archive", "Archive"), ("junk", "Junk")])
def test_alice_archives_or_junks_messages(as_alice, synced_account, other_client, action, target):
    messages = some(synced_account, count=2)
    uids = {m.uid for m in messages}

    assert counted(act(as_alice, action, messages)) == (200, 2)
    push(synced_account)
    assert len(other_client.flags(target)) == 2
    assert not uids & set(other_client.flags("INBOX"))
    resync(synced_account, other_client)


def test_alice_deletes_to_the_trash_then_for_good(as_alice, synced_account, other_client):
    messages = some(synced_account, count=2)

    assert counted(act(as_alice, "delete", messages)) == (200, 2)
    push(synced_account)
    assert len(other_client.flags("Trash")) == 2
    resync(synced_account, other_client)

    assert counted(act(as_alice, "delete", some(synced_account, "Trash"))) == (200, 2)
    push(synced_account)
    assert other_client.flags("Trash") == {}
    resync(synced_account, other_client)


# --- what is refused ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"action": "move"}, "Choose the folder to put the messages in."),
        ({"action": "shred"}, "Select a valid choice. shred is not one of the available choices."),
        ({"action": "read", "ids": ["1; DROP TABLE"]}, "Message ids are numbers."),
        ({"action": "read", "ids": []}, "Choose at least one message."),
    ],
)
def test_a_malformed_request_is_a_400(as_alice, synced_account, data, error):
    data = {"ids": [m.pk for m in some(synced_account)], **data}
    response = as_alice.post(URL, data)
    assert (response.status_code, response.json()) == (400, {"ok": False, "error": error})


def test_messages_cannot_go_into_a_folder_that_holds_only_folders(as_alice, synced_account):
    container = Folder.objects.create(account=synced_account, name="Shelf", selectable=False)
    messages = some(synced_account)
    before = cache_of(synced_account)

    status, body = act(as_alice, "move", messages, folder=container.pk)
    assert (status, body) == (400, {"ok": False, "error": "Messages cannot be put in Shelf."})
    assert cache_of(synced_account) == before
    assert not PendingChange.objects.exists()


def test_a_folder_that_does_not_exist_is_a_404(as_alice, synced_account):
    status, body = act(as_alice, "move", some(synced_account), folder=999_999_999)
    assert (status, body) == (404, {"ok": False, "error": "That folder does not exist."})


def test_the_endpoint_wants_a_logged_in_post_with_a_csrf_token(alice, synced_account, as_alice):
    data = {"action": "read", "ids": [m.pk for m in some(synced_account)]}
    assert as_alice.get(URL, data).status_code == 405

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(URL, data).status_code == 403

    anonymous = Client()
    response = anonymous.post(URL, data)
    assert response.status_code == 302 and response.url.startswith("/login/")
    assert not PendingChange.objects.exists()


# --- Bob ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "action", ["read", "unread", "flag", "unflag", "delete", "archive", "junk", "move", "copy"]
)
def test_bob_changes_nothing_with_alices_message_ids(
    client, bob, synced_account, other_client, action
):
    client.force_login(bob)
    messages = some(synced_account, count=4)
    cache, server = cache_of(synced_account), other_client.flags("INBOX")
    receipts = folder(synced_account, "Receipts")

    status, body = act(client, action, messages, folder=receipts.pk)
    if action in ("move", "copy"):  # into Alice's folder: not his to find
        assert (status, body) == (404, {"ok": False, "error": "That folder does not exist."})
    else:
        assert (status, body) == (200, {"ok": True, "count": 0})

    assert cache_of(synced_account) == cache
    assert not PendingChange.objects.exists()
    assert run_account(synced_account.pk, push_only=True)
    assert other_client.flags("INBOX") == server
