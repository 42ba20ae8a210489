"""Alice's standard folders (Inbox, Drafts, Sent, Archive, Junk, Trash) stay as they are: the
folder page offers no rename or delete for them, and a rename or delete posted anyway is refused
with a message that says why, on her IMAP account (the server keeps them) and on her POP3 one
(kept here). Her own folders can still be renamed and deleted."""

import re

import pytest

from mailbox.models import Folder, Role
from mailbox.sync import run_account
from tests.mailbox.pop3_world import deliver, new_mailbox, pop3_account

from .test_folder_views import folders_url, post, server_folders

pytestmark = [pytest.mark.django_db, pytest.mark.servers]

STANDARD = [Role.INBOX, Role.DRAFTS, Role.SENT, Role.ARCHIVE, Role.JUNK, Role.TRASH]


@pytest.fixture
def imap(imap_account, other_client):
    other_client.seed(3, seed=7, folders=["INBOX", "Receipts"])
    assert run_account(imap_account.pk)
    return imap_account


@pytest.fixture
def pop3(alice, mail_world):
    login = new_mailbox(mail_world)
    deliver(mail_world, login, "Garden plans")
    account = pop3_account(alice, mail_world, login)
    Folder.objects.create(account=account, name="Receipts", delimiter="/")
    return account


def tools_of(page, folder):
    """The rename/delete cell of the folder's row on the folder page."""
    row = re.search(
        rf'data-folder-id="{folder.pk}".*?<span class="tools">(.*?)</span>\s*</div>', page, re.S
    )
    return row.group(1)


def by_role(account, role):
    return Folder.objects.get(account=account, role=role)


@pytest.mark.parametrize("kind", ["imap", "pop3"])
def test_the_folder_page_offers_no_rename_or_delete_for_standard_folders(as_alice, kind, request):
    account = request.getfixturevalue(kind)
    page = as_alice.get(folders_url(account)).content.decode()
    for role in STANDARD:
        tools = tools_of(page, by_role(account, role))
        assert "Standard folder" in tools
        assert "/rename/" not in tools and "/delete/" not in tools and "Rename" not in tools
    receipts = tools_of(page, Folder.objects.get(account=account, name="Receipts"))
    assert "/rename/" in receipts and "/delete/" in receipts
    assert "Standard folder" not in receipts


@pytest.mark.parametrize("kind", ["imap", "pop3"])
def test_a_rename_or_delete_posted_anyway_is_refused(as_alice, kind, request):
    account = request.getfixturevalue(kind)
    for role in [Role.DRAFTS, Role.SENT, Role.ARCHIVE, Role.JUNK, Role.TRASH]:
        folder = by_role(account, role)
        label = Role(role).label
        said = post(as_alice, f"/mail/folders/{folder.pk}/rename/", {"name": "Old " + label})
        assert said == [f"{label} is one of this account's standard folders and cannot be renamed."]
        said = post(as_alice, f"/mail/folders/{folder.pk}/delete/")
        assert said == [f"{label} is one of this account's standard folders and cannot be deleted."]
        # and the page that would ask to confirm a delete is not shown either
        said = post_get(as_alice, f"/mail/folders/{folder.pk}/delete/")
        assert said == [f"{label} is one of this account's standard folders and cannot be deleted."]
        assert Folder.objects.get(pk=folder.pk).name == folder.name
    inbox = by_role(account, Role.INBOX)
    assert post(as_alice, f"/mail/folders/{inbox.pk}/rename/", {"name": "Old"}) == [
        "The Inbox cannot be renamed."
    ]
    assert post(as_alice, f"/mail/folders/{inbox.pk}/delete/") == ["The Inbox cannot be deleted."]
    assert Folder.objects.filter(account=account, role__in=STANDARD).count() == 6


def test_the_imap_server_keeps_the_standard_folders(as_alice, imap, other_client):
    for role in STANDARD:
        folder = by_role(imap, role)
        post(as_alice, f"/mail/folders/{folder.pk}/rename/", {"name": "Renamed " + role})
        post(as_alice, f"/mail/folders/{folder.pk}/delete/")
    on_server = server_folders(other_client)
    assert {"INBOX", "Drafts", "Sent", "Archive", "Junk", "Trash"} <= on_server
    assert not any(name.startswith("Renamed") for name in on_server)


@pytest.mark.parametrize("kind", ["imap", "pop3"])
def test_her_own_folders_can_still_be_renamed_and_deleted(as_alice, kind, request):
    account = request.getfixturevalue(kind)
    receipts = Folder.objects.get(account=account, name="Receipts")
    assert post(as_alice, f"/mail/folders/{receipts.pk}/rename/", {"name": "Bills"}) == [
        "Receipts is now called Bills."
    ]
    assert post(as_alice, f"/mail/folders/{receipts.pk}/delete/") == [
        "The folder Bills was deleted."
    ]
    assert not Folder.objects.filter(pk=receipts.pk).exists()


def test_bob_cannot_even_learn_of_alices_standard_folders(client, bob, imap):
    client.force_login(bob)
    sent = by_role(imap, Role.SENT)
    assert client.post(f"/mail/folders/{sent.pk}/rename/", {"name": "X"}).status_code == 404
    assert client.get(f"/mail/folders/{sent.pk}/delete/").status_code == 404


def post_get(client, url):
    """Alice opens a GET link, lands back on the folder page, and reads what it says."""
    response = client.get(url, follow=True)
    [(landing, status)] = response.redirect_chain
    assert status == 302 and re.fullmatch(r"/mail/accounts/\d+/folders/", landing)
    return [str(message) for message in response.context["messages"]]
