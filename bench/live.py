"""Live figures (issue 13): new mail and a star reaching open browsers; many sockets on one daphne.

    .venv/bin/python bench/live.py [--messages 100000] [--deliveries 20] [--stars 20]
                                   [--sockets 1000] [--sqlite] [--json]

Everything runs as in production, each in its own process, on a throwaway database
(``bench_live`` on TEST_DATABASE_URL's server, or SQLite with --sqlite) and TEST_REDIS_URL:
daphne serving webmail.asgi (HTTP and WebSocket, tests/running_app.py), a Celery worker as the
compose file starts it (prefork, one child per core), the IDLE watcher (``manage.py
watch_imap``), the fixture Dovecot with its SMTP server that delivers over LMTP, and Chromium
(Playwright) logged in with the Inbox open.

a. **SMTP -> new row**: ``--deliveries`` messages sent over SMTP to the user, one at a time, each
   with a unique subject; from the SMTP server's answer to DATA (the message is in Dovecot) to
   the row carrying that subject appearing in the DOM of the open Inbox (a MutationObserver
   notes the time: it works whether the page inserts the row or re-renders the list). Also the
   time the page's socket brought the first event after the delivery (the part of it that is
   IDLE notice, queue and sync). Goal: p50 <= 800 ms, p95 <= 1.5 s.
b. **star -> second tab**: ``--stars`` clicks on a row's star in tab 1; to the same row showing
   the star (class ``flagged``) in tab 2 of the same session. Goal: p95 <= 300 ms.
c. **sockets**: a fresh daphne; ``--sockets`` WebSockets opened to it from one asyncio process
   with a logged-in session's cookie (a 50-line client here: no WebSocket library needed);
   daphne's resident memory before and after, per socket; then one event sent to the user's
   group, five times: the time until every socket has it (and until half have). Goal: >= 1,000.

The folder is filled as bench/imap_sync.py does (generated Maildir, ``doveadm import``, one
sync in this process before the others start). The load average is printed at the start and
the end: the machine is shared; read medians and p95 against it.
"""

import argparse
import asyncio
import base64
import json
import os
import signal
import smtplib
import statistics
import subprocess
import sys
import time
import uuid
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import sqlite_on_disk, use_bench_database  # noqa: E402
from imap_sync import prepare_mailbox  # noqa: E402

PASSWORD = "bench-portal-pw"  # noqa: S105


def summary(seconds):
    """Median and 95th percentile, in milliseconds."""
    ms = sorted(1000 * s for s in seconds)
    if not ms:
        return {"median": None, "p95": None, "n": 0}
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[18] if len(ms) > 1 else ms[0]
    return {"median": statistics.median(ms), "p95": p95, "n": len(ms)}


def setup_django(sqlite):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings_test")
    use_bench_database(sqlite, "bench_live")
    import django

    django.setup()
    sqlite_on_disk()
    import redis
    from django.conf import settings
    from django.test.utils import setup_databases

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()  # no stale tasks for our worker
    return setup_databases(verbosity=0, interactive=False)


def make_user_and_account(world, address):
    from django.contrib.auth import get_user_model

    from accounts.models import MailAccount
    from mailbox.sync import run_account

    user = get_user_model().objects.create_user("bench", "", PASSWORD)
    account = MailAccount(
        user=user, email=address, incoming_host="127.0.0.1",
        incoming_port=world.dovecot.ports["imap"], incoming_security="none",
        incoming_username=address, smtp_host="127.0.0.1", smtp_port=world.smtp.ports["plain"],
        smtp_security="none",
    )  # fmt: skip
    account.incoming_password = "benchpw"  # noqa: S105 (prepare_mailbox's)
    account.save()
    started = time.perf_counter()
    run_account(account.pk)
    return user, account, time.perf_counter() - started


class Processes:
    """The worker and the watcher, as the compose file runs them, on the bench's database."""

    def __init__(self):
        from django.db import connection

        from tests.running_app import process_env

        # their database connections kept as in production (SQLite: a new one each time)
        keep = "0" if connection.vendor == "sqlite" else "60"
        self.env = process_env(WEBMAIL_TEST_CONN_MAX_AGE=keep)
        self.logs, self.running = {}, {}

    def start(self, name, command, **env):
        import tempfile

        self.logs[name] = log = tempfile.TemporaryFile()  # noqa: SIM115 (read in output())
        self.running[name] = subprocess.Popen(
            command, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def output(self, name, tail=3000):
        self.logs[name].seek(0)
        return self.logs[name].read().decode(errors="replace")[-tail:]

    def stop(self):
        for process in self.running.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


# The page's side: when rows appear and change, and when events arrive (Date.now(), ms).
OBSERVER = """() => {
  const bench = window.__bench = {tokens: new Set(), seen: {}, flags: {}, flagLog: [], events: []};
  function scan() {
    const now = Date.now();
    for (const row of document.querySelectorAll("li.row")) {
      if (bench.tokens.size) {
        const text = row.textContent;
        for (const token of bench.tokens) {
          if (text.includes(token)) { bench.seen[token] = now; bench.tokens.delete(token); }
        }
      }
      const id = row.dataset.messageId, flagged = row.classList.contains("flagged");
      if (id in bench.flags && bench.flags[id] !== flagged) bench.flagLog.push([id, flagged, now]);
      bench.flags[id] = flagged;
    }
  }
  new MutationObserver(scan).observe(document.body,
    {subtree: true, childList: true, attributes: true, attributeFilter: ["class"]});
  document.addEventListener("webmail:event", (e) => bench.events.push([e.detail.type, Date.now()]));
  scan();
}"""


def open_inbox(context, base_url):
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(base_url + "/mail/")
    page.wait_for_selector("li.row")
    page.wait_for_timeout(500)  # the socket opens after the page's scripts ran
    page.evaluate(OBSERVER)
    return page


def log_in(browser, base_url):
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    page.goto(base_url + "/login/")
    page.fill("input[name=username]", "bench")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.close()
    return context


def new_message(address, token):
    message = EmailMessage()
    message["From"] = "Bench Sender <sender@example.org>"
    message["To"] = address
    message["Subject"] = f"Live bench {token}"
    message["Date"] = format_datetime(__import__("datetime").datetime.now().astimezone())
    message["Message-ID"] = make_msgid(domain="bench.example")
    message.set_content(f"Delivered by bench/live.py ({token}).\n")
    return message.as_bytes()


class IdleProbe:
    """Another IMAP client holding IDLE on the Inbox (raw socket): when Dovecot tells of new
    mail, the floor under figure a that is not ours."""

    def __init__(self, world, login):
        import socket
        import threading

        self.exists = []
        self.sock = socket.create_connection(("127.0.0.1", world.dovecot.ports["imap"]))
        self.file = self.sock.makefile("rb")
        self.file.readline()
        for command in (f'a LOGIN "{login[0]}" "{login[1]}"', "b SELECT INBOX", "c IDLE"):
            self.sock.sendall(command.encode() + b"\r\n")
            while self.file.readline()[:1] not in (b"a", b"b", b"+"):
                pass
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            while line := self.file.readline():
                if line.rstrip().endswith(b"EXISTS"):
                    self.exists.append(time.time())
        except OSError:
            return

    def first_after(self, moment):
        return min((at for at in self.exists if at >= moment), default=None)

    def close(self):
        self.sock.close()


def watcher_syncs(log_text):
    """From the watcher's DEBUG log (mailbox.watcher.InboxSync): [(news, sync started, sync
    ended)] in epoch seconds, in order."""
    import re

    news = [float(m) for m in re.findall(r"news for account \d+: ([0-9.]+)", log_text)]
    syncs = re.findall(r"inbox sync of account \d+: ([0-9.]+) ([0-9.]+)", log_text)
    return [(n, float(a), float(b)) for n, (a, b) in zip(news, syncs, strict=False)]


def deliveries(page, world, address, count, pause, probe, processes):
    """Figure a: each delivery's times, in seconds after the SMTP server's answer: to the row,
    to the page's first event, to Dovecot's IDLE notice (the probe's), and the watcher's news
    and Inbox sync (its own run time; its end)."""
    to_row, to_event, missed = [], [], 0
    parts = {"notice": [], "watcher_news": [], "sync_run": [], "sync_done": []}
    smtp = smtplib.SMTP("127.0.0.1", world.smtp.ports["plain"], timeout=30)
    try:
        for index in range(count + 1):  # the first warms up the path
            token = f"d{index}-{uuid.uuid4().hex[:10]}"
            page.evaluate("(token) => window.__bench.tokens.add(token)", token)
            raw = new_message(address, token)
            smtp.sendmail("sender@example.org", [address], raw)
            accepted = time.time()
            try:
                page.wait_for_function(
                    "(token) => token in window.__bench.seen", arg=token, timeout=15_000
                )
            except Exception:  # a row that never came: counted, not timed
                missed += 1
                continue
            seen = page.evaluate("(token) => window.__bench.seen[token]", token) / 1000
            events = page.evaluate("() => window.__bench.events")
            first = min((at / 1000 for _type, at in events if at / 1000 >= accepted), default=None)
            if index:
                to_row.append(seen - accepted)
                if first is not None:
                    to_event.append(first - accepted)
                notice = probe.first_after(accepted)
                if notice is not None:
                    parts["notice"].append(notice - accepted)
                sync = next((t for t in watcher_syncs(processes.output("watcher", 0))
                             if t[0] >= accepted - 0.01), None)  # fmt: skip
                if sync is not None:
                    parts["watcher_news"].append(sync[0] - accepted)
                    parts["sync_run"].append(sync[2] - sync[1])
                    parts["sync_done"].append(sync[2] - accepted)
            page.wait_for_timeout(pause * 1000)
    finally:
        smtp.quit()
    return to_row, to_event, missed, parts


STAR = """(id) => {
  const row = document.querySelector(`li.row[data-message-id="${id}"]`);
  const at = Date.now();
  row.querySelector("button.star").click();
  return [at, !row.classList.contains("flagged")];
}"""


def stars(first, second, count, pause):
    """Figure b: click on a star in ``first`` -> the star shown in ``second``, in seconds."""
    ids = first.evaluate(
        "() => Array.from(document.querySelectorAll('li.row'), r => r.dataset.messageId)"
    )
    timings, to_event, missed = [], [], 0
    for index in range(count + 1):  # the first warms up the path
        message_id = ids[(index // 2) % min(len(ids), 10)]
        clicked_at, wanted = first.evaluate(STAR, message_id)
        try:
            second.wait_for_function(
                "([id, flagged, at]) => window.__bench.flagLog.some("
                "e => e[0] === id && e[1] === flagged && e[2] >= at)",
                arg=[message_id, wanted, clicked_at], timeout=10_000,
            )  # fmt: skip
        except Exception:
            missed += 1
            continue
        log = second.evaluate("() => window.__bench.flagLog")
        shown = min(at for id_, flagged, at in log
                    if id_ == message_id and flagged == wanted and at >= clicked_at)  # fmt: skip
        events = second.evaluate("() => window.__bench.events")
        event = min((at for _type, at in events if at >= clicked_at), default=None)
        if index:
            timings.append((shown - clicked_at) / 1000)
            if event is not None:
                to_event.append((event - clicked_at) / 1000)
        first.wait_for_timeout(pause * 1000)
    return timings, to_event, missed


# --- c. many sockets: a minimal WebSocket client (RFC 6455), enough to receive text frames ---


async def open_socket(port, cookie, opened):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (f"GET /ws/live/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
         f"Origin: http://127.0.0.1:{port}\r\nCookie: sessionid={cookie}\r\n\r\n").encode()
    )  # fmt: skip
    status = await reader.readline()
    if b" 101 " not in status:
        raise RuntimeError(f"the socket was refused: {status!r}")
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    opened.append(writer)
    return reader, writer


async def read_frame(reader):
    """One frame from the server (unmasked): (opcode, payload)."""
    head = await reader.readexactly(2)
    length = head[1] & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    return head[0] & 0x0F, await reader.readexactly(length)


async def listen(reader, arrivals, event):
    """Note the time each frame carrying ``event`` arrives (others, such as the socket's first
    message, live.hello, read and left out)."""
    try:
        while True:
            opcode, payload = await read_frame(reader)
            if opcode == 8:  # close
                return
            if opcode == 1 and json.loads(payload) == event:
                arrivals.append(time.perf_counter())
    except (asyncio.IncompleteReadError, ConnectionError):
        return


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


OPEN_AT_ONCE = 20


async def many_sockets(daphne, cookie, user_id, count, rounds):
    from asgiref.sync import sync_to_async

    from mailbox.events import send_event

    pid = daphne.process.pid
    writers, readers = [], []
    first = await open_socket(daphne.port, cookie, writers)  # warms the consumer's imports
    readers.append(first[0])
    await asyncio.sleep(1)
    before = rss_kib(pid)
    started = time.perf_counter()
    failed = []
    for start in range(1, count, OPEN_AT_ONCE):  # a few at a time, as tabs opening in a morning
        batch = await asyncio.gather(
            *(open_socket(daphne.port, cookie, writers)
              for _ in range(min(OPEN_AT_ONCE, count - start))),
            return_exceptions=True,
        )  # fmt: skip
        readers.extend(opened[0] for opened in batch if not isinstance(opened, BaseException))
        failed.extend(repr(error) for error in batch if isinstance(error, BaseException))
    opening = time.perf_counter() - started
    await asyncio.sleep(2)  # every consumer has joined its group
    after = rss_kib(pid)
    fanouts, halves, complete = [], [], 0
    for round_ in range(rounds):
        arrivals = []
        event = {"type": "folder.changed", "folder_id": round_, "account_id": 0}
        listeners = [asyncio.create_task(listen(reader, arrivals, event)) for reader in readers]
        await asyncio.sleep(0.2)
        sent = time.perf_counter()
        await sync_to_async(send_event)([user_id], event)
        deadline = time.perf_counter() + 30
        while len(arrivals) < len(readers) and time.perf_counter() < deadline:
            await asyncio.sleep(0.005)
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
        if len(arrivals) >= len(readers):
            complete += 1
            arrivals.sort()
            fanouts.append(arrivals[-1] - sent)
            halves.append(arrivals[len(arrivals) // 2] - sent)
        await asyncio.sleep(0.5)
    for writer in writers:
        writer.close()
    return {
        "sockets": len(readers), "opening_s": opening, "rss_before_mib": before / 1024,
        "rss_after_mib": after / 1024, "kib_per_socket": (after - before) / max(1, count - 1),
        "fanout_all": summary(fanouts), "fanout_half": summary(halves),
        "complete_rounds": complete, "rounds": rounds, "failed_to_open": len(failed),
        "first_failures": failed[:3],
    }  # fmt: skip


def socket_figures(user, count, rounds):
    from tests.running_app import Client, Daphne

    daphne = Daphne(WEBMAIL_TEST_CONN_MAX_AGE="60")
    try:
        client = Client(daphne.url)
        client.login("bench", PASSWORD)
        cookie = client.cookie("sessionid")
        return asyncio.run(many_sockets(daphne, cookie, user.pk, count, rounds))
    finally:
        daphne.stop()


def run(args):
    from django.db import connection

    from mailbox.testing.servers import MailWorld
    from tests.running_app import Daphne

    results = {"load_average_start": os.getloadavg(), "database": connection.vendor,
               "messages": args.messages}  # fmt: skip
    if args.sockets_only:
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.create_user("bench", "", PASSWORD)
        results["sockets"] = socket_figures(user, args.sockets, args.fanout_rounds)
        results["load_average_end"] = os.getloadavg()
        return results
    with MailWorld(mail_location="mdbox:~/mdbox") as world:
        address = prepare_mailbox(world, args.messages)
        user, _account, results["first_sync_s"] = make_user_and_account(world, address)
        processes = Processes()
        daphne = Daphne(WEBMAIL_TEST_CONN_MAX_AGE=processes.env["WEBMAIL_TEST_CONN_MAX_AGE"])
        python = sys.executable
        processes.start("worker", [python, "-m", "celery", "-A", "webmail", "worker", "-l",
                                   "warning", "-n", f"bench-live-{os.getpid()}@%h"])  # fmt: skip
        processes.start("watcher", [python, "manage.py", "watch_imap"], LOG_LEVEL="DEBUG")
        try:
            results.update(browser_figures(args, world, daphne, address, processes))
        finally:
            processes.stop()
            daphne.stop()
        if args.logs:
            for name in processes.running:
                Path(args.logs, f"live-{name}.log").write_text(processes.output(name, 0))
    if args.sockets:
        results["sockets"] = socket_figures(user, args.sockets, args.fanout_rounds)
    results["load_average_end"] = os.getloadavg()
    return results


def browser_figures(args, world, daphne, address, processes):
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    found = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = log_in(browser, daphne.url)
            first = open_inbox(context, daphne.url)
            time.sleep(3)  # the watcher has logged in and holds IDLE
            probe = IdleProbe(world, (address, "benchpw"))
            try:
                rows, events, missed, parts = deliveries(
                    first, world, address, args.deliveries, args.pause, probe, processes
                )
            finally:
                probe.close()
            found["delivery_to_row"] = summary(rows)
            found["delivery_to_event"] = summary(events)
            found["deliveries_missed"] = missed
            found["delivery_parts"] = {name: summary(values) for name, values in parts.items()}
            second = open_inbox(context, daphne.url)
            first.reload()
            first.wait_for_selector("li.row")
            first.evaluate(OBSERVER)
            timings, to_event, missed = stars(first, second, args.stars, args.pause)
            found["star_to_second_tab"] = summary(timings)
            found["star_to_second_tab_event"] = summary(to_event)
            found["stars_missed"] = missed
        finally:
            browser.close()
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
    return found


def ms(figure, key="median"):
    value = figure.get(key)
    return "-" if value is None else f"{value:.0f} ms"


def report(r):
    load = f"{r['load_average_start'][0]:.2f} -> {r['load_average_end'][0]:.2f}"
    print(f"live figures: {r['messages']} messages in the Inbox, {r['database']}, load {load}")
    rows = [] if "delivery_to_row" not in r else [
        ("a. SMTP accepted -> row in the open Inbox, p50", ms(r["delivery_to_row"]), "<= 800 ms"),
        ("   p95", ms(r["delivery_to_row"], "p95"), "<= 1500 ms"),
        ("   of which to the socket's first event, p50", ms(r["delivery_to_event"]), ""),
        ("   p95", ms(r["delivery_to_event"], "p95"), ""),
        ("   Dovecot's IDLE notice (another client's), p50",
         ms(r["delivery_parts"]["notice"]), "(floor)"),
        ("   the watcher's news (its IDLE notice), p50",
         ms(r["delivery_parts"]["watcher_news"]), ""),
        ("   the watcher's Inbox sync, its run, p50 / p95",
         f"{ms(r['delivery_parts']['sync_run'])} / {ms(r['delivery_parts']['sync_run'], 'p95')}",
         ""),
        ("   ... done, p50", ms(r["delivery_parts"]["sync_done"]), ""),
        ("   deliveries timed / missed",
         f"{r['delivery_to_row']['n']} / {r['deliveries_missed']}", ""),
        ("b. star in tab 1 -> shown in tab 2, p50", ms(r["star_to_second_tab"]), ""),
        ("   p95", ms(r["star_to_second_tab"], "p95"), "<= 300 ms"),
        ("   of which to tab 2's socket event, p50 / p95",
         f"{ms(r['star_to_second_tab_event'])} / {ms(r['star_to_second_tab_event'], 'p95')}",
         ""),
        ("   clicks timed / missed",
         f"{r['star_to_second_tab']['n']} / {r['stars_missed']}", ""),
    ]  # fmt: skip
    s = r.get("sockets")
    if s:
        rows += [
            ("c. sockets open in one daphne", f"{s['sockets']}", ">= 1000"),
            ("   failed to open / seconds to open them all",
             f"{s['failed_to_open']} / {s['opening_s']:.1f} s", ""),
            ("   daphne's memory before -> after",
             f"{s['rss_before_mib']:.0f} -> {s['rss_after_mib']:.0f} MiB", ""),
            ("   memory per socket", f"{s['kib_per_socket']:.0f} KiB", ""),
            ("   one event to all of them, median", ms(s["fanout_all"]), ""),
            ("   p95 (rounds complete)",
             f"{ms(s['fanout_all'], 'p95')} ({s['complete_rounds']}/{s['rounds']})", ""),
            ("   ... to half of them, median", ms(s["fanout_half"]), ""),
        ]  # fmt: skip
    for label, value, goal in rows:
        print(f"{label:<48} {value:>14}   {goal}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--deliveries", type=int, default=20)
    parser.add_argument("--stars", type=int, default=20)
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between two tries")
    parser.add_argument("--sockets", type=int, default=1000, help="0: leave figure c out")
    parser.add_argument("--fanout-rounds", type=int, default=5)
    parser.add_argument("--sockets-only", action="store_true", help="figure c alone")
    parser.add_argument("--sqlite", action="store_true", help="the embedded mode's database")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--logs", help="a directory to keep the worker's and watcher's logs in")
    args = parser.parse_args()
    old_config = setup_django(args.sqlite)
    from django.test.utils import teardown_databases

    try:
        results = run(args)
    finally:
        teardown_databases(old_config, verbosity=0)
    report(results)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
