"""What every engine of the index does, and the query shape they share.

A query is a list of :class:`Clause` that must all match (AND); a clause matches when any of its
:class:`Term` does (OR). A term is a run of words: one word, or a phrase (the words next to each
other, in order); ``prefix`` makes its last word match as the start of a word. Words are letters
and digits only (:func:`words`), so that nothing a user types reaches an engine's query syntax
(FTS5's NEAR, ``*``, ``:``, ``^``, parentheses; tsquery's ``&|!<->``): each engine writes the
words into its own syntax, quoted.
"""

import contextlib
import dataclasses
import re

from django.db.models import Q

_WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 32  # per term: a pasted paragraph is a phrase, but a bounded one


def words(text: str) -> tuple[str, ...]:
    """The words of ``text`` as the engines split them: runs of letters and digits."""
    return tuple(_WORD.findall(text))[:MAX_WORDS]


@dataclasses.dataclass(frozen=True)
class Term:
    words: tuple[str, ...]
    prefix: bool = False


Clause = tuple[Term, ...]


class SearchIndex:
    """The operations the search and the background pass need. Message ids are our ids."""

    vendor = ""

    def index_headers(self, where: str, params: list) -> None:
        """Add the headers of the messages matching ``where`` (SQL on ``mailbox_message m``)
        that are not indexed yet: subject, names and addresses (From, To, Cc)."""
        raise NotImplementedError

    def index_body(self, message_id: int, attachments: str, body: str) -> bool:
        """Add a message's attachment names and body text (replacing any added before) and
        mark its text done. False when the message (or its entry) is gone."""
        raise NotImplementedError

    def index_bodies(self, rows) -> None:
        """:meth:`index_body` for each ``(message_id, attachments, body)`` of ``rows``; an
        engine may send them at once (a round trip each costs more than the work)."""
        for message_id, attachments, body in rows:
            self.index_body(message_id, attachments, body)

    def matching(self, clauses: list[Clause]):
        """Something ``Message.objects.filter(pk__in=...)`` takes: the ids of the messages
        matching every clause. ``clauses`` is not empty; each clause has terms with words."""
        raise NotImplementedError

    def filter(self, clauses) -> Q:
        """The messages matching every clause, as a filter on ``Message`` rows; an engine may
        write it in the form its planner reads best. The same arguments as :meth:`matching`."""
        return Q(pk__in=self.matching(clauses))

    def after_bulk(self) -> None:
        """After many entries were written: refresh what the planner knows; nothing by default."""

    def planned(self):
        """A context for the queries that use :meth:`matching`, where an engine can steer its
        planner; nothing by default."""
        return contextlib.nullcontext()

    def size_bytes(self) -> int:
        """The index's size on disk (tables and indexes), in bytes."""
        raise NotImplementedError

    # --- shared ----------------------------------------------------------------------------

    def index_headers_for_ids(self, ids) -> None:
        ids = [int(pk) for pk in ids]
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            self.index_headers(f"m.id IN ({', '.join(['%s'] * len(chunk))})", chunk)

    def index_headers_for_uids(self, folder_id: int, uidvalidity: int, uids) -> None:
        """The messages just inserted with ``uids``: a range of the (folder, uidvalidity, uid)
        index, so that each batch of a sync reads its own rows, not the whole folder."""
        uids = [uid for uid in uids if uid is not None]
        if uids:
            self.index_headers(
                "m.folder_id = %s AND m.uidvalidity = %s AND m.uid BETWEEN %s AND %s",
                [folder_id, uidvalidity, min(uids), max(uids)],
            )

    def index_headers_for_folder(self, folder_id: int) -> None:
        """Catch up: every message of the folder without an entry (the background pass)."""
        self.index_headers("m.folder_id = %s", [folder_id])


MISSING = "NOT EXISTS (SELECT 1 FROM mailbox_searchentry e WHERE e.message_id = m.id)"
