"""Load (issue 15): many people reading, searching, flagging and sending at once, one web process.

    .venv/bin/python bench/load.py [--users 50] [--seconds 60] [--messages 300]
                                   [--redis-restart] [--down 5] [--think 0.5] [--json] [--logs DIR]

Every part runs as in production, each in its own process: daphne serving webmail.asgi
(tests/running_app.py's command), one Celery worker (prefork, one child per core) and beat, on a
throwaway PostgreSQL database (``bench_load_<pid>``, bench/common.py) and a private redis-server
on a free port (AOF on, as the compose file runs it), with Django's cache in that Redis as in
production (bench/load_settings.py); the fixture Dovecot (IMAP, LMTP) and SMTP server
(mailbox.testing.servers.MailWorld). The shared Redis of the tests is never touched.

Each simulated user has its own portal user and IMAP account, seeded with ``--messages``
generated messages (mailbox.testing.seed), synced, prefetched and indexed before the clock
starts (then ANALYZE, as autovacuum leaves a database in use). Then each, in its own thread
with an HTTP client of the standard library (tests.running_app.Client), logs in and loops,
pausing up to ``--think`` seconds (uniform) between requests:

1. the Inbox (``list``), and half the time the next page through the "Older messages" cursor
   link, as the page's script asks for it when the list is scrolled (``?part=rows``: ``more``);
2. a message of those rows: its reading pane (``?part=pane``) and its body frame (``body``);
3. every other round, a search for a word of a subject it saw (the search view: ``search``);
4. flag or unflag a message of the list (POST /mail/messages/action/ with the CSRF token:
   ``flag``), the star's state it asked for noted;
5. one round in ``--send-every`` (on average), a message to another user, as the compose
   screen does: the form (``compose``), its save (``save``), its send (``send``).

An error is an answer other than the one a browser expects (200, or the JSON ``ok``), or an
exception (a refused or broken connection, a timeout): the goal is none.

With ``--redis-restart`` Redis is stopped (SIGTERM: it writes its AOF) a third of the way in
and started again ``--down`` seconds later, while the users go on. Errors are counted before,
during (a request in flight at some moment while it was down) and after. A worker or beat that
exits is started again at once, as the compose file's restart policy does, and the exit is
reported. Then, with or without a restart, when the run is over, the bench
waits (``--settle`` seconds at most) for the outbox and the queued flag changes to drain, and
checks on the servers: each message a send was acknowledged for is in its recipient's Inbox
(IMAP SEARCH for its unique subject), and each message's \\Flagged on Dovecot is the state its
last acknowledged star asked for, those made while Redis was down counted apart.

Also reported: daphne's 500s (by path and exception, with the frames in our code) and the most
PostgreSQL connections each process held at once (by PGAPPNAME), against the server's limit.
"""

import argparse
import html
import imaplib
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import use_bench_database  # noqa: E402

PASSWORD = "bench-load-portal-pw"  # noqa: S105
MAIL_PASSWORD = "bench-load-mail-pw"  # noqa: S105
REDIS_SERVER = "/usr/bin/redis-server"
KINDS = ("login", "list", "more", "pane", "body", "search", "flag", "compose", "save", "send")


# --- the servers --------------------------------------------------------------------------------


class PrivateRedis:
    """A redis-server of this run's own on a free port of 127.0.0.1, AOF on (as the compose file
    runs it), so that a restart keeps what was queued."""

    def __init__(self):
        from mailbox.testing.servers import free_port

        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tempfile.mkdtemp(prefix="bench-load-redis-")
        self.process = None
        self.start()

    def start(self):
        from mailbox.testing.servers import wait_for_port

        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                   "--dir", self.dir, "--appendonly", "yes", "--save", ""]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)  # fmt: skip
        wait_for_port(self.port, timeout=15)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Processes:
    """daphne, the worker and beat, as the compose file runs them, on the bench's database and
    Redis; their output in temporary files (kept with --logs)."""

    def __init__(self):
        from tests.running_app import process_env

        # the worker and beat keep their connections as in production (daphne keeps none there)
        self.env = process_env(WEBMAIL_TEST_CONN_MAX_AGE="60")
        self.env.update(DJANGO_SETTINGS_MODULE="load_settings",
                        PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'bench'}")  # fmt: skip
        self.logs, self.running, self.commands = {}, {}, {}
        self.dir = tempfile.mkdtemp(prefix="bench-load-")

    def start(self, name, command):
        """Start ``command``; a restart appends to the same log."""
        self.commands[name] = command
        if name not in self.logs:
            self.logs[name] = tempfile.TemporaryFile()  # noqa: SIM115 (read in output())
        log = self.logs[name]
        env = {**self.env, "PGAPPNAME": f"load-{name}"}  # its connections, named (Sampler)
        self.running[name] = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def start_all(self):
        """daphne (its URL returned once it answers), a worker and beat."""
        from mailbox.testing.servers import free_port, wait_for_port

        python, port = sys.executable, free_port()
        self.start("daphne", [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                              "webmail.asgi:application"])  # fmt: skip
        self.start("worker", [python, "-m", "celery", "-A", "webmail", "worker", "-l", "warning",
                              "-n", f"bench-load-{os.getpid()}@%h"])  # fmt: skip
        self.start("beat", [python, "-m", "celery", "-A", "webmail", "beat", "-l", "warning",
                            "--schedule", f"{self.dir}/celerybeat-schedule"])  # fmt: skip
        wait_for_port(port, timeout=60)
        return f"http://127.0.0.1:{port}"

    def output(self, name):
        self.logs[name].seek(0)
        return self.logs[name].read().decode(errors="replace")

    def supervise(self, until, started):
        """Until ``until`` (time.monotonic()), start again the worker or beat when it exits, as
        the compose file's ``restart: unless-stopped`` does; [(name, seconds into the run, exit
        code)] of each exit."""
        exits = []
        while time.monotonic() < until:
            for name in ("worker", "beat"):
                code = self.running[name].poll()
                if code is not None:
                    exits.append((name, round(time.monotonic() - started, 1), code))
                    self.start(name, self.commands[name])
            time.sleep(0.5)
        return exits

    def stop(self):
        for process in self.running.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


# --- the users' mail ----------------------------------------------------------------------------


def make_user(world, index, count):
    """Portal user ``load<index>`` with its IMAP account, ``count`` messages seeded, synced,
    prefetched and indexed (what the worker would do after a first sync)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from accounts.models import MailAccount
    from mailbox.sync import run_account
    from mailbox.sync.index import index_account
    from mailbox.sync.prefetch import prefetch_account
    from mailbox.testing.seed import iter_messages, seed_imap

    name = f"load{index}"
    address = world.dovecot.add_user(name, MAIL_PASSWORD)
    client = imaplib.IMAP4("127.0.0.1", world.dovecot.ports["imap"])
    client.login(address, MAIL_PASSWORD)
    seed_imap(client, iter_messages(count, seed=index, recipient=address, folders=["INBOX"]))
    client.logout()
    try:
        user = get_user_model().objects.create_user(name, "", PASSWORD)
        account = MailAccount(
            user=user, email=address, incoming_host="127.0.0.1",
            incoming_port=world.dovecot.ports["imap"], incoming_security="none",
            incoming_username=address, smtp_host="127.0.0.1",
            smtp_port=world.smtp.ports["plain"], smtp_security="none",
        )  # fmt: skip
        account.incoming_password = MAIL_PASSWORD
        account.save()
        run_account(account.pk)
        prefetch_account(account.pk)
        account.refresh_from_db()
        index_account(account)
    finally:
        connection.close()
    return address


def make_users(world, users, messages):
    """[address] of the users, made four at a time; then the planner's statistics, as
    autovacuum leaves them on a database in use (fresh tables have none: a search over 300
    messages then took 300 ms of PostgreSQL, 70 ms after ANALYZE)."""
    from django.db import connection

    with ThreadPoolExecutor(4) as pool:
        addresses = list(pool.map(lambda i: make_user(world, i, messages), range(users)))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return addresses


# --- one simulated user -------------------------------------------------------------------------

ROW_ID = re.compile(r'data-message-id="(\d+)"')
OLDER = re.compile(r'<li class="more"><a href="([^"]+)" rel="next"')
SUBJECT = re.compile(r'<span class="subject"><bdi>([^<]+)</bdi>')
FRAME = re.compile(r'<iframe class="message-body"[^>]*\ssrc="([^"]+)"')
IDENTITY = re.compile(r'<select name="identity"[^>]*>\s*<option value="(\d+)"')
CLIENT_KEY = re.compile(r'name="client_key" value="([^"]+)"')
FETCH = {"X-Requested-With": "fetch"}


class Record:
    """What every user did, shared by the threads: timings per kind, errors, the stars and the
    sends acknowledged, the Redis outage's window."""

    def __init__(self):
        self.lock = threading.Lock()
        self.timings = []  # (kind, started at, seconds, error or None)
        self.errors = []  # (kind, started at, url, what)
        # (user index, message id) -> (flagged wanted, acknowledged, started at, seconds)
        self.stars = {}
        self.sends = []  # (subject, recipient address, acknowledged, started at, seconds)
        self.outage = None  # (stopped at, started again at), time.monotonic()

    def note(self, kind, started, seconds, url, error):
        with self.lock:
            self.timings.append((kind, started, seconds, error))
            if error is not None:
                self.errors.append((kind, started, url, error))


class LoadUser:
    def __init__(self, index, base, addresses, record, args, deadline):
        from tests.running_app import Client

        self.index, self.addresses, self.record, self.args = index, addresses, record, args
        self.client, self.deadline = Client(base), deadline
        self.rng = random.Random(index)
        self.folder_url = None

    def call(self, kind, method, url, data=None, expect=200, headers=None):
        """(status, headers, text), or None after an error (noted)."""
        started = time.monotonic()
        try:
            if method == "GET":
                status, head, text = self.client.get(url, headers=headers)
            else:
                status, head, text = self.client.post(url, data, headers=headers)
        except Exception as error:  # noqa: BLE001 (every failure counts as one)
            self.record.note(kind, started, time.monotonic() - started, url, repr(error))
            return None
        error = None if status == expect else f"HTTP {status}"
        if error is None and headers is FETCH and kind in ("flag", "save", "send"):
            try:
                answer = json.loads(text)
            except ValueError:
                answer = {"error": "not JSON"}
            if answer.get("ok") is False or answer.get("error"):
                error = f"JSON {text[:200]}"
        self.record.note(kind, started, time.monotonic() - started, url, error)
        return None if error else (status, head, text)

    def pause(self):
        time.sleep(self.rng.uniform(0, self.args.think))

    def run(self):
        """Log in (``login``: the form, its POST, /mail/'s redirect to the Inbox), then rounds
        until the deadline. A mistake of this script's is an error too, not a lost thread."""
        try:
            self.log_in()
            rounds = 0
            while self.folder_url and time.monotonic() < self.deadline:
                self.one_round(rounds)
                rounds += 1
        except Exception as error:  # noqa: BLE001
            self.record.note("script", time.monotonic(), 0, "", repr(error))

    def log_in(self):
        name = f"load{self.index}"
        form = self.call("login", "GET", "/login/")
        data = {"username": name, "password": PASSWORD}
        if form is None or not self.call("login", "POST", "/login/", data, expect=302):
            return
        answer = self.call("login", "GET", "/mail/", expect=302)
        location = answer[1].get("Location", "") if answer else ""
        if answer and "/mail/folders/" not in location:
            self.record.note("login", time.monotonic(), 0, "/mail/", f"to {location}, no Inbox")
        elif answer:
            self.folder_url = location

    def one_round(self, number):
        answer = self.call("list", "GET", self.folder_url)
        self.pause()
        if answer is None:
            return
        page = answer[2]
        ids, subjects = ROW_ID.findall(page), SUBJECT.findall(page)
        older = OLDER.search(page)
        if older and self.rng.random() < 0.5:
            more = self.call("more", "GET", html.unescape(older.group(1)) + "&part=rows")
            if more is not None:
                ids += ROW_ID.findall(more[2])
            self.pause()
        if ids:
            self.read(self.rng.choice(ids))
        if subjects and number % 2:
            self.search(self.rng.choice(subjects))
        if ids:
            self.star(self.rng.choice(ids[:50]))
        if len(self.addresses) > 1 and self.rng.random() < 1 / self.args.send_every:
            self.send()

    def read(self, message_id):
        pane = self.call("pane", "GET", f"/mail/messages/{message_id}/?part=pane")
        frame = pane and FRAME.search(pane[2])
        if frame:
            self.call("body", "GET", html.unescape(frame.group(1)))
        self.pause()

    def search(self, subject):
        words = [w for w in re.findall(r"\w{4,}", html.unescape(subject))] or ["meeting"]
        from urllib.parse import quote

        self.call("search", "GET", f"{self.folder_url}search/?q={quote(self.rng.choice(words))}")
        self.pause()

    def star(self, message_id):
        key = (self.index, int(message_id))
        wanted = not self.record.stars.get(key, (self.rng.random() < 0.5,))[0]
        data = {"action": "flag" if wanted else "unflag", "ids": [message_id]}
        started = time.monotonic()
        answer = self.call("flag", "POST", "/mail/messages/action/", data, headers=FETCH)
        with self.record.lock:
            self.record.stars[key] = (
                wanted,
                answer is not None,
                started,
                time.monotonic() - started,
            )
        self.pause()

    def send(self):
        form = self.call("compose", "GET", "/mail/compose/")
        if form is None:
            return
        identity, key = IDENTITY.search(form[2]), CLIENT_KEY.search(form[2])
        if not identity or not key:
            self.record.note("compose", time.monotonic(), 0, "/mail/compose/", "no form fields")
            return
        others = [a for i, a in enumerate(self.addresses) if i != self.index]
        token = uuid.uuid4().hex[:12]
        fields = {"identity": identity.group(1), "client_key": key.group(1), "draft": "",
                  "version": "", "to": self.rng.choice(others), "cc": "", "bcc": "",
                  "subject": f"Load {token}", "is_html": "0", "html": "",
                  "text": f"Sent by bench/load.py, user {self.index}.\n"}  # fmt: skip
        self.pause()
        saved = self.call("save", "POST", "/mail/compose/save/", fields, headers=FETCH)
        if saved is None:
            return
        draft = json.loads(saved[2])
        fields.update(draft=str(draft["draft"]), version=str(draft["version"]))
        started = time.monotonic()
        sent = self.call("send", "POST", "/mail/compose/send/", fields, headers=FETCH)
        with self.record.lock:
            seconds = time.monotonic() - started
            self.record.sends.append(
                (f"Load {token}", fields["to"], sent is not None, started, seconds)
            )
        self.pause()


class Sampler(threading.Thread):
    """PostgreSQL's connections, twice a second: the most each process of ours held at once
    (by application_name, PGAPPNAME), the most on the whole server, and its limit."""

    QUERY = """SELECT application_name, count(*) FILTER (WHERE datname = current_database()),
                      (SELECT count(*) FROM pg_stat_activity),
                      current_setting('max_connections')::int
               FROM pg_stat_activity GROUP BY 1"""

    def __init__(self, until):
        super().__init__(daemon=True)
        self.until, self.peaks, self.server_peak, self.limit = until, defaultdict(int), 0, None

    def run(self):
        from django.db import connection

        try:
            while time.monotonic() < self.until:
                with connection.cursor() as cursor:
                    cursor.execute(self.QUERY)
                    for name, ours, everyone, limit in cursor.fetchall():
                        if name.startswith("load-"):
                            self.peaks[name] = max(self.peaks[name], ours)
                        self.server_peak, self.limit = max(self.server_peak, everyone), limit
                time.sleep(0.5)
        finally:
            connection.close()

    def figures(self):
        return {"peaks": dict(self.peaks), "server_peak": self.server_peak,
                "max_connections": self.limit}  # fmt: skip


def restart_redis(redis_server, record, at, down):
    time.sleep(max(0, at - time.monotonic()))
    stopped = time.monotonic()
    redis_server.stop()
    time.sleep(down)
    redis_server.start()
    record.outage = (stopped, time.monotonic())


def drive(args, base, addresses, redis_server, processes):
    """Run the users for ``args.seconds``; the Record."""
    record = Record()
    start = time.monotonic()
    deadline = start + args.seconds
    threads = [threading.Thread(target=LoadUser(i, base, addresses, record, args, deadline).run)
               for i in range(len(addresses))]  # fmt: skip
    if args.redis_restart:
        at = start + args.seconds / 3
        threads.append(threading.Thread(target=restart_redis,
                                        args=(redis_server, record, at, args.down)))  # fmt: skip
    sampler = Sampler(deadline + 5)
    sampler.start()
    for thread in threads:
        thread.start()
    # the worker and beat kept running through the run, as compose would
    record.exits = processes.supervise(deadline + 5, start)
    for thread in threads:
        thread.join()
    record.started, record.ended = start, time.monotonic()
    sampler.join()
    record.connections = sampler.figures()
    return record


# --- afterwards: did it all reach the servers? --------------------------------------------------


def settle(limit):
    """Wait (``limit`` seconds at most) until no outbox row is waiting and no flag change is
    queued for the server; (seconds waited, rows waiting, changes queued)."""
    from mailbox.models import OutboxMessage, OutboxState, PendingChange

    started = time.monotonic()
    while True:
        waiting = OutboxMessage.objects.filter(
            state__in=[OutboxState.QUEUED, OutboxState.SENDING]
        ).count()
        queued = PendingChange.objects.count()
        if (not waiting and not queued) or time.monotonic() - started > limit:
            return time.monotonic() - started, waiting, queued
        time.sleep(1)


def imap_login(world, address):
    client = imaplib.IMAP4("127.0.0.1", world.dovecot.ports["imap"])
    client.login(address, MAIL_PASSWORD)
    client.select("INBOX", readonly=True)
    return client


def server_flagged(world, address, uids):
    """{uid: whether \\Flagged} on Dovecot."""
    client = imap_login(world, address)
    try:
        _status, lines = client.uid("FETCH", ",".join(map(str, uids)), "(FLAGS)")
    finally:
        client.logout()
    found = {}
    for line in lines:
        text = line.decode() if isinstance(line, bytes) else ""
        match = re.search(r"UID (\d+)", text)
        if match:
            found[int(match.group(1))] = "\\Flagged" in text
    return found


def check_stars(world, addresses, record, phase_of):
    """Each message whose last star was acknowledged: \\Flagged on Dovecot as asked, per phase
    of that star; {phase: [checked, wrong]}, and the first wrong ones."""
    from mailbox.models import Message

    rows = Message.objects.in_bulk([message_id for _user, message_id in record.stars])
    by_user = defaultdict(list)
    for (user, message_id), (wanted, acknowledged, at, seconds) in record.stars.items():
        if acknowledged and message_id in rows:
            by_user[user].append((rows[message_id].uid, wanted, phase_of(at, seconds)))
    counts, wrong = defaultdict(lambda: [0, 0]), []
    for user, stars in by_user.items():
        flagged = server_flagged(world, addresses[user], [uid for uid, _w, _p in stars])
        for uid, wanted, phase in stars:
            counts[phase][0] += 1
            if flagged.get(uid) != wanted:
                counts[phase][1] += 1
                wrong.append(f"load{user} UID {uid}: asked {wanted}, server {flagged.get(uid)}")
    return dict(counts), wrong[:5]


def check_sends(world, record, phase_of):
    """Each acknowledged send in its recipient's Inbox, once; {phase: [checked, missing]}."""
    counts, missing = defaultdict(lambda: [0, 0]), []
    by_recipient = defaultdict(list)
    for subject, recipient, acknowledged, at, seconds in record.sends:
        if acknowledged:
            by_recipient[recipient].append((subject, phase_of(at, seconds)))
    for recipient, sends in by_recipient.items():
        client = imap_login(world, recipient)
        try:
            for subject, phase in sends:
                _status, found = client.uid("SEARCH", "HEADER", "Subject", f'"{subject}"')
                counts[phase][0] += 1
                if len(found[0].split()) != 1:
                    counts[phase][1] += 1
                    missing.append(f"{subject} to {recipient}: {len(found[0].split())} copies")
        finally:
            client.logout()
    return dict(counts), missing[:5]


# --- the figures --------------------------------------------------------------------------------


def summary(seconds):
    """Median and 95th percentile, in milliseconds, and the count."""
    ms = sorted(1000 * s for s in seconds)
    if not ms:
        return {"median": None, "p95": None, "n": 0}
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[18] if len(ms) > 1 else ms[0]
    return {"median": statistics.median(ms), "p95": p95, "n": len(ms)}


def phase_function(record):
    """phase(started at, seconds): "run" without an outage, else "before", "during" (the
    request was in flight at some moment Redis was down) or "after"."""
    if record.outage is None:
        return lambda at, seconds=0: "run"
    stopped, back = record.outage

    def phase(at, seconds=0):
        if at + seconds < stopped:
            return "before"
        return "during" if at < back else "after"

    return phase


def server_errors(log):
    """daphne's 500s (Django's "Internal Server Error: <path>" and its traceback): {"<path>:
    <the exception's last line>": count}, and the first traceback of each (_our_frames)."""
    counts, first = defaultdict(int), {}
    for block in re.split(r"\n(?=Internal Server Error: )", log)[1:]:
        path = block.split("\n", 1)[0].removeprefix("Internal Server Error: ")
        path = re.sub(r"/\d+/", "/<id>/", path)
        lines = list(_traceback_lines(block.splitlines()))
        block = "\n".join(lines)
        raised = [line for line in lines if re.match(r"[\w.]+(Error|Exception)\b", line)]
        key = f"{path}: {raised[-1] if raised else '?'}"
        counts[key] += 1
        first.setdefault(key, _our_frames(lines))
    return dict(counts), first


def _traceback_lines(lines):
    """The first line and the traceback after it, up to the log's next line."""
    yield lines[0]
    for line in lines[1:]:
        traceback = line.startswith((" ", "Traceback", "During handling", "The above exception"))
        if not (traceback or not line or re.match(r"[\w.]+(Error|Exception)\b", line)):
            return
        yield line


def _our_frames(lines):
    """A traceback shortened to its first line, the frames in this project's code (not the
    virtualenv's) with their source line, and the exception raised last."""
    kept = [lines[0]]
    for index, line in enumerate(lines):
        if line.startswith("  File ") and str(ROOT) in line and ".venv" not in line:
            kept += lines[index : index + 2]
    return "\n".join(kept + [line for line in lines if re.match(r"[\w.]+Error\b", line)][-1:])


def exits_of(log):
    """The lines of a Celery process's log that say it stopped on an error."""
    return [line for line in log.splitlines() if "Unrecoverable error" in line][:3]


def figures(record, processes):
    timings = record.timings
    span = record.ended - record.started
    phase_of = phase_function(record)
    per_kind = {kind: summary([s for k, _at, s, _e in timings if k == kind]) for kind in KINDS}
    errors_by_phase, requests_by_phase = defaultdict(int), defaultdict(int)
    for _kind, at, seconds, error in timings:
        requests_by_phase[phase_of(at, seconds)] += 1
        if error is not None:
            errors_by_phase[phase_of(at, seconds)] += 1
    result = {
        "seconds": span, "requests": len(timings), "requests_per_second": len(timings) / span,
        "kinds": per_kind, "errors": len(record.errors),
        "errors_by_phase": dict(errors_by_phase), "requests_by_phase": dict(requests_by_phase),
        "first_errors": [
            {"kind": k, "at_s": round(at - record.started, 2), "url": url, "what": what}
            for k, at, url, what in record.errors[:10]
        ],
        "process_exits": record.exits,
        "database_connections": record.connections,
        "stars": len(record.stars), "sends": len(record.sends),
        "server_errors": server_errors(processes.output("daphne"))[0],
        "server_tracebacks": list(server_errors(processes.output("daphne"))[1].values()),
        "worker_failures": exits_of(processes.output("worker")),
    }  # fmt: skip
    if record.outage:
        result["redis_down"] = [round(t - record.started, 2) for t in record.outage]
    return result


# --- the run ------------------------------------------------------------------------------------


def setup_django(redis_url):
    os.environ["DJANGO_SETTINGS_MODULE"] = "webmail.settings_test"
    os.environ["TEST_REDIS_URL"] = redis_url
    use_bench_database(False, "bench_load")
    import django

    django.setup()
    import logging

    from django.test.utils import setup_databases

    # aiosmtpd's line per command, and its warning of its own deprecated API at each login
    logging.getLogger("mail.log").setLevel(logging.ERROR)

    return setup_databases(verbosity=0, interactive=False)


def run(args, redis_server):
    from mailbox.testing.servers import MailWorld

    results = {"load_average_start": os.getloadavg(), "users": args.users,
               "messages": args.messages, "think_s": args.think,
               "redis_restart": args.redis_restart}  # fmt: skip
    with MailWorld() as world:
        started = time.monotonic()
        addresses = make_users(world, args.users, args.messages)
        results["setup_s"] = time.monotonic() - started
        processes = Processes()
        try:
            base = processes.start_all()
            record = drive(args, base, addresses, redis_server, processes)
            phase_of = phase_function(record)
            results.update(figures(record, processes))
            waited, waiting, queued = settle(args.settle)
            results.update(settle_s=waited, outbox_waiting=waiting, changes_queued=queued)
            results["stars_on_server"], results["stars_wrong"] = check_stars(
                world, addresses, record, phase_of
            )
            results["sends_delivered"], results["sends_missing"] = check_sends(
                world, record, phase_of
            )
        finally:
            processes.stop()
            if args.logs:
                for name in processes.running:
                    Path(args.logs, f"load-{name}.log").write_text(processes.output(name))
    results["load_average_end"] = os.getloadavg()
    return results


def ms(figure, key="median"):
    value = figure.get(key)
    return "-" if value is None else f"{value:.0f}"


def report(r):
    load = f"{r['load_average_start'][0]:.2f} -> {r['load_average_end'][0]:.2f}"
    print(f"load: {r['users']} users, {r['messages']} messages each, think <= {r['think_s']} s, "
          f"PostgreSQL, load average {load}; set up in {r['setup_s']:.0f} s")  # fmt: skip
    print(
        f"{r['requests']} requests in {r['seconds']:.1f} s: "
        f"{r['requests_per_second']:.1f} per second; errors: {r['errors']} (goal 0)"
    )
    print(f"{'kind':<10} {'count':>7} {'p50 ms':>8} {'p95 ms':>8}")
    for kind, figure in r["kinds"].items():
        if figure["n"]:
            print(f"{kind:<10} {figure['n']:>7} {ms(figure):>8} {ms(figure, 'p95'):>8}")
    if r.get("redis_down"):
        down = r["redis_down"]
        print(f"Redis down from {down[0]:.1f} s to {down[1]:.1f} s")
        for phase in ("before", "during", "after"):
            print(
                f"  {phase:<7} requests {r['requests_by_phase'].get(phase, 0):>6}, "
                f"errors {r['errors_by_phase'].get(phase, 0)}"
            )
    pg = r["database_connections"]
    held = ", ".join(f"{name} {count}" for name, count in sorted(pg["peaks"].items()))
    print(f"PostgreSQL connections, most at once: {held}; the whole server "
          f"{pg['server_peak']} of max_connections {pg['max_connections']}")  # fmt: skip
    for name, at, code in r["process_exits"]:
        print(f"the {name} exited at {at} s (code {code}); started again, as compose would")
    print(
        f"afterwards: waited {r['settle_s']:.0f} s; outbox rows still waiting "
        f"{r['outbox_waiting']}, flag changes still queued {r['changes_queued']}"
    )
    for label, key in (("stars on Dovecot as asked", "stars_on_server"),
                       ("sends in the recipient's Inbox", "sends_delivered")):  # fmt: skip
        parts = ", ".join(f"{phase} {checked - bad}/{checked}"
                          for phase, (checked, bad) in sorted(r[key].items()))  # fmt: skip
        print(f"{label}: {parts or 'none'}")
    for line in r["stars_wrong"] + r["sends_missing"]:
        print(f"  lost: {line}")
    for error in r["first_errors"]:
        print(f"  error at {error['at_s']} s: {error['kind']} {error['url']}: {error['what']}")
    for key, count in r["server_errors"].items():
        print(f"  daphne answered 500 {count} times: {key}")
    for line in r["worker_failures"]:
        print(f"  worker: {line}")
    if r["server_tracebacks"] and r["errors"]:
        print("the first traceback of each:", *r["server_tracebacks"], sep="\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--messages", type=int, default=300, help="in each user's Inbox")
    parser.add_argument("--think", type=float, default=0.5,
                        help="most seconds a user pauses between two requests")  # fmt: skip
    parser.add_argument("--send-every", type=float, default=5, help="rounds per send, on average")
    parser.add_argument("--redis-restart", action="store_true")
    parser.add_argument("--down", type=float, default=5, help="seconds Redis stays down")
    parser.add_argument("--settle", type=float, default=120,
                        help="seconds to wait for the outbox and flags afterwards")  # fmt: skip
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--logs", help="a directory to keep daphne's, the worker's, beat's logs")
    args = parser.parse_args()
    redis_server = PrivateRedis()
    try:
        old_config = setup_django(redis_server.url)
        from django.test.utils import teardown_databases

        try:
            results = run(args, redis_server)
        finally:
            from django.db import connections

            connections.close_all()
            teardown_databases(old_config, verbosity=0)
    finally:
        redis_server.remove()
    report(results)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
