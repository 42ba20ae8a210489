"""Alice's mail falls into conversations as it is cached: across her folders, whoever wrote it."""

import re

import pytest

from mailbox import actions
from mailbox.models import Folder, Message, ThreadKey
from mailbox.sync import local, run_account

pytestmark = [pytest.mark.django_db, pytest.mark.servers]


def raw(message_id, subject, *, sender="bob@example.net", to="alice@example.org", date="Mon, 2 "
        "Nov 2026 09:00:00 +0000", in_reply_to="", references=""):  # fmt: skip
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {date}",
        f"Message-ID: <{message_id}>",
    ]
    if in_reply_to:
        lines.append(f"In-Reply-To: <{in_reply_to}>")
    if references:
        lines.append("References: " + " ".join(f"<{ref}>" for ref in references.split()))
    return ("\r\n".join([*lines, "", "Hello."]) + "\r\n").encode()


def append(client, folder, data, flags=None):
    status, answer = client.imap.append(folder, flags, None, data)
    assert status == "OK", answer


def cached(account, message_id):
    return Message.objects.get(folder__account=account, message_id=message_id)


def test_bobs_question_and_alices_reply_in_sent_share_a_conversation(imap_account, other_client):
    append(other_client, "INBOX", raw("q1@bob", "Quick question about the migration"))
    append(other_client, "INBOX", raw("other@carol", "Lunch", sender="carol@example.net"))
    append(other_client, "Sent", raw("r1@alice", "Re: Quick question about the migration",
           sender="alice@example.org", to="bob@example.net", in_reply_to="q1@bob",
           references="q1@bob", date="Mon, 2 Nov 2026 10:00:00 +0000"))  # fmt: skip
    assert run_account(imap_account.pk)
    question, reply = cached(imap_account, "q1@bob"), cached(imap_account, "r1@alice")
    assert question.folder.name == "INBOX" and reply.folder.name == "Sent"
    assert question.thread is not None
    assert reply.thread == question.thread
    assert cached(imap_account, "other@carol").thread != question.thread


def test_a_reply_synced_before_its_question_takes_it_in_later(imap_account, other_client):
    append(other_client, "INBOX", raw("r2@bob", "Re: Budget", in_reply_to="q2@alice"))
    assert run_account(imap_account.pk)
    append(other_client, "Sent", raw("q2@alice", "Budget", sender="alice@example.org"))
    assert run_account(imap_account.pk)
    assert cached(imap_account, "q2@alice").thread == cached(imap_account, "r2@bob").thread


def test_a_moved_message_keeps_its_conversation(imap_account, other_client, alice):
    append(other_client, "INBOX", raw("q3@bob", "Plans"))
    assert run_account(imap_account.pk)
    message = cached(imap_account, "q3@bob")
    archive = Folder.objects.get(account=imap_account, name="Archive")
    actions.do_move_messages(alice, [message.pk], archive.pk)
    moved = Message.objects.get(folder=archive)
    assert moved.thread == message.thread


def test_bobs_threads_are_his_own(imap_account, other_client, bob):
    append(other_client, "INBOX", raw("q4@bob", "Hello"))
    assert run_account(imap_account.pk)
    assert ThreadKey.objects.filter(account=imap_account).exists()
    assert not ThreadKey.objects.exclude(account=imap_account).exists()


def test_a_sent_copy_kept_here_joins_the_conversation_it_answers(imap_account, other_client):
    append(other_client, "INBOX", raw("q5@bob", "Tickets"))
    assert run_account(imap_account.pk)
    sent = Folder.objects.get(account=imap_account, name="Sent")
    kept = local.keep_message(sent, raw("r5@alice", "Re: Tickets", sender="alice@example.org",
                                        in_reply_to="q5@bob"))  # fmt: skip
    assert kept.thread == cached(imap_account, "q5@bob").thread


def test_opening_the_conversation_shows_its_messages_in_order_older_ones_collapsed(
    imap_account, other_client, alice_client, client, bob
):
    append(other_client, "INBOX", raw("q6@bob", "Trip", date="Mon, 2 Nov 2026 09:00:00 +0000"),
           "(\\Seen)")  # fmt: skip
    append(other_client, "Sent", raw("r6@alice", "Re: Trip", sender="alice@example.org",
           in_reply_to="q6@bob", date="Mon, 2 Nov 2026 10:00:00 +0000"), "(\\Seen)")  # fmt: skip
    append(other_client, "INBOX", raw("s6@bob", "Re: Trip", references="q6@bob r6@alice",
           date="Mon, 2 Nov 2026 11:00:00 +0000"))  # fmt: skip
    append(other_client, "Trash", raw("t6@bob", "Re: Trip", in_reply_to="q6@bob",
           date="Mon, 2 Nov 2026 12:00:00 +0000"))  # fmt: skip
    assert run_account(imap_account.pk)
    newest = cached(imap_account, "s6@bob")
    url = f"/mail/messages/{newest.pk}/"
    html = alice_client.get(url, {"part": "pane"}).content.decode()
    items = re.findall(r'<li class="thread-item([^"]*)" data-message-id="(\d+)"', html)
    order = [cached(imap_account, m).pk for m in ("q6@bob", "r6@alice", "s6@bob")]
    assert [int(pk) for _classes, pk in items] == order  # Trash left out
    assert [" open" in classes for classes, _pk in items] == [False, False, True]
    inbox_ids = sorted([order[0], order[2]])
    assert re.search(
        rf'data-ids="{inbox_ids[0]},{inbox_ids[1]}|{inbox_ids[1]},{inbox_ids[0]}"', html
    )
    single = alice_client.get(url, {"part": "pane", "single": "1"}).content.decode()
    assert "thread-item" not in single
    item = alice_client.get(f"/mail/messages/{order[0]}/", {"part": "thread-item"})
    assert b"Hello." in item.content
    client.force_login(bob)
    assert client.get(f"/mail/messages/{order[0]}/", {"part": "thread-item"}).status_code == 404
