"""Searching mail: the search box's operators, Alice's cache and her real IMAP server.

Alice's mailbox holds four hand-written messages (see ``mailbox``): two from Zoë about the garden
(one in INBOX, an old one in Projects), an invoice from Bob, and a newsletter. Everything a test
looks for is in them, so each test says what it expects by subject.
"""

import datetime
import re
import socket
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

import pytest
from django.http import Http404

from mailbox import actions
from mailbox.models import Message
from mailbox.protocols.imap import ImapSession
from mailbox.search import SearchError, SearchQuery, parse_query, search_messages
from mailbox.sync import run_account

from .conftest import folder

pytestmark = [pytest.mark.django_db, pytest.mark.servers]

UTC = datetime.UTC


def mail(sender, subject, body, *, day, to="Alice <alice@example.com>", cc=None, attach=None):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    if cc:
        message["Cc"] = cc
    message["Date"] = format_datetime(datetime.datetime(*day, 12, 0, tzinfo=UTC))
    message.set_content(body)
    if attach:
        message.add_attachment(
            b"%PDF-1.4\n", maintype="application", subtype="pdf", filename=attach
        )
    return message.as_bytes(policy=SMTP)


GARDEN = mail(
    "Zoë Martin <zoe@example.org>", "Garden plans",
    "Shall we plant tomatoes near the shed?\n日本の種もあります。\n",
    day=(2024, 3, 10), cc="Carol Baker <carol@example.net>", attach="plan.pdf",
)  # fmt: skip
INVOICE = mail(
    "Bob Stone <bob@example.com>", "Invoice 42",
    'Please pay by Friday.\nThe file is in C:\\temp\\new and he said "hello" twice.\n',
    day=(2024, 2, 1),
)  # fmt: skip
DIGEST = mail(
    "Newsletter <news@example.com>", "Weekly digest", "Tomatoes are on sale this week.\n",
    day=(2024, 1, 15), to="Readers <list@example.com>",
)  # fmt: skip
PHOTOS = mail(
    "Zoë Martin <zoe@example.org>", "Old garden photos",
    "The shed photos from last year. The secret word is rhubarb.\n", day=(2023, 6, 1),
)  # fmt: skip


def append(client, folder_name, raw, flags=""):
    status, data = client.imap.append(folder_name, flags, None, raw)
    assert status == "OK", data


@pytest.fixture
def mailbox(imap_account, other_client):
    """Alice's four messages, on the server and in her cache."""
    other_client.imap.create("Projects")
    append(other_client, "INBOX", GARDEN)  # unread
    append(other_client, "INBOX", INVOICE, r"(\Seen \Flagged)")
    append(other_client, "INBOX", DIGEST, r"(\Seen)")
    append(other_client, "Projects", PHOTOS, r"(\Seen)")
    assert run_account(imap_account.pk)
    return imap_account


def subjects(result):
    return [message.subject for message in result.messages]


def search(user, account, text, folder_name="INBOX", **options):
    return search_messages(user, folder_id=folder(account, folder_name).pk, query=text, **options)


# --- reading what was typed ---------------------------------------------------------------------


def test_operators_are_read_as_gmail_reads_them():
    query = parse_query(
        'from:zoë to:"Carol Baker" subject:garden tomatoes "near the shed" after:2024-01-02 '
        "before:2024/03/01 is:unread is:starred has:attachment in:all"
    )
    assert query == SearchQuery(
        text=("tomatoes", "near the shed"), senders=("zoë",), recipients=("Carol Baker",),
        subjects=("garden",), after=datetime.date(2024, 1, 2), before=datetime.date(2024, 3, 1),
        unread=True, flagged=True, has_attachment=True, scope="all",
    )  # fmt: skip


def test_an_unknown_operator_is_searched_as_text():
    assert parse_query("label:work C:\\temp http://x.org").text == (
        "label:work", "C:\\temp", "http://x.org",
    )  # fmt: skip


def test_a_date_that_is_not_one_is_searched_as_text_with_a_note():
    query = parse_query("after:yesterday before:2024-02-30")
    assert query.after is None and query.before is None
    assert query.text == ("after:yesterday", "before:2024-02-30")
    assert "“yesterday” is not a date" in query.notes[0]
    assert "“2024-02-30” is not a date" in query.notes[1]


def test_several_dates_must_all_hold():
    query = parse_query("after:2024-01-01 after:2024-02-01 before:2024-06-01 before:2024-05-01")
    assert (query.after, query.before) == (datetime.date(2024, 2, 1), datetime.date(2024, 5, 1))


def test_a_quote_inside_a_phrase_is_escaped_with_a_backslash():
    assert parse_query(r'"said \"hello\"" subject:"a \\ b"') == SearchQuery(
        text=('said "hello"',), subjects=("a \\ b",)
    )


def test_line_breaks_and_nul_are_only_whitespace():
    query = parse_query('tomatoes\r\nA1 LOGOUT\x00 "near\r\nthe shed"')
    assert query.text == ("tomatoes", "A1", "LOGOUT", "near the shed")


def test_an_empty_search_is_empty():
    assert parse_query("").is_empty and parse_query('  "" ').is_empty
    assert not parse_query("is:unread").is_empty


def test_a_search_too_long_is_refused_with_a_sentence():
    with pytest.raises(SearchError, match="too long"):
        parse_query("x" * 501)
    with pytest.raises(SearchError, match="too many words"):
        parse_query(" ".join(f"w{n}" for n in range(13)))


# --- headers, from the cache --------------------------------------------------------------------


def test_alice_finds_a_sender_by_name_or_address(alice, mailbox):
    assert subjects(search(alice, mailbox, "from:zoë")) == ["Garden plans"]
    assert subjects(search(alice, mailbox, "from:ZOE@EXAMPLE.ORG")) == ["Garden plans"]
    assert subjects(search(alice, mailbox, 'from:"Bob Stone"')) == ["Invoice 42"]


def test_a_recipient_is_found_in_to_or_cc(alice, mailbox):
    assert subjects(search(alice, mailbox, "to:carol")) == ["Garden plans"]
    assert subjects(search(alice, mailbox, "to:list@example.com")) == ["Weekly digest"]
    assert len(search(alice, mailbox, "to:alice").messages) == 2


def test_a_subject_is_found_whatever_its_case(alice, mailbox):
    result = search(alice, mailbox, "subject:INVOICE")
    assert subjects(result) == ["Invoice 42"]
    assert not result.server_searched and result.problem is None  # the cache answered


def test_dates_are_after_inclusive_and_before_exclusive(alice, mailbox):
    assert subjects(search(alice, mailbox, "after:2024-01-20 before:2024-03-01")) == ["Invoice 42"]
    assert subjects(search(alice, mailbox, "after:2024-03-10")) == ["Garden plans"]
    assert subjects(search(alice, mailbox, "before:2024-03-10")) == ["Invoice 42", "Weekly digest"]


def test_flags_and_attachments(alice, mailbox):
    assert subjects(search(alice, mailbox, "is:unread")) == ["Garden plans"]
    assert subjects(search(alice, mailbox, "is:read")) == ["Invoice 42", "Weekly digest"]
    assert subjects(search(alice, mailbox, "is:starred")) == ["Invoice 42"]
    assert subjects(search(alice, mailbox, "has:attachment")) == ["Garden plans"]


def test_header_terms_combine(alice, mailbox):
    assert subjects(search(alice, mailbox, "from:zoe is:unread has:attachment")) == ["Garden plans"]
    assert subjects(search(alice, mailbox, "from:zoe is:read")) == []


def test_a_copy_not_yet_confirmed_by_the_server_is_not_found(alice, mailbox):
    garden = Message.objects.get(subject="Garden plans")
    actions.do_move_messages(alice, [garden.pk], folder(mailbox, "Archive").pk, copy=True)
    assert Message.objects.filter(subject="Garden plans", uid__isnull=True).exists()
    result = search_messages(alice, account_id=mailbox.pk, query="subject:garden")
    assert subjects(result) == ["Garden plans", "Old garden photos"]
    assert {message.folder.name for message in result.messages} == {"INBOX", "Projects"}


def test_an_empty_search_finds_nothing(alice, mailbox):
    result = search(alice, mailbox, "   ")
    assert result.messages == [] and not result.truncated and result.problem is None


# --- body text, from the server -----------------------------------------------------------------


def test_free_text_finds_body_words_newest_first(alice, mailbox):
    result = search(alice, mailbox, "tomatoes")
    assert subjects(result) == ["Garden plans", "Weekly digest"]
    assert result.server_searched and result.problem is None and not result.truncated


def test_every_word_must_match_but_a_phrase_must_match_whole(alice, mailbox):
    assert subjects(search(alice, mailbox, "tomatoes shed")) == ["Garden plans"]
    assert subjects(search(alice, mailbox, '"near the shed"')) == ["Garden plans"]
    assert subjects(search(alice, mailbox, '"the near shed"')) == []


def test_free_text_combines_with_header_terms(alice, mailbox):
    assert subjects(search(alice, mailbox, "tomatoes from:news")) == ["Weekly digest"]
    assert subjects(search(alice, mailbox, "tomatoes before:2024-02-01")) == ["Weekly digest"]
    assert subjects(search(alice, mailbox, "tomatoes has:attachment")) == ["Garden plans"]


def test_a_folder_search_stays_in_the_folder_unless_asked_for_all(alice, mailbox):
    assert subjects(search(alice, mailbox, "garden")) == ["Garden plans"]
    everywhere = search(alice, mailbox, "garden in:all")
    assert subjects(everywhere) == ["Garden plans", "Old garden photos"]
    assert everywhere.whole_account and everywhere.server_searched
    assert subjects(search(alice, mailbox, "rhubarb", "Projects")) == ["Old garden photos"]


def test_an_account_search_covers_every_folder(alice, mailbox):
    result = search_messages(alice, account_id=mailbox.pk, query="rhubarb")
    assert subjects(result) == ["Old garden photos"] and result.whole_account
    assert result.messages[0].folder.name == "Projects"


def test_quotes_backslashes_and_non_ascii_are_sent_safely_and_found(alice, mailbox):
    assert subjects(search(alice, mailbox, r'"C:\temp\new"')) == ["Invoice 42"]
    assert subjects(search(alice, mailbox, r'"said \"hello\" twice"')) == ["Invoice 42"]
    assert subjects(search(alice, mailbox, "日本")) == ["Garden plans"]
    found = search_messages(alice, account_id=mailbox.pk, query="Zoë")
    assert subjects(found) == ["Garden plans", "Old garden photos"] and found.server_searched


def test_a_line_break_cannot_smuggle_a_command(alice, mailbox, other_client):
    result = search(alice, mailbox, 'tomatoes\r\nA1 DELETE INBOX\r\n "x\x00')
    assert result.problem is None and subjects(result) == []  # "A1", "DELETE": no such words
    assert subjects(search(alice, mailbox, "tomatoes\r\nshed")) == ["Garden plans"]
    assert other_client.select("INBOX") == 3


def test_searching_opens_folders_read_only_and_changes_no_flag(
    alice, mailbox, other_client, monkeypatch
):
    opened, select = [], ImapSession.select

    def examine_only(session, name, **options):
        opened.append((name, options.get("readonly")))
        return select(session, name, **options)

    monkeypatch.setattr(ImapSession, "select", examine_only)
    search_messages(alice, account_id=mailbox.pk, query="tomatoes")
    assert sorted(opened) == [("INBOX", True), ("Projects", True)]  # EXAMINE, never SELECT
    flags = other_client.flags("INBOX")
    unread = [uid for uid, seen in flags.items() if "\\Seen" not in seen]
    assert len(unread) == 1
    assert Message.objects.get(subject="Garden plans").seen is False


def test_only_the_newest_are_returned_up_to_the_limit(alice, mailbox):
    result = search(alice, mailbox, "tomatoes", limit=1)
    assert subjects(result) == ["Garden plans"] and result.truncated


# --- when the server cannot be trusted or reached -----------------------------------------------


def test_a_folder_whose_uidvalidity_changed_is_not_trusted(alice, mailbox, other_client):
    """Projects is deleted and made again on the server: its UIDs start over and UID 1 is now
    another message. Until the next sync, a UID found there must not name a cached message."""
    other_client.imap.delete("Projects")
    other_client.imap.create("Projects")
    append(other_client, "Projects", mail("Eve <eve@example.com>", "Marmalade", "marmalade\n",
                                          day=(2024, 4, 1)))  # fmt: skip
    assert server_uidvalidity(other_client, "Projects") != folder(mailbox, "Projects").uidvalidity
    result = search_messages(alice, account_id=mailbox.pk, query="marmalade")
    assert subjects(result) == []  # not "Old garden photos", the cached UID 1
    assert not result.server_searched
    assert "Message text in Projects was not searched" in result.problem
    assert subjects(search_messages(alice, account_id=mailbox.pk, query="tomatoes")) == [
        "Garden plans", "Weekly digest",
    ]  # fmt: skip


def server_uidvalidity(client, name):
    status, data = client.imap.status(name, "(UIDVALIDITY)")
    assert status == "OK", data
    return int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))


@pytest.fixture
def server_down(mailbox):
    """Alice's server stops answering: her account now points at a port nobody listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailbox.incoming_port = port
    mailbox.incoming_password = mailbox.incoming_password  # as typed for that port
    mailbox.save(update_fields=["incoming_port"])
    return mailbox


def test_a_server_that_is_down_gives_cached_results_and_a_banner(alice, server_down):
    result = search_messages(alice, account_id=server_down.pk, query="zoë")
    assert subjects(result) == ["Garden plans", "Old garden photos"]  # by the cached sender
    assert not result.server_searched
    assert result.problem.startswith("The mail server could not be searched")
    assert "refused the connection" in result.problem
    body_only = search(alice, server_down, "rhubarb", "Projects")
    assert subjects(body_only) == [] and body_only.problem


def test_a_header_search_does_not_need_the_server(alice, server_down):
    result = search(alice, server_down, "from:bob is:starred")
    assert subjects(result) == ["Invoice 42"] and result.problem is None


# --- whose mail -------------------------------------------------------------------------------


def test_bob_cannot_search_alices_folders_or_account(bob, mailbox):
    with pytest.raises(Http404):
        search(bob, mailbox, "tomatoes")
    with pytest.raises(Http404):
        search_messages(bob, account_id=mailbox.pk, query="tomatoes")
