"""The world of the tests: Alice and Bob, portal users, each with a mailbox on a real Dovecot.

The mail servers (Dovecot for IMAP/POP3/LMTP, aiosmtpd for SMTP) start once per session on free
ports, with their state in a temp dir: see mailbox/testing/servers.py.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mailbox.testing.servers import MailWorld

ROOT = Path(__file__).resolve().parent.parent
PASSWORDS = {"alice": "alice-mail-pw", "bob": "bob-mail-pw"}


@pytest.fixture(scope="session")
def mail_world():
    world = MailWorld().start()
    for name, password in PASSWORDS.items():
        world.dovecot.add_user(name, password)
    yield world
    world.stop()


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.com", "alice-portal-pw")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.com", "bob-portal-pw")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def account_form_data(world, name="alice", **overrides):
    """What a user types into the account form to add their mailbox on the test server."""
    data = {
        "display_name": name.title(),
        "email": f"{name}@example.com",
        "incoming_protocol": "imap",
        "incoming_host": "localhost",
        "incoming_security": "tls",
        "incoming_port": world.dovecot.ports["imaps"],
        "incoming_username": f"{name}@example.com",
        "incoming_password": PASSWORDS[name],
        "smtp_host": "localhost",
        "smtp_security": "starttls",
        "smtp_port": world.smtp.ports["submission"],
        "smtp_auth": "same",
    }
    data.update(overrides)
    return data


@pytest.fixture
def ca_upload(mail_world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    def make():
        return SimpleUploadedFile(
            "ca.pem", mail_world.dovecot.ca_pem.encode(), "application/x-pem-file"
        )

    return make


@pytest.fixture(scope="session", autouse=True)
def empty_task_queue():
    """Tasks queued by earlier runs (no worker consumes them in most tests) must not linger."""
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with empty caches: SQLite gives a rolled-back test's ids again, so a
    sanitized body (or a kept file's part tree) cached for an earlier test's message would be
    served for a new one with the same ids. The cache is Redis, shared with the queue and the
    channel layer: a new generation of keys rather than emptying it."""
    from mailbox.sources.local import _scanned
    from mailbox.sync.pool import POOL
    from mailbox.testing.cache_keys import next_generation

    next_generation()
    _scanned.cache_clear()
    POOL.close_all()  # a pooled IMAP session of an earlier test's account (the same id again)
    yield
    POOL.close_all()


@pytest.fixture
def daphne(transactional_db):
    """The webmail served by a real daphne on this test's (committed) database: its ``url``;
    ``Client(daphne.url)`` (tests/running_app.py) talks to it as a browser would."""
    from tests.running_app import Daphne

    server = Daphne()
    yield server
    server.stop()


@pytest.fixture
def celery_worker():
    """A real Celery worker (one process, solo pool) on this test's database and task queue:
    tests that use it need ``django_db(transaction=True)``."""
    from tests.running_app import process_env

    command = [sys.executable, "-m", "celery", "-A", "webmail", "worker", "-l", "warning",
               "--concurrency", "1", "--pool", "solo", "-n", f"test-{os.getpid()}@%h"]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=process_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    yield process
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
