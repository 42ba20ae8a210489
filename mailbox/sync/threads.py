"""Conversations, assigned as messages are cached (the rules: mailbox.parsing.threading).

A batch of N new rows of one account costs a fixed number of statements, whatever N:

1. one lookup of the stored keys among the batch's (in chunks of 5,000 keys);
2. the plan, in memory (union-find, links inside the batch too);
3. the thread ids go into the rows themselves, before they are inserted: a COPY writes each row
   once (a conversation's id is derived from its first Message-ID, not from a primary key that
   would need a second write of every new row);
4. the new keys in one INSERT that skips keys a concurrent writer just stored (the race loses a
   link, never a message), the changed subject keys, and the rare merges (one UPDATE each of
   messages and keys, on their thread indexes).
"""

import datetime
import secrets

from django.conf import settings
from django.db import connection
from django.db.models import Case, Value, When

from mailbox.models import Message, ThreadKey
from mailbox.parsing.threading import Known, Mail, keys_of, plan, thread_id_for

CHUNK = 5000


def with_threads(account_id, columns, rows):
    """``rows`` (tuples of ``columns``, about to be inserted into ``account_id``'s folders),
    each with its conversation's id appended. Writes the keys they add or change."""
    if not rows:
        return []
    index = {name: columns.index(name) for name in ("message_id", "in_reply_to", "references")}
    subject, date = columns.index("subject"), columns.index("date")
    mails = [
        Mail.of(row[index["message_id"]], row[index["in_reply_to"]],
                row[index["references"]], row[subject], row[date])
        for row in rows
    ]  # fmt: skip
    threads = thread_mails(account_id, mails)
    return [(*row, thread) for row, thread in zip(rows, threads, strict=True)]


def thread_mails(account_id, mails):
    """The conversation id of each of ``mails`` (threading.Mail), keys written."""
    known = _lookup(account_id, {key for mail in mails for key in keys_of(mail)})
    result = plan(
        mails,
        known,
        lambda _index, mail: thread_id_for(account_id, mail.message_id, secrets.randbits(53)),
    )
    _merge(account_id, result.merges)
    _insert_keys(account_id, result.new_keys)
    _update_keys(account_id, result.changed_keys)
    return result.threads


def _lookup(account_id, keys):
    keys, found = list(keys), {}
    if connection.vendor == "postgresql":  # one array parameter: no SQL of 20,000 placeholders
        table = connection.ops.quote_name(ThreadKey._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT key, thread, date FROM {table} "  # noqa: S608
                "WHERE account_id = %s AND key = ANY(%s::bigint[])",
                [account_id, keys],
            )
            return {key: Known(thread, date) for key, thread, date in cursor.fetchall()}
    for start in range(0, len(keys), CHUNK):
        rows = ThreadKey.objects.filter(account_id=account_id, key__in=keys[start : start + CHUNK])
        for key, thread, date in rows.values_list("key", "thread", "date"):
            found[key] = Known(thread, date)
    return found


def _merge(account_id, merges):
    """Conversations linked by this batch: their messages and keys take the surviving id
    (one UPDATE of each table, on their thread indexes)."""
    if not merges:
        return
    olds = list(merges)
    messages = Message.objects.filter(thread__in=olds, folder__account_id=account_id)
    keys = ThreadKey.objects.filter(account_id=account_id, thread__in=olds)
    survivor = Case(*(When(thread=old, then=Value(new)) for old, new in merges.items()))
    messages.update(thread=survivor)
    keys.update(thread=survivor)


def _insert_keys(account_id, entries):
    if not entries:
        return
    table = connection.ops.quote_name(ThreadKey._meta.db_table)
    rows = [(account_id, key, entry.thread, entry.date) for key, entry in entries.items()]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            columns = list(zip(*rows, strict=True))
            cursor.execute(
                f"INSERT INTO {table} (account_id, key, thread, date) "  # noqa: S608
                "SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], "
                "%s::timestamptz[]) ON CONFLICT DO NOTHING",
                [list(column) for column in columns],
            )
        else:
            adapt = _sqlite_datetime
            cursor.executemany(
                f"INSERT OR IGNORE INTO {table} (account_id, key, thread, date) "  # noqa: S608
                "VALUES (%s, %s, %s, %s)",
                [(a, k, t, adapt(d)) for a, k, t, d in rows],
            )


def _sqlite_datetime(value):
    """A date as SQLite keeps it (naive UTC text), without the ORM's adapter: 15 us a value,
    a cost at thousands of keys a batch (mailbox.sync.store._adapt_datetimes says more)."""
    utc = settings.USE_TZ and connection.timezone == datetime.UTC
    if value is None or value.tzinfo is None or not utc:
        return connection.ops.adapt_datetimefield_value(value)
    return str(value.astimezone(datetime.UTC).replace(tzinfo=None))


def _update_keys(account_id, entries):
    if not entries:
        return
    table = connection.ops.quote_name(ThreadKey._meta.db_table)
    adapt = _sqlite_datetime if connection.vendor == "sqlite" else (lambda value: value)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET thread = %s, date = %s WHERE account_id = %s AND key = %s",  # noqa: S608
            [(e.thread, adapt(e.date), account_id, key) for key, e in entries.items()],
        )
