"""What Alice's open pages are told, and when: each change says what changed by id (mailbox/events.py
has the schema), after the commit, to her alone, without a word of any message's content."""

import pytest

from mailbox import actions, events
from mailbox.models import Folder
from mailbox.sync import run_account

pytestmark = [pytest.mark.django_db, pytest.mark.servers]


@pytest.fixture
def told(monkeypatch, django_capture_on_commit_callbacks, alice):
    """``told(work)``: runs ``work`` and its commits; the events sent, in order, each checked
    to go to Alice's pages alone."""

    def told(work):
        sent = []

        def record(users, event):
            assert list(users) == [alice.pk], event
            sent.append(event)

        monkeypatch.setattr(events, "send_event", record)
        with django_capture_on_commit_callbacks(execute=True):
            work()
        return sent

    return told


@pytest.fixture
def synced(imap_account, other_client):
    other_client.seed(5, seed=3, folders=["INBOX"])
    status, data = other_client.imap.create("Archive")
    assert status == "OK", data
    assert run_account(imap_account.pk)
    return Folder.objects.get(account=imap_account, name="INBOX")


def of(kind, sent):
    return [event for event in sent if event["type"] == kind]


def counts_of(folder):
    folder.refresh_from_db()
    return {"type": "folder.counts", "folder_id": folder.pk, "account_id": folder.account_id,
            "unread": folder.unread, "total": folder.total}  # fmt: skip


def test_new_mail_is_told_by_its_id_with_the_counts(synced, other_client, told):
    raw = b"From: Carol <carol@example.org>\r\nSubject: Secret plans\r\n\r\nThe body.\r\n"
    status, data = other_client.imap.append("INBOX", None, None, raw)
    assert status == "OK", data
    sent = told(lambda: run_account(synced.account_id))
    newest = synced.messages.latest("id")
    assert of("message.new", sent) == [
        {"type": "message.new", "folder_id": synced.pk, "account_id": synced.account_id,
         "role": "inbox", "ids": [newest.pk], "delivered": True}
    ]  # fmt: skip
    assert of("folder.counts", sent)[-1] == counts_of(synced)
    assert "Secret" not in repr(sent) and "Carol" not in repr(sent)  # ids, never content


def test_flags_changed_elsewhere_are_told_with_the_new_flags(synced, other_client, alice, told):
    message = synced.messages.filter(flagged=False).first()
    other_client.store("INBOX", [message.uid], "+FLAGS", "(\\Flagged $Label1)")
    sent = told(lambda: run_account(synced.account_id))
    flags = of("message.flags", sent)
    assert len(flags) == 1
    assert flags[0]["folder_id"] == synced.pk
    assert set(flags[0]["flags"][str(message.pk)]) >= {"\\Flagged", "$Label1"}
    assert of("message.new", sent) == [] and of("message.removed", sent) == []


def test_mail_expunged_elsewhere_is_told_as_removed(synced, other_client, alice, told):
    message = synced.messages.first()
    other_client.expunge("INBOX", [message.uid])
    sent = told(lambda: run_account(synced.account_id))
    assert of("message.removed", sent) == [
        {"type": "message.removed", "folder_id": synced.pk, "ids": [message.pk],
         "to_folder_id": None}
    ]  # fmt: skip
    assert of("folder.counts", sent)[-1] == counts_of(synced)


def test_a_star_set_here_is_told_with_the_flags_and_counts(synced, alice, told):
    message = synced.messages.filter(seen=False).first()
    sent = told(lambda: actions.do_set_flags(alice, [message.pk], add=["\\Seen"]))
    message.refresh_from_db()
    assert of("message.flags", sent) == [
        {"type": "message.flags", "folder_id": synced.pk,
         "flags": {str(message.pk): sorted(message.flags)}}
    ]  # fmt: skip
    assert "\\Seen" in message.flags
    assert of("folder.counts", sent) == [counts_of(synced)]


def test_a_move_here_is_told_as_removed_from_one_folder_and_new_in_the_other(synced, alice, told):
    archive = Folder.objects.get(account=synced.account, name="Archive")
    message = synced.messages.first()
    sent = told(lambda: actions.do_move_messages(alice, [message.pk], archive.pk))
    placeholder = archive.messages.get()
    assert of("message.removed", sent) == [
        {"type": "message.removed", "folder_id": synced.pk, "ids": [message.pk],
         "to_folder_id": archive.pk}
    ]  # fmt: skip
    assert of("message.new", sent) == [
        {"type": "message.new", "folder_id": archive.pk, "account_id": archive.account_id,
         "role": archive.role, "ids": [placeholder.pk], "delivered": False}
    ]  # fmt: skip
    assert {e["folder_id"] for e in of("folder.counts", sent)} == {synced.pk, archive.pk}


def test_too_many_to_list_is_one_folder_changed(
    imap_account, other_client, alice, monkeypatch, told
):
    monkeypatch.setattr(events, "MAX_LISTED", 3)
    monkeypatch.setattr("mailbox.sync.messages.MAX_LISTED", 3)
    other_client.seed(5, seed=3, folders=["INBOX"])
    sent = told(lambda: run_account(imap_account.pk))
    inbox = Folder.objects.get(account=imap_account, name="INBOX")
    assert of("message.new", sent) == []
    assert {"type": "folder.changed", "folder_id": inbox.pk,
            "account_id": imap_account.pk} in sent  # fmt: skip


def test_folders_created_and_deleted_are_told_by_id(synced, alice, told):
    account = synced.account
    sent = told(lambda: actions.do_create_folder(alice, account.pk, "Receipts"))
    receipts = Folder.objects.get(account=account, name="Receipts")
    assert [(e["created"], e["deleted"]) for e in of("folders.changed", sent)] == [
        ([receipts.pk], [])
    ]
    sent = told(lambda: actions.do_delete_folder(alice, receipts.pk))
    assert [(e["created"], e["deleted"]) for e in of("folders.changed", sent)] == [
        ([], [receipts.pk])
    ]


def test_every_event_type_is_one_the_pages_are_sent(synced, alice, told):
    """The consumer forwards only the types listed: an event of another type would be lost."""
    message = synced.messages.first()
    archive = Folder.objects.get(account=synced.account, name="Archive")

    def work():
        actions.do_set_flags(alice, [message.pk], add=["\\Flagged"])
        actions.do_move_messages(alice, [message.pk], archive.pk)

    sent = told(work)
    assert sent and {event["type"] for event in sent} <= events.EVENT_TYPES


def test_a_pop3_fetch_is_told_with_the_ids_it_kept(alice, mail_world, told):
    from mailbox.sync.fetch import fetch_account
    from tests.mailbox.pop3_world import deliver, new_mailbox, pop3_account

    login = new_mailbox(mail_world)
    deliver(mail_world, login, "First", "Second")
    account = pop3_account(alice, mail_world, login)
    sent = told(lambda: fetch_account(account.pk))
    inbox = Folder.objects.get(account=account, role="inbox")
    kept = sorted(inbox.messages.values_list("pk", flat=True))
    assert [e["ids"] for e in of("message.new", sent)] == [kept]
    assert of("fetch.done", sent) == [
        {"type": "fetch.done", "account_id": account.pk, "folder_id": inbox.pk, "added": 2}
    ]
    assert of("folder.counts", sent)[-1] == counts_of(inbox)
