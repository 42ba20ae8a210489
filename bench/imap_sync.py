"""The IMAP sync figures of the issue, measured on a generated folder in the test Dovecot.

    .venv/bin/python bench/imap_sync.py [--messages 100000] [--json] [--sqlite]

1. account added -> newest 50 messages cached
2. full header sync of the folder (the headers going into the search index with the rows), and
   the process's peak memory
3. resync with nothing changed (QRESYNC), per folder
4. resync after 10 flag changes, 5 expunges and 5 new messages by another client, with QRESYNC
   and without CONDSTORE/QRESYNC
5. a flag change made in the web reaching the server (through Redis and a real Celery worker)

The test Dovecot stores mail in mdbox, the format large installations use (`--maildir` for
Maildir, where Dovecot itself spends ~0.15 s on a SELECT of 100,000 messages after another
client's expunges). The messages are generated into a Maildir in a child process and imported
with `doveadm import`; a raw imaplib fetch of the same metadata is printed for scale.
Runs on a throwaway PostgreSQL database (TEST_DATABASE_URL's server), or SQLite with --sqlite
(a file, as in the embedded mode: WAL, synchronous=NORMAL; not the test runner's in-memory one).
"""

import argparse
import imaplib
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import sqlite_on_disk, use_bench_database  # noqa: E402 (bench/, the folder of the script run)


def write_maildir(maildir, count, seed):
    """Generate ``count`` messages into a Maildir (in a child process: its memory is not ours)."""
    from mailbox.testing.seed import iter_messages

    cur = Path(maildir) / "cur"
    flag_letters = {"\\Seen": "S", "\\Flagged": "F", "\\Answered": "R", "\\Draft": "D"}
    for index, (_folder, flags, internaldate, data) in enumerate(
        iter_messages(count, seed=seed, folders=["INBOX"])
    ):
        letters = "".join(sorted(flag_letters[f] for f in flags if f in flag_letters))
        stamp = int(internaldate.timestamp())
        path = cur / f"{stamp}.M{index}P1.bench,S={len(data)}:2,{letters}"
        path.write_bytes(data)
        os.utime(path, (stamp, stamp))
        os.chown(path, 8, 8)


def prepare_mailbox(world, count):
    address = world.dovecot.add_user("bench", "benchpw")
    maildir = world.dovecot.state / "mail" / "bench" / "Maildir"  # the staging area for mdbox
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    for path in (maildir.parent, maildir, *(maildir / s for s in ("cur", "new", "tmp"))):
        os.chown(path, 8, 8)
    child = multiprocessing.Process(target=write_maildir, args=(maildir, count, 1))
    child.start()
    child.join()
    assert child.exitcode == 0, "generating the messages failed"
    if world.dovecot.mail_location.startswith("mdbox"):
        config = str(world.dovecot.state / "dovecot.conf")
        source = f"maildir:{maildir}"
        subprocess.run(
            ["doveadm", "-c", config, "import", "-u", "bench", source, "", "all"], check=True
        )
    return address


def raw_imaplib_fetch(world, login):
    """Dovecot indexes the folder; the second pass is raw imaplib's time, for scale."""
    client = imaplib.IMAP4("127.0.0.1", world.dovecot.ports["imap"])
    client.login(*login)
    client.select("INBOX")
    items = (
        "(UID FLAGS RFC822.SIZE INTERNALDATE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS "
        "(DATE FROM TO CC SUBJECT MESSAGE-ID IN-REPLY-TO REFERENCES CONTENT-TYPE)])"
    )
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        client.fetch("1:*", items)
        timings.append(time.perf_counter() - started)
    client.logout()
    return timings[-1]


def setup_django(sqlite):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings_test")
    use_bench_database(sqlite, "bench_imap_sync")
    import django

    django.setup()
    sqlite_on_disk()
    import redis
    from django.conf import settings
    from django.test.utils import setup_databases

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()  # no stale tasks for our worker

    return setup_databases(verbosity=0, interactive=False)


def make_account(world, address):
    from django.contrib.auth import get_user_model

    from accounts.models import MailAccount

    user = get_user_model().objects.create_user(f"bench{time.time_ns()}", "", "x")
    account = MailAccount(
        user=user, email=address, incoming_host="127.0.0.1",
        incoming_port=world.dovecot.ports["imap"], incoming_security="none",
        incoming_username=address, smtp_host="127.0.0.1", smtp_port=world.smtp.ports["plain"],
        smtp_security="none",
    )  # fmt: skip
    account.incoming_password = "benchpw"
    account.save()
    return account


def first_sync(account):
    """Times 1 and 2: the first page, then the whole folder; and the part of it spent
    threading (mailbox.sync.threads: keys looked up and written), in seconds."""
    from mailbox.sync import messages, run_account, store

    marks, threading = {}, []
    insert, thread = store.insert_rows, store.threads.with_threads

    def timed_insert(*args, **kwargs):
        count = insert(*args, **kwargs)
        marks.setdefault("first_page", time.perf_counter())
        return count

    def timed_threads(*args, **kwargs):
        began = time.perf_counter()
        try:
            return thread(*args, **kwargs)
        finally:
            threading.append(time.perf_counter() - began)

    messages.store.insert_rows = timed_insert
    store.threads.with_threads = timed_threads
    started = time.perf_counter()
    try:
        run_account(account.pk, folder_names=["INBOX"])
    finally:
        messages.store.insert_rows = insert
        store.threads.with_threads = thread
    ended = time.perf_counter()
    return marks["first_page"] - started, ended - started, sum(threading)


def resync_times(account, repeat, **session_options):
    """Time 3: sync_folder of an unchanged INBOX (SELECT with QRESYNC, nothing to do)."""
    from mailbox.models import Folder
    from mailbox.sync import imap_session
    from mailbox.sync.messages import sync_folder

    folder = Folder.objects.get(account=account, name="INBOX")
    timings = []
    with imap_session(account, **session_options) as session:
        for _ in range(repeat):
            started = time.perf_counter()
            sync_folder(folder, session)
            timings.append(time.perf_counter() - started)
    return timings


def change_elsewhere(world, login, step):
    from mailbox.testing.seed import generate_messages, seed_imap

    client = imaplib.IMAP4("127.0.0.1", world.dovecot.ports["imap"])
    client.login(*login)
    client.select("INBOX")
    _, data = client.uid("SEARCH", "ALL")
    uids = data[0].split()
    flagged = b",".join(uids[step * 20 : step * 20 + 10])
    gone = b",".join(uids[step * 20 + 10 : step * 20 + 15])
    client.uid("STORE", flagged, "+FLAGS", "(\\Flagged)")
    client.uid("STORE", gone, "+FLAGS.SILENT", "(\\Deleted)")
    client.uid("EXPUNGE", gone)
    seed_imap(client, generate_messages(5, seed=100 + step, folders=["INBOX"]))
    client.logout()


def resync_after_changes(world, account, login, repeat, **session_options):
    from mailbox.models import Folder
    from mailbox.sync import imap_session
    from mailbox.sync.messages import sync_folder

    timings, selects = [], []
    for step in range(repeat):
        change_elsewhere(world, login, step + (100 if session_options else 0))
        folder = Folder.objects.get(account=account, name="INBOX")
        with imap_session(account, **session_options) as session:

            def timed_select(*args, select=session.select, **kwargs):
                began = time.perf_counter()
                try:
                    return select(*args, **kwargs)
                finally:
                    selects.append(time.perf_counter() - began)

            session.select = timed_select
            started = time.perf_counter()
            summary = sync_folder(folder, session)
            timings.append(time.perf_counter() - started)
        assert summary["added"] == 5 and len(summary["removed"]) == 5, summary
    return timings, selects


def web_flag_latency(world, account, login, repeat):
    """Time 5: do_set_flags -> Celery worker (real Redis) -> UID STORE, seen by another client."""
    from celery.contrib.testing.worker import start_worker

    from mailbox import actions
    from mailbox.models import Message
    from webmail.celery import app

    client = imaplib.IMAP4("127.0.0.1", world.dovecot.ports["imap"])
    client.login(*login)
    timings = []
    messages = list(
        Message.objects.filter(folder__account=account, flagged=False).order_by("-uid")[:repeat]
    )
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        for message in messages:
            started = time.perf_counter()
            actions.do_set_flags(account.user, [message.pk], add=["\\Flagged"])
            while True:
                client.select("INBOX", readonly=True)
                _, data = client.uid("FETCH", str(message.uid), "(FLAGS)")
                if b"\\Flagged" in data[0]:
                    break
                if time.perf_counter() - started > 10:
                    raise RuntimeError("the flag did not reach the server in 10 s")
                time.sleep(0.005)
            timings.append(time.perf_counter() - started)
    client.logout()
    return timings


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--sqlite", action="store_true", help="the embedded mode's database")
    parser.add_argument("--maildir", action="store_true", help="Dovecot stores mail in Maildir")
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    old_config = setup_django(args.sqlite)
    from django.db import connection
    from django.test.utils import teardown_databases

    from mailbox.testing.servers import MailWorld

    results = {"messages": args.messages, "database": connection.vendor}
    location = "maildir:~/Maildir" if args.maildir else "mdbox:~/mdbox"
    results["mail_storage"] = location.split(":")[0]
    with MailWorld(mail_location=location) as world:
        address = prepare_mailbox(world, args.messages)
        login = (address, "benchpw")
        results["raw_imaplib_fetch_s"] = raw_imaplib_fetch(world, login)
        account = make_account(world, address)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        results["first_page_s"], results["full_sync_s"], threading = first_sync(account)
        results["threading_s"] = threading
        results["threading_us_per_message"] = 1e6 * threading / max(1, args.messages)
        results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        results["rss_before_sync_mb"] = rss_before
        results["resync_unchanged_ms"] = 1000 * statistics.median(
            resync_times(account, args.repeat)
        )
        timings, selects = resync_after_changes(world, account, login, args.repeat)
        results["resync_changed_qresync_ms"] = 1000 * statistics.median(timings)
        results["resync_changed_qresync_select_ms"] = 1000 * statistics.median(selects)
        timings, _selects = resync_after_changes(
            world, account, login, 3, without=frozenset({"CONDSTORE", "QRESYNC"})
        )
        results["resync_changed_plain_ms"] = 1000 * statistics.median(timings)
        flag = web_flag_latency(world, account, login, args.repeat)
        results["web_flag_to_server_ms"] = 1000 * statistics.median(flag)
        results["web_flag_to_server_max_ms"] = 1000 * max(flag)
    teardown_databases(old_config, verbosity=0)
    if args.json:
        print(json.dumps(results))
        return
    rows = [
        ("messages in the folder", f"{args.messages}", ""),
        ("database", results["database"], ""),
        ("Dovecot's mail storage", results["mail_storage"], ""),
        ("raw imaplib metadata fetch (scale)", f"{results['raw_imaplib_fetch_s']:.2f} s", ""),
        ("1. account added -> newest 50 cached", f"{results['first_page_s']:.2f} s", "<= 1 s"),
        ("2. full header sync", f"{results['full_sync_s']:.2f} s", "<= 15 s, aim 8 s"),
        (
            "   of which threading (conversations)",
            f"{results['threading_s']:.2f} s, {results['threading_us_per_message']:.0f} us/msg",
            "",
        ),
        ("   peak memory of the process", f"{results['peak_rss_mb']:.0f} MB", "<= 300 MB"),
        (
            "3. resync, nothing changed (median)",
            f"{results['resync_unchanged_ms']:.1f} ms",
            "<= 50 ms",
        ),
        (
            "4. resync after 20 changes, QRESYNC",
            f"{results['resync_changed_qresync_ms']:.1f} ms",
            "<= 100 ms",
        ),
        (
            "   of which the server's SELECT (QRESYNC)",
            f"{results['resync_changed_qresync_select_ms']:.1f} ms",
            "",
        ),
        (
            "   the same without CONDSTORE/QRESYNC",
            f"{results['resync_changed_plain_ms']:.0f} ms",
            "(say)",
        ),
        (
            "5. web flag change -> server (median)",
            f"{results['web_flag_to_server_ms']:.0f} ms",
            "<= 1 s",
        ),
        ("   slowest of those", f"{results['web_flag_to_server_max_ms']:.0f} ms", ""),
    ]
    for label, value, goal in rows:
        print(f"{label:<42} {value:>12}   {goal}")


if __name__ == "__main__":
    main()
