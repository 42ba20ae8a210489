"""A draft's copy in Drafts: on the real Dovecot for an IMAP account (checked by another IMAP
client), in the local Drafts for a POP3 account. However often and in whatever order the copy is
saved, exactly one copy is left, and it is the newest text."""

import email
import email.policy
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.identities import default_identity
from mailbox import drafts
from mailbox.drafts import DraftFields, do_delete_draft, do_save_draft
from mailbox.models import Draft, Folder, Message, Role
from mailbox.sources import rawstore
from mailbox.sync import run_account
from mailbox.sync.drafts import delete_copy, save_copy
from tests.mailbox.pop3_world import new_mailbox, pop3_account

pytestmark = [pytest.mark.django_db, pytest.mark.servers]


def server_drafts(client):
    """[(uid, flags, parsed message)] in Drafts, as another IMAP client sees it."""
    client.imap.select('"Drafts"')
    status, data = client.imap.uid("SEARCH", None, "ALL")
    assert status == "OK"
    found = []
    for uid in data[0].split():
        status, parts = client.imap.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
        flags = re.search(rb"FLAGS \(([^)]*)\)", parts[0][0]).group(1).decode().split()
        parsed = email.message_from_bytes(parts[0][1], policy=email.policy.default)
        found.append((int(uid), flags, parsed))
    return found


@pytest.fixture
def synced(imap_account):
    assert run_account(imap_account.pk)
    assert Folder.objects.filter(account=imap_account, role=Role.DRAFTS).exists()
    return imap_account


def fields(account, **values):
    return DraftFields(identity=default_identity(account), **values)


def test_a_draft_saved_twice_leaves_one_copy_the_newest(alice, synced, other_client):
    draft = do_save_draft(alice, fields(synced, to="bob@example.com", subject="First", text="1"))
    assert save_copy(draft.pk) == 1
    draft = do_save_draft(
        alice, fields(synced, to="bob@example.com", bcc="eve@example.org", subject="Second",
                      text="2"), draft=draft,
    )  # fmt: skip
    assert save_copy(draft.pk) == 2
    (copy,) = server_drafts(other_client)
    uid, flags, message = copy
    assert message["Subject"] == "Second"
    assert message["Message-ID"].strip() == draft.message_id
    assert message["Bcc"] == "eve@example.org"  # the draft keeps its Bcc
    assert {"\\Draft", "\\Seen"} <= set(flags)
    draft.refresh_from_db()
    assert (draft.copy_uid, draft.copy_version) == (uid, 2)


def test_a_late_or_repeated_run_never_puts_an_older_text_back(alice, synced, other_client):
    draft = do_save_draft(alice, fields(synced, subject="v1", text="one"))
    draft = do_save_draft(alice, fields(synced, subject="v2", text="two"), draft=draft)
    assert save_copy(draft.pk) == 2  # the run queued by the second save came first
    before = server_drafts(other_client)
    assert save_copy(draft.pk) == 2  # the first save's run, late: nothing to do
    assert save_copy(draft.pk) == 2  # and a redelivered one
    after = server_drafts(other_client)
    assert [(u, m["Subject"]) for u, _f, m in after] == [(u, m["Subject"]) for u, _f, m in before]
    assert [m["Subject"] for _u, _f, m in after] == ["v2"]


def test_a_run_killed_after_its_append_leaves_no_second_copy(alice, synced, other_client):
    """What an APPEND whose UID was never recorded left (a worker killed before its commit) is
    found by the draft's own Message-ID and removed by the next run."""
    draft = do_save_draft(alice, fields(synced, subject="v1", text="one"))
    save_copy(draft.pk)
    orphan = server_drafts(other_client)[0][2]
    other_client.imap.append('"Drafts"', "(\\Draft)", None, orphan.as_bytes())
    assert len(server_drafts(other_client)) == 2
    draft = do_save_draft(alice, fields(synced, subject="v2", text="two"), draft=draft)
    save_copy(draft.pk)
    assert [m["Subject"] for _u, _f, m in server_drafts(other_client)] == ["v2"]


def test_deleting_a_draft_removes_its_copy_and_its_files(alice, synced, other_client,
                                                         django_capture_on_commit_callbacks):  # fmt: skip
    draft = do_save_draft(alice, fields(synced, subject="Doomed", text="x"))
    upload = SimpleUploadedFile("notes.txt", b"some notes", "text/plain")
    (attachment,) = drafts.do_attach_files(alice, draft, [upload])
    save_copy(draft.pk)
    draft.refresh_from_db()
    copy = (draft.copy_folder_id, draft.copy_uidvalidity, draft.copy_uid, draft.message_id)
    assert len(server_drafts(other_client)) == 1
    assert run_account(synced.pk)  # the copy is cached, and counted in Drafts
    drafts_folder = Folder.objects.get(pk=draft.copy_folder_id)
    assert drafts_folder.total == 1
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        do_delete_draft(draft)
    callbacks[0]()  # the files (the task that removes the copy is run by hand just below)
    delete_copy(synced, *copy)
    assert not Draft.objects.filter(pk=draft.pk).exists()
    drafts_folder.refresh_from_db()
    assert drafts_folder.total == 0 and not drafts_folder.messages.exists()
    assert server_drafts(other_client) == []
    with pytest.raises(FileNotFoundError):
        rawstore.open_raw(attachment.stored_name)


def test_a_pop3_draft_is_kept_once_in_the_local_drafts(alice, mail_world,
                                                      django_capture_on_commit_callbacks):  # fmt: skip
    account = pop3_account(alice, mail_world, new_mailbox(mail_world))
    draft = do_save_draft(alice, fields(account, to="bob@example.com", subject="First", text="1"))
    save_copy(draft.pk)
    first = Message.objects.get(folder__account=account, folder__role=Role.DRAFTS)
    draft = do_save_draft(alice, fields(account, to="bob@example.com", subject="Second",
                                        text="2"), draft=draft)  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        save_copy(draft.pk)
        save_copy(draft.pk)
    (kept,) = Message.objects.filter(folder__account=account, folder__role=Role.DRAFTS)
    assert (kept.subject, kept.draft, kept.seen) == ("Second", True, True)
    with rawstore.open_raw(kept.raw_name) as handle:
        assert email.message_from_bytes(handle.read())["Message-ID"].strip() == draft.message_id
    with pytest.raises(FileNotFoundError):
        rawstore.open_raw(first.raw_name)
    assert Folder.objects.get(pk=kept.folder_id).total == 1
    with django_capture_on_commit_callbacks(execute=True):
        do_delete_draft(draft)
    delete_copy(account, kept.folder_id, kept.uidvalidity, kept.uid, draft.message_id)
    assert not Message.objects.filter(folder__account=account, folder__role=Role.DRAFTS).exists()


def test_a_draft_moved_to_another_account_leaves_the_first_ones_drafts(
    alice, synced, other_client, mail_world
):
    draft = do_save_draft(alice, fields(synced, subject="Which account?", text="x"))
    save_copy(draft.pk)
    assert len(server_drafts(other_client)) == 1
    pop3 = pop3_account(alice, mail_world, new_mailbox(mail_world))
    draft = do_save_draft(alice, fields(pop3, subject="This one", text="x"), draft=draft)
    save_copy(draft.pk)
    assert server_drafts(other_client) == []
    (kept,) = Message.objects.filter(folder__account=pop3, folder__role=Role.DRAFTS)
    assert kept.subject == "This one"


def test_without_uidplus_the_old_copy_is_only_marked_deleted(alice, synced, other_client,
                                                            monkeypatch):  # fmt: skip
    """A plain EXPUNGE would also remove what the user marked deleted elsewhere: on a server
    without UID EXPUNGE the old copy is left marked \\Deleted, for the user's client to expunge."""
    import mailbox.sync as sync_package

    real = sync_package.imap_session
    monkeypatch.setattr(sync_package, "imap_session",
                        lambda account, **kw: real(account, without={"UIDPLUS"}))  # fmt: skip
    other_client.imap.append('"Drafts"', "(\\Deleted)", None, b"Subject: someone else's\r\n\r\nx")
    draft = do_save_draft(alice, fields(synced, subject="v1", text="one"))
    save_copy(draft.pk)
    draft = do_save_draft(alice, fields(synced, subject="v2", text="two"), draft=draft)
    save_copy(draft.pk)
    found = {m["Subject"]: set(flags) for _u, flags, m in server_drafts(other_client)}
    assert set(found) == {"someone else's", "v1", "v2"}, "nothing expunged"
    assert "\\Deleted" in found["v1"] and "\\Deleted" not in found["v2"]


def test_a_save_made_while_the_copy_is_written_is_copied_too(alice, synced, other_client,
                                                            monkeypatch):  # fmt: skip
    """The row is not locked while the server is talked to (the user's saves never wait for
    it); the run copies again what was saved meanwhile."""
    from mailbox.sync import drafts as sync_drafts

    real, saved = sync_drafts._replace_server_copy, []

    def slow_server(draft, folder, raw):
        if not saved:  # the user saves while this copy is on its way
            saved.append(do_save_draft(alice, fields(synced, subject="v2", text="two"),
                                       draft=Draft.objects.get(pk=draft.pk)))  # fmt: skip
        return real(draft, folder, raw)

    monkeypatch.setattr(sync_drafts, "_replace_server_copy", slow_server)
    draft = do_save_draft(alice, fields(synced, subject="v1", text="one"))
    assert save_copy(draft.pk) == 2
    assert [m["Subject"] for _u, _f, m in server_drafts(other_client)] == ["v2"]


def test_a_draft_deleted_while_its_copy_is_written_leaves_no_copy(alice, synced, other_client,
                                                                 monkeypatch):  # fmt: skip
    from mailbox.sync import drafts as sync_drafts

    real = sync_drafts._replace_server_copy

    def deleted_meanwhile(draft, folder, raw):
        Draft.objects.filter(pk=draft.pk).delete()  # sent, or discarded in another tab
        return real(draft, folder, raw)

    monkeypatch.setattr(sync_drafts, "_replace_server_copy", deleted_meanwhile)
    draft = do_save_draft(alice, fields(synced, subject="Gone", text="x"))
    assert save_copy(draft.pk) is None
    assert server_drafts(other_client) == []
