"""The webmail as it runs: processes of ours (daphne, a Celery worker) started by a test on this
test's database, and a small HTTP client that logs in and posts forms as a browser does.

Tests that use them need the data committed: ``pytest.mark.django_db(transaction=True)``.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

from django.db import connection

from mailbox.testing.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent


def process_env(**extra):
    """The environment of a process of ours that uses this test's database (``extra`` may
    name another, as TEST_DATABASE_URL)."""
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        url = f"sqlite:///{settings['NAME']}"
    else:
        url = (f"postgres://{settings['USER']}:{settings['PASSWORD']}@{settings['HOST']}:"
               f"{settings['PORT']}/{settings['NAME']}")  # fmt: skip
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "webmail.settings_test",
            "TEST_DATABASE_URL": url, "PYTHONPATH": str(ROOT), **extra}  # fmt: skip


class Daphne:
    """daphne serving webmail.asgi on a free port of 127.0.0.1, as `make run` does."""

    def __init__(self, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
                   "webmail.asgi:application"]  # fmt: skip
        # A file, not a pipe: nobody reads a pipe while the test runs, and once its 64 KiB are
        # full of access log lines daphne blocks on the next one and stops answering. Open as
        # long as this object lives: output() reads it, even after stop().
        self.log = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=process_env(**env), stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            wait_for_port(self.port, timeout=30)
        except OSError:
            self.stop()
            raise RuntimeError(f"daphne did not start: {self.output()}") from None

    def output(self):
        self.process.wait(timeout=10)
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


class Client:
    """A cookie-keeping HTTP client: ``get``/``post`` return (status, headers, body text);
    ``post`` sends the CSRF token the site set, as a form on its pages would."""

    def __init__(self, base):
        self.base, self.jar = base, CookieJar()
        handlers = [urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()]
        self.opener = urllib.request.build_opener(*handlers)

    def cookie(self, name):
        return next((c.value for c in self.jar if c.name == name), None)

    def request(self, method, path, data=None, headers=None):
        body = urlencode(data, doseq=True).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body, method=method,
                                         headers={"Referer": self.base + "/", **(headers or {})})  # fmt: skip
        try:
            with self.opener.open(request, timeout=30) as response:
                text = response.read().decode(errors="replace")  # a download may be binary
                return response.status, dict(response.headers), text
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode(errors="replace")

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, data=None, csrf=True, **kwargs):
        if csrf:
            if self.cookie("csrftoken") is None:
                self.get("/login/")
            data = {**(data or {}), "csrfmiddlewaretoken": self.cookie("csrftoken")}
        return self.request("POST", path, data=data or {}, **kwargs)

    def login(self, username, password, **extra):
        self.get("/login/")
        return self.post("/login/", {"username": username, "password": password, **extra})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are answers to look at (a 302 to the login page says a lot)."""

    def redirect_request(self, *args, **kwargs):
        return None


def wait_until(condition, timeout=20.0, step=0.1):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


class Worker:
    """A Celery worker (one process, solo pool) on this test's database; ``beat=True`` runs
    beat's schedule in it too (its state file in a temp dir). ``env``: settings from the
    environment, as for Daphne. ``kill()``: SIGKILL, as the OOM killer or a power cut would."""

    def __init__(self, name, beat=False, **env):
        self.state = tempfile.TemporaryDirectory(prefix="webmail-worker-")
        command = [sys.executable, "-m", "celery", "-A", "webmail", "worker", "-l", "warning",
                   "--concurrency", "1", "--pool", "solo", "-n", f"{name}-{os.getpid()}@%h"]  # fmt: skip
        if beat:
            command += ["--beat", "--schedule", os.path.join(self.state.name, "beat")]
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (a file, not a pipe: see Daphne)
        self.process = subprocess.Popen(command, cwd=ROOT, env=process_env(**env),
                                        stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)  # fmt: skip

    def output(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-4000:]

    def kill(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.state.cleanup()
