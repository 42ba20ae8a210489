"""The plans of the queries people wait on, on both databases: each walks the index made for it.

The folders hold enough generated rows (30,000 messages) for PostgreSQL's planner to prefer
indexes by itself once the statistics are refreshed (the sync's `analyze_after_bulk_load`);
SQLite gets the same refresh, without which it counts unread mail through the size index. Each
query is captured as the code sends it (SQL and parameters: SQLite matches a partial index's
literal to a bound parameter only by its value) and explained: PostgreSQL's EXPLAIN (FORMAT JSON),
SQLite's EXPLAIN QUERY PLAN.

The suite runs on PostgreSQL; `test_the_plans_hold_on_sqlite_too` runs this file again in a
child pytest on a SQLite database, as the embedded mode has it.
"""

import datetime
import json
import os
import random
import re
import subprocess
import sys
import zoneinfo
from pathlib import Path

import pytest
from django.db import connection

from accounts.models import MailAccount
from mailbox import fulltext, listing, search
from mailbox.models import Folder, Message, OutboxMessage, Pop3Download, SearchEntry
from mailbox.sync import index, outbox, run_account, store

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = "mailbox_message"
CHILD = "WEBMAIL_PLAN_TEST_CHILD"  # set in the child run: it must not start another one


# a unique constraint's index: its name on PostgreSQL, SQLite's own name for it (Django declares
# it in the CREATE TABLE there), by table
def unique_index(name, table):
    return (name, f"sqlite_autoindex_{table}_1")


def foreign_key_index(table, column):
    """The index Django gives a foreign key (its name ends in a hash): a prefix of it."""
    return f"{table}_{column}_"


# the index each list order walks (models.py)
SORT_INDEXES = {
    "date": "message_folder_date",
    "sender_key": "message_folder_sender",
    "subject_key": "message_folder_subject",
    "size": "message_folder_size",
}


def generated_rows(folder_id, count, seed):
    """``count`` rows of the sync's COLUMNS: three years of mail, 30% unread, ~200 senders."""
    rng = random.Random(seed)
    now = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)
    senders = [(f"Person {n}", f"person{n}@example.com") for n in range(200)]
    words = ["plans", "garden", "invoice", "meeting", "holiday", "report", "tickets", "photos"]
    for uid in range(1, count + 1):
        name, address = rng.choice(senders)
        date = now - datetime.timedelta(seconds=rng.randrange(3 * 365 * 86400))
        subject = " ".join(rng.choices(words, k=3)) + f" {rng.randrange(1000)}"
        values = dict.fromkeys(store.COLUMNS, "")
        values.update(
            folder_id=folder_id, uidvalidity=1, uid=uid, date=date, internaldate=date,
            from_name=name, from_address=address, to="alice@example.com", subject=subject,
            size=rng.randrange(500, 200_000), has_attachments=rng.random() < 0.15,
            bodystructure=b"", seen=rng.random() >= 0.3, answered=False,
            flagged=rng.random() < 0.05, deleted=False, draft=False, modseq=uid,
        )  # fmt: skip
        yield tuple(values[column] for column in store.COLUMNS)


def cache_only_account(user):
    """An account whose server is never asked: its mail is put in the cache by the test."""
    account = MailAccount(
        user=user, email="alice@example.com", incoming_host="127.0.0.1", incoming_port=1,
        incoming_security="none", incoming_username="alice", smtp_host="127.0.0.1",
        smtp_port=1, smtp_security="none",
    )  # fmt: skip
    account.incoming_password = "x"
    account.save()
    return account


@pytest.fixture
def mailbox_of_alice(transactional_db, alice):
    """Alice's account: an Inbox of 20,000 messages and an Archive of 10,000, loaded and then
    analyzed as the sync does after a first sync (committed: VACUUM cannot run in a
    transaction)."""
    account = cache_only_account(alice)
    folders = []
    for name, count in (("INBOX", 20_000), ("Archive", 10_000)):
        folder = Folder.objects.create(
            account=account, name=name, delimiter="/", uidvalidity=1, backfill_done=True
        )
        rows = list(generated_rows(folder.pk, count, seed=len(folders)))
        for start in range(0, count, 5000):
            store.insert_rows(folder, 1, rows[start : start + 5000])
        folders.append(folder)
    store.analyze_after_bulk_load()
    return folders


def sent_queries(action, table=MESSAGES):
    """[(sql, params)] of the queries ``action`` sends that read ``table``."""
    sent = []

    def capture(execute, sql, params, many, context):
        sent.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        action()
    selects = [(sql, params) for sql, params in sent if sql.lstrip().upper().startswith("SELECT")]
    return [(sql, params) for sql, params in selects if f'"{table}"' in sql]


def plan_of(sql, params):
    """A plan as plain facts, the same on both databases: a list of (operation, table, index),
    operation one of "scan" (the whole table, or a whole index), "search" (an index bounded by
    the query's terms), "sort" (rows sorted after they are read)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
            raw = cursor.fetchone()[0]
            return list(_postgresql_steps((json.loads(raw) if isinstance(raw, str) else raw)[0]))
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        aliases = dict((alias, table) for table, alias in re.findall(r'"(\w+)" (U\d+)', sql))
        steps = [_sqlite_step(row[-1]) for row in cursor.fetchall()]
        return [(op, aliases.get(table, table), index) for op, table, index in steps]


def _postgresql_steps(node, table=""):
    """``table``: the table of a bitmap heap scan, whose bitmap index scans below it name
    only their index."""
    node = node.get("Plan", node)
    kind = node["Node Type"]
    if kind in ("Sort", "Incremental Sort"):
        yield ("sort", "", "")
    elif kind == "Seq Scan":
        yield ("scan", node["Relation Name"], "")
    elif "Index Name" in node:
        bounded = "Index Cond" in node
        yield ("search" if bounded else "scan", node.get("Relation Name", table),
               node["Index Name"])  # fmt: skip
    below = node.get("Relation Name", "") if kind == "Bitmap Heap Scan" else table
    for child in node.get("Plans", []):
        yield from _postgresql_steps(child, below)


def _sqlite_step(detail):
    """SQLite's EXPLAIN QUERY PLAN lines: "SEARCH t USING [COVERING] INDEX i (a=?)", "SCAN t",
    "SCAN t USING INDEX i", "USE TEMP B-TREE FOR ORDER BY"."""
    words = detail.split()
    if "TEMP B-TREE" in detail and "ORDER BY" in detail:
        return ("sort", "", "")
    if words[0] in ("SEARCH", "SCAN") and len(words) > 1:
        index = words[words.index("INDEX") + 1] if "INDEX" in words else ""
        return (words[0].lower(), words[1], index)
    return ("other", "", detail)


def assert_walks(plan, index, table=MESSAGES, sorted_ok=False):
    """The plan reads ``table`` through ``index`` (a name, or the names it has on each
    database) bounded by the query, never the whole table, and (unless ``sorted_ok``) returns
    the rows in the index's order, with no sort step."""
    names = {index} if isinstance(index, str) else set(index)
    reads = [step for step in plan if step[1] == table]
    assert reads, plan
    assert all(operation == "search" for operation, _table, _index in reads), plan
    assert any(_named(used, names) for _op, _table, used in reads), plan
    if not sorted_ok:
        assert not any(operation == "sort" for operation, _table, _index in plan), plan


def _named(used, names):
    return any(used == name or (name.endswith("_") and used.startswith(name)) for name in names)


def assert_bounded(plan, table=MESSAGES):
    """Every read of ``table`` is an index search bounded by the query (a sort may follow)."""
    reads = [step for step in plan if step[1] == table]
    assert reads and all(operation == "search" for operation, _table, _index in reads), plan


def test_every_list_order_walks_its_index_at_page_1_and_deep(mailbox_of_alice):
    inbox = mailbox_of_alice[0]
    for sort, (key, _descending) in listing.SORTS.items():
        deep = listing.ordered(inbox.messages.all(), sort)[15_000]
        for cursor in (None, listing.encode_cursor(deep, sort)):
            queries = sent_queries(lambda s=sort, c=cursor: listing.message_page(inbox, s, c))
            assert len(queries) == 1, queries
            assert_walks(plan_of(*queries[0]), SORT_INDEXES[key])


def test_a_deep_page_is_the_page_after_its_cursor(mailbox_of_alice):
    """What the plans above are of: the keyset pages cut the folder where they should."""
    inbox = mailbox_of_alice[0]
    for sort in ("date", "sender", "size_asc"):
        everything = list(listing.ordered(inbox.messages.all(), sort).values_list("pk", flat=True))
        cursor = listing.encode_cursor(Message.objects.get(pk=everything[15_000]), sort)
        page = listing.message_page(inbox, sort, cursor)
        assert [m.pk for m in page.messages] == everything[15_001 : 15_001 + listing.PAGE_SIZE]


def test_the_unread_count_reads_the_index_of_unread_messages(mailbox_of_alice):
    inbox = mailbox_of_alice[0]
    queries = sent_queries(lambda: store.refresh_counts(inbox))
    unread = [query for query in queries if "seen" in query[0]]
    total = [query for query in queries if "seen" not in query[0]]
    assert len(unread) == 1 and len(total) == 1, queries
    assert_walks(plan_of(*unread[0]), "message_folder_unseen")
    # the total: any index of the folder will do (all of them start with the folder), not the table
    assert all(op == "search" for op, table, _ in plan_of(*total[0]) if table == MESSAGES)
    assert inbox.unread == Message.objects.filter(folder=inbox, seen=False).count() > 5000


def test_the_search_by_headers_reads_the_folder_through_an_index(mailbox_of_alice, alice):
    """A header term matches inside the text, which no index answers: the rows of the folder
    are read through one of its indexes and filtered, never the whole table. The planner
    walks the date index for a common term and sorts the few rows of a rare one."""
    inbox = mailbox_of_alice[0]
    texts = ("subject:plans", "from:person7", "is:unread subject:garden", "has:attachment",
             "in:all subject:plans")  # fmt: skip
    for text in texts:
        queries = sent_queries(lambda t=text: search.search_messages(alice, folder_id=inbox.pk,
                                                                     query=t))  # fmt: skip
        assert queries, text
        for query in queries:
            assert_bounded(plan_of(*query))


def test_a_text_search_walks_the_date_index_for_a_common_word(mailbox_of_alice, alice):
    """The free text answered by the index (every entry's text done): a word in a third of
    the subjects fills its first page from the newest messages, the folder's date index walked
    and each message looked up among the matches (no sort of every match); the ids and dates
    of the first EXACT_TOTAL + 1 matches are read that way, and the total is estimated from the
    messages as new as the last of them, a range of the date index. A word in a few subjects is
    looked up by them. The queue of text waiting is read by its partial index, never by every
    message's entry."""
    inbox = mailbox_of_alice[0]
    SearchEntry.objects.update(body_done=True)
    fulltext.get_index().after_bulk()
    rare = Message.objects.filter(folder=inbox).values_list("subject", flat=True)[0].split()[-1]
    for text, common in (("garden", True), (rare, False)):
        queries = sent_queries(lambda t=text: search.search_messages(alice, folder_id=inbox.pk,
                                                                     query=t, limit=50))  # fmt: skip
        result = search.search_messages(alice, folder_id=inbox.pk, query=text, limit=50)
        assert result.estimated == common and result.total > 0, (text, result.total)
        head = [query for query in queries if 'AS "date"' in query[0]]
        assert len(head) == 1, queries
        with fulltext.get_index().planned():
            plan = plan_of(*head[0])
        if common and connection.vendor == "sqlite":  # steered (fulltext.sqlite)
            assert_walks(plan, "message_folder_date")
        else:  # PostgreSQL's planner chooses by its costs: at 100,000 it walks the date index
            assert_bounded(plan)
            # (FTS5's table answers MATCH from its index: SQLite calls that a scan)
            tables = {table for op, table, _ in plan if op == "scan"} - {"mailbox_fulltext"}
            assert not any(table.startswith("mailbox_") for table in tables), plan
        counts = [query for query in queries if "COUNT(" in query[0].upper()]
        assert len(counts) == (1 if common else 0), queries
        for query in counts:
            assert_walks(plan_of(*query), "message_folder_date")
    # the queue is the partial index of entries waiting: read whole (it is empty here), and
    # each message in it looked up by its id
    waiting = sent_queries(lambda: index.has_unindexed_text([inbox.pk]), "mailbox_searchentry")
    plan = plan_of(*waiting[0])
    entries = [step for step in plan if step[1] == "mailbox_searchentry"]
    assert entries and all(used == "searchentry_todo" for _op, _table, used in entries), plan
    assert_bounded(plan)


def test_the_stored_copy_of_a_draft_is_found_by_its_uid(mailbox_of_alice):
    """The drafts' sync finds its copy on the server by (folder, uidvalidity, uid)."""
    inbox = mailbox_of_alice[0]
    queries = sent_queries(
        lambda: list(Message.objects.filter(folder=inbox, uidvalidity=1, uid=123))
    )
    assert_walks(plan_of(*queries[0]), unique_index("message_unique_uid", MESSAGES))


@pytest.fixture
def no_seq_scan_of_small_tables():
    """The tables below hold a few rows in a test and thousands at most in use: PostgreSQL
    rightly reads a few rows whole, so it is told not to, to show which index it would use
    once the table has grown. SQLite's planner prefers an index that matches without it."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET enable_seqscan = off")
    yield
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_seqscan")


def test_a_pop3_fetch_reads_the_known_uidls_by_account(
    mailbox_of_alice, no_seq_scan_of_small_tables
):
    account = mailbox_of_alice[0].account
    Pop3Download.objects.bulk_create(
        Pop3Download(account=account, uidl=f"uidl-{n}", downloaded_at=datetime.datetime.now(
            datetime.UTC)) for n in range(500)
    )  # fmt: skip
    downloads = Pop3Download.objects.filter(account=account)  # as mailbox/sync/fetch.py asks
    table = Pop3Download._meta.db_table
    queries = sent_queries(lambda: set(downloads.values_list("uidl", flat=True)), table)
    by_account = (
        *unique_index("pop3download_unique_uidl", table),
        foreign_key_index(table, "account_id"),
    )
    assert_walks(plan_of(*queries[0]), by_account, table=table)


def test_the_outbox_finds_due_messages_by_its_partial_index(
    mailbox_of_alice, no_seq_scan_of_small_tables
):
    table = OutboxMessage._meta.db_table
    queries = sent_queries(outbox.due_outbox_ids, table)
    due = [query for query in queries if "send_at" in query[0]]
    assert len(due) == 1, queries
    # the few due rows are put in the model's order after they are found: a sort is fine here
    assert_walks(plan_of(*due[0]), "outbox_due", table=table, sorted_ok=True)


def test_the_sync_stores_dates_as_the_orm_does(transactional_db, alice):
    """The sync's rows skip the ORM (store.insert_rows): their dates, given in any zone, read
    back as the same instants, and the ORM's own lookups find them."""
    account = cache_only_account(alice)
    folder = Folder.objects.create(account=account, name="INBOX", delimiter="/", uidvalidity=1)
    paris = datetime.datetime(2026, 3, 29, 3, 30, 1, 250, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
    row = next(generated_rows(folder.pk, 1, seed=5))
    row = tuple(paris if column in ("date", "internaldate") else value
                for column, value in zip(store.COLUMNS, row, strict=True))  # fmt: skip
    assert store.insert_rows(folder, 1, [row]) == 1
    assert store.insert_rows(folder, 1, [row]) == 0  # the same UID again: kept as it was
    message = Message.objects.get(folder=folder)
    assert message.date == message.internaldate == paris
    assert Message.objects.filter(folder=folder, date=paris, internaldate__gte=paris).exists()


def statistics_refreshed_since(started):
    """Whether the messages table's planner statistics were refreshed (by us, not autovacuum)
    since ``started``; SQLite keeps no time: whether it has any."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT last_analyze >= %s FROM pg_stat_user_tables WHERE relname = %s",
                [started, MESSAGES],
            )
            return bool(cursor.fetchone()[0])
    return store.has_statistics()


def test_a_first_sync_refreshes_the_statistics_once(
    transactional_db, imap_account, other_client, monkeypatch
):
    """After a first sync in several batches the statistics are refreshed once (on SQLite the
    first load of a table that has none; on PostgreSQL a load of BULK_LOAD messages, made small
    here), and a resync bringing a few messages leaves them as they are."""
    from mailbox.sync import messages as sync_messages

    monkeypatch.setattr(sync_messages, "BATCH", 100)
    monkeypatch.setattr(sync_messages, "SQLITE_BATCH", 100)
    monkeypatch.setattr(store, "BULK_LOAD", 200)
    refreshes = []
    analyze = store.analyze_after_bulk_load
    monkeypatch.setattr(store, "analyze_after_bulk_load", lambda: refreshes.append(analyze()))
    started = datetime.datetime.now(datetime.UTC)
    if connection.vendor == "sqlite" and store.has_statistics():  # left by the tests before
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM sqlite_stat1 WHERE tbl = %s", [MESSAGES])
    assert not statistics_refreshed_since(started)
    other_client.seed(300, folders=["INBOX"])
    assert run_account(imap_account.pk)
    assert Message.objects.filter(folder__account=imap_account).count() == 300
    assert len(refreshes) == 1 and statistics_refreshed_since(started)
    other_client.seed(3, seed=1, folders=["INBOX"])
    assert run_account(imap_account.pk)
    assert Message.objects.filter(folder__account=imap_account).count() == 303
    assert len(refreshes) == 1


def test_a_pop3_fetch_refreshes_the_statistics_once(transactional_db, alice, mail_world,
                                                    monkeypatch):  # fmt: skip
    """The same for mail downloaded by POP3: after the fetch, not after each of its batches."""
    from mailbox.sync import fetch
    from tests.mailbox.pop3_world import deliver, new_mailbox, pop3_account

    monkeypatch.setattr(fetch, "BATCH", 4)
    monkeypatch.setattr(store, "BULK_LOAD", 10)
    refreshes = []
    analyze = store.analyze_after_bulk_load
    monkeypatch.setattr(store, "analyze_after_bulk_load", lambda: refreshes.append(analyze()))
    started = datetime.datetime.now(datetime.UTC)
    if connection.vendor == "sqlite" and store.has_statistics():  # left by the tests before
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM sqlite_stat1 WHERE tbl = %s", [MESSAGES])
    login = new_mailbox(mail_world)
    deliver(mail_world, login, *(f"Message {n}" for n in range(12)))
    account = pop3_account(alice, mail_world, login)
    assert fetch.fetch_account(account.pk)["new"] == 12
    assert len(refreshes) == 1 and statistics_refreshed_since(started)


@pytest.mark.timeout(600)
@pytest.mark.skipif(bool(os.environ.get(CHILD)), reason="the child run is this test's own")
def test_the_plans_hold_on_sqlite_too(tmp_path):
    """This file again, in a child pytest on a SQLite database (the embedded mode's)."""
    if connection.vendor == "sqlite":
        pytest.skip("this run is on SQLite already")
    env = {**os.environ, CHILD: "1", "TEST_DATABASE_URL": f"sqlite:///{tmp_path}/plans.sqlite3"}
    child = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", __file__],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    report = child.stdout[-4000:] + child.stderr[-2000:]
    assert child.returncode == 0, report
    assert "11 passed" in child.stdout and "skipped" in child.stdout, report
