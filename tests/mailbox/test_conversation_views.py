"""Alice's list shows one row per conversation (her choice): who took part, how many messages,
unread if any is; pages walk every conversation once; live updates replace a conversation's row.
Bob sees none of it."""

import datetime
import random
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import MailAccount, Preferences
from mailbox import conversations
from mailbox.models import Folder, Message

pytestmark = pytest.mark.django_db
T0 = timezone.now() - datetime.timedelta(days=3)


@pytest.fixture
def account(alice):
    account = MailAccount(
        user=alice, email="alice@example.com", incoming_host="imap.example.com",
        incoming_port=993, incoming_username="alice", smtp_host="smtp.example.com", smtp_port=465,
    )  # fmt: skip
    account.incoming_password = "secret"
    account.save()
    return account


def make_folder(account, name, role):
    return Folder.objects.create(account=account, name=name, role=role, uidvalidity=7)


@pytest.fixture
def inbox(account):
    return make_folder(account, "INBOX", "inbox")


@pytest.fixture
def sent(account):
    return make_folder(account, "Sent", "sent")


_uids = iter(range(1, 10**6))


def message(folder, thread, hours, sender="bob@example.net", name="", seen=True, **fields):
    return Message.objects.create(
        folder=folder, uidvalidity=7, uid=next(_uids), thread=thread,
        date=T0 + datetime.timedelta(hours=hours), internaldate=T0, from_address=sender,
        from_name=name, subject=fields.pop("subject", "Quick question"), seen=seen, **fields,
    )  # fmt: skip


def rows_of(response):
    html = response.content.decode()
    return re.findall(r'<li class="row[^"]*"[^>]*>', html)


def test_a_conversation_is_one_row_with_its_people_count_and_unread_mark(alice_client, inbox, sent):
    question = message(inbox, 70, 0, name="Bob")
    message(sent, 70, 1, sender="alice@example.com", name="Alice")
    carol = message(inbox, 70, 2, sender="carol@example.net", name="Carol", seen=False)
    lunch = message(inbox, 80, 1, subject="Lunch")
    response = alice_client.get(reverse("mailbox:folder_messages", args=[inbox.pk]))
    rows = rows_of(response)
    assert len(rows) == 2
    assert f'data-message-id="{carol.pk}"' in rows[0]
    assert f'data-ids="{carol.pk},{question.pk}"' in rows[0] and 'data-thread="70"' in rows[0]
    assert " unread" in rows[0]
    assert f'data-message-id="{lunch.pk}"' in rows[1] and " unread" not in rows[1]
    html = response.content.decode()
    assert re.search(
        r"<bdi>Bob</bdi>, me, <bdi>Carol</bdi> <span class=\"thread-count\"[^>]*>3<", html
    )


def test_with_conversations_off_every_message_has_its_row(alice, alice_client, inbox):
    Preferences.objects.create(user=alice, conversations=False)
    for hours in range(3):
        message(inbox, 70, hours)
    response = alice_client.get(reverse("mailbox:folder_messages", args=[inbox.pk]))
    assert len(rows_of(response)) == 3
    assert "data-thread" not in response.content.decode()


def test_other_sorts_list_messages(alice_client, inbox):
    for hours in range(3):
        message(inbox, 70, hours)
    url = reverse("mailbox:folder_messages", args=[inbox.pk]) + "?sort=sender"
    assert len(rows_of(alice_client.get(url))) == 3


def test_pages_walk_every_conversation_once_newest_first(inbox, sent):
    pick = random.Random(5)
    newest = {}
    for thread in range(1, 41):
        for _ in range(pick.randint(1, 6)):
            hours = pick.randrange(300)
            row = message(pick.choice([inbox, inbox, sent]), thread, hours)
            if row.folder_id == inbox.pk:
                key = (row.date, row.pk)
                newest[thread] = max(newest.get(thread, key), key)
    message(inbox, None, 5)  # cached before conversations: a row of its own
    message(inbox, None, 5)  # the same date: the id tells them apart
    expected = [pk for _date, pk in sorted(newest.values(), reverse=True)]
    expected = [m.pk for m in Message.objects.filter(pk__in=expected).order_by("-date", "-id")]
    lone = list(inbox.messages.filter(thread=None).values_list("pk", flat=True))
    seen, cursor = [], None
    for _ in range(100):
        page = conversations.conversation_page(inbox, cursor, size=7)
        seen += [row.pk for row in page.messages]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(expected + lone)
    assert len(seen) == len(set(seen))
    dates = [Message.objects.get(pk=pk).date for pk in seen]
    assert dates == sorted(dates, reverse=True)


def test_a_new_message_of_a_conversation_comes_as_that_conversations_row(alice_client, inbox):
    first = message(inbox, 70, 0)
    above = message(inbox, 90, 10, subject="Other")
    reply = message(inbox, 70, 5, seen=False)
    url = reverse("mailbox:folder_messages", args=[inbox.pk])
    response = alice_client.get(url, {"part": "rows", "ids": f"{first.pk},{reply.pk}"})
    rows = rows_of(response)
    assert len(rows) == 1
    assert f'data-message-id="{reply.pk}"' in rows[0] and 'data-thread="70"' in rows[0]
    assert f'data-after="{above.pk}"' in rows[0]
    assert f'data-ids="{reply.pk},{first.pk}"' in rows[0]


def test_bob_gets_none_of_alices_conversations(client, bob, inbox):
    message(inbox, 70, 0)
    client.force_login(bob)
    url = reverse("mailbox:folder_messages", args=[inbox.pk])
    assert client.get(url).status_code == 404
    assert client.get(url, {"part": "rows", "ids": "1"}).status_code == 404


def test_mail_cached_before_conversations_is_threaded_by_the_migration(inbox, sent):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("mailbox.migrations.0008_conversations")
    question = message(inbox, None, 0, message_id="q@bob")
    reply = message(sent, None, 1, message_id="r@alice", in_reply_to="q@bob", references="q@bob")
    other = message(inbox, None, 2, message_id="x@carol", subject="Lunch")
    late = message(inbox, None, 3, message_id="s@bob", subject="Re: Quick question")
    migration.thread_cached_mail(apps, None)
    threads = {m.message_id: m.thread for m in Message.objects.all()}
    assert threads["q@bob"] == threads["r@alice"] == threads["s@bob"] is not None
    assert threads["x@carol"] not in (None, threads["q@bob"])
    assert {question.pk, reply.pk, other.pk, late.pk} == set(
        Message.objects.values_list("pk", flat=True)
    )


def test_alice_turns_conversations_off_and_on_in_her_preferences(alice_client, alice):
    form = {"theme": "system", "mark_read_after": "0"}
    assert alice_client.get("/accounts/preferences/").content.count(b'name="conversations"') == 1
    alice_client.post("/accounts/preferences/", form)
    assert Preferences.objects.get(user=alice).conversations is False
    alice_client.post("/accounts/preferences/", {**form, "conversations": "on"})
    assert Preferences.objects.get(user=alice).conversations is True
