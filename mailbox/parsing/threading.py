"""Which conversation each new message joins: a pure planner, run as mail is cached.

The rules, after JWZ's threading algorithm (https://www.jwz.org/doc/threading.html), kept
incremental so that a list never threads at reading time:

1. The Message-IDs a message names (its own, its parent's, its References' first: the root)
   are *keys*. All keys of one message belong to its conversation; a key already known joins
   the message to the conversation it points to. A reply cached before the message it answers
   has already put that message's id among the keys, so the parent joins the child's
   conversation when it comes.
2. When a message links conversations that were apart (two replies cached before their common
   parent), they merge: the existing conversation with the smallest id absorbs the others, and
   a new message never renames an existing conversation (fewer rows to rewrite).
3. Subject fallback, for mailers that drop References: a message with no References and no
   In-Reply-To whose subject had a reply or forward prefix ("Re:", "Fwd:", "AW:", ...) joins the
   latest conversation of the same normalized subject, if that conversation's newest message is
   within ``SUBJECT_WINDOW`` of it. Without the window a recurring subject ("Re: Invoice", "Re:
   Weekly report") would glue months of unrelated mail into one conversation (JWZ's known
   weakness); without the prefix rule two unrelated mails both called "Lunch" would join.

Keys are 64-bit hashes (signed, as a database BIGINT), so that the table that remembers them has
fixed-size rows whatever a hostile header holds. The caller looks the batch's keys up in one
query, calls ``plan``, and writes what it returns.
"""

import datetime
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = [
    "SUBJECT_WINDOW",
    "Known",
    "Mail",
    "Plan",
    "id_key",
    "keys_of",
    "normalize_subject",
    "plan",
    "subject_key",
    "thread_id_for",
]

SUBJECT_WINDOW = datetime.timedelta(days=30)

# "Re:", "RE[2]:", "Fwd:", "AW:", "Antw:", "SV:", "VS:", "WG:", "TR:", "Rif:", "Odp:", "Res:" ...
_PREFIX = re.compile(
    r"^\s*(?:re|fw|fwd|aw|antw|wg|sv|vs|tr|rif|r|odp|res|enc|ynt|vl|rv)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:：]",
    re.IGNORECASE,
)
_LIST_TAG = re.compile(r"^\s*\[[^\]]{1,40}\]")  # "[dev-list] ..."
MAX_SUBJECT = 300  # characters of the normalized subject that count


def normalize_subject(subject: str) -> tuple[str, bool]:
    """(the subject without reply/forward prefixes and list tags, lower case, spaces collapsed;
    whether a reply or forward prefix was removed)."""
    text, replied = subject, False
    for _ in range(20):  # bounded: "Re: Re: Re: ..." of a hostile header
        match = _PREFIX.match(text)
        if match is not None:
            text, replied = text[match.end() :], True
            continue
        match = _LIST_TAG.match(text)
        if match is None:
            break
        text = text[match.end() :]
    return " ".join(text.lower().split())[:MAX_SUBJECT], replied


def _hash(text: str) -> int:
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def id_key(message_id: str) -> int:
    """The key of a Message-ID (compared as written, without angle brackets)."""
    return _hash("id:" + message_id)


def subject_key(normalized: str) -> int:
    return _hash("subject:" + normalized)


# Thread ids fit in a JavaScript number (the page carries them in data-thread).
_THREAD_BITS = (1 << 53) - 1


def thread_id_for(account_id: int, message_id: str, fallback: int) -> int:
    """The id of a conversation that ``message_id`` starts: derived from it, so that the
    caller can store it with the row in one write (a COPY), before the row has a primary key.
    Mixed with the account: the same message in two accounts starts two conversations.
    ``fallback`` (a positive int, e.g. random) for a message without a Message-ID."""
    if not message_id:
        return fallback & _THREAD_BITS or 1
    return _hash(f"thread:{account_id}:{message_id}") & _THREAD_BITS or 1


@dataclass(frozen=True, slots=True)
class Mail:
    """What threading reads of a message. ``parents``: its References then In-Reply-To. Its
    keys are computed once, here (a sync threads 100,000 of them)."""

    message_id: str
    parents: tuple[str, ...]
    subject: str
    date: datetime.datetime
    id_keys: tuple[int, ...] = ()  # of its own id and its parents'
    subject_key: int | None = None  # None: no subject to join by
    replied: bool = False  # its subject had a reply or forward prefix

    @classmethod
    def of(cls, message_id, in_reply_to, references, subject, date):
        """From the cached columns (``references`` space-separated)."""
        parents = tuple(references.split())
        if in_reply_to and in_reply_to not in parents:
            parents = (*parents, in_reply_to)
        keys = tuple(id_key(item) for item in _linking_ids(message_id, parents) if item)
        normalized, replied = normalize_subject(subject)
        key = subject_key(normalized) if normalized else None
        return cls(message_id, parents, subject, date, keys, key, replied)


def _linking_ids(message_id, parents):
    """The ids a message links by: its own, its parent's and its conversation's root (the
    first of its References). Enough to join a chain cached in any order (each message of it
    names the root, or a parent that names it), and a sync writes a few keys a message rather
    than up to 50."""
    return dict.fromkeys((message_id, *parents[:1], *parents[-1:]))


@dataclass(frozen=True, slots=True)
class Known:
    """A key already stored: the conversation it points to; for a subject key, the date of
    that conversation's newest message of that subject."""

    thread: int
    date: datetime.datetime | None = None


@dataclass
class Plan:
    threads: list[int]  # the conversation of each mail, in the order given
    new_keys: dict[int, Known] = field(default_factory=dict)  # to insert
    changed_keys: dict[int, Known] = field(default_factory=dict)  # stored subject keys to update
    merges: dict[int, int] = field(default_factory=dict)  # stored thread -> the one it joins


def keys_of(mail: Mail) -> list[int]:
    """Every key a mail reads or writes (for the caller's one lookup)."""
    return [*mail.id_keys, mail.subject_key] if mail.subject_key is not None else [*mail.id_keys]


class _Union:
    """Union-find over conversation ids; a stored conversation always wins over a new one, and
    the smaller id among stored ones."""

    def __init__(self, stored: Iterable[int]):
        self.parent: dict[int, int] = {}
        self.stored = set(stored)

    def find(self, item: int) -> int:
        root = item
        while (up := self.parent.get(root, root)) != root:
            root = up
        while item != root:  # path compression
            self.parent[item], item = root, self.parent.get(item, item)
        return root

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            keep, drop = sorted((a, b), key=lambda t: (t not in self.stored, t))
            self.parent[drop] = keep


def plan(
    mails: list[Mail],
    known: dict[int, Known],
    new_thread: Callable[[int, Mail], int],
    window: datetime.timedelta = SUBJECT_WINDOW,
) -> Plan:
    """The conversation of each of ``mails`` (a batch being cached), given the stored keys
    among theirs (``known``), and what to write back. ``new_thread(index, mail)`` names the
    conversation a mail would start alone."""
    union = _Union(entry.thread for entry in known.values())
    starts = [new_thread(index, mail) for index, mail in enumerate(mails)]
    batch_keys: dict[int, int] = {}
    for mail, start in zip(mails, starts, strict=True):
        for key in mail.id_keys:
            if key in known:
                union.union(start, known[key].thread)
            elif key in batch_keys:
                union.union(start, batch_keys[key])
            else:
                batch_keys[key] = start
    subjects = _subject_pass(mails, starts, known, union, window)
    result = Plan(threads=[union.find(start) for start in starts])
    for key, start in batch_keys.items():
        result.new_keys[key] = Known(union.find(start))
    for key, (thread, date) in subjects.items():
        target = result.changed_keys if key in known else result.new_keys
        target[key] = Known(union.find(thread), date)
    for thread in union.stored:
        if union.find(thread) != thread:
            result.merges[thread] = union.find(thread)
    return result


def _subject_pass(mails, starts, known, union, window):
    """Rule 3, oldest first; returns the subject keys to write: {key: (thread, newest date)}."""
    table = {key: (entry.thread, entry.date) for key, entry in known.items() if entry.date}
    written = {}
    for index in sorted(range(len(mails)), key=lambda i: mails[i].date):
        mail = mails[index]
        key = mail.subject_key
        if key is None:
            continue
        found = table.get(key)
        if found and mail.replied and not mail.parents and abs(mail.date - found[1]) <= window:
            union.union(starts[index], found[0])
        if found is None or mail.date >= found[1]:
            table[key] = written[key] = (starts[index], mail.date)
    return written
