"""The plans of the lists across accounts: at page 1 and deep, each folder's part walks its own
index (the merged query reads a few rows of each folder, never a whole one), in every order of
the All inboxes list, and by date in Unread and Starred on the indexes of unread and of flagged
mail. Alice has three accounts of 8,000 messages each, loaded and analyzed as a first sync
leaves them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from mailbox import listing
from mailbox import listing_unified as unified
from mailbox.models import Folder, Message
from mailbox.sync import store

from .test_query_plans import (
    CHILD,
    MESSAGES,
    ROOT,
    SORT_INDEXES,
    _named,
    cache_only_account,
    generated_rows,
    plan_of,
)

COUNT = 8000


@pytest.fixture
def three_inboxes(transactional_db, alice):
    folders = []
    for n in range(3):
        account = cache_only_account(alice)
        account.email = f"alice{n}@example.com"
        account.save()
        folder = Folder.objects.create(
            account=account, name="INBOX", role="inbox", delimiter="/", uidvalidity=1,
            backfill_done=True,
        )  # fmt: skip
        rows = list(generated_rows(folder.pk, COUNT, seed=n))
        for start in range(0, COUNT, 4000):
            store.insert_rows(folder, 1, rows[start : start + 4000])
        folders.append(folder)
    store.analyze_after_bulk_load()
    return folders


def reads(alice, view, sort, cursor):
    """The (operation, table, index) steps that read messages in the page's queries."""
    queries = []

    def capture(execute, sql, params, many, context):
        if f'"{MESSAGES}"' in sql:  # the merged query starts "(SELECT": a UNION ALL
            queries.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        unified.unified_page(alice, view, sort, cursor)
    assert queries
    steps = [step for sql, params in queries for step in plan_of(sql, params)]
    return [step for step in steps if step[1] == MESSAGES]


def deep_cursor(folders, view, sort, at):
    rows = Message.objects.filter(folder__in=folders).filter(unified.VIEWS[view].where)
    return listing.encode_cursor(listing.ordered(rows, sort)[at], sort)


def assert_each_folder_walks(steps, index, folders):
    assert len(steps) >= folders, steps
    assert all(operation == "search" for operation, _table, _index in steps), steps
    assert sum(_named(used, {index}) for _op, _table, used in steps) == folders, steps


def test_every_order_of_all_inboxes_walks_each_folders_index(alice, three_inboxes):
    for sort, (key, _descending) in listing.SORTS.items():
        for cursor in (None, deep_cursor(three_inboxes, "inbox", sort, 12_000)):
            steps = reads(alice, "inbox", sort, cursor)
            assert_each_folder_walks(steps, SORT_INDEXES[key], len(three_inboxes))


@pytest.mark.parametrize(
    ("view", "index", "at"),
    [("unread", "message_unseen_date", 5000), ("starred", "message_flagged_date", 900)],
)
def test_unread_and_starred_walk_their_partial_indexes(alice, three_inboxes, view, index, at):
    for cursor in (None, deep_cursor(three_inboxes, view, "date", at)):
        assert_each_folder_walks(reads(alice, view, "date", cursor), index, len(three_inboxes))


def test_the_lists_and_their_plans_hold_on_sqlite_too(tmp_path):
    """The listing tests and this file again, in a child pytest on a SQLite database (the
    embedded mode's): there the pages are merged here, not by the database (no LIMIT inside a
    UNION ALL)."""
    if connection.vendor == "sqlite" or os.environ.get(CHILD):
        pytest.skip("this run is on SQLite already")
    env = {**os.environ, CHILD: "1", "TEST_DATABASE_URL": f"sqlite:///{tmp_path}/lists.sqlite3"}
    files = [str(Path(__file__).with_name("test_unified.py")), __file__]
    child = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *files],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    report = child.stdout[-4000:] + child.stderr[-2000:]
    assert child.returncode == 0, report
    assert " passed" in child.stdout and "1 skipped" in child.stdout, report
