"""The index on SQLite: the FTS5 table ``mailbox_fulltext`` (subject, names, attachments, body;
the unicode61 tokenizer with diacritics removed), its rowid the message's id.

FTS5 has no foreign keys: the migration's trigger deletes a message's row with its
SearchEntry, and a header pass first deletes any row left under a reused id."""

import dataclasses

from django.db import connection
from django.db.models import BigIntegerField, F, Func, Q
from django.db.models.expressions import RawSQL
from django.db.models.lookups import In

from .base import MISSING, SearchIndex

# matches (in every mailbox: FTS5 counts them from its index) up to which the messages are read
# from the index's list of matches rather than by walking the folder newest first
DRIVE_UP_TO = 2000
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

    def filter(self, clauses):
        """SQLite reads the messages of ``id IN (matches)`` from the list of matches, one
        search by id each, and then sorts them by date: for a word in most of the mail, every
        message of the folder read and sorted (0.2-0.35 s at 60,000 matches) for a page of 50.
        So the matches are read first, up to DRIVE_UP_TO + 1: as many, and the folder's date
        index is walked instead, newest first, each message looked up in the list, stopping when
        the page is full (the unary ``+`` keeps the id out of SQLite's choice of index, its
        documented way of steering the planner); fewer, and the messages are read from the list
        (asked again as a subquery: given as values, SQLite walks the whole date index instead,
        33 ms rather than 7 for a phrase's 1,000 at 100,000)."""
        if self._few(clauses) is not None:
            return Q(pk__in=self.matching(clauses))
        walked = Func(F("pk"), template="+%(expressions)s", output_field=BigIntegerField())
        return Q(In(walked, self.matching(clauses)))

    def _few(self, clauses):
        """The ids of the entries (of every mailbox) matching, or None past DRIVE_UP_TO. The
        words as whole words first: a prefix ("garden*") makes FTS5 merge the lists of every
        word it starts (20 ms for a word in 99,000 messages), while a whole word's list is read
        only as far as needed."""
        whole = [tuple(dataclasses.replace(term, prefix=False) for term in clause)
                 for clause in clauses]  # fmt: skip
        if whole != clauses and len(self.ids(whole, DRIVE_UP_TO + 1)) > DRIVE_UP_TO:
            return None
        found = self.ids(clauses, DRIVE_UP_TO + 1)
        return found if len(found) <= DRIVE_UP_TO else None

    def ids(self, clauses, up_to):
        """The ids of up to ``up_to`` entries (of every mailbox) matching: FTS5 reads its index
        alone, as far as needed (0.2 ms for 2,001 of a word's 99,000)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT rowid FROM mailbox_fulltext WHERE mailbox_fulltext MATCH %s LIMIT %s",
                [match(clauses), up_to],
            )
            return [row[0] for row in cursor.fetchall()]

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
