"""The sending figures of the issue, with a real Celery worker.

    .venv/bin/python bench/sending.py [--latency-messages 30] [--burst 100] [--undo 1.0]
                                      [--json] [--sqlite]

1. Latency: ``--latency-messages`` messages queued one by one, 1-2 s apart, each with an undo
   delay of ``--undo`` seconds; from the end of that delay (``send_at``) to the moment the SMTP
   server has the whole message and accepts it. The goal is a p95 of at most 500 ms.
2. A burst: ``--burst`` messages queued at once (due at once): all sent, none twice (deliveries
   counted by Message-ID on the server), the throughput from their send time to the last one
   accepted, and the worker's peak resident memory (VmHWM of /proc/<pid>/status).

The worker is what the tests start (one process, solo pool); the SMTP server is an aiosmtpd
(mailbox.testing.smtp_faults) with STARTTLS and AUTH, recording when each message arrived; the
sender's account is an IMAP one on a private Dovecot, so that each message's copy is APPENDed to
its Sent as in production. A throwaway database (``bench_sending`` on TEST_DATABASE_URL's server,
or SQLite with --sqlite) and the Redis database of TEST_REDIS_URL (emptied first).
"""

import argparse
import json
import logging
import os
import random
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import use_bench_database  # noqa: E402 (bench/, the folder of the script run)


def setup_django(sqlite):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings_test")
    os.environ.setdefault("WEBMAIL_REDIS_PREFIX", "webmail-bench-sending")
    os.environ["WEBMAIL_MAIL_DIR"] = tempfile.mkdtemp(prefix="webmail-bench-sending-")
    use_bench_database(sqlite, "bench_sending")
    import django

    django.setup()
    from django.test.utils import setup_databases

    return setup_databases(verbosity=0, interactive=False)


def summary(seconds):
    ms = sorted(1000 * s for s in seconds)
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[18] if len(ms) > 1 else ms[0]
    return {"median": round(statistics.median(ms), 1), "p95": round(p95, 1),
            "max": round(ms[-1], 1), "n": len(ms)}  # fmt: skip


def start_worker(concurrency):
    """A Celery worker on the bench database: one process with the solo pool, as the tests
    start it, or a prefork pool of ``concurrency`` processes; its Popen."""
    from tests.running_app import process_env

    kind = "solo" if concurrency == 1 else "prefork"
    command = [sys.executable, "-m", "celery", "-A", "webmail", "worker", "-l", "warning",
               "--concurrency", str(concurrency), "--pool", kind,
               "-n", f"bench-{os.getpid()}@%h"]  # fmt: skip
    log = tempfile.TemporaryFile()  # noqa: SIM115 (read at the end when something went wrong)
    worker = subprocess.Popen(command, cwd=ROOT, env=process_env(), stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    worker.log = log
    return worker


def wait_ready(worker):
    """Until the worker answers a ping (it has connected to the broker)."""
    from webmail.celery import app

    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=0.5):
        if time.monotonic() > deadline or worker.poll() is not None:
            worker.log.seek(0)
            raise RuntimeError(f"the worker did not start: {worker.log.read()[-3000:]!r}")


def rss_mb(pid, field="VmHWM"):
    """The worker's resident memory, summed over its pool's processes: the peak (VmHWM) or
    now (VmRSS), in MB."""
    total = 0.0
    for each in [pid, *_children(pid)]:
        with open(f"/proc/{each}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    total += int(line.split()[1]) / 1024
    return total


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(child) for child in children.read().split()]
    except FileNotFoundError:
        return []


def arrivals(smtp):
    """{Message-ID: [arrival times]} of what the server accepted."""
    import email

    found = {}
    for delivery in list(smtp.deliveries):
        message_id = email.message_from_bytes(delivery.content)["Message-ID"].strip("<>")
        found.setdefault(message_id, []).append(delivery.arrived)
    return found


def wait_for(smtp, rows, timeout):
    from mailbox.models import OutboxMessage

    ids = [row.pk for row in rows]
    deadline = time.monotonic() + timeout
    while True:
        pending = OutboxMessage.objects.filter(pk__in=ids).exclude(
            copy_state__in=["done", "skipped"]
        )
        pending = pending.count()
        if not pending:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{pending} messages not sent after {timeout} s")
        time.sleep(0.1)


def latency(account, smtp, count, undo, rng):
    import datetime

    from django.utils import timezone

    from tests.mailbox.outbox_world import queue

    rows = []
    for number in range(count):
        when = timezone.now() + datetime.timedelta(seconds=undo)
        rows.append(queue(account, ["bob@example.org"], when=when, subject=f"Latency {number}"))
        time.sleep(rng.uniform(1.0, 2.0))
    wait_for(smtp, rows, 120)
    got = arrivals(smtp)
    return [got[row.message_id][0] - row.send_at.timestamp() for row in rows]


def burst(account, smtp, count):
    from django.utils import timezone

    from tests.mailbox.outbox_world import queue

    now = timezone.now()
    rows = [
        queue(account, ["bob@example.org"], when=now, subject=f"Burst {n}") for n in range(count)
    ]
    started = time.time()
    wait_for(smtp, rows, 600)
    got = arrivals(smtp)
    times = [got.get(row.message_id, []) for row in rows]
    last = max(max(each) for each in times if each)
    return {
        "messages": count,
        "delivered": sum(1 for each in times if each),
        "delivered_twice": sum(1 for each in times if len(each) > 1),
        "per_s": round(count / (last - min(now.timestamp(), started)), 1),
    }


def account_for(user, dovecot, port, server_saves_sent):
    from accounts.models import MailAccount

    address = dovecot.add_user("bench", "bench-pw")
    account = MailAccount(
        user=user, email=address, incoming_protocol="imap", incoming_host="127.0.0.1",
        incoming_port=dovecot.ports["imap"], incoming_security="none", incoming_username=address,
        smtp_host="127.0.0.1", smtp_port=port, smtp_security="starttls", ca_pem=dovecot.ca_pem,
        server_saves_sent=server_saves_sent,
    )  # fmt: skip
    account.incoming_password = "bench-pw"
    account.save()
    from mailbox.sync import run_account

    run_account(account.pk)  # its folders, Sent among them
    return account


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-messages", type=int, default=30)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--undo", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=1, help="1: solo pool; more: prefork")
    parser.add_argument("--no-copy", action="store_true", help="the server files Sent itself")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    setup_django(args.sqlite)
    import redis
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from mailbox.testing.servers import Dovecot
    from mailbox.testing.smtp_faults import FaultySmtp

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's line per command
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    user = get_user_model().objects.create_user("bench", "bench@example.com", "pw")
    dovecot = Dovecot().start()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(
        dovecot.state / "certs" / "server.crt", dovecot.state / "certs" / "server.key"
    )
    smtp = FaultySmtp(tls_context=tls).start()
    worker = start_worker(args.concurrency)
    try:
        wait_ready(worker)
        idle_rss = rss_mb(worker.pid, "VmRSS")
        account = account_for(user, dovecot, smtp.port, server_saves_sent=args.no_copy)
        load = os.getloadavg()[0]
        waits = latency(account, smtp, args.latency_messages, args.undo, random.Random(7))
        smtp.deliveries.clear()
        burst_result = burst(account, smtp, args.burst)
        rss = rss_mb(worker.pid), idle_rss
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(30)
        smtp.stop()
        dovecot.stop()
    report(args, waits, burst_result, rss, load)


def pool(concurrency):
    return "solo pool" if concurrency == 1 else f"prefork, {concurrency} processes"


def report(args, waits, burst_result, rss, load):
    result = {
        "latency_ms": summary(waits),
        "undo_seconds": args.undo,
        "burst": burst_result,
        "worker_peak_rss_mb": round(rss[0], 1),
        "worker_idle_rss_mb": round(rss[1], 1),
        "worker_processes": args.concurrency,
        "sent_copies": "none (the server files its own)" if args.no_copy else "IMAP APPEND",
        "load_before": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }
    lat = result["latency_ms"]
    rows = [
        (f"send_at -> accepted ({lat['n']} one by one)", f"{lat['median']} / {lat['p95']} ms",
         f"max {lat['max']} ms; p95 goal <= 500 ms"),
        (f"burst of {burst_result['messages']}", f"{burst_result['per_s']} msg/s",
         f"{burst_result['delivered']} delivered, {burst_result['delivered_twice']} twice"),
        ("worker peak RSS", f"{rss[0]:.1f} MB",
         f"VmHWM; {rss[1]:.1f} MB idle; {pool(args.concurrency)}"),
    ]  # fmt: skip
    print(f"{'figure':<36} {'median / p95 or rate':<24} note")
    for name, value, note in rows:
        print(f"{name:<36} {value:<24} {note}")
    print(f"load average: {result['load_before']} before, {result['load_after']} after")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
