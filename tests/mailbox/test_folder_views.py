"""Alice manages the folders of her IMAP account from the web: what she does happens on the
server (her phone, the other client, sees it), and what the server refuses is said calmly.
Bob should have no access to Alice's folders: not to see, not to change, not to learn of."""

import base64
import re
import socket

import pytest
from django.utils import timezone

from mailbox import tasks
from mailbox.models import Folder
from mailbox.sync import run_account

from .conftest import folder

pytestmark = [pytest.mark.django_db, pytest.mark.servers]


# --- what the other client sees, read without our IMAP code -----------------------------------

LIST_LINE = re.compile(rb'^\((?P<attributes>[^)]*)\) (?:"(?:[^"\\]|\\.)*"|NIL) (?P<name>.*)$')


def decode_modified_utf7(name):
    def unshift(match):
        chunk = match.group(1).replace(",", "/")
        return (
            base64.b64decode(chunk + "=" * (-len(chunk) % 4)).decode("utf-16-be") if chunk else "&"
        )

    return re.sub(r"&([^-]*)-", unshift, name)


def server_folders(other_client, command="list"):
    """The folder names the server lists (or, with "lsub", the subscribed ones), decoded."""
    status, data = getattr(other_client.imap, command)('""', "*")
    assert status == "OK", data
    names = set()
    for item in data:
        if isinstance(item, tuple):  # the name came as a literal
            names.add(item[1])
        elif item and (match := LIST_LINE.match(item)):
            raw = match.group("name")
            if raw.startswith(b'"'):
                raw = re.sub(rb"\\(.)", rb"\1", raw[1:-1])
            names.add(raw)
    return {decode_modified_utf7(name.decode()) for name in names}


# --- the world ---------------------------------------------------------------------------------


@pytest.fixture
def synced_account(imap_account, other_client):
    """Alice's account with a few folders, mirrored in the cache by a first sync."""
    other_client.seed(12, seed=4, folders=["INBOX", "Projects/Garden", "Receipts"])
    assert run_account(imap_account.pk)
    return imap_account


def post(client, url, data=None):
    """Alice posts a form, lands back on the folder page, and reads what it says."""
    response = client.post(url, data or {}, follow=True)
    [(landing, status)] = response.redirect_chain
    assert status == 302 and re.fullmatch(r"/mail/accounts/\d+/folders/", landing)
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


def folders_url(account):
    return f"/mail/accounts/{account.pk}/folders/"


def create(client, account, name, parent=None):
    data = {"name": name, "parent": parent.pk if parent else ""}
    return post(client, f"/mail/accounts/{account.pk}/folders/create/", data)


# --- Alice sees her folders --------------------------------------------------------------------


def test_alice_sees_her_folder_tree_in_order(as_alice, synced_account):
    inbox = folder(synced_account, "INBOX")
    response = as_alice.get(folders_url(synced_account))
    assert response.status_code == 200
    text = response.content.decode()
    names = re.findall(r'data-folder-name="([^"]*)"', text)
    assert names == [
        "INBOX", "Drafts", "Sent", "Archive", "Junk", "Trash",
        "Projects", "Projects/Garden", "Receipts",
    ]  # fmt: skip
    garden = re.search(r'<li[^>]*data-folder-name="Projects".*?</li>', text, re.S).group(0)
    assert 'data-folder-name="Projects/Garden"' in garden  # nested inside its parent
    assert inbox.total > 0
    row = re.search(r'data-folder-name="INBOX".*?</div>', text, re.S).group(0)
    assert re.search(rf'<span class="n">{inbox.unread}</span> <span[^>]*>unread</span>', row)
    assert re.search(rf'<span class="n">{inbox.total}</span> <span[^>]*>in all</span>', row)
    assert "Last synced" in text and "Sync now" in text


def test_alice_sees_what_went_wrong_at_the_last_sync(as_alice, synced_account):
    synced_account.last_error = "127.0.0.1:143 refused the user name or password."
    synced_account.synced_at = timezone.now()
    synced_account.save()
    text = as_alice.get(folders_url(synced_account)).content.decode()
    assert "The last sync failed:" in text
    assert "refused the user name or password" in text


def test_the_accounts_page_links_to_the_folders(as_alice, synced_account):
    assert folders_url(synced_account) in as_alice.get("/accounts/").content.decode()


def test_alice_asks_for_a_sync_now(as_alice, synced_account, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.sync_account, "delay", queued.append)
    said = post(as_alice, f"/mail/accounts/{synced_account.pk}/sync/")
    assert said == [f"{synced_account.email} is being synced with its server."]
    assert queued == [synced_account.pk]
    assert as_alice.get(f"/mail/accounts/{synced_account.pk}/sync/").status_code == 405


# --- Alice changes her folders, and the server has the change ----------------------------------


def test_alice_creates_renames_and_deletes_a_folder(as_alice, synced_account, other_client):
    projects = folder(synced_account, "Projects")

    said = create(as_alice, synced_account, "Reçus & factures", parent=projects)
    assert said == ["The folder Reçus & factures was created."]
    assert "Projects/Reçus & factures" in server_folders(other_client)
    assert "Projects/Reçus & factures" in server_folders(other_client, "lsub")
    created = folder(synced_account, "Projects/Reçus & factures")
    assert "Reçus &amp; factures" in as_alice.get(folders_url(synced_account)).content.decode()

    assert post(as_alice, f"/mail/folders/{created.pk}/rename/", {"name": "Factures 2024"}) == [
        "Reçus & factures is now called Factures 2024."
    ]
    on_server = server_folders(other_client)
    assert "Projects/Factures 2024" in on_server and "Projects/Reçus & factures" not in on_server
    created.refresh_from_db()
    assert created.name == "Projects/Factures 2024"  # the same folder, with its cache

    page = as_alice.get(f"/mail/folders/{created.pk}/delete/")
    assert "Delete the folder Projects/Factures 2024?" in page.content.decode()
    assert post(as_alice, f"/mail/folders/{created.pk}/delete/") == [
        "The folder Projects/Factures 2024 was deleted."
    ]
    assert "Projects/Factures 2024" not in server_folders(other_client)
    assert not Folder.objects.filter(pk=created.pk).exists()


def test_alice_creates_a_folder_with_quotes_in_its_name(as_alice, synced_account, other_client):
    name = 'Le "grand" projet \\ 2025'
    assert create(as_alice, synced_account, name) == [f"The folder {name} was created."]
    assert name in server_folders(other_client)
    assert folder(synced_account, name).subscribed


def test_alice_unsubscribes_and_subscribes_again(as_alice, synced_account, other_client):
    receipts = folder(synced_account, "Receipts")
    url = f"/mail/folders/{receipts.pk}/subscribe/"

    assert post(as_alice, url, {"subscribed": "0"}) == ["You are no longer subscribed to Receipts."]
    assert "Receipts" not in server_folders(other_client, "lsub")
    assert "Receipts" in server_folders(other_client)
    receipts.refresh_from_db()
    assert not receipts.subscribed

    assert post(as_alice, url, {"subscribed": "1"}) == ["You are subscribed to Receipts."]
    assert "Receipts" in server_folders(other_client, "lsub")
    receipts.refresh_from_db()
    assert receipts.subscribed


# --- what is refused ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Evil\r\nA1 DELETE INBOX", "two\nlines", "carriage\rreturn"])
def test_a_name_with_a_line_break_never_reaches_the_server(
    as_alice, synced_account, other_client, monkeypatch, name
):
    before = server_folders(other_client)
    opened = []
    monkeypatch.setattr("mailbox.sync.imap_session", lambda *a, **k: opened.append(a))
    receipts = folder(synced_account, "Receipts")

    assert create(as_alice, synced_account, name) == [
        "A folder name is 1 to 200 characters on one line."
    ]
    assert post(as_alice, f"/mail/folders/{receipts.pk}/rename/", {"name": name}) == [
        "A folder name is 1 to 200 characters on one line."
    ]

    assert opened == []
    assert server_folders(other_client) == before
    receipts.refresh_from_db()
    assert receipts.name == "Receipts"


def test_a_name_with_a_nul_is_refused(as_alice, synced_account, other_client):
    before = server_folders(other_client)
    assert create(as_alice, synced_account, "nul\0byte") == [
        "Name: Null characters are not allowed."
    ]
    assert server_folders(other_client) == before


def test_the_server_refusing_a_folder_that_exists_is_said_calmly(
    as_alice, synced_account, other_client
):
    [text] = create(as_alice, synced_account, "Receipts")  # known here: refused before asking
    assert text == "There is already a folder Receipts."
    assert other_client.imap.create('"Fresh"')[0] == "OK"  # the phone was quicker
    [text] = create(as_alice, synced_account, "Fresh")
    assert text == "The mail server refused: Mailbox already exists"


def test_deleting_a_folder_the_phone_already_deleted_is_said_calmly(
    as_alice, synced_account, other_client
):
    receipts = folder(synced_account, "Receipts")
    assert other_client.imap.delete('"Receipts"')[0] == "OK"
    [text] = post(as_alice, f"/mail/folders/{receipts.pk}/delete/")
    assert text == "The mail server refused: Mailbox doesn't exist: Receipts"
    assert as_alice.get(folders_url(synced_account)).status_code == 200


def test_a_server_that_does_not_answer_is_said_calmly(as_alice, synced_account):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    synced_account.incoming_port = port
    synced_account.incoming_password = synced_account.incoming_password  # typed for that port
    synced_account.save()
    assert create(as_alice, synced_account, "Somewhere") == [
        f"127.0.0.1:{port} refused the connection. "
        "Check the port, or whether the server is running."
    ]


def test_a_rename_onto_a_sibling_is_refused_before_asking_the_server(
    as_alice, synced_account, other_client
):
    receipts = folder(synced_account, "Receipts")
    assert post(as_alice, f"/mail/folders/{receipts.pk}/rename/", {"name": "Projects"}) == [
        "New name: There is already a folder named Projects."
    ]
    assert {"Receipts", "Projects"} <= server_folders(other_client)


def test_a_rename_the_server_refuses_leaves_the_folder_and_its_mail_as_they_were(
    as_alice, synced_account, other_client
):
    """The server knows a folder the cache does not (made by another client since the last
    sync), so it refuses the rename: the folder keeps its name, its page and its messages."""
    receipts = folder(synced_account, "Receipts")
    cached = set(receipts.messages.values_list("pk", "uid"))
    assert cached
    status, data = other_client.imap.create("Taxes")
    assert status == "OK", data
    [said] = post(as_alice, f"/mail/folders/{receipts.pk}/rename/", {"name": "Taxes"})
    assert said.startswith("The mail server refused:"), said
    receipts = Folder.objects.get(pk=receipts.pk)
    assert receipts.name == "Receipts"
    assert set(receipts.messages.values_list("pk", "uid")) == cached
    assert as_alice.get(f"/mail/folders/{receipts.pk}/").status_code == 200
    assert {"Receipts", "Taxes"} <= server_folders(other_client)


def test_the_inbox_stays(as_alice, synced_account, other_client):
    inbox = folder(synced_account, "INBOX")
    assert post(as_alice, f"/mail/folders/{inbox.pk}/rename/", {"name": "Old mail"}) == [
        "The Inbox cannot be renamed."
    ]
    assert post(as_alice, f"/mail/folders/{inbox.pk}/delete/") == ["The Inbox cannot be deleted."]
    assert "INBOX" in server_folders(other_client)


def test_an_empty_name_is_refused(as_alice, synced_account):
    assert create(as_alice, synced_account, "   ") == ["Name: This field is required."]


# --- Bob, and accounts without folders ----------------------------------------------------------


@pytest.fixture
def as_bob(client, bob):
    client.force_login(bob)
    return client


def alices_urls(account):
    receipts = folder(account, "Receipts")
    return [
        ("get", folders_url(account), {}),
        ("post", f"/mail/accounts/{account.pk}/folders/create/", {"name": "Bob was here"}),
        ("post", f"/mail/accounts/{account.pk}/sync/", {}),
        ("post", f"/mail/folders/{receipts.pk}/rename/", {"name": "Bob was here"}),
        ("get", f"/mail/folders/{receipts.pk}/delete/", {}),
        ("post", f"/mail/folders/{receipts.pk}/delete/", {}),
        ("post", f"/mail/folders/{receipts.pk}/subscribe/", {"subscribed": "0"}),
    ]


def test_bob_gets_404_for_alices_folders(as_bob, synced_account, other_client, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.sync_account, "delay", queued.append)
    before = server_folders(other_client), server_folders(other_client, "lsub")
    for method, url, data in alices_urls(synced_account):
        assert getattr(as_bob, method)(url, data).status_code == 404, url
    assert (server_folders(other_client), server_folders(other_client, "lsub")) == before
    assert queued == []
    assert folder(synced_account, "Receipts").subscribed


def test_the_folder_page_speaks_french(as_alice, synced_account):
    text = as_alice.get(folders_url(synced_account), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Boîte de réception" in text and "Synchroniser maintenant" in text
    as_alice.cookies["django_language"] = "fr"
    assert create(as_alice, synced_account, "Receipts") == ["Il existe déjà un dossier Receipts."]


def test_a_visitor_is_asked_to_log_in(client, imap_account):
    response = client.get(folders_url(imap_account))
    assert response.status_code == 302 and response.url.startswith("/login/")
