"""Alice's POP3 mail lives here, in folders she can make, rename and delete; read, star, move,
delete, empty Trash and search all happen here, at once, with nothing queued for a server.
Bob should have no access to Alice's folders or mail."""

import pytest

from mailbox import actions
from mailbox.models import Folder, Message, PendingChange, Role
from mailbox.search import search_messages
from mailbox.sources import rawstore
from mailbox.sync.fetch import fetch_account
from tests.mailbox.pop3_world import deliver, new_mailbox, pop3_account

pytestmark = [pytest.mark.django_db, pytest.mark.servers]


@pytest.fixture
def account(alice, mail_world):
    login = new_mailbox(mail_world)
    deliver(mail_world, login, "Garden plans", "Invoice 42", "Kumquat jam",
            body="The rhubarb is ready.\n")  # fmt: skip
    account = pop3_account(alice, mail_world, login)
    fetch_account(account.pk)
    return account


def role(account, name):
    return Folder.objects.get(account=account, role=name)


def messages_in(folder):
    return sorted(folder.messages.values_list("subject", flat=True))


def test_the_folder_page_lists_the_local_folders(as_alice, account):
    page = as_alice.get(f"/mail/accounts/{account.pk}/folders/").content.decode()
    for name in ("Inbox", "Drafts", "Sent", "Archive", "Junk", "Trash"):
        assert name in page
    assert "These folders are kept here" in page and "Check now" in page
    assert "folder_subscribe" not in page and "/subscribe/" not in page


def test_alice_makes_renames_and_deletes_nested_folders(as_alice, alice, account):
    as_alice.post(f"/mail/accounts/{account.pk}/folders/create/", {"name": "Projects"})
    projects = Folder.objects.get(account=account, name="Projects")
    as_alice.post(f"/mail/accounts/{account.pk}/folders/create/",
                  {"name": "Garden", "parent": projects.pk})  # fmt: skip
    garden = Folder.objects.get(account=account, name="Projects/Garden")
    message = Message.objects.get(folder__account=account, subject="Garden plans")
    actions.do_move_messages(alice, [message.pk], garden.pk)
    as_alice.post(f"/mail/folders/{projects.pk}/rename/", {"name": "Home"})
    assert Folder.objects.get(pk=garden.pk).name == "Home/Garden"
    assert messages_in(Folder.objects.get(pk=garden.pk)) == ["Garden plans"]
    as_alice.post(f"/mail/folders/{projects.pk}/delete/")
    assert not Folder.objects.filter(pk__in=[projects.pk, garden.pk]).exists()
    assert not Message.objects.filter(pk=message.pk).exists()


def test_the_standard_folders_stay(as_alice, account):
    for name in (Role.INBOX, Role.SENT, Role.TRASH):
        as_alice.post(f"/mail/folders/{role(account, name).pk}/delete/")
        assert Folder.objects.filter(pk=role(account, name).pk).exists()


def test_read_star_and_move_happen_here_at_once(as_alice, alice, account):
    inbox = role(account, Role.INBOX)
    ids = list(inbox.messages.values_list("pk", flat=True))
    response = as_alice.post("/mail/messages/action/", {"action": "read", "ids": ids[:2]})
    assert response.json() == {"ok": True, "count": 2}
    as_alice.post("/mail/messages/action/", {"action": "flag", "ids": ids[:1]})
    inbox.refresh_from_db()
    assert inbox.unread == 1 and Message.objects.get(pk=ids[0]).flagged
    as_alice.post("/mail/messages/action/", {"action": "archive", "ids": ids[:1]})
    archive = role(account, Role.ARCHIVE)
    moved = Message.objects.get(pk=ids[0])
    assert moved.folder_id == archive.pk and moved.uid == 1 and moved.flagged
    assert not PendingChange.objects.exists()  # nothing to tell a server
    with rawstore.open_raw(moved.raw_name) as handle:  # the raw message stays where it was
        assert f"Subject: {moved.subject}".encode() in handle.read()


def test_delete_goes_to_trash_then_for_good(as_alice, alice, account):
    message = Message.objects.get(folder__account=account, subject="Invoice 42")
    as_alice.post("/mail/messages/action/", {"action": "delete", "ids": [message.pk]})
    message.refresh_from_db()
    assert message.folder_id == role(account, Role.TRASH).pk
    as_alice.post("/mail/messages/action/", {"action": "delete", "ids": [message.pk]})
    assert not Message.objects.filter(pk=message.pk).exists()


def test_emptying_trash_deletes_the_mail_kept_here(
    as_alice, alice, account, django_capture_on_commit_callbacks
):
    ids = list(role(account, Role.INBOX).messages.values_list("pk", flat=True))
    names = list(Message.objects.filter(pk__in=ids).values_list("raw_name", flat=True))
    actions.do_delete_messages(alice, ids)
    trash = role(account, Role.TRASH)
    assert "Empty Trash now" in as_alice.get(f"/mail/folders/{trash.pk}/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = as_alice.post(f"/mail/folders/{trash.pk}/empty/")
    assert response.status_code == 302
    assert not trash.messages.exists()
    assert not any(rawstore.storage().exists(name) for name in names)
    trash.refresh_from_db()
    assert (trash.total, trash.unread) == (0, 0)


def test_only_trash_and_junk_can_be_emptied(as_alice, account):
    inbox = role(account, Role.INBOX)
    as_alice.post(f"/mail/folders/{inbox.pk}/empty/")
    assert inbox.messages.count() == 3


def test_search_finds_headers_and_body_text_here(alice, account):
    inbox = role(account, Role.INBOX)
    found = search_messages(alice, folder_id=inbox.pk, query="rhubarb")
    assert len(found.messages) == 3 and found.problem is None
    found = search_messages(alice, folder_id=inbox.pk, query="subject:kumquat")
    assert [m.subject for m in found.messages] == ["Kumquat jam"]
    found = search_messages(alice, account_id=account.pk, query="nowhere-to-be-found")
    assert found.messages == []


def test_bob_has_no_access_to_alices_local_folders(client, bob, account):
    client.force_login(bob)
    inbox = role(account, Role.INBOX)
    message = inbox.messages.first()
    for url in (f"/mail/accounts/{account.pk}/folders/", f"/mail/folders/{inbox.pk}/",
                f"/mail/messages/{message.pk}/", f"/mail/messages/{message.pk}/original/",
                f"/mail/folders/{inbox.pk}/empty/"):  # fmt: skip
        assert client.get(url).status_code == 404, url
    assert client.post(f"/mail/folders/{inbox.pk}/empty/").status_code == 404
    assert client.post(f"/mail/accounts/{account.pk}/sync/").status_code == 404
    response = client.post("/mail/messages/action/", {"action": "delete", "ids": [message.pk]})
    assert response.json()["count"] == 0
    assert inbox.messages.count() == 3


def test_removing_a_pop3_account_warns_that_its_mail_goes_too(as_alice, account):
    page = as_alice.get(f"/accounts/{account.pk}/delete/").content.decode()
    assert "The 3 messages downloaded by POP3" in page and "mail stays on the server" not in page
    refused = as_alice.post(f"/accounts/{account.pk}/delete/")
    assert refused.status_code == 400 and "Tick the box" in refused.content.decode()
    assert Message.objects.filter(folder__account=account).count() == 3  # nothing deleted
    done = as_alice.post(f"/accounts/{account.pk}/delete/", {"delete_mail": "1"})
    assert done.status_code == 302
    assert not Message.objects.filter(folder__account=account).exists()


@pytest.mark.parametrize("bad", ["9223372036854775808", str(2**64 + 5), "0", "-3", "9" * 400])
def test_ids_that_name_nothing_are_refused_calmly(as_alice, account, bad):
    inbox = role(account, Role.INBOX)
    good = inbox.messages.first().pk
    response = as_alice.post("/mail/messages/action/", {"action": "read", "ids": [good, bad]})
    assert response.status_code == 400 and response.json()["ok"] is False
    response = as_alice.post("/mail/messages/action/", {"action": "read", "in_folder": bad})
    assert response.status_code == 400
    assert not Message.objects.get(pk=good).seen  # nothing done


def test_a_copy_of_kept_mail_reads_like_the_original(as_alice, alice, account):
    message = role(account, Role.INBOX).messages.get(subject="Invoice 42")
    archive = role(account, Role.ARCHIVE)
    response = as_alice.post("/mail/messages/action/",
                             {"action": "copy", "ids": [message.pk], "folder": archive.pk})  # fmt: skip
    assert response.json() == {"ok": True, "count": 1}
    copy = archive.messages.get()
    assert copy.raw_name == message.raw_name and copy.uid == 1
    assert "rhubarb" in as_alice.get(f"/mail/messages/{copy.pk}/").content.decode()
    actions.do_expunge_messages(alice, [copy.pk])  # the original still has its file
    assert rawstore.storage().exists(message.raw_name)
    assert "rhubarb" in as_alice.get(f"/mail/messages/{message.pk}/").content.decode()


def test_folder_names_that_would_mislead_are_refused(as_alice, account):
    url = f"/mail/accounts/{account.pk}/folders/create/"
    for name in ("inbox", "Inbox", "a\u2028b", "x\u202egnp.exe", "tab\there", "v\x0bt"):
        as_alice.post(url, {"name": name})
    as_alice.post(url, {"name": "Garden"})
    as_alice.post(url, {"name": "garden"})  # the same, but for the case
    names = set(Folder.objects.filter(account=account).values_list("name", flat=True))
    assert names == {"INBOX", "Drafts", "Sent", "Archive", "Junk", "Trash", "Garden"}
