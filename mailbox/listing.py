"""A folder's messages, one page at a time, in any of the list's sort orders.

Pages are cut by keyset (the last row's sort key and id), never by OFFSET, so page 1,000 of a
100,000-message folder costs what page 1 costs: each order has an index on (folder, key, id),
which PostgreSQL and SQLite both walk in either direction.

The filter is written ``key <= last AND (key < last OR id < last_id)`` rather than the plainer
``key < last OR (key = last AND id < last_id)``: the first conjunct bounds the index scan, while a
top-level OR would leave the planner scanning the folder from its start.
"""

import base64
import datetime
import json
from dataclasses import dataclass

from django.db.models import Q

from .forms import MAX_ID

PAGE_SIZE = 50
MAX_SIZE = 2**31 - 1  # Message.size: an integer
MAX_CURSOR = 2000  # characters: a sort key is at most 320

# sort name -> (key field, descending); the keys are columns the database computes (models.py)
SORTS = {
    "date": ("date", True),
    "date_asc": ("date", False),
    "sender": ("sender_key", False),
    "sender_desc": ("sender_key", True),
    "subject": ("subject_key", False),
    "subject_desc": ("subject_key", True),
    "size": ("size", True),
    "size_asc": ("size", False),
}
DEFAULT_SORT = "date"


@dataclass(frozen=True)
class Page:
    messages: list
    sort: str
    next_cursor: str | None  # None: this is the last page


def clean_sort(value):
    return value if value in SORTS else DEFAULT_SORT


def ordered(rows, sort):
    """``rows`` (a Message queryset) in the list order ``sort``."""
    key, descending = SORTS[clean_sort(sort)]
    prefix = "-" if descending else ""
    return rows.order_by(prefix + key, prefix + "id")


def message_page(folder, sort=DEFAULT_SORT, cursor=None, size=PAGE_SIZE):
    """One page of ``folder``'s messages after ``cursor`` (as made by the previous page)."""
    sort = clean_sort(sort)
    rows = ordered(folder.messages.all(), sort)
    after = decode_cursor(cursor, sort)
    if after is not None:
        rows = rows.filter(_after(sort, *after))
    rows = list(rows[: size + 1])
    page = rows[:size]
    more = len(rows) > size
    return Page(page, sort, encode_cursor(page[-1], sort) if more else None)


def previous_id(folder, sort, message):
    """The id of the row just above ``message`` in ``folder``'s list in the order ``sort``
    (None at the top): where a page puts a row that just arrived. One step of the index."""
    key, descending = SORTS[clean_sort(sort)]
    value = getattr(message, key)
    if descending:  # above it: a greater key, or the same key and a greater id
        above = Q(**{f"{key}__gte": value}) & (Q(**{f"{key}__gt": value}) | Q(pk__gt=message.pk))
        order = (key, "id")
    else:
        above = Q(**{f"{key}__lte": value}) & (Q(**{f"{key}__lt": value}) | Q(pk__lt=message.pk))
        order = ("-" + key, "-id")
    rows = folder.messages.filter(above).order_by(*order)
    return rows.values_list("pk", flat=True).first()


def _after(sort, value, pk):
    key, descending = SORTS[sort]
    if descending:
        return Q(**{f"{key}__lte": value}) & (Q(**{f"{key}__lt": value}) | Q(pk__lt=pk))
    return Q(**{f"{key}__gte": value}) & (Q(**{f"{key}__gt": value}) | Q(pk__gt=pk))


def encode_cursor(message, sort):
    """An opaque cursor after ``message``."""
    key, _descending = SORTS[clean_sort(sort)]
    value = getattr(message, key)
    if isinstance(value, datetime.datetime):
        value = value.isoformat()
    raw = json.dumps([sort, value, message.pk], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor, sort):
    """(key value, id) from a cursor of this sort; None for no cursor or a broken one.

    A cursor comes back from the browser, so anything may be in it: an id beyond 64 bits, a
    naive date, text no database column can hold (NUL, a lone surrogate)."""
    if not cursor or len(cursor) > MAX_CURSOR:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, pk = json.loads(raw)
    except (ValueError, TypeError):
        return None
    if cursor_sort != sort or type(pk) is not int or not 0 < pk <= MAX_ID:
        return None
    key, _descending = SORTS[sort]
    if key == "date":
        value = _aware_datetime(value)
    elif key == "size":
        value = value if type(value) is int and 0 <= value <= MAX_SIZE else None
    elif not isinstance(value, str) or "\0" in value or not _encodable(value):
        value = None
    return None if value is None else (value, pk)


def _aware_datetime(value):
    try:
        value = datetime.datetime.fromisoformat(value)
    except (ValueError, TypeError):
        return None
    return value if value.tzinfo is not None else None


def _encodable(text):
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
