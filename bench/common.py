"""What the bench scripts share."""

import os
import tempfile


def use_bench_database(sqlite, name):
    """Point TEST_DATABASE_URL at a throwaway database: a temporary SQLite file, or ``name`` on
    the PostgreSQL server of TEST_DATABASE_URL (so that tests running meanwhile keep theirs)."""
    if sqlite:
        os.environ["TEST_DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
        return
    base = os.environ.get(
        "TEST_DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/postgres"
    )
    os.environ["TEST_DATABASE_URL"] = base.rsplit("/", 1)[0] + "/" + name
