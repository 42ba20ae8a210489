"""Sending one outbox row over SMTP: never lost, never sent twice. The task
mailbox.tasks.send_outbox_message runs :func:`send_message`; the beat's send_due_outbox runs
:func:`due_outbox_ids` and :func:`recover_stale`.

1. Claim: one conditional UPDATE turns the row from queued to sending if it is due (send_at <=
   now), and stamps claimed_at (the claim's token from then on), attempts + 1 and first_try_at
   (kept from the first try). No row updated: undone, claimed by another run, or not due yet;
   nothing is sent (a task that ran early says when to run again).
2. Connect to the account's SMTP server (verified TLS or STARTTLS, then AUTH; the stored password
   only to the server it was typed for: accounts.connection.outgoing_endpoint), MAIL FROM, RCPT
   TO each recipient, each refusal kept with the server's words.
3. stage "data" is committed, then DATA. From then on the message may have reached someone. The
   data is written so that we know whether its final "." went out (protocols.smtp.transmit): a
   connection lost before it delivered nothing (a temporary failure, 4); lost after it, without
   the server's reply, the outcome is unknown: failed, "may have been sent", and never retried
   by itself.
4. Failures: a 4xx reply, or a server that does not answer: back to queued after a backoff
   (BACKOFF_SECONDS), until WEBMAIL_SEND_RETRY_SECONDS after the first try, then failed; a 5xx
   reply: failed at once with the server's words; a refused login, a TLS failure or a setting
   that cannot work: failed at once with a sentence that says what to do.
5. Accepted (for some or all recipients): state sent and sent_at, committed: the point of no
   return. A worker killed between the server's reply and this update leaves the row sending at
   stage "data": recover_stale fails it as "may have been sent", and nothing resends it.
6. Then, each step safe to run again: exactly one copy in Sent (copy_state claimed by a
   conditional update; skipped when the server files its own): an IMAP APPEND with the Bcc
   header put back, or a POP3 account's local Sent; the original marked \\Answered or $Forwarded
   (mailbox.actions, which pushes the flag to the server); the draft deleted. A copy that could
   not be filed (the IMAP server down, its answer lost, its run killed) is tried again by the
   beat's rounds, which first look for its Message-ID in Sent.
7. recover_stale: a claim older than WEBMAIL_SEND_CLAIM_SECONDS goes back to queued if it never
   reached "data", to failed ("may have been sent") if it did.

Every state change emits "outbox.state" to the owner after its commit. ``checkpoint`` marks the
places where the fault-injection tests stop a worker.
"""

import contextlib
import datetime
import email.policy
import logging

from django.conf import settings
from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.connection import describe_problem, outgoing_endpoint
from mailbox.events import announce_added, announce_folders, send_event_on_commit
from mailbox.models import Draft, Folder, Message, OutboxMessage, OutboxState, Role
from mailbox.protocols import imap, smtp
from mailbox.protocols.base import ConnectionProblem, Problem, check_wire_text
from mailbox.protocols.imap import names

from . import imap_session, local, run_account, store
from .folders import sync_folder_list

logger = logging.getLogger(__name__)

BACKOFF_SECONDS = (30, 120, 600, 1800, 3600)  # then an hour apart
# a dead server or a lost connection: tried again like a 4xx reply; any other problem is a
# setting or a server that will not change by itself
RETRIED_PROBLEMS = {Problem.REFUSED, Problem.UNREACHABLE, Problem.TIMEOUT, Problem.PROTOCOL}
DUE_GRACE = datetime.timedelta(seconds=10)  # a row's own task normally runs it before the beat
FINISH_WITHIN = datetime.timedelta(days=1)  # a Sent copy not filed is tried again this long


def uncertain_text():
    return _(
        "Sending was interrupted after the message was handed to the server; it may have been "
        "sent: look in Sent or ask a recipient before sending it again"
    )


def checkpoint(name, **details):
    """A named point in the sending, where tests inject faults; nothing in production."""


def send_message(outbox_id, *, now=None):
    """Send one outbox row if it is queued and due (steps 1-6). Returns when to run again (an
    aware datetime: a retry's time, or the send time of a row not due yet), else None."""
    now = now or timezone.now()
    if not _claim(outbox_id, now):
        return _unclaimed(outbox_id, now)
    outbox = OutboxMessage.objects.select_related("account", "user").get(pk=outbox_id)
    _announce(outbox, OutboxState.SENDING)
    checkpoint("claimed", outbox_id=outbox_id)
    try:
        delivery = _transmit(outbox)
    except ClaimLost:
        return None
    except smtp.DataUncertain:
        _settle(outbox, OutboxState.FAILED, error=uncertain_text())
        return None
    except ConnectionProblem as problem:
        return _after_failure(outbox, problem, now)
    checkpoint("accepted", outbox_id=outbox_id)
    _settle(outbox, OutboxState.SENT, sent_at=timezone.now(), refused=delivery.refused,
            error="", also_from=[OutboxState.FAILED])  # fmt: skip
    checkpoint("sent", outbox_id=outbox_id)
    finish_sent(outbox)
    return None


def _claim(outbox_id, now):
    first_try = Coalesce("first_try_at", Value(now, output_field=DateTimeField()))
    return OutboxMessage.objects.filter(
        pk=outbox_id, state=OutboxState.QUEUED, send_at__lte=now
    ).update(state=OutboxState.SENDING, claimed_at=now, attempts=F("attempts") + 1, stage="",
             first_try_at=first_try)  # fmt: skip


def _unclaimed(outbox_id, now):
    """Not ours to send: a row still waiting says when; a sent one whose copy in Sent was not
    filed gets its last steps done (they are safe to run twice)."""
    outbox = OutboxMessage.objects.select_related("account", "user").filter(pk=outbox_id).first()
    if outbox is None:
        return None
    if outbox.state == OutboxState.QUEUED and outbox.send_at > now:
        return outbox.send_at
    if outbox.state == OutboxState.SENT and outbox.copy_state in ("", "retry"):
        finish_sent(outbox)
    return None


def _transmit(outbox):
    client = smtp.connect(outgoing_endpoint(outbox.account))
    try:
        return smtp.transmit(client, outbox.envelope_from, list(outbox.recipients),
                             bytes(outbox.raw), before_data=lambda: _reach_data(outbox),
                             reply_timeout=_reply_timeout())  # fmt: skip
    finally:
        smtp.quit_quietly(client)


def _reply_timeout():
    """Long enough for a slow server's final reply, short enough that the claim is not taken
    for stale meanwhile."""
    return max(30.0, min(300.0, settings.WEBMAIL_SEND_CLAIM_SECONDS / 2))


class ClaimLost(Exception):
    """The claim was found stale and the row put back in the queue: this run stops before DATA."""


def _reach_data(outbox):
    """Committed before DATA (autocommit: tasks run outside transactions): from here on, a
    claim found stale is never sent again. One conditional UPDATE against recover_stale's: a run
    that stalled so long that its row went back to the queue stops here."""
    ours = OutboxMessage.objects.filter(
        pk=outbox.pk, claimed_at=outbox.claimed_at, state=OutboxState.SENDING
    )
    if not ours.update(stage="data"):
        raise ClaimLost(outbox.pk)
    checkpoint("before_data", outbox_id=outbox.pk)


def _after_failure(outbox, problem, now):
    text = describe_failure(outbox.account, problem)
    temporary = problem.temporary if isinstance(problem, smtp.Rejected) else (
        problem.problem in RETRIED_PROBLEMS)  # fmt: skip
    retry_at = now + datetime.timedelta(seconds=backoff_seconds(outbox.attempts))
    deadline = outbox.first_try_at + datetime.timedelta(seconds=settings.WEBMAIL_SEND_RETRY_SECONDS)
    if temporary and retry_at <= deadline:
        settled = _settle(outbox, OutboxState.QUEUED, send_at=retry_at, stage="", error=text)
        return retry_at if settled else None
    # a refusal is certain: stage "" keeps "may have been sent" (failed at "data") for the
    # cases without an answer
    _settle(outbox, OutboxState.FAILED, stage="", error=text)
    return None


def backoff_seconds(attempts):
    """Seconds before try number ``attempts + 1``: 30 s, 2 min, 10 min, 30 min, then hourly."""
    return BACKOFF_SECONDS[min(max(attempts, 1), len(BACKOFF_SECONDS)) - 1]


def describe_failure(account, problem):
    """For the Outbox view: the server's own words for a refusal (its code and text, decoded,
    on one line), else what to do."""
    if isinstance(problem, smtp.Rejected):
        reply = " ".join(problem.detail.split())[:500]  # a multi-line reply read as one sentence
        return _("The mail server answered: %(reply)s") % {"reply": reply}
    return describe_problem(problem, account.smtp_host, account.smtp_port)


def _settle(outbox, state, also_from=(), where=None, **fields):
    """The claimed row to ``state``, only while this run's claim holds (its claimed_at); a sent
    row may also be taken from failed, where a stale recovery put it meanwhile. ``where``: more
    conditions on the row."""
    changed = OutboxMessage.objects.filter(
        pk=outbox.pk,
        claimed_at=outbox.claimed_at,
        state__in=[OutboxState.SENDING, *also_from],
        **(where or {}),
    ).update(state=state, **fields)
    if changed:
        for name, value in fields.items():
            setattr(outbox, name, value)
        outbox.state = state
        _announce(outbox, state)
    return changed


def _announce(outbox, state):
    event = {"type": "outbox.state", "outbox_id": outbox.pk, "state": state}
    if state == OutboxState.SENT and outbox.refused:
        event["refused"] = sorted(outbox.refused)  # the user is told which were not reached
    send_event_on_commit([outbox.user_id], event)


# --- after sending ---------------------------------------------------------------------------


def finish_sent(outbox):
    """Step 6: the copy in Sent, the original's flag, the draft's end."""
    from mailbox.actions import do_set_flags
    from mailbox.drafts import do_delete_draft

    _file_copy(outbox)
    original = Message.objects.filter(pk=outbox.original_id).first() if outbox.original_id else None
    # once only: each call queues a change for the server, and this step may run again
    if original is not None and outbox.original_flag and outbox.original_flag not in original.flags:
        do_set_flags(outbox.user, [original.pk], add=[outbox.original_flag])
    draft = Draft.objects.filter(pk=outbox.draft_id).first() if outbox.draft_id else None
    if draft is not None:
        try:
            do_delete_draft(draft)
        except (ConnectionProblem, OSError) as failure:  # its server copy stays; the mail went
            logger.warning("the draft of outbox %s was not deleted: %s", outbox.pk, failure)
    checkpoint("finished", outbox_id=outbox.pk)


def _file_copy(outbox):
    """The one copy in Sent. copy_state: "" (not tried), "saving" (claimed by a run), "retry"
    (a try failed, or its run died: the copy may be there, so it is looked for first), "done",
    "skipped" (the server files its own)."""
    if outbox.account.server_saves_sent:
        OutboxMessage.objects.filter(pk=outbox.pk, copy_state="").update(copy_state="skipped")
        return
    before = _claim_copy(outbox)
    if before is None:
        return  # filed, or being filed by another run
    file = _keep_locally if outbox.account.is_pop3 else _append_to_server
    try:
        file(outbox, sent_copy(outbox), look_first=before == "retry")
    except (ConnectionProblem, OSError) as failure:
        logger.warning("the Sent copy of outbox %s was not filed: %s", outbox.pk, failure)
        OutboxMessage.objects.filter(pk=outbox.pk, copy_state="saving").update(copy_state="retry")
        return
    OutboxMessage.objects.filter(pk=outbox.pk).update(copy_state="done")
    checkpoint("copied", outbox_id=outbox.pk)


def _claim_copy(outbox):
    """The copy_state this run took the copy over from ("" or "retry"), or None."""
    for before in ("", "retry"):
        rows = OutboxMessage.objects.filter(pk=outbox.pk, copy_state=before)
        if rows.update(copy_state="saving"):
            return before
    return None


def sent_copy(outbox):
    """The message as sent, with its Bcc header put back (at the end of the header block)."""
    raw = bytes(outbox.raw)
    try:
        bcc = check_wire_text(outbox.bcc, "Bcc")
    except ConnectionProblem:
        bcc = ""  # never a header split by a line break; the compose checks make this unused
    if not bcc:
        return raw
    field = email.policy.SMTP.fold("Bcc", bcc).encode("ascii", "replace")
    head, blank, body = raw.partition(b"\r\n\r\n")
    return head + b"\r\n" + field.rstrip(b"\r\n") + (blank or b"\r\n\r\n") + body


def _sent_folder(account):
    return Folder.objects.filter(account=account, role=Role.SENT, selectable=True).first()


def _keep_locally(outbox, raw, look_first=False):
    """(A failed try committed nothing: its row and its file go together.)"""
    folder = _sent_folder(outbox.account) or local.create_folder(outbox.account, "Sent", Role.SENT)
    message = local.keep_message(folder, raw, seen=True)
    store.refresh_counts(folder)
    announce_added(outbox.user_id, folder, [message.pk])


def _append_to_server(outbox, raw, look_first=False):
    """APPEND to the account's Sent (made when it has none), then that folder's sync, so that
    the copy shows in the cache. ``look_first``: an earlier APPEND may have gone through
    without its answer; a message with this Message-ID there already is the copy."""
    account = outbox.account
    with imap_session(account) as session:
        folder = _sent_folder(account) or _create_sent(account, session)
        if not (look_first and _has_copy(session, folder, outbox.message_id)):
            session.append(folder.name, raw, flags=["\\Seen"])
    with contextlib.suppress(ConnectionProblem, OSError):  # the next sync brings it anyway
        run_account(account.pk, folder_names=[folder.name])


def _has_copy(session, folder, message_id):
    if not message_id:
        return False
    session.select(folder.name, readonly=True)
    return bool(session.uid_search(names.search_criteria(header=("Message-ID", message_id))))


def _create_sent(account, session):
    with contextlib.suppress(imap.ImapCommandError):  # there already, under no special use
        session.create("Sent")
        session.subscribe("Sent")
    sync_folder_list(account, session)
    folder = Folder.objects.get(account=account, name="Sent")
    if folder.role != Role.SENT:
        Folder.objects.filter(pk=folder.pk).update(role=Role.SENT)
        folder.role = Role.SENT
        announce_folders(account.user_id, account.pk, changed=[folder.pk])
    return folder


# --- the beat's safety net -------------------------------------------------------------------


def due_outbox_ids(now=None):
    """Rows whose task may have been lost: queued and due for a little while, or sent without
    their copy in Sent filed (its server was down)."""
    now = now or timezone.now()
    due = OutboxMessage.objects.filter(state=OutboxState.QUEUED, send_at__lte=now - DUE_GRACE)
    unfinished = OutboxMessage.objects.filter(
        state=OutboxState.SENT,
        copy_state__in=["", "retry"],
        sent_at__range=(now - FINISH_WITHIN, now - DUE_GRACE),
    )
    return [*due.values_list("pk", flat=True), *unfinished.values_list("pk", flat=True)]


def recover_stale(now=None):
    """Step 7, for claims older than WEBMAIL_SEND_CLAIM_SECONDS (a worker killed or stuck).
    Returns the ids put back in the queue (to be sent again at once)."""
    now = now or timezone.now()
    cutoff = now - datetime.timedelta(seconds=settings.WEBMAIL_SEND_CLAIM_SECONDS)
    stale = OutboxMessage.objects.filter(state=OutboxState.SENDING, claimed_at__lt=cutoff)
    # a run that died while filing the copy: the next round looks for it before filing again
    OutboxMessage.objects.filter(state=OutboxState.SENT, copy_state="saving",
                                 sent_at__lt=cutoff).update(copy_state="retry")  # fmt: skip
    requeued = []
    for outbox in stale.only("pk", "user", "stage", "claimed_at", "refused"):
        if outbox.stage == "data":  # it may have reached them: never again by itself
            _settle(outbox, OutboxState.FAILED, error=uncertain_text())
        # conditional on the stage too: a stalled run that reaches DATA meanwhile keeps it
        elif _settle(outbox, OutboxState.QUEUED, where={"stage": ""}, send_at=now):
            requeued.append(outbox.pk)
    return requeued
