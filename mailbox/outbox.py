"""The outbox's user-visible writes: queue a built message, undo it while it waits, retry a failed
one. The sending itself is mailbox.sync.outbox, run by the task send_outbox_message.

(Interface fixed first; the scheduling and the undo rules are filled in with the sending.)"""

from django.db import transaction

from .events import send_event_on_commit
from .models import OutboxMessage, OutboxState


def get_outbox_for_user(user, outbox_id):
    """The user's own outbox row or None."""
    return OutboxMessage.objects.filter(pk=outbox_id, user=user).first()


@transaction.atomic
def do_queue_message(user, account, *, raw, bcc, envelope_from, recipients, send_at,
                     scheduled=False, draft=None, original=None, original_flag="", subject="",
                     to_display="", message_id=""):  # fmt: skip
    """A new queued outbox row sent at ``send_at`` (aware datetime) by a worker; its event.
    ``raw``: the message as transmitted (bytes, no Bcc header); ``bcc``: the Bcc header's value
    for the Sent copy; ``recipients``: RCPT TO addresses; ``original_flag``: "\\\\Answered" or
    "$Forwarded", set on ``original`` once sent."""
    outbox = OutboxMessage.objects.create(
        user=user, account=account, draft=draft, raw=raw, bcc=bcc, envelope_from=envelope_from,
        recipients=list(recipients), send_at=send_at, scheduled=scheduled, original=original,
        original_flag=original_flag, subject=subject, to_display=to_display,
        message_id=message_id,
    )  # fmt: skip
    _announce(outbox)
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
