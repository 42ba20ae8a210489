"""The index on PostgreSQL: a tsvector per message (``SearchEntry.document``, GIN-indexed) in the
'webmail' text search configuration the migration makes ('simple' with unaccent).

The subject weighs A, the names and addresses D, attachment names B, the body D. Every text is
cut into words at ASCII punctuation first, as FTS5 cuts it, so that "bob@example.com" is found
as "bob", "example" or the phrase of the three, on both databases."""

import contextlib
import json

from django.contrib.postgres.search import SearchQuery
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL

from mailbox.models import SearchEntry

from .base import MISSING, SearchIndex

CONFIG = "webmail"
DRIVE_UP_TO = 2000  # matches expected, up to which the GIN index's list of them is read whole
# ASCII punctuation, taken out before PostgreSQL's parser sees the text: its parser makes one
# token of "plan.pdf", "bob@example.com" or "www.example.org/page", which a query made of words
# (fulltext.words) never matches; FTS5's tokenizer splits them into words, and so do we here.
PUNCTUATION = "[!-/:-@[-`{-~]+"


def _words(sql):
    return f"regexp_replace({sql}, '{PUNCTUATION}', ' ', 'g')"


NAMES = "m.from_name || ' ' || m.from_address || ' ' || m.\"to\" || ' ' || m.cc"
HEADERS = (
    f"setweight(to_tsvector('{CONFIG}', {_words('m.subject')}), 'A')"
    f" || to_tsvector('{CONFIG}', {_words(NAMES)})"
)


BODY = (
    "UPDATE mailbox_searchentry e SET body_done = true, document ="  # noqa: S608
    f" {HEADERS} || setweight(to_tsvector('{CONFIG}', {_words('%s')}), 'B')"
    f" || to_tsvector('{CONFIG}', {_words('%s')})"
    " FROM mailbox_message m WHERE m.id = e.message_id AND e.message_id = %s"
)


class PostgresIndex(SearchIndex):
    vendor = "postgresql"

    def index_headers(self, where, params):
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO mailbox_searchentry (message_id, body_done, document)"  # noqa: S608
                f" SELECT m.id, false, {HEADERS} FROM mailbox_message m"
                f" WHERE ({where}) AND {MISSING} ON CONFLICT (message_id) DO NOTHING",
                params,
            )

    def index_body(self, message_id, attachments, body):
        with connection.cursor() as cursor:
            cursor.execute(BODY, [attachments, body, message_id])
            return cursor.rowcount > 0

    def index_bodies(self, rows):
        """One executemany: psycopg sends the statements in a pipeline, one round trip."""
        rows = [(attachments, body, message_id) for message_id, attachments, body in rows]
        if rows:
            with connection.cursor() as cursor:
                cursor.executemany(BODY, rows)

    def matching(self, clauses):
        # OFFSET 0 keeps the planner from folding this into the messages' join, where it
        # tested each message's words in turn (detoasting every one) instead of asking the GIN
        # index once (with planned(): 12 ms instead of 70 ms for a rare word, 3,000 messages)
        sql, params = _entries(clauses).query.sql_with_params()
        return RawSQL(f"{sql} OFFSET 0", params)  # noqa: S611 (Django's SQL, bound params)

    def filter(self, clauses):
        """The GIN index read once for the list of matches (:meth:`matching`) when the
        planner expects at most DRIVE_UP_TO of them; past that the planner is left to join
        the matches to the messages as it sees best: with the statistics of the words
        (after_bulk) it walks the folder's date index newest first and tests each message's
        words, stopping at the page (95 ms for the first 1,001 of 99,000 matches, where the
        list of all 99,000 and their sort took 230-510 ms)."""
        if self.expected(clauses) <= DRIVE_UP_TO:
            return Q(pk__in=self.matching(clauses))
        return Q(pk__in=_entries(clauses))

    def expected(self, clauses):
        """How many entries (of every mailbox) the planner expects to match: its estimate
        from the statistics of the words, not a count (a plan, no row read)."""
        sql, params = _entries(clauses).query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return plan[0]["Plan"]["Plan Rows"]

    def after_bulk(self):
        """Without statistics on the entries the planner guesses how many messages a word
        matches, and guessed wrong by a factor of 10 and more (a nested loop of seconds)."""
        if not connection.in_atomic_block:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE mailbox_searchentry")

    @contextlib.contextmanager
    def planned(self):
        """The planner kept off sequential scans: the words of a message are stored out of
        line (TOAST), which a scan's cost leaves out, so a rare word was looked for by reading
        every message's words (200 ms at 10,000 messages) instead of in the GIN index (1 ms),
        and a common one's list of matches by reading all of them (2.9 s at 100,000, against
        0.23 s from the index). Still needed with :meth:`filter`'s choice: the list is read
        whole where the planner expects few matches, and a deep page may ask for most. The
        principled fix, a higher COST for ts_match_vq (the @@ test), is a change to a
        built-in function that only a superuser may make."""
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            yield

    def size_bytes(self):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_total_relation_size('mailbox_searchentry')")
            return cursor.fetchone()[0]


def _entries(clauses):
    query = SearchQuery(tsquery(clauses), search_type="raw", config=CONFIG)
    return SearchEntry.objects.filter(document=query).values("message_id")


def tsquery(clauses):
    """The clauses in to_tsquery's syntax: each word quoted (words are letters and digits, so
    quoting needs no escape); to_tsquery then lowercases and unaccents them as it indexed."""
    return " & ".join("(" + " | ".join(_term(term) for term in clause) + ")" for clause in clauses)


def _term(term):
    quoted = [f"'{word}'" for word in term.words]
    if term.prefix:
        quoted[-1] += ":*"
    return "(" + " <-> ".join(quoted) + ")"
