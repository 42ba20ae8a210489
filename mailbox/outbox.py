"""The outbox's user-visible writes: queue a built message, undo it while it waits, retry a failed
one. The sending itself is mailbox.sync.outbox, run by the task send_outbox_message.

A row is the user's to take back only while it is queued: a worker claims it with a conditional
update (queued -> sending), and do_cancel_send locks the row and checks its state, so that one
of the two wins and the other changes nothing.
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .events import send_event_on_commit
from .models import OutboxMessage, OutboxState

SHOWN_DAYS = 7  # sent and failed rows stay in the Outbox view this long


def get_outbox_for_user(user, outbox_id):
    """The user's own outbox row or None."""
    return OutboxMessage.objects.filter(pk=outbox_id, user=user).first()


def get_outbox_list_for_user(user, now=None):
    """What the Outbox view lists: rows on their way, and those sent or failed in the last
    SHOWN_DAYS days, newest first."""
    since = (now or timezone.now()) - datetime.timedelta(days=SHOWN_DAYS)
    waiting = Q(state__in=[OutboxState.QUEUED, OutboxState.SENDING])
    return OutboxMessage.objects.filter(Q(user=user) & (waiting | Q(created_at__gte=since)))


def _enqueue_on_commit(outbox):
    from .tasks import enqueue_send

    # robust: a task queue that does not answer is logged, and send_due_outbox (beat) sends the
    # committed row on its next tick
    transaction.on_commit(lambda: enqueue_send(outbox.pk, outbox.send_at), robust=True)


@transaction.atomic
def do_queue_message(user, account, *, raw, bcc, envelope_from, recipients, send_at,
                     scheduled=False, draft=None, original=None, original_flag="", subject="",
                     to_display="", message_id=""):  # fmt: skip
    """A new queued outbox row sent at ``send_at`` (aware datetime) by a worker; its event.
    ``raw``: the message as transmitted (bytes, no Bcc header); ``bcc``: the Bcc header's value
    for the Sent copy; ``recipients``: RCPT TO addresses; ``original_flag``: "\\\\Answered" or
    "$Forwarded", set on ``original`` once sent. The task is queued after the commit."""
    outbox = OutboxMessage.objects.create(
        user=user, account=account, draft=draft, raw=raw, bcc=bcc, envelope_from=envelope_from,
        recipients=list(recipients), send_at=send_at, scheduled=scheduled, original=original,
        original_flag=original_flag, subject=subject, to_display=to_display,
        message_id=message_id,
    )  # fmt: skip
    _announce(outbox)
    _enqueue_on_commit(outbox)
    return outbox


def _announce(outbox):
    send_event_on_commit(
        [outbox.user_id],
        {"type": "outbox.state", "outbox_id": outbox.pk, "state": outbox.state},
    )


@transaction.atomic
def do_cancel_send(user, outbox_id):
    """Take a queued message back before a worker claimed it: the row goes, its draft stays (its
    id is returned, or None when there is none). Returns False when it is already on its way or
    gone: the caller says so."""
    outbox = OutboxMessage.objects.select_for_update().filter(pk=outbox_id, user=user).first()
    if outbox is None or outbox.state != OutboxState.QUEUED:
        return False
    draft_id = outbox.draft_id
    outbox.delete()
    send_event_on_commit(
        [user.pk], {"type": "outbox.state", "outbox_id": outbox_id, "state": "cancelled"}
    )
    return draft_id


def may_have_been_sent(outbox):
    """A failed row whose data went out without a reply: sending it again may send it twice."""
    return outbox.state == OutboxState.FAILED and outbox.stage == "data"


@transaction.atomic
def do_retry_send(user, outbox_id, *, confirmed=False):
    """A failed message queued again, to be sent now, with a fresh retry period. One that may
    have been sent already (see may_have_been_sent) only when the user ``confirmed`` it:
    ValidationError otherwise, as for a row that is not failed. Returns the row."""
    outbox = OutboxMessage.objects.select_for_update().filter(pk=outbox_id, user=user).first()
    if outbox is None or outbox.state != OutboxState.FAILED:
        raise ValidationError(_("Only a message that failed can be sent again."))
    if may_have_been_sent(outbox) and not confirmed:
        raise ValidationError(
            _("This message may have been sent already: confirm that you want to send it again.")
        )
    outbox.state, outbox.send_at, outbox.first_try_at = OutboxState.QUEUED, timezone.now(), None
    outbox.stage, outbox.error, outbox.refused, outbox.claimed_at = "", "", {}, None
    outbox.save(update_fields=["state", "send_at", "first_try_at", "stage", "error", "refused",
                               "claimed_at"])  # fmt: skip
    _announce(outbox)
    _enqueue_on_commit(outbox)
    return outbox
