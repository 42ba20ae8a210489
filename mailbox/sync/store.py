"""Writes to the message cache from what the server said. Every function here is idempotent:
running it twice with the same input changes nothing the second time."""

import datetime

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import DateTimeField, Q

from mailbox.events import announce_counts
from mailbox.fulltext import get_index
from mailbox.models import SYSTEM_FLAGS, Folder, Message, PendingChange, Pop3Download
from mailbox.parsing import has_attachments, parse_header_fields

from . import threads

FLAG_FIELDS = tuple(SYSTEM_FLAGS.values())  # seen, answered, flagged, deleted, draft


def flag_values(flags):
    """Server flags -> the Message fields that hold them (system flags and keywords)."""
    lowered = {flag.lower() for flag in flags}
    values = {field: name in lowered for name, field in SYSTEM_FLAGS.items()}
    keywords = " ".join(flag for flag in flags if not flag.startswith("\\"))
    values["keywords"] = keywords[:1000]
    return values


COLUMNS = (
    "folder_id", "uidvalidity", "uid", "date", "internaldate", "from_name", "from_address", "to",
    "cc", "subject", "message_id", "in_reply_to", "references", "content_type", "size",
    "has_attachments", "bodystructure", "preview", "seen", "answered", "flagged", "deleted",
    "draft", "keywords", "modseq",
)  # fmt: skip


def message_values(folder_id, uidvalidity, meta):
    """One row of COLUMNS from a fetched message: no model instance (this runs 100,000 times)."""
    header = parse_header_fields(meta.header)
    lowered = {flag.lower() for flag in meta.flags}
    keywords = " ".join(flag for flag in meta.flags if not flag.startswith("\\"))
    return (
        folder_id, uidvalidity, meta.uid, header.date or meta.internaldate, meta.internaldate,
        header.from_name[:200], header.from_address[:320], header.to, header.cc, header.subject,
        header.message_id[:255], header.in_reply_to[:255], " ".join(header.references),
        header.content_type[:100], meta.size, has_attachments(meta.bodystructure),
        meta.bodystructure, "", "\\seen" in lowered, "\\answered" in lowered,
        "\\flagged" in lowered, "\\deleted" in lowered, "\\draft" in lowered, keywords[:1000],
        meta.modseq,
    )  # fmt: skip


UID = COLUMNS.index("uid")
THREADED = (*COLUMNS, "thread")  # what goes into the table: each row with its conversation


def rows_from_metas(folder_id, uidvalidity, metas):
    """Pure: no database. The sync runs it in its fetching thread."""
    return [message_values(folder_id, uidvalidity, meta) for meta in metas]


def insert_messages(folder, uidvalidity, metas):
    """Add fetched messages; UIDs already cached are left as they are. Returns how many."""
    return insert_rows(folder, uidvalidity, rows_from_metas(folder.pk, uidvalidity, metas))


def insert_rows(folder, uidvalidity, rows):
    """Insert rows of COLUMNS; a UID already cached keeps its row. Returns how many were new."""
    if not rows:
        return 0
    with transaction.atomic():
        rows = threads.with_threads(folder.account_id, COLUMNS, rows)
        added = _insert_rows(folder, uidvalidity, rows)
        # the headers go into the search index with the rows (the text follows in the
        # background pass: mailbox.sync.index)
        get_index().index_headers_for_uids(folder.pk, uidvalidity, [row[UID] for row in rows])
        return added


def _insert_rows(folder, uidvalidity, rows):
    with transaction.atomic():
        if connection.vendor != "postgresql":
            return _insert_many(Message, THREADED, rows, skip_conflicts=True)
        try:
            # The sync asks only for UIDs it has not cached, under the account's lease, so COPY
            # (which cannot skip conflicts) almost always goes straight in.
            with transaction.atomic():
                _copy_rows(rows, THREADED)
            return len(rows)
        except (IntegrityError, connection.Database.IntegrityError):  # raw COPY: the driver's own
            uids = [row[UID] for row in rows]
            known = set(
                Message.objects.filter(
                    folder_id=folder.pk, uidvalidity=uidvalidity, uid__in=uids
                ).values_list("uid", flat=True)
            )
            rows = [row for row in rows if row[UID] not in known]
            _copy_rows(rows, THREADED)
            return len(rows)


def _copy_rows(rows, names, model=Message):
    """PostgreSQL's COPY: an order of magnitude faster than INSERT for a first sync. The rows
    cannot conflict: the account's lease keeps other writers out and known UIDs were dropped."""
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(column) for column in names)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


# mail kept here (a POP3 fetch): the same columns, and where its raw bytes are
KEPT_COLUMNS = (*COLUMNS, "raw_name")


def kept_message_values(folder_id, uidvalidity, uid, header, size, has_attachments, raw_name,
                        arrived, preview=""):  # fmt: skip
    """One row of KEPT_COLUMNS for a message downloaded now: unread, no flags."""
    fields = parse_header_fields(header)
    return (
        folder_id, uidvalidity, uid, fields.date or arrived, arrived, fields.from_name[:200],
        fields.from_address[:320], fields.to, fields.cc, fields.subject,
        fields.message_id[:255], fields.in_reply_to[:255], " ".join(fields.references),
        fields.content_type[:100], size, has_attachments, b"", preview, False, False, False,
        False, False, "", None, raw_name,
    )  # fmt: skip


def insert_kept_rows(account_id, rows):
    """Insert rows of KEPT_COLUMNS (into ``account_id``'s folders) whose UIDs were just
    allocated (they cannot conflict)."""
    rows = threads.with_threads(account_id, KEPT_COLUMNS, rows)
    if connection.vendor == "postgresql":
        _copy_rows(rows, (*KEPT_COLUMNS, "thread"))
    else:
        _insert_many(Message, (*KEPT_COLUMNS, "thread"), rows)
    for (folder_id, uidvalidity), uids in _uids_by_folder(rows).items():
        get_index().index_headers_for_uids(folder_id, uidvalidity, uids)


def _uids_by_folder(rows):
    folder, uidvalidity = KEPT_COLUMNS.index("folder_id"), KEPT_COLUMNS.index("uidvalidity")
    found = {}
    for row in rows:
        found.setdefault((row[folder], row[uidvalidity]), []).append(row[UID])
    return found


def _insert_many(model, names, rows, *, skip_conflicts=False):
    """One INSERT run over ``rows`` (executemany): the ORM's bulk_create spends more time
    making model instances and SQL than SQLite spends storing them (3 s of a 3.7 s sync of
    10,000 headers). Datetimes are adapted as the ORM would (aware -> the backend's form); the
    rest is stored as it is. With ``skip_conflicts`` a row that breaks a unique constraint is
    left out (SQLite's INSERT OR IGNORE). Returns how many rows went in."""
    rows = _adapt_datetimes(model, names, rows)
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(name) for name in names)
    marks = ", ".join(["%s"] * len(names))
    verb = "INSERT OR IGNORE" if skip_conflicts else "INSERT"
    with connection.cursor() as cursor:
        cursor.executemany(f"{verb} INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608
        return cursor.rowcount  # summed over the rows by sqlite3; an ignored row counts 0


def _adapt_datetimes(model, names, rows):
    """``rows`` with their DateTimeField values as the ORM would send them. For SQLite storing
    UTC (Django's default) the ORM's own adapter is replaced by what it computes (the naive
    UTC time as text): it costs 15 us a value, a second or more at 100,000 rows of two dates."""
    datetimes = {f.column for f in model._meta.concrete_fields if isinstance(f, DateTimeField)}
    dates = [index for index, name in enumerate(names) if name in datetimes]
    if not dates:
        return rows
    adapt = connection.ops.adapt_datetimefield_value
    if connection.vendor == "sqlite" and settings.USE_TZ and connection.timezone == datetime.UTC:
        adapt = _naive_utc_text
    adapted = []
    for row in rows:
        row = list(row)
        for index in dates:
            row[index] = adapt(row[index])
        adapted.append(row)
    return adapted


def _naive_utc_text(value):
    if value is None or value.tzinfo is None:
        return connection.ops.adapt_datetimefield_value(value)
    return str(value.astimezone(datetime.UTC).replace(tzinfo=None))


DOWNLOAD_COLUMNS = ("account_id", "uidl", "downloaded_at")


def insert_downloads(rows):
    """Pop3Download rows of DOWNLOAD_COLUMNS (UIDLs not known yet: the fetch checked, under
    the account's lease)."""
    if connection.vendor == "postgresql":
        _copy_rows(rows, DOWNLOAD_COLUMNS, Pop3Download)
    else:
        _insert_many(Pop3Download, DOWNLOAD_COLUMNS, rows)


def cached_uids(folder, uidvalidity):
    return set(
        folder.messages.filter(uidvalidity=uidvalidity, uid__isnull=False).values_list(
            "uid", flat=True
        )
    )


def ids_with_pending_changes(folder):
    ids = set()
    for change in PendingChange.objects.filter(Q(folder=folder) | Q(target=folder)):
        ids.update(change.message_ids)
    return ids


def apply_flag_updates(folder, uidvalidity, updates, skip_ids=frozenset()):
    """Set the flags the server reports; messages with a change still on its way keep ours.
    Returns the ids of the messages that changed."""
    by_uid = {update.uid: update for update in updates}
    if not by_uid:
        return []
    fields = [*FLAG_FIELDS, "keywords"]
    by_state = {}  # the flags to set -> the ids to set them on: one UPDATE per distinct state
    uids = list(by_uid)
    for start in range(0, len(uids), 5000):
        chunk = uids[start : start + 5000]
        rows = Message.objects.filter(folder_id=folder.pk, uidvalidity=uidvalidity, uid__in=chunk)
        for pk, uid, *current in rows.values_list("pk", "uid", *fields):
            if pk in skip_ids:
                continue
            wanted = flag_values(by_uid[uid].flags)
            state = tuple(wanted[name] for name in fields)
            if list(state) != current:
                by_state.setdefault(state, []).append(pk)
    changed = []
    for state, ids in by_state.items():
        for start in range(0, len(ids), 5000):
            Message.objects.filter(pk__in=ids[start : start + 5000]).update(
                **dict(zip(fields, state, strict=True))
            )
        changed.extend(ids)
    return changed


def delete_uids(folder, uidvalidity, uids, skip_ids=frozenset()):
    """Forget messages the server expunged. Returns the ids removed."""
    uids = list(uids)
    removed = []
    for start in range(0, len(uids), 5000):
        rows = folder.messages.filter(uidvalidity=uidvalidity, uid__in=uids[start : start + 5000])
        ids = [pk for pk in rows.values_list("pk", flat=True) if pk not in skip_ids]
        Message.objects.filter(pk__in=ids).delete()
        removed.extend(ids)
    return removed


def reset_folder(folder, uidvalidity):
    """UIDVALIDITY changed (RFC 4549 §4.1): every cached UID is void. Placeholders of changes
    still on their way stay; changes naming old UIDs of this folder are dropped."""
    with transaction.atomic():
        folder.messages.filter(uid__isnull=False).delete()
        PendingChange.objects.filter(folder=folder).exclude(uidvalidity=uidvalidity).delete()
        Folder.objects.filter(pk=folder.pk).update(
            uidvalidity=uidvalidity,
            uidnext=None,
            highestmodseq=None,
            server_messages=None,  # the counts are recounted once the folder is whole again
            backfill_done=False,
        )
        folder.uidvalidity, folder.uidnext, folder.highestmodseq = uidvalidity, None, None
        folder.server_messages, folder.backfill_done = None, False


BULK_LOAD = 5000  # after adding this many messages, refresh the planner's statistics


def refresh_statistics_after_load(added):
    """Once a sync or fetch has added ``added`` messages: refresh the statistics after a bulk
    load, or (SQLite) after the first load into a table that has none. Once per load, not per
    batch: ANALYZE is cheap, VACUUM (ANALYZE) of 100,000 rows is not."""
    if added >= BULK_LOAD or (added and not has_statistics()):
        analyze_after_bulk_load()


def analyze_after_bulk_load():
    """After a first sync of many messages, the planner still thinks the table small (or, on
    SQLite, has no statistics at all) and picks the wrong index: refresh its statistics.

    PostgreSQL: VACUUM (ANALYZE), which also refreshes the visibility map (index-only counts);
    it cannot run inside a transaction, so a caller inside one gets nothing done. SQLite: without
    statistics it answers an unread count through the size index (200-320 ms at 100,000
    messages) instead of the partial index of unread messages (2 ms). ANALYZE reads a bounded
    sample of each index (``analysis_limit``): ~0.1 s at 100,000 rows instead of seconds."""
    table = connection.ops.quote_name(Message._meta.db_table)
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    elif connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}")
            cursor.execute(f"ANALYZE {table}")


# rows of each index that SQLite's ANALYZE reads (SQLite's documentation suggests 100 to 1000)
SQLITE_ANALYSIS_LIMIT = 1000


def has_statistics():
    """Whether the messages table was ever analyzed (a SQLite question: PostgreSQL's autovacuum
    analyzes a growing table by itself, only later than a first sync needs)."""
    if connection.vendor != "sqlite":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
        if cursor.fetchone() is None:
            return False
        cursor.execute("SELECT 1 FROM sqlite_stat1 WHERE tbl = %s", [Message._meta.db_table])
        return cursor.fetchone() is not None


def refresh_counts(folder, status=None, delta=None):
    """Total and unread: from the cache once it holds the whole folder, else from STATUS.

    A caller that knows how the total moved (a resync: added - removed) passes ``delta``; it
    applies to the stored total, which pushes between folders may have changed since ``folder``
    was read. The owner's pages hear the new counts ("folder.counts")."""
    if folder.backfill_done or status is None:
        # two counts, each answered from an index (the unread one from the partial index of
        # unread messages); one aggregate with a filter would read every row of the folder
        messages = Message.objects.filter(folder_id=folder.pk)
        if delta is None:
            folder.total = messages.count()
        else:
            stored = Folder.objects.filter(pk=folder.pk).values_list("total", flat=True)
            folder.total = stored[0] + delta
        folder.unread = messages.filter(seen=False).count()
    else:
        folder.total, folder.unread = status.messages, status.unseen
    Folder.objects.filter(pk=folder.pk).update(total=folder.total, unread=folder.unread)
    announce_counts(folder.account.user_id, folder)


def flags_of(message_ids):
    """{message id: its flags} of these messages (those still there)."""
    fields = ["pk", *FLAG_FIELDS, "keywords"]
    found = {}
    for start in range(0, len(message_ids), 5000):
        chunk = list(message_ids)[start : start + 5000]
        for row in Message.objects.filter(pk__in=chunk).only(*fields[1:]):
            found[row.pk] = row.flags
    return found


def ids_of_uids(folder, uidvalidity, uids):
    """Our ids of these UIDs of ``folder``."""
    return list(
        Message.objects.filter(
            folder_id=folder.pk, uidvalidity=uidvalidity, uid__in=list(uids)
        ).values_list("pk", flat=True)
    )


def cached_uids_between(folder, uidvalidity, since):
    return set(
        folder.messages.filter(uidvalidity=uidvalidity, uid__gte=since).values_list(
            "uid", flat=True
        )
    )
