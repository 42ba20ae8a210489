"""The sync of a few new messages after an IDLE notice, in a large folder: where the time goes.

    .venv/bin/python bench/new_mail.py [--messages 100000] [--new 1] [--repeat 10] [--sqlite]
                                       [--json] [--profile]

A generated folder of ``--messages`` is imported into the test Dovecot and synced (as
bench/imap_sync.py does); then, ``--repeat`` times, another client appends ``--new`` messages and
the sync the watcher queues (``sync_account(id, folder_names=["INBOX"])``, run here in process
without its follow-up tasks: ``run_account``) is timed. The time is split into the database
(each statement, grouped by its first words), the IMAP commands, and the rest (Python).
``--profile`` prints cProfile's top functions of the last run.
"""

import argparse
import cProfile
import imaplib
import json
import os
import pstats
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import sqlite_on_disk, use_bench_database  # noqa: E402
from imap_sync import make_account, prepare_mailbox  # noqa: E402


def setup_django(sqlite):
    """Its own throwaway database (``bench_new_mail``), so that other benches keep theirs."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings_test")
    use_bench_database(sqlite, "bench_new_mail")
    import django

    django.setup()
    sqlite_on_disk()
    from django.test.utils import setup_databases

    return setup_databases(verbosity=0, interactive=False)


def p95(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def statement_kind(sql):
    """A statement's first words and table, without its parameters: a key to sum times by."""
    sql = re.sub(r"\s+", " ", sql.strip())
    match = re.match(r'(\w+)(?: .*?(?:FROM|INTO|TABLE) ("?\w+"?)|(?: ("?\w+"?)))?', sql, re.I)
    words = sql.split(" ")[:1]
    if words[0].upper() in ("SAVEPOINT", "RELEASE", "ROLLBACK"):
        return words[0].upper()
    if match and (match.group(2) or match.group(3)):
        words.append((match.group(2) or match.group(3)).strip('"'))
    if " COUNT(" in sql.upper():
        words.append("count")
    if "seen" in sql and "COUNT" in sql.upper():
        words.append("unread")
    return " ".join(words)


class Split:
    """Database time by statement kind, IMAP time by command, while in use."""

    def __init__(self):
        self.db, self.imap = defaultdict(float), defaultdict(float)

    def database(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.db[statement_kind(sql)] += time.perf_counter() - started

    def wrap_session(self, session):
        for name in ("select", "status", "uid_search", "fetch_meta", "list_folders", "fetch_flags"):
            # the method itself, not an earlier run's wrapper (a kept session is wrapped again)
            method = session.__dict__.get(f"_bench_{name}") or getattr(session, name, None)
            if method is not None:
                session.__dict__[f"_bench_{name}"] = method
                setattr(session, name, self._timed(name, method))

    def _timed(self, name, method):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.imap[name] += time.perf_counter() - started

        return timed


def append_new(world, login, count, step):
    from mailbox.testing.seed import generate_messages, seed_imap

    client = imaplib.IMAP4("127.0.0.1", world.dovecot.ports["imap"])
    client.login(*login)
    seed_imap(client, generate_messages(count, seed=1000 + step, folders=["INBOX"]))
    client.logout()


def timed_syncs(world, account, login, args, reuse):
    """``reuse``: on one session kept open, as the watcher does (mailbox.watcher.InboxSync);
    else a new session per sync, as a task of the queue does."""
    from django.db import connection

    import mailbox.sync as sync
    from accounts.connection import incoming_endpoint
    from mailbox.models import Message

    opened = sync.imap.open_session
    runs, splits, profile = [], [], None
    kept = opened(incoming_endpoint(account)) if reuse else None

    for step in range(args.repeat + 1):  # the first is a warm-up
        append_new(world, login, args.new, step + (0 if reuse else 500))
        split = Split()

        def open_session(*a, _split=split, **kw):
            started = time.perf_counter()
            session = opened(*a, **kw)
            _split.imap["login"] += time.perf_counter() - started
            _split.wrap_session(session)
            return session

        sync.imap.open_session = open_session
        before = Message.objects.filter(folder__account=account).count()
        profile = cProfile.Profile() if args.profile and step == args.repeat else None
        try:
            with connection.execute_wrapper(split.database):
                started = time.perf_counter()
                if profile:
                    profile.enable()
                if kept is not None:
                    kept.noop()  # as InboxSync checks its session
                    split.wrap_session(kept)
                sync.run_account(account.pk, folder_names=["INBOX"], session=kept)
                if profile:
                    profile.disable()
                elapsed = time.perf_counter() - started
        finally:
            sync.imap.open_session = opened
        after = Message.objects.filter(folder__account=account).count()
        assert after - before == args.new, (before, after)
        if step:
            runs.append(elapsed)
            splits.append(split)
    if kept is not None:
        kept.logout()
    return runs, splits, profile


def breakdown(runs, splits):
    """Median ms of each part across the runs."""
    keys = {("db", k) for s in splits for k in s.db} | {("imap", k) for s in splits for k in s.imap}
    parts = {}
    for where, key in sorted(keys):
        values = [getattr(s, where).get(key, 0.0) for s in splits]
        parts[f"{where}: {key}"] = 1000 * statistics.median(values)
    db = [sum(s.db.values()) for s in splits]
    imap = [sum(s.imap.values()) for s in splits]
    rest = [run - d - i for run, d, i in zip(runs, db, imap, strict=True)]
    totals = {
        "sync_ms": 1000 * statistics.median(runs),
        "sync_p95_ms": 1000 * p95(runs),
        "database_ms": 1000 * statistics.median(db),
        "imap_ms": 1000 * statistics.median(imap),
        "python_ms": 1000 * statistics.median(rest),
    }
    return totals, parts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=1, help="messages appended before each sync")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--sqlite", action="store_true", help="the embedded mode's database")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()
    old_config = setup_django(args.sqlite)
    from django.db import connection
    from django.test.utils import teardown_databases

    from mailbox.sync import run_account
    from mailbox.testing.servers import MailWorld

    with MailWorld(mail_location="mdbox:~/mdbox") as world:
        address = prepare_mailbox(world, args.messages)
        login = (address, "benchpw")
        account = make_account(world, address)
        started = time.perf_counter()
        run_account(account.pk, folder_names=["INBOX"])
        first_sync = time.perf_counter() - started
        series = {
            "new session (a queued task)": timed_syncs(world, account, login, args, False),
            "kept session (the watcher)": timed_syncs(world, account, login, args, True),
        }
    teardown_databases(old_config, verbosity=0)
    results = {
        "messages": args.messages, "new": args.new, "repeat": args.repeat,
        "database": connection.vendor, "first_sync_s": first_sync,
        "load_average": [load_before, os.getloadavg()],
    }  # fmt: skip
    load = f"load average {load_before[0]:.2f} -> {os.getloadavg()[0]:.2f}"
    print(f"{args.new} new in {args.messages}, {connection.vendor}, {args.repeat} runs; {load}")
    for name, (runs, splits, profile) in series.items():
        totals, parts = breakdown(runs, splits)
        results["kept" if "kept" in name else "new"] = {**totals, "parts_ms": parts}
        print(f"{name + ', median':<44} {totals['sync_ms']:>8.1f} ms   goal: tens of ms")
        print(f"{'   p95':<44} {totals['sync_p95_ms']:>8.1f} ms")
        for label in ("database", "imap", "python"):
            print(f"{'   ' + label:<44} {totals[label + '_ms']:>8.1f} ms")
        for label, value in sorted(parts.items(), key=lambda item: -item[1]):
            if value >= 0.5:
                print(f"{'      ' + label:<44} {value:>8.1f} ms")
        if profile:
            pstats.Stats(profile, stream=sys.stdout).sort_stats("cumulative").print_stats(
                "mailbox|channels|asgiref|threading|concurrent", 40
            )
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
