"""The search figures of the issue: searching a large folder from the local index, and indexing it.

    .venv/bin/python bench/search.py [--messages 100000] [--json] [--sqlite] [--keep]

1. filling the folder: generated rows (bench/reading.py's list_rows) inserted as the sync
   inserts them, their headers indexed on the way (mailbox.sync.store), and a text body of
   2-20 KB per message put in the body cache as a prefetch leaves it
2. indexing the bodies: mailbox.sync.index.index_account over the whole folder (each body read
   through the message source, from the cache): messages per second, and the index's size
3. searches answered from the index, the first page (50) with its total, through
   mailbox.search.search_messages and through the search view (Django's test client, the
   whole request), and a deep page (the 50 after the 1,000th match, by its keyset cursor, as
   "More results" asks): a plain word, a rare word of a few bodies, a phrase, and from: + word;
   a total past mailbox.search.EXACT_TOTAL is an estimate (printed ~N, "about N" on the page)

Runs on a throwaway PostgreSQL database (TEST_DATABASE_URL's server), or SQLite with --sqlite.
Medians and 95th percentiles over repeats: the machine is noisy.
"""

import argparse
import json
import os
import random
import sys
import time

from common import sqlite_on_disk, use_bench_database  # noqa: E402
from reading import fill_folder, summary, timed  # noqa: E402 (bench/, the folder run)

RARE = "quetzalcoatlus"  # in RARE_EVERY-th bodies only
RARE_EVERY = 5000
PHRASE = "the marmalade committee"  # in one body of PHRASE_EVERY
PHRASE_EVERY = 100


def setup_django(sqlite):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings_test")
    os.environ.setdefault("WEBMAIL_REDIS_PREFIX", "webmail-bench-search")
    use_bench_database(sqlite, "bench_search")
    import django

    django.setup()
    sqlite_on_disk()  # a file, as the embedded mode keeps it, not Django's in-memory test database
    from django.conf import settings
    from django.test.utils import setup_databases

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    return setup_databases(verbosity=0, interactive=False)


def body_text(rng, words, index):
    """2-20 KB of words; a few bodies carry the rare word or the phrase."""
    size = rng.randrange(2000, 20_000)
    parts, length = [], 0
    while length < size:
        word = rng.choice(words)
        parts.append(word)
        length += len(word) + 1
    if index % RARE_EVERY == 7:
        parts.insert(rng.randrange(len(parts)), RARE)
    if index % PHRASE_EVERY == 3:
        parts.insert(rng.randrange(len(parts)), PHRASE)
    return " ".join(parts)


def cache_bodies(folder, seed=2):
    """A text body for every message of ``folder``, in the body cache (section "1")."""
    from django.utils import timezone

    from mailbox.models import BodyPart
    from mailbox.testing.seed import WORDS

    rng = random.Random(seed)
    now = timezone.now()
    ids = folder.messages.order_by("uid").values_list("pk", flat=True)
    total_bytes, batch = 0, []
    for index, pk in enumerate(ids.iterator()):
        data = body_text(rng, WORDS, index).encode()
        total_bytes += len(data)
        batch.append(BodyPart(message_id=pk, account_id=folder.account_id, section="1",
                              data=data, size=len(data), used_at=now))  # fmt: skip
        if len(batch) == 2000:
            BodyPart.objects.bulk_create(batch)
            batch = []
    BodyPart.objects.bulk_create(batch)
    return total_bytes


def fill(count):
    from django.conf import settings
    from django.contrib.auth import get_user_model

    settings.WEBMAIL_BODY_CACHE_BYTES = 1 << 40  # every body stays: the indexer reads them all
    user = get_user_model().objects.create_user("reader", "reader@example.com", "pw")
    started = time.perf_counter()
    folder = fill_folder(user, count)
    header_seconds = time.perf_counter() - started
    started = time.perf_counter()
    body_bytes = cache_bodies(folder)
    return user, folder, {"insert_with_headers_s": header_seconds,
                          "bodies_cached_s": time.perf_counter() - started,
                          "body_bytes": body_bytes}  # fmt: skip


def index_bodies(folder):
    from mailbox.fulltext import get_index
    from mailbox.models import SearchEntry
    from mailbox.sync import index, store

    started = time.perf_counter()
    done = index.index_account(folder.account)
    seconds = time.perf_counter() - started
    store.analyze_after_bulk_load()
    assert not SearchEntry.objects.filter(body_done=False).exists()
    return {"messages": done, "seconds": seconds, "per_second": done / seconds,
            "index_bytes": get_index().size_bytes()}  # fmt: skip


def queries(folder):
    """The four searches: a word in many bodies, a rare one, a phrase, a sender and a word."""
    from mailbox.models import Message

    sender = (Message.objects.filter(folder=folder).exclude(from_name="").values_list("from_name"))[
        0
    ][0].split()[0]
    return {"plain word": "garden", "rare body word": RARE, "phrase": f'"{PHRASE}"',
            "from: + word": f"from:{sender} garden"}  # fmt: skip


def run_searches(user, folder, repeat):
    from django.test import Client

    from mailbox.search import search_messages

    client = Client()
    client.force_login(user)
    results = {}
    for name, text in queries(folder).items():
        found = search_messages(user, query=text, folder_id=folder.pk, limit=50)
        assert not found.from_server and found.progress is None, "answered by the index"

        def search(text=text):
            search_messages(user, query=text, folder_id=folder.pk, limit=50)

        def view(text=text):
            response = client.get(f"/mail/folders/{folder.pk}/search/", {"q": text})
            assert response.status_code == 200

        # "More results" far down: the page of 50 after the 1,000th match (a keyset cursor)
        far = search_messages(user, query=text, folder_id=folder.pk, limit=1000).next_cursor

        def deep(text=text, far=far):
            search_messages(user, query=text, folder_id=folder.pk, limit=50, after=far)

        results[name] = {"query": text, "total": found.total, "estimated": found.estimated,
                         "search": summary(timed(search, repeat)),
                         "view": summary(timed(view, repeat)),
                         "deep": summary(timed(deep, repeat)) if far else None}  # fmt: skip
    return results


def run(args):
    from django.db import connection

    user, folder, filled = fill(args.messages)
    indexed = index_bodies(folder)
    searches = run_searches(user, folder, args.repeat)
    return {"database": connection.vendor, "messages": args.messages, "fill": filled,
            "indexing": indexed, "searches": searches,
            "load_average": os.getloadavg()}  # fmt: skip


def report(results):
    print(f"search bench on {results['database']}, {results['messages']:,} messages "
          f"(load average {' '.join(f'{x:.2f}' for x in results['load_average'])})")  # fmt: skip
    fill, indexed = results["fill"], results["indexing"]
    print(f"  rows inserted with their headers indexed: {fill['insert_with_headers_s']:.1f} s")
    print(f"  bodies indexed: {indexed['messages']:,} in {indexed['seconds']:.1f} s = "
          f"{indexed['per_second']:.0f} messages/s ({fill['body_bytes'] / 1e6:.0f} MB of text); "
          f"index size {indexed['index_bytes'] / 1e6:.1f} MB")  # fmt: skip
    print(f"  {'search (first page of 50 + total)':<36} {'total':>7} {'p50 ms':>8} {'p95 ms':>8}"
          f" {'view p50':>9} {'view p95':>9} {'deep p50':>9} {'deep p95':>9}")  # fmt: skip
    for name, row in results["searches"].items():
        search, view, deep = row["search"], row["view"], row["deep"]
        total = f"~{row['total']}" if row["estimated"] else str(row["total"])
        far = f" {deep['median']:>9.1f} {deep['p95']:>9.1f}" if deep else f" {'-':>9} {'-':>9}"
        print(f"  {name + ': ' + row['query']:<36} {total:>7} {search['median']:>8.1f}"
              f" {search['p95']:>8.1f} {view['median']:>9.1f} {view['p95']:>9.1f}"
              f"{far}")  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--sqlite", action="store_true", help="the embedded mode's database")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument(
        "--keep", action="store_true", help="keep the database afterwards (to read its plans)"
    )
    args = parser.parse_args()
    old_config = setup_django(args.sqlite)
    from django.db import connection
    from django.test.utils import teardown_databases

    try:
        results = run(args)
    finally:
        if args.keep:
            print(f"database kept: {connection.settings_dict['NAME']}", file=sys.stderr)
        else:
            teardown_databases(old_config, verbosity=0)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, default=str))
    else:
        report(results)


if __name__ == "__main__":
    sys.exit(main())
