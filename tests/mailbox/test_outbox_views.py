"""The Outbox page: Alice sees her messages on their way and those sent or failed lately, with
their states in words, cancels one that waits and retries one that failed; Bob can see, cancel
or retry none of hers."""

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import MailAccount
from mailbox.models import Draft, Folder, OutboxMessage, OutboxState
from tests.mailbox.outbox_world import queue

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(alice):
    account = MailAccount(
        user=alice, email="alice@example.com", incoming_host="imap.example.com",
        incoming_port=993, incoming_username="alice", smtp_host="smtp.example.com", smtp_port=465,
    )  # fmt: skip
    account.incoming_password = "secret"
    account.save()
    return account


def with_state(outbox, **fields):
    OutboxMessage.objects.filter(pk=outbox.pk).update(**fields)
    return OutboxMessage.objects.get(pk=outbox.pk)


@pytest.fixture
def rows(account):
    soon = timezone.now() + datetime.timedelta(seconds=9)
    queued = queue(account, ["bob@example.org"], subject="Waiting", when=soon)
    sent = with_state(queue(account, ["carol@example.org", "nobody@example.org"], subject="Gone"),
                      state=OutboxState.SENT, sent_at=timezone.now(),
                      refused={"nobody@example.org": "550 5.1.1 No such user here"})  # fmt: skip
    failed = with_state(queue(account, ["dan@example.org"], subject="Refused"),
                        state=OutboxState.FAILED,
                        error="The mail server answered: 554 5.7.1 Message refused as spam")  # fmt: skip
    old = with_state(queue(account, ["erin@example.org"], subject="Last month"),
                     state=OutboxState.SENT)  # fmt: skip
    OutboxMessage.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=30)
    )
    return {"queued": queued, "sent": sent, "failed": failed, "old": old}


def test_alice_sees_her_outbox_with_each_state(alice_client, rows):
    page = alice_client.get("/mail/outbox/").content.decode()
    assert "Waiting" in page and "Queued: sends at" in page
    assert "Gone" in page and "Not delivered to:" in page
    assert "nobody@example.org</bdi>: 550 5.1.1 No such user here" in page
    assert "554 5.7.1 Message refused as spam" in page
    assert "Last month" not in page  # sent long ago: no longer listed
    assert f"/mail/outbox/{rows['queued'].pk}/cancel/" in page
    assert f"/mail/outbox/{rows['failed'].pk}/retry/" in page
    assert f"/mail/outbox/{rows['sent'].pk}/" not in page  # nothing to do about a sent one


def test_the_mail_screen_links_to_the_outbox(alice_client, account):
    inbox = Folder.objects.create(account=account, name="INBOX", role="inbox", uidvalidity=1)
    page = alice_client.get(f"/mail/folders/{inbox.pk}/").content.decode()
    assert 'id="outbox-link"' in page and 'href="/mail/outbox/"' in page


def test_alice_cancels_a_waiting_message_and_keeps_its_draft(alice, alice_client, account, rows):
    draft = Draft.objects.create(user=alice, account=account, message_id="d@example.com")
    with_state(rows["queued"], draft=draft)
    response = alice_client.post(f"/mail/outbox/{rows['queued'].pk}/cancel/", follow=True)
    assert "Sending was cancelled" in response.content.decode()
    assert not OutboxMessage.objects.filter(pk=rows["queued"].pk).exists()
    assert Draft.objects.filter(pk=draft.pk).exists()


def test_a_message_on_its_way_cannot_be_cancelled(alice_client, rows):
    with_state(rows["queued"], state=OutboxState.SENDING)
    response = alice_client.post(f"/mail/outbox/{rows['queued'].pk}/cancel/", follow=True)
    assert "Too late to cancel" in response.content.decode()
    assert OutboxMessage.objects.get(pk=rows["queued"].pk).state == OutboxState.SENDING


def test_alice_retries_a_failed_message(alice_client, rows):
    response = alice_client.post(f"/mail/outbox/{rows['failed'].pk}/retry/", follow=True)
    assert "will be sent again now" in response.content.decode()
    again = OutboxMessage.objects.get(pk=rows["failed"].pk)
    assert (again.state, again.error) == (OutboxState.QUEUED, "")


def test_a_message_that_may_have_been_sent_needs_her_confirmation(alice_client, rows):
    uncertain = with_state(rows["failed"], stage="data")
    page = alice_client.get("/mail/outbox/").content.decode()
    assert 'name="confirmed"' in page
    response = alice_client.post(f"/mail/outbox/{uncertain.pk}/retry/", follow=True)
    assert "confirm that you want to send it again" in response.content.decode()
    assert OutboxMessage.objects.get(pk=uncertain.pk).state == OutboxState.FAILED
    alice_client.post(f"/mail/outbox/{uncertain.pk}/retry/", {"confirmed": "1"})
    assert OutboxMessage.objects.get(pk=uncertain.pk).state == OutboxState.QUEUED


def test_a_sent_message_cannot_be_retried(alice_client, rows):
    response = alice_client.post(f"/mail/outbox/{rows['sent'].pk}/retry/", follow=True)
    assert "Only a message that failed" in response.content.decode()
    assert OutboxMessage.objects.get(pk=rows["sent"].pk).state == OutboxState.SENT


def test_bob_sees_none_of_alices_outbox(client, bob, rows):
    client.force_login(bob)
    page = client.get("/mail/outbox/").content.decode()
    assert "Waiting" not in page and "Refused" not in page


@pytest.mark.parametrize("action", ["cancel", "retry"])
def test_bob_cannot_touch_alices_messages(client, bob, rows, action):
    client.force_login(bob)
    target = rows["queued"] if action == "cancel" else rows["failed"]
    assert client.post(f"/mail/outbox/{target.pk}/{action}/").status_code == 404
    assert client.post(f"/mail/outbox/{10**15}/{action}/").status_code == 404
    assert OutboxMessage.objects.get(pk=target.pk).state == target.state


@pytest.mark.parametrize("action", ["cancel", "retry"])
def test_a_post_without_its_csrf_token_is_refused(alice, rows, action):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    target = rows["queued"] if action == "cancel" else rows["failed"]
    assert client.post(f"/mail/outbox/{target.pk}/{action}/").status_code == 403
    assert OutboxMessage.objects.get(pk=target.pk).state == target.state


def test_the_outbox_is_for_signed_in_users(client):
    assert client.get("/mail/outbox/").status_code == 302


def test_a_message_tried_again_later_says_why(alice_client, rows):
    with_state(rows["queued"], attempts=1, error="The mail server answered: 451 4.3.0 Busy")
    page = alice_client.get("/mail/outbox/").content.decode()
    assert "Not sent yet: tried again at" in page and "451 4.3.0 Busy" in page
