"""Alice's Sent and Drafts folders list whom she wrote to ("To: Ann Smith, bob@example.org"), not
herself on every row; the Inbox still lists senders. Real messages in Dovecot's Sent and Drafts
(IMAP), and in the local Sent of a POP3 account."""

import html
import re
from email.message import EmailMessage

import pytest

from mailbox import actions
from mailbox.models import Folder, Role
from mailbox.sync import run_account
from mailbox.sync.fetch import fetch_account
from tests.mailbox.pop3_world import deliver as pop3_deliver
from tests.mailbox.pop3_world import new_mailbox, pop3_account

pytestmark = [pytest.mark.django_db, pytest.mark.servers]


def written(subject, to="Ann Smith <ann@example.org>, bob@example.org", cc=None, bcc=None):
    message = EmailMessage()
    message["From"] = "Alice Liddell <alice@example.com>"
    if to:
        message["To"] = to
    if cc:
        message["Cc"] = cc
    if bcc:
        message["Bcc"] = bcc
    message["Subject"] = subject
    message.set_content("Hello.\n")
    return bytes(message)


def row_labels(page):
    """{subject: the text of the row's link (what a screen reader says)} of a list page."""
    labels = {}
    for link in re.findall(r'<a class="open"[^>]*>(.*?)</a>', page, re.S):
        text = html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"</?bdi>", "", link)))
        subject = re.search(r'<span class="subject">(.*?)</span>', link, re.S).group(1)
        labels[html.unescape(re.sub(r"<[^>]+>", "", subject))] = " ".join(text.split())
    return labels


def who(page, subject):
    """The row's "sender" column: its visible text."""
    for link in re.findall(r'<a class="open"[^>]*>(.*?)</a>', page, re.S):
        if f"<bdi>{subject}</bdi>" in link:
            shown = re.search(r'<span class="sender">(.*?)</span>', link, re.S).group(1)
            return html.unescape(re.sub(r"<[^>]+>", "", shown))
    raise AssertionError(f"no row for {subject}")


def append(other_client, folder, raw):
    status, data = other_client.imap.append(folder, None, None, raw)
    assert status == "OK", data


def test_sent_and_drafts_rows_show_the_recipients(as_alice, imap_account, other_client):
    append(other_client, "Sent", written("Plans"))
    append(other_client, "Sent", written("To Carol only", to=None, cc='"Carol, C." <c@x.org>'))
    append(other_client, "Sent", written("Hidden", to="\u202eevil\u202c <e@x.org>"))
    append(other_client, "Drafts", written("Unfinished", to=None))
    append(other_client, "Drafts", written("Nearly done", to="dan@example.org"))
    append(other_client, "INBOX", written("Incoming"))
    assert run_account(imap_account.pk)
    folders = {f.role: f for f in Folder.objects.filter(account=imap_account)}
    assert folders[Role.SENT].name == "Sent" and folders[Role.DRAFTS].name == "Drafts"

    sent = as_alice.get(f"/mail/folders/{folders[Role.SENT].pk}/").content.decode()
    assert who(sent, "Plans") == "To: Ann Smith, bob@example.org"
    assert who(sent, "To Carol only") == "To: Carol, C."
    assert who(sent, "Hidden") == "To: evil"
    assert "Alice Liddell" not in re.search(r'<ul class="message-list".*?</ul>', sent, re.S)[0]
    assert row_labels(sent)["Plans"].startswith("To: Ann Smith, bob@example.org Plans")
    assert "<bdi>Ann Smith</bdi>, <bdi>bob@example.org</bdi>" in sent

    drafts = as_alice.get(f"/mail/folders/{folders[Role.DRAFTS].pk}/").content.decode()
    assert who(drafts, "Nearly done") == "To: dan@example.org"
    assert who(drafts, "Unfinished") == "(no visible recipients)"

    inbox = as_alice.get(f"/mail/folders/{folders[Role.INBOX].pk}/").content.decode()
    assert who(inbox, "Incoming") == "Alice Liddell"


def test_a_bcc_only_message_says_its_recipients_are_not_shown(as_alice, imap_account, other_client):
    # our Sent copy keeps its Bcc field; the cached row has no To or Cc to show, and saying
    # "(no recipients)" of a message that reached people would be false
    append(other_client, "Sent", written("Quietly", to=None, bcc="Dan <dan@example.org>"))
    assert run_account(imap_account.pk)
    sent = Folder.objects.get(account=imap_account, role=Role.SENT)
    rows = as_alice.get(f"/mail/folders/{sent.pk}/?part=rows").content.decode()
    assert who(rows, "Quietly") == "(no visible recipients)"


def test_the_rows_fetched_for_more_and_sorted_by_sender_show_recipients_too(
    as_alice, imap_account, other_client
):
    for n in range(3):
        append(other_client, "Sent", written(f"Note {n}", to=f"Person {n} <p{n}@example.org>"))
    assert run_account(imap_account.pk)
    sent = Folder.objects.get(account=imap_account, role=Role.SENT)
    # sorting "by sender" in Sent still sorts by the From field (all the same here): by id then
    rows = as_alice.get(f"/mail/folders/{sent.pk}/?part=rows&sort=sender").content.decode()
    assert [who(rows, f"Note {n}") for n in range(3)] == [f"To: Person {n}" for n in range(3)]


def test_a_search_across_the_account_shows_each_rows_own_kind(as_alice, imap_account, other_client):
    append(other_client, "Sent", written("Kumquat jam", to="Ann <ann@example.org>"))
    append(other_client, "INBOX", written("Kumquat tart"))
    assert run_account(imap_account.pk)
    inbox = Folder.objects.get(account=imap_account, role=Role.INBOX)
    page = as_alice.get(
        f"/mail/folders/{inbox.pk}/search/", {"q": "kumquat", "in": "account"}
    ).content.decode()
    assert who(page, "Kumquat jam") == "To: Ann"
    assert who(page, "Kumquat tart") == "Alice Liddell"


def test_the_local_sent_folder_of_a_pop3_account_shows_the_recipients(as_alice, alice, mail_world):
    login = new_mailbox(mail_world)
    pop3_deliver(mail_world, login, "Filed by hand")
    account = pop3_account(alice, mail_world, login)
    fetch_account(account.pk)
    folders = {f.role: f for f in Folder.objects.filter(account=account)}
    message = folders[Role.INBOX].messages.get(subject="Filed by hand")
    actions.do_move_messages(alice, [message.pk], folders[Role.SENT].pk)
    page = as_alice.get(f"/mail/folders/{folders[Role.SENT].pk}/").content.decode()
    assert who(page, "Filed by hand") == "To: alice@example.com"
