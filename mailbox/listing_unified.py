"""Lists that span the user's accounts: "All inboxes", "Unread" and "Starred", one page at a time.

Each list is the union of the messages of a set of folders (:func:`folders_for`), in any order of
mailbox.listing.SORTS, cut by the same keyset cursor (sort key, id): message ids are unique
across folders, so (key, id) orders the union totally. A page is taken as:

1. for each folder, the next ``size + 1`` rows after the cursor, by its own keyset query on the
   folder's (folder, key, id) index (for Unread and Starred by date: the partial indexes on
   unread and on flagged messages), so that a page 1,000 deep costs what page 1 costs;
2. those few rows (folders x (size + 1)) merged and cut to ``size + 1``: on PostgreSQL in the
   same statement (a UNION ALL of the LIMITed subqueries under one ORDER BY), so that strings
   compare in the database's collation, the very order the cursor's filter uses; on SQLite,
   which allows no LIMIT inside a compound statement, one query per folder merged here (SQLite
   compares text byte by byte in UTF-8, which is code point order, as Python does).

Which folders (why): Unread leaves out Trash and Junk (mail the user threw away or the server
judged spam), Sent and Drafts (the user's own mail, never "unread news"), and the virtual
folders of Gmail and Dovecot (All mail, Flagged), which hold copies of messages listed in their
own folder. Starred keeps Sent (a starred sent message is one to follow up) but leaves out Trash,
Junk and the virtual folders. Folders hidden from the folder tree (unsubscribed, no role) are
left out of both, as the tree leaves them out.
"""

import heapq
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q, Sum

from .listing import (
    PAGE_SIZE,
    SORTS,
    Page,
    _after,
    clean_sort,
    decode_cursor,
    encode_cursor,
    ordered,
)
from .models import Folder, Message, Role

VIRTUAL = (Role.ALL, Role.FLAGGED)
# the largest columns, which no row shows: left in the database (each list reads up to
# folders x (page + 1) rows, most of them not shown)
UNSHOWN = ("bodystructure", "references")


@dataclass(frozen=True)
class View:
    """One list across the accounts: its folders (``roles`` in, or ``skip`` out), and the
    filter on their messages."""

    name: str
    roles: tuple = ()  # only folders with these roles; () for every folder but ``skip``'s
    skip: tuple = ()
    where: Q = Q()


VIEWS = {
    "inbox": View("inbox", roles=(Role.INBOX,)),
    "unread": View(
        "unread",
        skip=(Role.TRASH, Role.JUNK, Role.SENT, Role.DRAFTS, *VIRTUAL),
        where=Q(seen=False),
    ),  # fmt: skip
    "starred": View("starred", skip=(Role.TRASH, Role.JUNK, *VIRTUAL), where=Q(flagged=True)),
}


def _user_folders(user):
    folders = Folder.objects.filter(account__user=user, selectable=True)
    return folders.exclude(subscribed=False, role="")


def _in_view(spec):
    return Q(role__in=spec.roles) if spec.roles else ~Q(role__in=spec.skip)


def folders_for(user, view):
    """The user's folders that ``view`` (a VIEWS key) spans, their accounts selected, in a
    stable order (account, name). Unknown views: KeyError."""
    folders = _user_folders(user).filter(_in_view(VIEWS[view])).select_related("account")
    return list(folders.order_by("account__email", "account_id", "name"))


def unified_page(user, view, sort=None, cursor=None, size=PAGE_SIZE, folders=None):
    """A Page of ``view``'s messages after ``cursor`` (made by the previous page, or by
    mailbox.listing for the same sort). Each message has ``folder`` (and its ``account``) set
    from ``folders`` (default: :func:`folders_for`), so that the rows name them without a join."""
    sort = clean_sort(sort)
    folders = folders_for(user, view) if folders is None else folders
    after = decode_cursor(cursor, sort)
    where = VIEWS[view].where & (_after(sort, *after) if after is not None else Q())
    rows = _merged(folders, where, sort, size + 1)
    _attach_folders(rows, folders)
    page = rows[:size]
    return Page(page, sort, encode_cursor(page[-1], sort) if len(rows) > size else None)


def rows_by_id(user, view, ids, sort=None, folders=None):
    """The messages ``ids`` that are in ``view`` now, in its order, each with ``live_after``:
    the id of the row just above it in the merged list ("" at the top). Ids of other users'
    messages, or of folders outside the view, are left out."""
    sort = clean_sort(sort)
    folders = folders_for(user, view) if folders is None else folders
    rows = Message.objects.filter(pk__in=ids, folder__in=folders).filter(VIEWS[view].where)
    rows = list(ordered(rows, sort))  # by the database: in its collation, as the pages are
    for row in rows:
        row.live_after = _previous_id(folders, view, sort, row) or ""
    _attach_folders(rows, folders)
    return rows


def _previous_id(folders, view, sort, message):
    """The id of the row just above ``message`` in the merged list: the nearest of each
    folder's row above it (one step of each folder's index), as listing.previous_id."""
    key, descending = SORTS[sort]
    value = getattr(message, key)
    if descending:
        above = Q(**{f"{key}__gte": value}) & (Q(**{f"{key}__gt": value}) | Q(pk__gt=message.pk))
    else:
        above = Q(**{f"{key}__lte": value}) & (Q(**{f"{key}__lt": value}) | Q(pk__lt=message.pk))
    reverse = next(s for s, (k, d) in SORTS.items() if k == key and d != descending)
    rows = _merged(folders, VIEWS[view].where & above, reverse, 1)
    return rows[0].pk if rows else None


def _per_folder(folder, where, sort, limit):
    key, descending = SORTS[sort]
    prefix = "-" if descending else ""
    rows = Message.objects.filter(folder=folder).filter(where).defer(*UNSHOWN)
    return rows.order_by(prefix + key, prefix + "id")[:limit]


def _merged(folders, where, sort, limit):
    """The first ``limit`` messages of ``folders`` matching ``where`` in the order ``sort``,
    from each folder's own LIMITed keyset query (see the module's docstring)."""
    if not folders:
        return []
    queries = [_per_folder(folder, where, sort, limit) for folder in folders]
    key, descending = SORTS[sort]
    if len(queries) > 1 and connection.features.supports_slicing_ordering_in_compound:
        prefix = "-" if descending else ""
        union = queries[0].union(*queries[1:], all=True)
        return list(union.order_by(prefix + key, prefix + "id")[:limit])
    streams = [list(query) for query in queries]
    merged = heapq.merge(*streams, key=lambda row: _key(row, sort), reverse=descending)
    return [row for row, _n in zip(merged, range(limit), strict=False)]


def _key(row, sort):
    return getattr(row, SORTS[sort][0]), row.pk


def _attach_folders(rows, folders):
    by_id = {folder.pk: folder for folder in folders}
    for row in rows:
        row.folder = by_id[row.folder_id]


def counts(user):
    """{"inbox": unread in the Inboxes, "unread": unread in Unread's folders}: sums of the
    folders' own counts (kept by the sync and the fetch), one query. Starred is not counted
    (nor does Gmail count it)."""
    return _user_folders(user).aggregate(
        inbox=Sum("unread", filter=_in_view(VIEWS["inbox"]), default=0),
        unread=Sum("unread", filter=_in_view(VIEWS["unread"]), default=0),
    )
