"""Events to open browsers: ids, never content; the caller names the recipients.

Each user has one group, ``user.<id>``. Browsers re-fetch what changed through the normal,
permission-checked views. Events are sent after the transaction commits, so a browser never
fetches a state that was rolled back.
"""

import asyncio
import logging
import os
import threading

from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

EVENT_TYPES = frozenset(
    {
        "account.changed",  # an account was added, edited, or its sync error changed
        "account.deleted",
        "folders.changed",  # the folder tree of an account changed
        "folder.changed",  # messages or counts of a folder changed
        "sync.progress",  # a first sync's backfill: cached of total
        "change.failed",  # the server refused a change made here; it was rolled back
        "preferences.changed",  # theme or reading preferences; other tabs follow
        "outbox.state",  # an outgoing message was queued, is sending, was sent, failed or undone
        "draft.saved",  # a draft was saved here (its server copy follows)
    }
)


def user_group(user_id):
    return f"user.{int(user_id)}"


_sender = {"pid": None, "loop": None}
_sender_lock = threading.Lock()


def _sender_loop():
    """One event loop per process, in a thread, for sending: the channel layer's Redis
    connections live as long as it does (a new loop per event would cost a new connection and
    tens of milliseconds each)."""
    with _sender_lock:
        if _sender["pid"] != os.getpid():  # first use, or a forked worker child
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="event-sender", daemon=True).start()
            _sender.update(pid=os.getpid(), loop=loop)
        return _sender["loop"]


def send_event(user_ids, event):
    layer = get_channel_layer()
    if layer is None:
        return
    for user_id in set(user_ids):
        sending = layer.group_send(user_group(user_id), event)
        # Not waited for: a sync must not slow down for its browsers. Events are hints to
        # re-fetch, so their order between two quick ones does not matter.
        future = asyncio.run_coroutine_threadsafe(sending, _sender_loop())
        future.add_done_callback(lambda done, e=event, u=user_id: _log_failure(done, e, u))


def _log_failure(done, event, user_id):
    if done.exception() is not None:  # Redis down: the page still works, it just is not live
        logger.warning(
            "could not send %s to user %s: %s", event.get("type"), user_id, done.exception()
        )


def send_event_on_commit(user_ids, event):
    user_ids = list(user_ids)
    transaction.on_commit(lambda: send_event(user_ids, event))
