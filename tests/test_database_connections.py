"""The web process keeps no database connection between requests (Django's docs: no persistent
connections under ASGI). daphne runs each request in a thread of its own, so a kept connection
was never used again: bench/load.py saw 10 users make daphne hold 54 PostgreSQL connections,
and 50 users exhaust the server's 100. The worker and beat keep theirs (one thread each)."""

import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from tests.running_app import Client, Daphne, wait_until

ROOT = Path(__file__).resolve().parent.parent


def production_conn_max_age(module):
    """CONN_MAX_AGE of the production settings once ``module`` is imported, in a new process."""
    env = {"PATH": os.environ["PATH"], "WEBMAIL_ENV_FILE": os.devnull, "SECRET_KEY": "s" * 50,
           "WEBMAIL_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
           "DATABASE_URL": "postgres://webmail:pw@127.0.0.1:5432/webmail"}  # fmt: skip
    code = (f"import {module}\nfrom django.conf import settings\n"
            "print(settings.DATABASES['default']['CONN_MAX_AGE'])")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=True)  # fmt: skip
    return int(result.stdout.split()[-1])


def test_the_web_process_keeps_no_connection_and_the_others_keep_theirs():
    assert production_conn_max_age("webmail.asgi") == 0
    assert production_conn_max_age("webmail.celery") == 60


def held_by(name):
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [name])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_daphne_holds_no_connection_after_many_requests_even_when_asked_to(alice):
    if connection.vendor != "postgresql":
        pytest.skip("counts PostgreSQL's connections")
    name = f"test-daphne-{uuid.uuid4().hex[:8]}"
    # as a bench asks its processes to keep their connections: daphne must not
    daphne = Daphne(PGAPPNAME=name, WEBMAIL_TEST_CONN_MAX_AGE="60")
    try:
        client = Client(daphne.url)
        assert client.login("alice", "alice-portal-pw")[0] == 302
        with ThreadPoolExecutor(10) as pool:
            statuses = list(pool.map(lambda _: client.get("/accounts/")[0], range(40)))
        assert set(statuses) == {200}
        assert wait_until(lambda: held_by(name) == 0, timeout=5), f"{held_by(name)} held"
    finally:
        daphne.stop()
