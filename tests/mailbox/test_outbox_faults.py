"""Sending against a real aiosmtpd made to fail (mailbox.testing.smtp_faults): temporary
refusals are retried and deliver once, permanent ones fail with the server's words, refused
recipients are named, and a connection cut after the data is never sent again by itself."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from mailbox.models import OutboxMessage, OutboxState
from mailbox.outbox import do_retry_send
from mailbox.sync import outbox as sending
from mailbox.testing.servers import free_port
from mailbox.testing.smtp_faults import FaultySmtp
from tests.mailbox.outbox_world import new_login, queue, sending_account

pytestmark = [pytest.mark.django_db, pytest.mark.servers]
BOB, CAROL = "bob@example.org", "carol@example.org"


@pytest.fixture
def smtp():
    with FaultySmtp() as server:
        yield server


@pytest.fixture
def account(alice, mail_world, smtp):
    login = new_login(mail_world)
    return sending_account(alice, mail_world, login, smtp_port=smtp.port, security="none")


def row(outbox):
    return OutboxMessage.objects.get(pk=outbox.pk)


def test_a_4xx_reply_is_retried_later_and_delivers_once(account, smtp):
    smtp.script.data_end = ["451 4.3.0 Mailbox busy, try later"]
    outbox = queue(account, [BOB])
    retry_at = sending.send_message(outbox.pk)
    queued = row(outbox)
    assert queued.state == OutboxState.QUEUED and queued.send_at == retry_at
    assert "451 4.3.0 Mailbox busy, try later" in queued.error
    assert smtp.deliveries == []
    assert sending.send_message(outbox.pk) == retry_at  # not due yet: nothing sent
    assert sending.send_message(outbox.pk, now=retry_at) is None
    assert row(outbox).state == OutboxState.SENT and row(outbox).attempts == 2
    assert [d.rcpt_tos for d in smtp.deliveries] == [[BOB]]


def test_a_4xx_to_mail_from_is_retried_too(account, smtp):
    smtp.script.mail = ["421 4.7.0 Too many connections"]
    outbox = queue(account, [BOB])
    assert sending.send_message(outbox.pk) is not None
    assert row(outbox).state == OutboxState.QUEUED


def test_retries_stop_after_the_retry_period(account, smtp, settings):
    settings.WEBMAIL_SEND_RETRY_SECONDS = 60
    smtp.script.data_end = ["451 4.3.0 Busy"] * 3
    outbox = queue(account, [BOB])
    retry_at = sending.send_message(outbox.pk)  # 30 s later: within the minute
    assert sending.send_message(outbox.pk, now=retry_at) is None  # 2 more minutes: too late
    failed = row(outbox)
    assert failed.state == OutboxState.FAILED and "451 4.3.0 Busy" in failed.error
    assert smtp.deliveries == []


def test_a_5xx_reply_fails_at_once_with_the_servers_words(account, smtp):
    smtp.script.data_end = ["554 5.7.1 Message refused as spam"]
    outbox = queue(account, [BOB])
    assert sending.send_message(outbox.pk) is None
    failed = row(outbox)
    assert failed.state == OutboxState.FAILED and failed.stage == ""
    assert "554 5.7.1 Message refused as spam" in failed.error
    assert smtp.deliveries == []
    do_retry_send(account.user, outbox.pk)  # a certain refusal: sent again without asking
    assert sending.send_message(outbox.pk) is None
    assert len(smtp.deliveries) == 1


def test_some_recipients_refused_the_others_get_it(account, smtp):
    smtp.script.rcpt = {CAROL: "550 5.1.1 No such user here"}
    outbox = queue(account, [BOB], cc=[CAROL])
    sending.send_message(outbox.pk)
    sent = row(outbox)
    assert sent.state == OutboxState.SENT
    assert sent.refused == {CAROL: "550 5.1.1 No such user here"}
    assert [d.rcpt_tos for d in smtp.deliveries] == [[BOB]]


def test_all_recipients_refused_for_now_is_retried(account, smtp):
    smtp.script.rcpt = {BOB: "450 4.2.1 Mailbox temporarily unavailable"}
    outbox = queue(account, [BOB])
    assert sending.send_message(outbox.pk) is not None
    assert "450 4.2.1 Mailbox temporarily unavailable" in row(outbox).error


def test_all_recipients_refused_for_good_fails(account, smtp):
    smtp.script.rcpt = {BOB: "450 4.2.1 Try later", CAROL: "550 5.1.1 No such user"}
    outbox = queue(account, [BOB, CAROL])
    assert sending.send_message(outbox.pk) is None
    failed = row(outbox)
    assert failed.state == OutboxState.FAILED and "550 5.1.1 No such user" in failed.error


def test_a_connection_cut_after_the_data_is_never_sent_again_by_itself(account, smtp):
    smtp.script.cut_after_data = 1
    outbox = queue(account, [BOB])
    assert sending.send_message(outbox.pk) is None
    failed = row(outbox)
    assert (failed.state, failed.stage) == (OutboxState.FAILED, "data")
    assert "it may have been sent" in failed.error
    assert len(smtp.deliveries) == 1  # the server did take it
    later = timezone.now() + datetime.timedelta(days=1)
    assert sending.recover_stale(now=later) == []
    assert outbox.pk not in sending.due_outbox_ids(now=later)
    assert sending.send_message(outbox.pk, now=later) is None
    assert len(smtp.deliveries) == 1
    with pytest.raises(ValidationError, match="may have been sent"):
        do_retry_send(account.user, outbox.pk)
    assert row(outbox).state == OutboxState.FAILED
    do_retry_send(account.user, outbox.pk, confirmed=True)  # the user looked, and wants it
    sending.send_message(outbox.pk)
    assert len(smtp.deliveries) == 2


def test_a_connection_cut_during_the_data_is_retried_and_delivers_once(account, smtp):
    smtp.script.cut_during_data = 1
    # bigger than what the socket buffers hold: the cut is seen while the data is written
    outbox = queue(account, [BOB], size=12 * 1024 * 1024)
    retry_at = sending.send_message(outbox.pk)
    assert retry_at is not None and row(outbox).state == OutboxState.QUEUED
    assert smtp.deliveries == []
    sending.send_message(outbox.pk, now=retry_at)
    assert row(outbox).state == OutboxState.SENT
    assert len(smtp.deliveries) == 1


def test_a_task_run_twice_sends_once(account, smtp):
    outbox = queue(account, [BOB])
    sending.send_message(outbox.pk)
    sending.send_message(outbox.pk)
    assert len(smtp.deliveries) == 1


def test_a_server_that_is_down_is_tried_again(account):
    account.smtp_port = free_port()  # nothing listens there
    account.incoming_password = account.incoming_password  # typed again for that server
    account.save()
    outbox = queue(account, [BOB])
    assert sending.send_message(outbox.pk) is not None
    queued = row(outbox)
    assert queued.state == OutboxState.QUEUED and "refused the connection" in queued.error


def test_a_refused_login_fails_at_once(account, smtp):
    smtp.script.passwords = {"something else"}
    outbox = queue(account, [BOB])
    assert sending.send_message(outbox.pk) is None
    assert "refused the user name or password" in row(outbox).error


def test_a_stale_claim_before_the_data_goes_back_to_the_queue(account, smtp):
    outbox = queue(account, [BOB])
    long_ago = timezone.now() - datetime.timedelta(hours=1)
    OutboxMessage.objects.filter(pk=outbox.pk).update(state=OutboxState.SENDING,
                                                      claimed_at=long_ago)  # fmt: skip
    assert sending.recover_stale() == [outbox.pk]
    sending.send_message(outbox.pk)
    assert len(smtp.deliveries) == 1


def test_a_stale_claim_past_the_data_fails_as_maybe_sent(account, smtp):
    outbox = queue(account, [BOB])
    long_ago = timezone.now() - datetime.timedelta(hours=1)
    OutboxMessage.objects.filter(pk=outbox.pk).update(state=OutboxState.SENDING, stage="data",
                                                      claimed_at=long_ago)  # fmt: skip
    assert sending.recover_stale() == []
    assert "it may have been sent" in row(outbox).error
    sending.send_message(outbox.pk)
    assert smtp.deliveries == []


def test_a_run_whose_claim_was_recovered_stops_before_the_data(account, smtp, monkeypatch):
    """A worker stalled past the claim time: its row went back to the queue meanwhile (another
    worker may be sending it); the stalled one must not send it too."""
    outbox = queue(account, [BOB])
    later = timezone.now() + datetime.timedelta(hours=1)

    def stall(name, **details):
        if name == "claimed":
            sending.recover_stale(now=later)

    monkeypatch.setattr(sending, "checkpoint", stall)
    assert sending.send_message(outbox.pk) is None
    assert smtp.deliveries == []
    assert row(outbox).state == OutboxState.QUEUED


def test_each_state_is_told_to_the_owners_pages(account, smtp, monkeypatch,
                                                django_capture_on_commit_callbacks):  # fmt: skip
    told = []
    monkeypatch.setattr("mailbox.events.send_event", lambda users, event: told.append(
        (users, event)))  # fmt: skip
    smtp.script.rcpt = {CAROL: "550 5.1.1 No such user here"}
    with django_capture_on_commit_callbacks(execute=True):
        outbox = queue(account, [BOB, CAROL])
        sending.send_message(outbox.pk)
    states = [(e["state"], e.get("refused")) for users, e in told if e["type"] == "outbox.state"]
    assert states == [("queued", None), ("sending", None), ("sent", [CAROL])]
    assert all(users == [account.user_id] for users, _event in told)
    assert "550" not in repr(told)  # ids and addresses only: the words are on the page


# NUL aside: PostgreSQL stores no NUL in text or JSON, so no row can carry one
@pytest.mark.parametrize("breaker", list("\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029"))
def test_a_line_break_in_an_address_never_reaches_the_server(account, smtp, breaker):
    outbox = queue(account, [BOB])
    poisoned = f"{BOB}{breaker}RCPT TO:<mallory@example.org>"
    OutboxMessage.objects.filter(pk=outbox.pk).update(recipients=[poisoned])
    assert sending.send_message(outbox.pk) is None
    failed = row(outbox)
    assert failed.state == OutboxState.FAILED and "line break" in failed.error
    assert smtp.deliveries == []
