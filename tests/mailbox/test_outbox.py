"""Sending through the real fixture servers: the message reaches the recipient's Dovecot Inbox
with the right headers, exactly one copy lands in Sent (on the server for IMAP, kept here for
POP3), the draft goes and the original is marked; a message that runs again sends nothing."""

import datetime
import smtplib
import uuid

import pytest
from django.utils import timezone

from mailbox.models import Draft, Folder, OutboxMessage, OutboxState, PendingChange, Role
from mailbox.outbox import do_cancel_send
from mailbox.sources import rawstore
from mailbox.sync import local, run_account
from mailbox.sync.outbox import due_outbox_ids, finish_sent, recover_stale, send_message
from mailbox.testing.servers import free_port
from tests.mailbox.outbox_world import Reader, new_login, queue, sending_account
from tests.mailbox.pop3_world import message

pytestmark = [pytest.mark.django_db, pytest.mark.servers]


@pytest.fixture
def login(mail_world):
    return new_login(mail_world)


@pytest.fixture
def bob_login(mail_world):
    return new_login(mail_world, "b")


@pytest.fixture
def carol_login(mail_world):
    return new_login(mail_world, "c")


@pytest.fixture
def account(alice, mail_world, login):
    return sending_account(alice, mail_world, login)


def test_a_message_reaches_the_recipients_inbox(mail_world, account, bob_login, carol_login):
    outbox = queue(account, [bob_login[0]], bcc=[carol_login[0]], subject="Jam, Zoë")
    assert send_message(outbox.pk) is None
    outbox.refresh_from_db()
    assert (outbox.state, outbox.refused, outbox.error) == (OutboxState.SENT, {}, "")
    assert outbox.sent_at is not None and outbox.attempts == 1
    (received,) = Reader(mail_world, bob_login).messages()
    assert received["Subject"] == "Jam, Zoë"
    assert received["From"] == f"Alice <{account.email}>"
    assert received["To"] == bob_login[0]
    assert received["Message-ID"].strip("<>") == outbox.message_id
    assert received["Bcc"] is None
    assert received.get_content().replace("\r\n", "\n") == "A jar for you.\n"
    (hidden,) = Reader(mail_world, carol_login).messages()  # Bcc: delivered, and not shown
    assert hidden["Message-ID"] == received["Message-ID"] and hidden["Bcc"] is None


def test_exactly_one_copy_lands_in_the_servers_sent(mail_world, account, login, bob_login):
    run_account(account.pk)  # the folders are known, Sent among them
    outbox = queue(account, [bob_login[0]], bcc=["carol@example.net"])
    send_message(outbox.pk)
    send_message(outbox.pk)  # a task run again
    (copy,) = Reader(mail_world, login).messages("Sent")
    assert copy["Message-ID"].strip("<>") == outbox.message_id
    assert copy["Bcc"] == "carol@example.net"  # the sender's copy says who else got it
    assert "\\Seen" in copy.flags
    sent = Folder.objects.get(account=account, role=Role.SENT)
    assert list(sent.messages.values_list("message_id", flat=True)) == [outbox.message_id]
    assert OutboxMessage.objects.get(pk=outbox.pk).copy_state == "done"


def test_sent_is_found_even_before_the_first_sync(mail_world, account, login, bob_login):
    outbox = queue(account, [bob_login[0]])
    send_message(outbox.pk)
    assert len(Reader(mail_world, login).messages("Sent")) == 1
    assert Folder.objects.get(account=account, name="Sent").role == Role.SENT


def test_a_server_that_files_its_own_copy_gets_none_from_us(mail_world, account, login, bob_login):
    account.server_saves_sent = True
    account.save()
    outbox = queue(account, [bob_login[0]])
    send_message(outbox.pk)
    assert Reader(mail_world, login).messages("Sent") == []
    assert OutboxMessage.objects.get(pk=outbox.pk).copy_state == "skipped"


def test_a_pop3_accounts_copy_is_kept_in_its_local_sent(alice, mail_world, login, bob_login):
    account = sending_account(alice, mail_world, login, protocol="pop3")
    outbox = queue(account, [bob_login[0]], bcc=["carol@example.net"])
    send_message(outbox.pk)
    send_message(outbox.pk)
    assert len(Reader(mail_world, bob_login).messages()) == 1
    sent = Folder.objects.get(account=account, role=Role.SENT)
    (copy,) = sent.messages.all()
    assert (copy.message_id, copy.seen, copy.to) == (outbox.message_id, True, bob_login[0])
    with rawstore.open_raw(copy.raw_name) as kept:
        raw = kept.read()
    assert b"\r\nBcc: carol@example.net\r\n" in raw and raw.endswith(b"A jar for you.\r\n")
    assert (sent.total, sent.unread) == (1, 0)


def test_the_draft_goes_and_the_original_is_marked_answered(alice, mail_world, login, bob_login):
    account = sending_account(alice, mail_world, login, protocol="pop3")
    inbox = Folder.objects.get(account=account, role=Role.INBOX)
    original = local.keep_message(inbox, message("Jam?"), seen=False)
    draft = Draft.objects.create(user=alice, account=account, message_id="d@example.com")
    outbox = queue(account, [bob_login[0]])
    OutboxMessage.objects.filter(pk=outbox.pk).update(
        draft=draft, original=original, original_flag="\\Answered"
    )
    send_message(outbox.pk)
    original.refresh_from_db()
    assert original.answered
    assert not Draft.objects.filter(pk=draft.pk).exists()


def test_a_message_not_due_yet_is_not_sent(mail_world, account, bob_login):
    later = timezone.now() + datetime.timedelta(minutes=5)
    outbox = queue(account, [bob_login[0]], when=later)
    assert send_message(outbox.pk) == later  # the task puts itself back for that time
    assert OutboxMessage.objects.get(pk=outbox.pk).state == OutboxState.QUEUED
    assert Reader(mail_world, bob_login).messages() == []


def test_undo_before_the_claim_sends_nothing(alice, mail_world, account, bob_login):
    draft = Draft.objects.create(user=alice, account=account, message_id="d2@example.com")
    outbox = queue(account, [bob_login[0]])
    OutboxMessage.objects.filter(pk=outbox.pk).update(draft=draft)
    assert do_cancel_send(alice, outbox.pk) == draft.pk
    assert send_message(outbox.pk) is None
    assert Reader(mail_world, bob_login).messages() == []
    assert Draft.objects.filter(pk=draft.pk).exists()  # back to the editor


def test_a_claimed_message_cannot_be_undone(alice, mail_world, account, bob_login):
    outbox = queue(account, [bob_login[0]])
    OutboxMessage.objects.filter(pk=outbox.pk).update(state=OutboxState.SENDING)
    assert do_cancel_send(alice, outbox.pk) is False
    assert OutboxMessage.objects.filter(pk=outbox.pk).exists()


def test_bob_cannot_undo_alices_message(bob, account, bob_login):
    outbox = queue(account, [bob_login[0]])
    assert do_cancel_send(bob, outbox.pk) is False
    assert OutboxMessage.objects.get(pk=outbox.pk).state == OutboxState.QUEUED


def test_a_wrong_password_fails_at_once_and_says_so(alice, mail_world, account, bob_login):
    account.smtp_auth, account.smtp_username = "custom", account.email
    account.smtp_password = "not-the-password"
    account.save()
    outbox = queue(account, [bob_login[0]])
    assert send_message(outbox.pk) is None
    outbox.refresh_from_db()
    assert outbox.state == OutboxState.FAILED
    assert "refused the user name or password" in outbox.error
    assert Reader(mail_world, bob_login).messages() == []


def test_a_password_goes_only_to_the_server_it_was_typed_for(alice, mail_world, account):
    account.smtp_port = mail_world.smtp.ports["smtps"]  # changed without typing it again
    account.smtp_security = "tls"
    account.save()
    outbox = queue(account, ["bob@example.com"])
    send_message(outbox.pk)
    outbox.refresh_from_db()
    assert outbox.state == OutboxState.FAILED and "type the password again" in outbox.error


def test_a_reply_marks_the_original_answered_on_the_server(mail_world, account, login, bob_login):
    other = Reader(mail_world, login)
    mail_world.dovecot.deliver(login[0], message("Jam?"))
    run_account(account.pk)
    original = Folder.objects.get(account=account, role=Role.INBOX).messages.get()
    outbox = queue(account, [bob_login[0]], subject="Re: Jam?")
    OutboxMessage.objects.filter(pk=outbox.pk).update(original=original,
                                                      original_flag="\\Answered")  # fmt: skip
    send_message(outbox.pk)
    finish_sent(OutboxMessage.objects.get(pk=outbox.pk))  # its last steps run again
    assert PendingChange.objects.filter(account=account).count() == 1  # one flag change queued
    run_account(account.pk, push_only=True)  # what the push task queued after the commit does
    (answered,) = other.messages("INBOX")
    assert "\\Answered" in answered.flags


def test_a_sent_message_whose_draft_went_meanwhile_finishes(alice, mail_world, login, bob_login):
    account = sending_account(alice, mail_world, login, protocol="pop3")
    draft = Draft.objects.create(user=alice, account=account, message_id="d3@example.com")
    outbox = queue(account, [bob_login[0]])
    OutboxMessage.objects.filter(pk=outbox.pk).update(draft=draft)
    outbox.refresh_from_db()
    Draft.objects.filter(pk=draft.pk).delete()  # another tab discarded it
    OutboxMessage.objects.filter(pk=outbox.pk).update(state=OutboxState.SENT)
    finish_sent(outbox)
    assert OutboxMessage.objects.get(pk=outbox.pk).copy_state == "done"


def test_a_copy_tried_again_is_looked_for_before_it_is_filed(mail_world, account, login, bob_login):
    outbox = queue(account, [bob_login[0]])
    send_message(outbox.pk)
    # as if the APPEND had gone through and its answer been lost: the next round tries again
    OutboxMessage.objects.filter(pk=outbox.pk).update(copy_state="retry")
    assert outbox.pk in due_outbox_ids(now=timezone.now() + datetime.timedelta(minutes=1))
    send_message(outbox.pk)
    assert len(Reader(mail_world, login).messages("Sent")) == 1
    assert OutboxMessage.objects.get(pk=outbox.pk).copy_state == "done"


def test_a_copy_that_could_not_be_filed_is_filed_by_a_later_round(
    mail_world, account, login, bob_login
):
    imap_port = account.incoming_port
    account.incoming_port = free_port()  # the IMAP server is down; SMTP works
    account.incoming_password = login[1]
    account.save()
    outbox = queue(account, [bob_login[0]])
    send_message(outbox.pk)
    sent = OutboxMessage.objects.get(pk=outbox.pk)
    assert (sent.state, sent.copy_state) == (OutboxState.SENT, "retry")
    account.incoming_port = imap_port
    account.incoming_password = login[1]
    account.save()
    send_message(outbox.pk)
    assert len(Reader(mail_world, login).messages("Sent")) == 1
    assert len(Reader(mail_world, bob_login).messages()) == 1


def test_a_run_that_died_filing_the_copy_is_taken_up_later(mail_world, account, login, bob_login):
    outbox = queue(account, [bob_login[0]])
    send_message(outbox.pk)
    OutboxMessage.objects.filter(pk=outbox.pk).update(copy_state="saving")  # killed meanwhile
    send_message(outbox.pk)  # a run in the meantime leaves it to its owner
    assert OutboxMessage.objects.get(pk=outbox.pk).copy_state == "saving"
    recover_stale(now=timezone.now() + datetime.timedelta(hours=1))
    send_message(outbox.pk)
    assert OutboxMessage.objects.get(pk=outbox.pk).copy_state == "done"
    assert len(Reader(mail_world, login).messages("Sent")) == 1


def test_a_message_to_an_unknown_local_user_fails_at_once_with_the_servers_words(
    mail_world, account
):
    nobody = f"nobody-here@{mail_world.dovecot.domain}"
    outbox = queue(account, [nobody])
    assert send_message(outbox.pk) is None
    outbox.refresh_from_db()
    assert outbox.state == OutboxState.FAILED  # for good at once, not retried for hours
    assert outbox.error == f"The mail server answered: 550 5.1.1 <{nobody}>: user unknown"


def test_an_unknown_local_user_among_others_is_named_and_the_others_get_it(
    mail_world, account, bob_login
):
    nobody = f"nobody-here@{mail_world.dovecot.domain}"
    outbox = queue(account, [bob_login[0], nobody])
    assert send_message(outbox.pk) is None
    outbox.refresh_from_db()
    assert outbox.state == OutboxState.SENT
    assert outbox.refused == {nobody: f"550 5.1.1 <{nobody}>: user unknown"}
    assert len(Reader(mail_world, bob_login).messages()) == 1


def test_a_local_user_written_in_capitals_is_still_known(mail_world, account, bob_login):
    outbox = queue(account, [bob_login[0].upper()])
    assert send_message(outbox.pk) is None
    outbox.refresh_from_db()
    assert (outbox.state, outbox.refused) == (OutboxState.SENT, {})
    assert len(Reader(mail_world, bob_login).messages()) == 1


def test_lmtps_own_refusal_at_data_time_is_passed_on_as_permanent(mail_world, account, monkeypatch):
    # the recipient let through RCPT, as if it went between RCPT and DATA: Dovecot's LMTP
    # then refuses it itself, and its 5xx must reach us as a 5xx with its own words
    nobody = f"gone-{uuid.uuid4().hex[:8]}@{mail_world.dovecot.domain}"
    monkeypatch.setattr(mail_world.dovecot, "has_user", lambda address: True)
    outbox = queue(account, [nobody])
    assert send_message(outbox.pk) is None
    outbox.refresh_from_db()
    assert outbox.state == OutboxState.FAILED
    assert outbox.error.startswith("The mail server answered: 550 ")
    assert "{" not in outbox.error and "b'" not in outbox.error and 'b"' not in outbox.error


def test_a_temporary_lmtp_refusal_stays_temporary(mail_world, account, bob_login, monkeypatch):
    # a full mailbox cannot be made on the fixture's Dovecot without a quota plugin: its
    # LMTP answer is played here, the SMTP server and our client are the real ones
    def full(recipient, message_bytes, sender):
        raise smtplib.SMTPRecipientsRefused({recipient: (452, b"4.2.2 Mailbox is full")})

    monkeypatch.setattr(mail_world.dovecot, "deliver", full)
    outbox = queue(account, [bob_login[0]])
    retry_at = send_message(outbox.pk)  # a 4xx: tried again later
    outbox.refresh_from_db()
    assert outbox.state == OutboxState.QUEUED and outbox.send_at == retry_at
    assert retry_at > timezone.now()
    assert outbox.error == "The mail server answered: 452 4.2.2 Mailbox is full"
