"""What the bench scripts share."""

import os
import tempfile


def use_bench_database(sqlite, name):
    """Point TEST_DATABASE_URL at a throwaway database: a temporary SQLite file, or
    ``<name>_<process id>`` on the PostgreSQL server of TEST_DATABASE_URL (Django's test
    runner makes it as ``test_<name>_<process id>``), so that tests running meanwhile keep
    theirs and two runs of a script at once do not drop each other's."""
    if sqlite:
        os.environ["TEST_DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
        return
    base = os.environ.get(
        "TEST_DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/postgres"
    )
    os.environ["TEST_DATABASE_URL"] = f"{base.rsplit('/', 1)[0]}/{name}_{os.getpid()}"


def sqlite_on_disk():
    """Django's test runner puts a SQLite test database in memory; the embedded mode keeps it in
    a file (WAL, synced at checkpoints), which is what a figure must measure. Call after
    django.setup() and before setup_databases(): the test database is then that file."""
    from django.db import connection

    if connection.vendor == "sqlite":
        connection.settings_dict["TEST"]["NAME"] = connection.settings_dict["NAME"]
