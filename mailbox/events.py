"""Events to open browsers: ids and small facts, never content; the caller names the recipients.

Each user has one group, ``user.<id>``. Events are sent after the transaction commits, so a
browser never fetches a state that was rolled back. A browser applies each event in place and
fetches what it shows of a message (its row) through the normal, permission-checked views
(``?part=rows&ids=...`` of the folder's list); no event makes it open a message, so none marks
one read. After a reconnect it re-fetches what it shows; nothing is replayed.

The events, each a JSON object with its ``type`` (ids are our database ids, never IMAP UIDs):

``message.new``      ``{"folder_id", "account_id", "role", "ids": [id, ...], "delivered"}``:
                     messages that appeared in a folder (new mail, a POP3 fetch, a copy, a
                     move's arrival, a change rolled back), or whose row changed otherwise (a
                     copy's placeholder got its UID): a page fetches these rows again. ``role``:
                     the folder's. ``delivered``: found on the server by a sync or a fetch (new
                     mail, or filed there by another client), not put there from here: only
                     these make desktop notifications.
``message.flags``    ``{"folder_id", "flags": {"<id>": ["\\Seen", "$Forwarded", ...]}}``: the
                     whole new list of flags and keywords of each message whose flags changed.
``message.removed``  ``{"folder_id", "ids": [id, ...], "to_folder_id": id or null}``: messages
                     gone from a folder, expunged (``null``) or moved (in the target they are
                     new messages, with ids of their own, announced by ``message.new``).
``folder.counts``    ``{"folder_id", "account_id", "unread", "total"}``: after every recount.
``folder.changed``   ``{"folder_id", "account_id"}``: more changed in the folder than is worth
                     listing (over MAX_LISTED ids, a UIDVALIDITY reset): re-fetch what is shown.
``folders.changed``  ``{"account_id", "created": [id], "renamed": [id], "changed": [id],
                     "deleted": [id]}``: the folder tree of an account (``changed``: its
                     subscription or role); pages re-fetch the tree (``?part=folders``).
``sync.progress``    ``{"folder_id", "cached", "total"}``: a first sync's backfill, at most
                     twice a second per folder.
``account.changed``  ``{"account_id", "created", "error"}``: added, edited, or its sync or
                     fetch error appeared or went (``error``: whether it has one now; the words
                     are on the page).
``account.deleted``  ``{"account_id"}``
``fetch.done``       ``{"account_id", "folder_id", "added"}``: a POP3 fetch brought ``added``
                     messages into the Inbox ``folder_id`` (their rows: ``message.new``).
``change.failed``    ``{"kind", "folder_id", "reason"}``: the server refused a change made here;
                     it was rolled back (``reason``: the server's words, at most 300 characters).
``preferences.changed`` ``{"theme", "notify_new_mail"}`` (both absent after a change that
                     pages do not show, such as a trusted sender).
``outbox.state``     ``{"outbox_id", "state"}``: queued, sending, sent, failed, cancelled.
``draft.saved``      ``{"draft_id", "version"}``: a draft was saved here (its server copy
                     follows).
``live.hello``       ``{"seq"}``: a socket's first message, to that socket alone: the user's
                     sequence number after it joined the group (``null`` with Redis down).

Ids come in lists of at most MAX_LISTED; a bigger change is one ``folder.changed``.
"""

import asyncio
import logging
import os
import threading

import redis
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

EVENT_TYPES = frozenset(
    {
        "message.new", "message.flags", "message.removed", "folder.counts", "folder.changed",
        "folders.changed", "sync.progress", "account.changed", "account.deleted", "fetch.done",
        "change.failed", "preferences.changed", "outbox.state", "draft.saved", "live.hello",
    }
)  # fmt: skip
MAX_LISTED = 500  # ids in one event; more is a "folder.changed" (re-fetch what you show)


def user_group(user_id):
    return f"user.{int(user_id)}"


# --- the sequence number of each user's events ------------------------------------------------

_redis = {}


def _client():
    if "client" not in _redis:  # thread-safe; its pool reconnects after a fork
        _redis["client"] = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )
    return _redis["client"]


def _seq_key(user_id):
    return f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}:live_seq:{int(user_id)}"


def current_seq(user_id):
    """The user's event sequence number: an int, 0 before their first event; None with Redis
    down (a page then has no number, and its socket's first connect does not catch up)."""
    try:
        return int(_client().get(_seq_key(user_id)) or 0)
    except redis.RedisError as problem:
        logger.warning("could not read the event sequence of user %s: %s", user_id, problem)
        return None


def _next_seq(user_id):
    try:
        _client().incr(_seq_key(user_id))
    except redis.RedisError as problem:
        logger.warning("could not count an event of user %s: %s", user_id, problem)


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
        sending = _count_and_send(layer, user_id, event)
        # Not waited for: a sync must not slow down for its browsers. Events are hints to
        # re-fetch, so their order between two quick ones does not matter.
        future = asyncio.run_coroutine_threadsafe(sending, _sender_loop())
        future.add_done_callback(lambda done, e=event, u=user_id: _log_failure(done, e, u))


async def _count_and_send(layer, user_id, event):
    # Counted before it is sent: a page whose number is older than this event's may not have
    # heard it, and its socket's hello shows a bigger one (see the module's docstring). Counted
    # here, off the caller's thread, like the sending: a slow Redis does not slow a sync.
    await asyncio.get_running_loop().run_in_executor(None, _next_seq, user_id)
    await layer.group_send(user_group(user_id), event)


def _log_failure(done, event, user_id):
    if done.exception() is not None:  # Redis down: the page still works, it just is not live
        logger.warning(
            "could not send %s to user %s: %s", event.get("type"), user_id, done.exception()
        )


def send_event_on_commit(user_ids, event):
    user_ids = list(user_ids)
    transaction.on_commit(lambda: send_event(user_ids, event))


# --- the message and folder events: built here, so that their shapes are in one place ---------


def _send(user_id, kind, **facts):
    send_event_on_commit([user_id], {"type": kind, **facts})


def _too_many(user_id, folder, ids):
    if len(ids) <= MAX_LISTED:
        return False
    announce_folder_changed(user_id, folder)
    return True


def announce_folder_changed(user_id, folder):
    _send(user_id, "folder.changed", folder_id=folder.pk, account_id=folder.account_id)


def announce_added(user_id, folder, ids, *, delivered=False):
    """Messages ``ids`` appeared in ``folder`` (a Folder: pk, account_id, role); ``delivered``:
    found by a sync or a POP3 fetch, rather than moved, copied or restored from here."""
    ids = sorted(set(ids))
    if ids and not _too_many(user_id, folder, ids):
        _send(user_id, "message.new", folder_id=folder.pk, account_id=folder.account_id,
              role=folder.role, ids=ids, delivered=delivered)  # fmt: skip


def announce_flags(user_id, folder, flags):
    """``flags``: {message id: the message's flags now (an iterable of str)}."""
    if flags and not _too_many(user_id, folder, flags):
        flags = {str(pk): sorted(values) for pk, values in flags.items()}
        _send(user_id, "message.flags", folder_id=folder.pk, flags=flags)


def announce_removed(user_id, folder, ids, to_folder=None):
    ids = sorted(set(ids))
    if ids and not _too_many(user_id, folder, ids):
        to_folder_id = getattr(to_folder, "pk", None)
        _send(user_id, "message.removed", folder_id=folder.pk, ids=ids, to_folder_id=to_folder_id)


def announce_counts(user_id, folder):
    """``folder``'s ``unread`` and ``total`` as they are on the object (just counted)."""
    _send(user_id, "folder.counts", folder_id=folder.pk, account_id=folder.account_id,
          unread=folder.unread, total=folder.total)  # fmt: skip


def announce_folders(user_id, account_id, *, created=(), renamed=(), changed=(), deleted=()):
    _send(user_id, "folders.changed", account_id=account_id, created=sorted(created),
          renamed=sorted(renamed), changed=sorted(changed), deleted=sorted(deleted))  # fmt: skip
