"""A folder's list as conversations (one row each), and a conversation's messages.

The list reads threads computed as mail was cached (mailbox.sync.threads), never threads at
reading time, and stays on indexes at any depth:

1. the rows are the folder's messages in date order (the (folder, date, id) index, cut by
   keyset as mailbox.listing cuts any page) that have no newer message of their conversation in
   the folder: a NOT EXISTS probe of the (folder, thread, date, id) index per row;
2. one more query fetches the messages of the page's conversations (the (thread) index) for
   each row's participants, count, unread and starred marks.

Only the date order has conversation rows; the other sorts and search results list messages.
"""

from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Q

from accounts.models import Identity

from . import listing
from .models import Message, Role

SORT = "date"
HIDDEN_ROLES = (Role.TRASH, Role.JUNK)  # a conversation shows these only when they are the list
MAX_PEOPLE = 4


@dataclass
class Conversation:
    """What a conversation's row shows beyond its newest message of the folder."""

    ids: list[int] = field(default_factory=list)  # its messages in the folder shown, newest first
    count: int = 0  # its messages across the account's folders (Trash and Junk aside)
    people: list[str] = field(default_factory=list)  # senders, oldest first; "" for the user
    unread: bool = False  # any of ``ids``
    flagged: bool = False  # any of ``ids``


def conversation_page(folder, cursor=None, size=listing.PAGE_SIZE):
    """One page of ``folder``'s conversations, newest first (a listing.Page whose messages are
    each conversation's newest message in the folder, with ``.conversation`` set)."""
    rows = listing.ordered(folder.messages.filter(_newest_of_thread()), SORT)
    after = listing.decode_cursor(cursor, SORT)
    if after is not None:
        rows = rows.filter(listing._after(SORT, *after))
    rows = list(rows.select_related("folder")[: size + 1])
    page, more = rows[:size], len(rows) > size
    attach(folder, page)
    return listing.Page(page, SORT, listing.encode_cursor(page[-1], SORT) if more else None)


def _newest_of_thread():
    newer = Message.objects.filter(
        Q(date__gt=OuterRef("date")) | Q(date=OuterRef("date"), pk__gt=OuterRef("pk")),
        folder_id=OuterRef("folder_id"),
        thread=OuterRef("thread"),
        date__gte=OuterRef("date"),  # bounds the probe's index range
    )
    return Q(thread__isnull=True) | ~Exists(newer)


def attach(folder, messages):
    """Set ``.conversation`` on each of ``messages`` (rows of ``folder``): one query."""
    threads = {row.thread for row in messages if row.thread is not None}
    mine = own_addresses(folder.account)
    members = (
        Message.objects.filter(thread__in=threads, folder__account_id=folder.account_id)
        .exclude(~Q(folder_id=folder.pk), folder__role__in=HIDDEN_ROLES)
        .order_by("date", "id")
        .values_list(
            "thread",
            "pk",
            "folder_id",
            "folder__role",
            "from_name",
            "from_address",
            "seen",
            "flagged",
        )
    )
    found = {}
    for thread, pk, folder_id, role, name, address, seen, flagged in members if threads else []:
        conversation = found.setdefault(thread, Conversation())
        conversation.count += 1
        # the user: by address, or as the sender of what is in Sent (sent from anywhere)
        mine_here = role == Role.SENT or address.lower() in mine
        person = "" if mine_here else (name or address)
        if person not in conversation.people:
            conversation.people.append(person)
        if folder_id == folder.pk:
            conversation.ids.insert(0, pk)
            conversation.unread |= not seen
            conversation.flagged |= flagged
    for row in messages:
        row.conversation = found.get(row.thread) or Conversation(
            ids=[row.pk], count=1, people=[row.from_name or row.from_address],
            unread=not row.seen, flagged=row.flagged,
        )  # fmt: skip


def own_addresses(account):
    """The user's addresses on this account (lower case): shown as "me"."""
    addresses = set(Identity.objects.filter(account=account).values_list("address", flat=True))
    return {address.lower() for address in {account.email, *addresses} if address}


def thread_messages(message):
    """The messages of ``message``'s conversation in its account, oldest first: Trash and Junk
    only when ``message`` is in one of them."""
    if message.thread is None:
        return [message]
    rows = Message.objects.filter(
        thread=message.thread, folder__account_id=message.folder.account_id
    )
    if message.folder.role not in HIDDEN_ROLES:
        rows = rows.exclude(folder__role__in=HIDDEN_ROLES)
    rows = list(rows.select_related("folder").order_by("date", "id"))
    return _distinct_copies(rows, message)


def _distinct_copies(rows, message):
    """One message per Message-ID (the same mail in Inbox and Archive shows once), the copy
    in the opened message's folder first."""
    seen, kept = {}, []
    for row in sorted(rows, key=lambda r: (r.folder_id != message.folder_id, r.pk != message.pk)):
        key = row.message_id or f"#{row.pk}"
        if key not in seen:
            seen[key] = row
    for row in rows:
        if seen.get(row.message_id or f"#{row.pk}") is row:
            kept.append(row)
    return kept


def rows_for_ids(folder, ids):
    """The conversation rows of ``folder`` that hold these message ids (a live update: a new
    message replaces its conversation's row), newest first, each with ``live_after``: the id of
    the conversation row above it ("" at the top). Ids not in the folder are left out."""
    asked = list(folder.messages.filter(pk__in=ids).values_list("pk", "thread"))
    threads = {thread for _pk, thread in asked if thread is not None}
    lone = [pk for pk, thread in asked if thread is None]
    rows = folder.messages.filter(Q(thread__in=threads) | Q(pk__in=lone)).filter(
        _newest_of_thread()
    )
    rows = list(listing.ordered(rows, SORT).select_related("folder"))
    attach(folder, rows)
    for row in rows:
        row.live_after = _row_above(folder, row) or ""
    return rows


def _row_above(folder, message):
    above = Q(date__gte=message.date) & (Q(date__gt=message.date) | Q(pk__gt=message.pk))
    rows = folder.messages.filter(above).filter(_newest_of_thread()).order_by("date", "id")
    return rows.values_list("pk", flat=True).first()
