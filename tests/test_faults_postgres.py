"""PostgreSQL restarts under a running daphne (a private cluster: the shared one on 5432 is never
restarted). While it is down Alice's pages fail cleanly and at once: a 503 page that says to try
again, never a traceback, never a hang. Once it is back the same daphne serves them again, and
her session (kept in the database) is still good.
"""

import subprocess
import sys
import time

import pytest

from mailbox.testing.postgres_server import PostgresCluster, binaries
from tests.running_app import ROOT, Client, Daphne, process_env

pytestmark = [
    pytest.mark.servers,
    pytest.mark.skipif(binaries() is None, reason="PostgreSQL's server binaries are missing"),
]

SETUP = """
import django
django.setup()
from django.core.management import call_command
from django.contrib.auth.models import User
call_command("migrate", verbosity=0)
User.objects.create_user("alice", "alice@example.com", "alice-portal-pw")
"""


@pytest.fixture
def cluster():
    cluster = PostgresCluster().start()
    yield cluster
    cluster.close()


@pytest.fixture
def database_url(cluster):
    """A database of the webmail's on the private cluster, migrated, with Alice in it."""
    subprocess.run(["psql", cluster.url(), "-qc", "CREATE DATABASE webmail"], check=True,
                   capture_output=True)  # fmt: skip
    url = cluster.url("webmail")
    env = process_env(TEST_DATABASE_URL=url)
    done = subprocess.run([sys.executable, "-c", SETUP], cwd=ROOT, env=env, capture_output=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return url


@pytest.fixture
def web(database_url):
    server = Daphne(TEST_DATABASE_URL=database_url)
    yield server
    server.stop()


def timed_get(client, path):
    started = time.monotonic()
    status, headers, body = client.get(path)
    return status, headers, body, time.monotonic() - started


PAGES = ["/mail/", "/accounts/", "/login/"]


def test_while_postgresql_restarts_pages_answer_503_at_once_and_then_work_again(cluster, web):
    alice = Client(web.url)
    status, _headers, _body = alice.login("alice", "alice-portal-pw")
    assert status == 302
    assert alice.get("/accounts/")[0] == 200

    cluster.stop()
    for path in PAGES:
        status, headers, body, took = timed_get(alice, path)
        assert (path, status) == (path, 503), body[-1500:]
        assert took < 5, (path, took)
        assert "Temporarily unavailable" in body and "Traceback" not in body
        assert headers.get("Retry-After") == "30"

    cluster.start()  # the same daphne, not restarted
    assert alice.get("/accounts/")[0] == 200  # her session survived in the database
    for path in PAGES:
        status, _headers, body, _took = timed_get(alice, path)
        assert status in (200, 302), (path, status, body[-1500:])
    assert web.process.poll() is None


@pytest.mark.django_db(transaction=True)
def test_a_bug_is_still_a_500_while_the_database_answers():
    from django.test import RequestFactory

    from webmail.views import server_error

    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500 and "Retry-After" not in response
