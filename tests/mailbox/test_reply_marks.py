"""Alice sees which messages she answered (↩) or forwarded (↪), in the list and on the open
message, and the list's rows (which the page re-fetches after each "folder.changed" event)
follow the flags as they change."""

import re

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from mailbox.actions import do_set_flags
from mailbox.models import Folder, Message
from tests.mailbox.test_mail_screen_views import account  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def letter(account):  # noqa: F811
    folder = Folder.objects.create(account=account, name="INBOX", role="inbox", uidvalidity=7)
    return Message.objects.create(
        folder=folder, uidvalidity=7, uid=1, date=timezone.now(), internaldate=timezone.now(),
        from_name="Bob", from_address="bob@example.com", subject="Jam?", size=100, seen=True,
    )  # fmt: skip


def row_of(client, message):
    html = client.get(f"/mail/folders/{message.folder_id}/", {"part": "rows"}).content.decode()
    (row,) = re.findall(rf'<li class="[^"]*" data-message-id="{message.pk}".*?</li>', html)
    return row


def test_a_plain_row_has_no_reply_marks(alice_client, letter):
    row = row_of(alice_client, letter)
    assert "reply-mark" not in row and "answered" not in row and "forwarded" not in row


def test_the_row_shows_replied_as_the_flag_changes(alice_client, alice, letter):
    do_set_flags(alice, [letter.pk], add=["\\Answered"])
    row = row_of(alice_client, letter)
    assert 'class="row answered"' in row
    assert (
        '<span class="reply-mark answered" title="Replied"><span aria-hidden="true">↩</span>' in row
    )
    assert '<span class="visually-hidden">Replied</span>' in row and "↪" not in row
    do_set_flags(alice, [letter.pk], remove=["\\Answered"])
    assert "↩" not in row_of(alice_client, letter)


def test_the_row_shows_forwarded_whatever_the_keywords_case(alice_client, alice, letter):
    do_set_flags(alice, [letter.pk], add=["$Forwarded"])
    row = row_of(alice_client, letter)
    assert "row forwarded" in row and '<span aria-hidden="true">↪</span>' in row
    assert '<span class="visually-hidden">Forwarded</span>' in row
    Message.objects.filter(pk=letter.pk).update(keywords="$label1 $FORWARDED", answered=True)
    row = row_of(alice_client, letter)
    assert "↩" in row and "↪" in row


def marks_in_pane(message):
    html = render_to_string("mailbox/_reading_pane.html", {"message": message})
    (marks,) = re.findall(r'<p class="message-marks" id="message-marks">.*?</p>', html, re.S)
    tags = re.findall(r'(<span class="reply-mark (\w+)"[^>]*>)', marks)
    return {name: " hidden" not in tag for tag, name in tags}


def test_the_open_message_says_replied_and_forwarded(letter):
    assert marks_in_pane(letter) == {"answered": False, "forwarded": False}
    letter.answered, letter.keywords = True, "$Forwarded"
    assert marks_in_pane(letter) == {"answered": True, "forwarded": True}
