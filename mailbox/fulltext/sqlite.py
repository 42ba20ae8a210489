"""The index on SQLite: the FTS5 table ``mailbox_fulltext`` (subject, names, attachments, body;
the unicode61 tokenizer with diacritics removed), its rowid the message's id.

FTS5 has no foreign keys: the migration's trigger deletes a message's row with its
SearchEntry, and a header pass first deletes any row left under a reused id."""

from django.db import connection
from django.db.models.expressions import RawSQL

from .base import MISSING, SearchIndex

NAMES = "m.from_name || ' ' || m.from_address || ' ' || m.\"to\" || ' ' || m.cc"


class SqliteIndex(SearchIndex):
    vendor = "sqlite"

    def index_headers(self, where, params):
        missing = f"FROM mailbox_message m WHERE ({where}) AND {MISSING}"
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM mailbox_fulltext WHERE rowid IN (SELECT m.id {missing})",  # noqa: S608
                params,
            )
            cursor.execute(
                "INSERT INTO mailbox_fulltext (rowid, subject, names)"  # noqa: S608
                f" SELECT m.id, m.subject, {NAMES} {missing}",
                params,
            )
            cursor.execute(
                f"INSERT INTO mailbox_searchentry (message_id, body_done) SELECT m.id, 0 {missing}",  # noqa: S608
                params,
            )

    def index_body(self, message_id, attachments, body):
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE mailbox_searchentry SET body_done = 1 WHERE message_id = %s", [message_id]
            )
            if cursor.rowcount == 0:
                return False
            cursor.execute(
                "UPDATE mailbox_fulltext SET attachments = %s, body = %s WHERE rowid = %s",
                [attachments, body, message_id],
            )
            return True

    def matching(self, clauses):
        return RawSQL(
            "SELECT rowid FROM mailbox_fulltext WHERE mailbox_fulltext MATCH %s", [match(clauses)]
        )

    def size_bytes(self):
        with connection.cursor() as cursor:
            try:  # the dbstat table is compiled in most builds, not all
                cursor.execute(
                    "SELECT SUM(pgsize) FROM dbstat"
                    " WHERE name LIKE 'mailbox_fulltext%%' OR name LIKE 'mailbox_searchentry%%'"
                )
            except Exception:  # noqa: BLE001 (sqlite3.OperationalError: no such table)
                return 0
            return cursor.fetchone()[0] or 0


def match(clauses):
    """The clauses in FTS5's query syntax: every word a quoted string (words are letters and
    digits: no quote to double), a phrase one string, a prefix a string followed by ``*``."""
    return " AND ".join(
        "(" + " OR ".join(_term(term) for term in clause) + ")" for clause in clauses
    )


def _term(term):
    return '"' + " ".join(term.words) + '"' + ("*" if term.prefix else "")
