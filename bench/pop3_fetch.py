"""The POP3 figures of the issue: fetch speed against raw poplib, an idle fetch over a big
mailbox, and opening a message kept here.

    .venv/bin/python bench/pop3_fetch.py [--messages 1000] [--idle-messages 10000] [--json]
                                         [--rounds 3] [--sqlite]

1. Fetching ``--messages`` generated messages of 2-20 KB: our whole fetch (mailbox.sync.fetch:
   RETR into a file, fsync, rename, scan, rows committed in batches) against raw poplib RETR of
   the same messages on the same server in the same run, interleaved ``--rounds`` times; the
   goal is at least half of poplib's rate. Peak Python memory of one more fetch (tracemalloc).
2. A fetch with nothing new while ``--idle-messages`` messages stay on the server (all of them
   already downloaded): log in, UIDL, compare, QUIT; the goal is at most 100 ms.
3. Opening a POP3 message's reading pane (``?part=pane``, what the list asks for) and its whole
   page, for 200 of the fetched messages, the sanitized-body cache emptied before each: no
   network is involved; the goal is a p95 of at most 50 ms.

A private Dovecot (mailbox.testing.servers) holds the mail; a throwaway database
(``test_bench_pop3`` on TEST_DATABASE_URL's server, or SQLite with --sqlite) and a throwaway
mail storage directory hold what is fetched. Medians and p95 over repeats: the machine is noisy.
"""

import argparse
import imaplib
import json
import os
import poplib
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import use_bench_database  # noqa: E402 (bench/, the folder of the script run)

WORDS = ("garden", "invoice", "meeting", "kumquat", "holiday", "report", "budget", "letter",
         "tomato", "school", "train", "concert", "recipe", "plumber", "birthday",
         "library")  # fmt: skip


def setup_django(sqlite):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings_test")
    os.environ.setdefault("WEBMAIL_REDIS_PREFIX", "webmail-bench-pop3")
    os.environ["WEBMAIL_MAIL_DIR"] = tempfile.mkdtemp(prefix="webmail-bench-pop3-")
    use_bench_database(sqlite, "bench_pop3")
    import django

    django.setup()
    from django.conf import settings
    from django.test.utils import setup_databases

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    return setup_databases(verbosity=0, interactive=False)


def summary(seconds):
    ms = sorted(1000 * s for s in seconds)
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[18] if len(ms) > 1 else ms[0]
    return {"median": round(statistics.median(ms), 2), "p95": round(p95, 2), "n": len(ms)}


def generated(count, rng, low=2_000, high=20_000):
    """``count`` messages of ``low``-``high`` bytes: text, some HTML, some with an attachment."""
    for number in range(count):
        mail = EmailMessage()
        mail["From"] = f"Sender {rng.randrange(300)} <s{rng.randrange(300)}@example.org>"
        mail["To"], mail["Subject"] = "bench@example.com", f"{rng.choice(WORDS)} {number}"
        mail["Date"] = format_datetime(__import__("datetime").datetime.now().astimezone())
        mail["Message-ID"] = make_msgid(domain="example.org")
        target = rng.randrange(low, high)
        text = " ".join(rng.choice(WORDS) for _ in range(target // 8))
        lines = "\n".join(text[i : i + 72] for i in range(0, len(text), 72))
        mail.set_content(lines[: target // 2] + "\n")
        if number % 3 == 0:
            mail.add_alternative(f"<p>{lines[: target // 3]}</p>", subtype="html")
        if number % 5 == 0:
            mail.add_attachment(rng.randbytes(target // 4), maintype="application",
                                subtype="octet-stream", filename=f"file{number}.bin")  # fmt: skip
        yield bytes(mail)


def fill(dovecot, name, messages):
    """A mailbox ``name`` on the private Dovecot holding ``messages`` (IMAP MULTIAPPEND)."""
    from mailbox.testing.seed import seed_imap

    address = dovecot.add_user(name, name + "pw")
    client = imaplib.IMAP4("127.0.0.1", dovecot.ports["imap"])
    client.login(address, name + "pw")
    now = __import__("datetime").datetime.now().astimezone()
    seed_imap(client, (("INBOX", (), now, raw) for raw in messages))
    client.logout()
    return address, name + "pw"


def new_account(user, dovecot, login):
    from accounts.models import MailAccount
    from mailbox.sync.local import ensure_standard_folders

    account = MailAccount(
        user=user, email=login[0], incoming_protocol="pop3", incoming_host="127.0.0.1",
        incoming_port=dovecot.ports["pop3"], incoming_security="none", incoming_username=login[0],
        smtp_host="127.0.0.1", smtp_port=25, smtp_security="none", pop3_retention="keep",
    )  # fmt: skip
    account.incoming_password = login[1]
    account.save()
    ensure_standard_folders(account)
    return account


def raw_poplib(dovecot, login, count):
    client = poplib.POP3("127.0.0.1", dovecot.ports["pop3"])
    client.user(login[0])
    client.pass_(login[1])
    started = time.perf_counter()
    for number in range(1, count + 1):
        client.retr(number)
    elapsed = time.perf_counter() - started
    client.quit()
    return elapsed


def our_fetch(user, dovecot, login):
    from mailbox.sync.fetch import fetch_account

    account = new_account(user, dovecot, login)
    started = time.perf_counter()
    result = fetch_account(account.pk)
    elapsed = time.perf_counter() - started
    assert "error" not in result, result
    return elapsed, account


def fetch_rates(user, dovecot, login, count, rounds):
    """Interleaved runs; returns (poplib seconds, ours seconds, peak bytes, last account)."""
    poplib_runs, our_runs, account = [], [], None
    for _ in range(rounds):
        poplib_runs.append(raw_poplib(dovecot, login, count))
        elapsed, account = our_fetch(user, dovecot, login)
        our_runs.append(elapsed)
    tracemalloc.start()
    our_fetch(user, dovecot, login)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return poplib_runs, our_runs, peak, account


def idle_fetches(user, dovecot, login, repeat=20):
    from mailbox.sync.fetch import fetch_account

    _elapsed, account = our_fetch(user, dovecot, login)  # downloads them all, once
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fetch_account(account.pk)
        samples.append(time.perf_counter() - started)
        assert result["new"] == 0, result
    return samples


def open_panes(user, account, count=200):
    from django.core.cache import cache
    from django.test import Client

    from mailbox.models import Message

    client = Client()
    client.force_login(user)
    ids = list(Message.objects.filter(folder__account=account).values_list("pk", flat=True))
    ids = ids[:count]
    for pk in ids[:5]:
        client.get(f"/mail/messages/{pk}/?part=pane")  # warm: templates compiled
    pane, page = [], []
    for pk in ids:
        for samples, suffix in ((pane, "?part=pane"), (page, "")):
            cache.clear()
            started = time.perf_counter()
            response = client.get(f"/mail/messages/{pk}/{suffix}")
            samples.append(time.perf_counter() - started)
            assert response.status_code == 200
    return pane, page


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--idle-messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    setup_django(args.sqlite)
    from django.contrib.auth import get_user_model

    from mailbox.testing.servers import Dovecot

    rng = random.Random(7)
    user = get_user_model().objects.create_user("bench", "bench@example.com", "pw")
    dovecot = Dovecot().start()
    try:
        login = fill(dovecot, "fetch", generated(args.messages, rng))
        idle = fill(dovecot, "idle", generated(args.idle_messages, rng, 1_000, 3_000))
        load = os.getloadavg()[0]
        poplib_runs, our_runs, peak, account = fetch_rates(user, dovecot, login, args.messages,
                                                           args.rounds)  # fmt: skip
        idle_runs = idle_fetches(user, dovecot, idle)
        pane, page = open_panes(user, account)
    finally:
        dovecot.stop()
    report(args, poplib_runs, our_runs, peak, idle_runs, pane, page, load)


def report(args, poplib_runs, our_runs, peak, idle_runs, pane, page, load):
    poplib_rate = args.messages / statistics.median(poplib_runs)
    our_rate = args.messages / statistics.median(our_runs)
    result = {
        "messages": args.messages,
        "poplib_retr_per_s": round(poplib_rate, 1),
        "fetch_per_s": round(our_rate, 1),
        "ratio_to_poplib": round(our_rate / poplib_rate, 3),
        "fetch_peak_python_mb": round(peak / 1e6, 2),
        "idle_fetch_ms": summary(idle_runs),
        "idle_messages": args.idle_messages,
        "open_pane_ms": summary(pane),
        "open_page_ms": summary(page),
        "load_before": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }
    rows = [
        ("raw poplib RETR", f"{poplib_rate:.0f} msg/s", ""),
        ("our fetch (stored, committed)", f"{our_rate:.0f} msg/s",
         f"{our_rate / poplib_rate:.2f} of poplib (goal >= 0.5)"),
        ("fetch peak Python memory", f"{peak / 1e6:.1f} MB", ""),
        (f"idle fetch, {args.idle_messages} on the server",
         "{median} / {p95} ms".format(**result["idle_fetch_ms"]), "goal <= 100 ms"),
        ("open reading pane", "{median} / {p95} ms".format(**result["open_pane_ms"]),
         "p95 goal <= 50 ms"),
        ("open whole page", "{median} / {p95} ms".format(**result["open_page_ms"]), ""),
    ]  # fmt: skip
    print(f"{'figure':<36} {'median / p95 or rate':<24} note")
    for name, value, note in rows:
        print(f"{name:<36} {value:<24} {note}")
    print(f"load average: {result['load_before']} before, {result['load_after']} after")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
