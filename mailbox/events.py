"""Events to open browsers: ids, never content; the caller names the recipients.

Each user has one group, ``user.<id>``. Browsers re-fetch what changed through the normal,
permission-checked views. Events are sent after the transaction commits, so a browser never
fetches a state that was rolled back.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def user_group(user_id):
    return f"user.{int(user_id)}"


def send_event(user_ids, event):
    layer = get_channel_layer()
    if layer is None:
        return
    for user_id in set(user_ids):
        try:
            async_to_sync(layer.group_send)(user_group(user_id), event)
        except Exception:  # Redis down: the page still works, it just is not live
            logger.warning("could not send %s to user %s", event.get("type"), user_id)


def send_event_on_commit(user_ids, event):
    user_ids = list(user_ids)
    transaction.on_commit(lambda: send_event(user_ids, event))
