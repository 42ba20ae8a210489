"""The local full-text index: one small interface (``base.SearchIndex``), two engines.

PostgreSQL's full-text search (``postgres.py``: a tsvector per message with a GIN index, the
'webmail' configuration: 'simple' with unaccent) and SQLite's FTS5 (``sqlite.py``, the
embedded mode), chosen by the database vendor. Callers (mailbox.search, mailbox.sync) use
:func:`get_index` and never learn which one answers.
"""

from django.db import connection

from .base import Clause, SearchIndex, Term, words

__all__ = ["Clause", "SearchIndex", "Term", "get_index", "words"]


def get_index() -> SearchIndex:
    """The index of the database in use."""
    if connection.vendor == "postgresql":
        from .postgres import PostgresIndex

        return PostgresIndex()
    from .sqlite import SqliteIndex

    return SqliteIndex()
