"""The search box: Gmail-like operators, answered from the header cache and the IMAP server.

``parse_query`` turns what the user typed into a :class:`SearchQuery`; ``search_messages`` runs it
over one folder or a whole account and returns the matching cached messages, newest first.

Who answers what:
- Senders, recipients, subjects, dates and flags are answered by the cache, always. The cache is
  what the message list shows (a flag changed here and still on its way to the server included),
  so a message found by ``is:unread`` is one the list shows as unread.
- Free text must also reach the bodies: the account's message source searches them
  (``search_text``): an IMAP server by ``UID SEARCH TEXT`` under EXAMINE, mail kept here by
  reading it. The ids found are matched with the cached rows; the header filters still apply.
- Free text also matches the cached headers, so that with the server down a sender's name is
  still found; the result then says so in a sentence for a banner, never an error page.
"""

import dataclasses
import datetime
import re

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.connection import describe_error
from accounts.models import MailAccount

from . import actions, fulltext, listing
from .models import Message
from .sources import TextSearch, source_for_account
from .sync import index

MAX_QUERY_CHARS = 500
MAX_TERMS = 12  # each free-text term costs one SEARCH per folder
MAX_LIMIT = 1000
# matches counted one by one for the total; past this many it is estimated, as Gmail shows
# "about N" (counting 95,000 matches takes longer than finding the first page of them)
EXACT_TOTAL = 1000


class SearchError(ValueError):
    """A query that is not run; ``str(error)`` is a sentence for the user, in their language."""


@dataclasses.dataclass(frozen=True)
class SearchQuery:
    """What the user asked for. Every term must match (AND), as in Gmail."""

    text: tuple[str, ...] = ()  # words and "quoted phrases": headers and body text
    senders: tuple[str, ...] = ()  # from: (name or address)
    recipients: tuple[str, ...] = ()  # to: (To or Cc, name or address)
    subjects: tuple[str, ...] = ()  # subject:
    after: datetime.date | None = None  # after: this day or later
    before: datetime.date | None = None  # before: earlier than this day
    unread: bool | None = None  # is:unread True, is:read False (the last one typed wins)
    flagged: bool = False  # is:flagged, is:starred
    has_attachment: bool = False  # has:attachment
    scope: str | None = None  # in:all "all", in:folder "folder", None: the caller's default
    notes: tuple[str, ...] = ()  # sentences for the user about operators read as text
    either: tuple[tuple[str, ...], ...] = ()  # a OR b: one of each group (2 or more terms)
    excluded: tuple[str, ...] = ()  # -word, -"a phrase": none of these
    prefix: str | None = None  # the text term typed last, unquoted: matches words it starts
    folder_name: str | None = None  # in:Archive: that folder of the account

    @property
    def is_empty(self):
        return not any(
            (
                self.text,
                self.senders,
                self.recipients,
                self.subjects,
                self.after,
                self.before,
                self.either,
                self.excluded,
            )
        ) and (self.unread, self.flagged, self.has_attachment) == (None, False, False)


@dataclasses.dataclass(frozen=True)
class SearchResult:
    messages: list  # Message rows (folder selected), newest first, all confirmed by the server
    server_searched: bool  # the free text was searched on the server in every folder in scope
    problem: str | None  # why the server did not answer (show as a banner), or None
    truncated: bool  # more messages match than ``messages`` holds
    whole_account: bool  # the scope was the account, not one folder
    total: int = 0  # every match, across all pages (an estimate when ``estimated``)
    estimated: bool = False  # more than EXACT_TOTAL match: ``total`` is estimated ("about N")
    offset: int = 0  # where ``messages`` starts among them (0 for a page after a cursor)
    from_server: frozenset = frozenset()  # ids found by the server, not (yet) in the index:
    # in their place by date among the index's matches, each marked "searched on the server"
    progress: tuple[int, int] | None = None  # (text indexed, messages) in scope, when not all
    next_cursor: str | None = None  # ``after`` for the next page; None: this is the last one


# --- reading the query --------------------------------------------------------------------------

# name:"quoted value" | name:value | "quoted phrase" | word. An unterminated quote runs to the
# end; inside quotes \" and \\ stand for " and \ (the only way to search for a double quote).
_TOKEN = re.compile(
    r'(?P<name>[A-Za-z]+):(?:"(?P<quoted>(?:\\.|[^"\\])*)"?|(?P<value>[^\s"]+))'
    r'|"(?P<phrase>(?:\\.|[^"\\])*)"?'
    r'|(?P<word>[^\s"]+)'
)
_ESCAPE = re.compile(r'\\(["\\])')
# CR, LF, NUL and the other control characters: whitespace to us, never part of a term
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_DATE = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})")
_FLAG_WORDS = {
    "is": {"unread": ("unread", True), "read": ("unread", False),
           "flagged": ("flagged", True), "starred": ("flagged", True)},
    "has": {"attachment": ("has_attachment", True), "attachments": ("has_attachment", True)},
    "in": {"all": ("scope", "all"), "anywhere": ("scope", "all"), "folder": ("scope", "folder")},
}  # fmt: skip
_TERM_FIELDS = {"from": "senders", "to": "recipients", "subject": "subjects"}


def parse_query(text):
    """The :class:`SearchQuery` for what the user typed; :class:`SearchError` if it is too long
    (characters or words: every text word costs the server one SEARCH per folder).

    Operators: from: to: subject: after:YYYY-MM-DD before:YYYY-MM-DD (also YYYY/MM/DD, as Gmail
    writes them) is:unread is:read is:flagged is:starred has:attachment in:all in:folder. As in
    Gmail, anything else (an unknown operator, a date that is not one) is searched as text; for
    a date, ``notes`` also says so, since a search that silently finds nothing is puzzling."""
    text = _CONTROL.sub(" ", text or "")
    if len(text) > MAX_QUERY_CHARS:
        raise SearchError(
            _("The search is too long: at most %(count)d characters.") % {"count": MAX_QUERY_CHARS}
        )
    fields = {"text": [], "senders": [], "recipients": [], "subjects": [], "notes": [],
              "either": [], "excluded": []}  # fmt: skip
    reader = _TextReader(fields)
    for match in _TOKEN.finditer(text):
        quoted = match["quoted"] if match["quoted"] is not None else match["phrase"]
        value = _ESCAPE.sub(r"\1", quoted) if quoted is not None else match["value"] or ""
        _check_not_bare(match["name"], value, match["word"])
        if match["name"] is None:
            reader.read(match["word"], value, match.start(), match.end())
        else:
            reader.other()
            _read_operator(fields, match["name"], value)
    reader.finish(text)
    terms = sum(len(fields[name]) for name in ("text", "senders", "recipients", "subjects",
                                               "excluded"))  # fmt: skip
    terms += sum(len(group) for group in fields["either"])
    if terms > MAX_TERMS:
        raise SearchError(
            _("The search has too many words: at most %(count)d.") % {"count": MAX_TERMS}
        )
    return SearchQuery(**{name: _as_field(value) for name, value in fields.items()})


def _check_not_bare(name, value, word):
    """SearchError for ``from:`` (``to:``, ``subject:``) with nothing after it, or only an
    empty ``""``: read as text, the word "from" would match nearly every message."""
    if name is None and word and word.endswith(":"):
        name, value = word[:-1], ""
    if name is None or name.lower() not in _TERM_FIELDS or value.strip():
        return
    operator = name.lower() + ":"
    if operator == "subject:":
        raise SearchError(_("subject: needs a word after it, as in subject:invoice."))
    raise SearchError(
        _("%(operator)s needs a word or address after it, as in %(operator)szoe@example.org.")
        % {"operator": operator}
    )


def _as_field(value):
    if isinstance(value, list):
        value = [tuple(item) if isinstance(item, list) else item for item in value]
        return tuple(dict.fromkeys(value))  # duplicates gone
    return value


class _TextReader:
    """Free text, word by word: ``OR`` between two terms makes them alternatives, a leading
    ``-`` excludes a word or the phrase it touches, and the last bare word typed (no space or
    quote after it) is the prefix being typed."""

    def __init__(self, fields):
        self.fields = fields
        self.last = None  # (list the last term went to, its value) when it may take an OR
        self.joining = False  # an OR was read after it
        self.negate_at = None  # the end of a lone "-": the phrase starting there is excluded
        self.bare_end = None  # (end, value) of the last bare word

    def read(self, word, value, start, end):
        if word == "OR" and self.last is not None:
            self.joining = True
            return
        if word == "-":
            self.negate_at = end
            return
        negated = self.negate_at == start or (word is not None and word.startswith("-"))
        self.negate_at = None
        if word is not None:
            value = word[1:] if word.startswith("-") and len(word) > 1 else word
        value = " ".join(value.split())
        if not value:
            return
        if negated:
            self.fields["excluded"].append(value)
            self.last, self.joining = None, False
            return
        self._positive(value)
        self.bare_end = (end, value) if word is not None else None

    def _positive(self, value):
        if self.joining and self.last is not None:
            where, previous = self.last
            where.remove(previous)
            group = previous if isinstance(previous, list) else [previous]
            group.append(value)
            self.fields["either"].append(group)
            self.last = (self.fields["either"], group)
        else:
            self.fields["text"].append(value)
            self.last = (self.fields["text"], value)
        self.joining = False

    def other(self):
        self.last, self.joining, self.negate_at, self.bare_end = None, False, None, None

    def finish(self, text):
        if self.joining and self.last is not None:  # "a OR" at the end: OR was a word
            self.joining = False
            self._positive("OR")
        if self.bare_end is not None and self.bare_end[0] == len(text):
            self.fields["prefix"] = self.bare_end[1]


def _add_term(fields, name, value):
    value = " ".join(value.split())  # a phrase typed over two lines: one space between
    if value:
        fields[name].append(value)


def _read_operator(fields, name, value):
    """Apply ``name:value``; what is not understood becomes a text term, as Gmail does."""
    typed, name = name, name.lower()
    if name in _TERM_FIELDS and value:
        _add_term(fields, _TERM_FIELDS[name], value)
    elif name in ("after", "before") and value:
        day = _parse_day(value)
        if day is None:
            fields["notes"].append(
                _("“%(value)s” is not a date like 2024-12-31, so it was searched as text.")
                % {"value": value}
            )
            _add_term(fields, "text", f"{typed}:{value}")
        else:
            # several after: (or before:) must all hold: the latest after, the earliest before
            known = fields.get(name)
            fields[name] = day if known is None else (max if name == "after" else min)(known, day)
    elif value.lower() in _FLAG_WORDS.get(name, {}):
        field, setting = _FLAG_WORDS[name][value.lower()]
        fields[field] = setting
    elif name == "in" and value:
        fields["folder_name"] = value
    else:
        _add_term(fields, "text", f"{typed}:{value}")  # C:\temp, http://..., label:x


def _parse_day(value):
    match = _DATE.fullmatch(value)
    if match is None:
        return None
    try:
        return datetime.date(*(int(part) for part in match.groups()))
    except ValueError:  # 2024-02-30
        return None


# --- running it ---------------------------------------------------------------------------------


def search_messages(user, *, folder_id=None, account_id=None, everywhere=False, query,
                    limit=100, offset=0, after=None):  # fmt: skip
    """The user's cached messages matching ``query`` (a :class:`SearchQuery` or the text typed):
    ``limit`` of them, newest first, from ``offset`` or (better) just after the cursor ``after``
    (a previous result's ``next_cursor``: mail moved or arrived since shifts no row to another
    page), with the total (counted up to EXACT_TOTAL, estimated past it: ``estimated``).

    The scope is looked up from ids, through the lookups that 404 on another user's objects:
    the folder ``folder_id`` (or, with ``in:all``, its whole account; with ``in:Name``, that
    folder of its account), or the account ``account_id``, or (``everywhere``) every account of
    the user (with ``in:Name``, that folder of each account that has one). Every query below is
    also filtered by ``user``. An empty query finds nothing (the view shows the folder as usual).

    Free text is answered by the local index (mailbox.fulltext). While messages in scope wait
    for their text to be indexed, or when the operator keeps text out of the index, the mail
    server's search runs too, and what it alone found takes its place by date among the index's
    matches (a message indexed between two pages keeps its place)."""
    if isinstance(query, str):
        query = parse_query(query)
    if everywhere:
        whole_account, folders = True, _folders_everywhere(user, query.folder_name)
    else:
        folder, account = _scope(user, folder_id, account_id)
        if query.folder_name is not None:
            folder = _named_folder(account, query.folder_name)
        whole_account = folder is None or (query.scope == "all" and query.folder_name is None)
        folders = _folders_in_scope(account, None if whole_account else folder)
    if query.is_empty or not folders:
        return SearchResult([], False, None, False, whole_account)
    rows = Message.objects.filter(folder__in=folders, folder__account__user=user)
    rows = rows.filter(uid__isnull=False).filter(_header_filter(query))
    indexed = _index_filter(query)
    found, from_server, progress, failed = TextSearch({}, []), frozenset(), None, None
    folder_ids = [f.pk for f in folders]
    if query.text and _server_needed(folder_ids):
        found, failed = _search_text(folders, query.text)
        from_server = _server_only(rows, query, found.ids, indexed)
        progress = index.progress(folder_ids)
    if from_server:  # (Q() | Q(pk__in=...) would drop the empty Q: no text, no server)
        indexed |= Q(pk__in=from_server)
    matched = rows.filter(indexed)
    limit, offset = max(1, min(limit, MAX_LIMIT)), max(0, offset)
    cursor = listing.decode_cursor(after, "date") if after else None
    with fulltext.get_index().planned():
        page, more, total, estimated = _page_and_total(folders, matched, offset, limit, cursor)
    for row in page:
        row.from_server = row.pk in from_server  # the list marks them (templatetags.mail)
    complete = not found.unsearched and found.failure is None
    return SearchResult(
        messages=page,
        server_searched=bool(query.text) and bool(found.ids) and complete,
        problem=_problem(failed, found.failure, found.unsearched),
        truncated=more,
        whole_account=whole_account,
        total=total,
        estimated=estimated,
        offset=0 if cursor else offset,
        from_server=frozenset(row.pk for row in page if row.from_server),
        progress=progress,
        next_cursor=listing.encode_cursor(page[-1], "date") if more else None,
    )


def _page_and_total(folders, matched, offset, limit, cursor=None):
    """The page of ``matched`` (newest first) at ``offset``, or just after ``cursor`` (date,
    id), whether more follow it, the total, and whether the total is an estimate.

    One query reads the ids and dates of the first EXACT_TOTAL + 1 matches (or of as many as an
    offset's page needs): fewer, and they are all, counted; that many, and the total is
    estimated from them (:func:`_estimate`); so every page of a search says the same total.
    A page after a cursor is one more query, a walk of the date index from there.
    ``matched`` are messages of ``folders``."""
    wanted = (EXACT_TOTAL if cursor else max(EXACT_TOTAL, offset + limit)) + 1
    head = list(_ordered(matched).values_list("pk", "date")[:wanted])
    if cursor is None:
        ids = [pk for pk, _date in head[offset : offset + limit + 1]]
    else:
        date, pk = cursor
        later = matched.filter(Q(date__lte=date) & (Q(date__lt=date) | Q(pk__lt=pk)))
        ids = list(_ordered(later).values_list("pk", flat=True)[: limit + 1])
    more, ids = len(ids) > limit, ids[:limit]
    found = Message.objects.select_related("folder__account").in_bulk(ids)
    page = [found[pk] for pk in ids if pk in found]
    if len(head) < wanted:
        return page, more, len(head), False
    return page, more, _estimate(folders, head[-1], len(head)), True


def _estimate(folders, last, found):
    """How many messages of ``folders`` match, knowing that the ``found`` newest matches end
    at ``last`` (id, date): ``found`` times the share of the folders' messages that are as new
    as ``last`` or newer, on the assumption that matches are spread evenly over time (a word in
    half of the recent mail is in about half of the rest), rounded to two significant digits,
    and at least ``found``. The folders' totals are those the list shows (Folder.total, kept
    by the sync and the fetch; counting them here cost 20-40 ms at 100,000); the messages as
    new as ``last`` are counted in the folders' date index, a range of it."""
    pk, date = last
    newer = Message.objects.filter(folder__in=folders).filter(
        Q(date__gt=date) | Q(date=date, pk__gte=pk)
    )
    everything = sum(folder.total for folder in folders)
    estimate = found * everything / max(1, newer.count())
    digits = max(0, len(str(round(estimate))) - 2)
    return max(found, int(round(estimate, -digits)))


def _named_folder(account, name):
    """``in:name``: the account's folder of that name (whole or its last part, any case), or
    of that role (in:sent, in:trash); SearchError when there is none."""
    folders = list(account.folders.filter(selectable=True))
    wanted = name.casefold()
    for test in (
        lambda f: f.name.casefold() == wanted,
        lambda f: f.leaf_name.casefold() == wanted,
        lambda f: f.role == wanted,
    ):
        found = [f for f in folders if test(f)]
        if found:
            return found[0]
    raise SearchError(_("There is no folder named “%(name)s” to search in.") % {"name": name})


def _server_needed(folder_ids):
    """Whether the server must search the text too: some text is not indexed yet, or the
    operator keeps text out of the index."""
    return not settings.WEBMAIL_INDEX_BODIES or index.has_unindexed_text(folder_ids)


def _terms(values, prefix=None):
    terms = []
    for value in values:
        found = fulltext.words(value)
        if found:
            terms.append(fulltext.Term(found, prefix=value == prefix))
    return tuple(terms)


def _index_filter(query):
    """The free text as a filter on message ids answered by the index; Q() when none."""
    clauses = [_terms([value], query.prefix) for value in query.text]
    clauses += [_terms(group, query.prefix) for group in query.either]
    if not all(clauses):  # "***": no word to look for, so no match (the server may find it)
        return Q(pk__in=[])
    engine = fulltext.get_index()
    where = engine.filter(clauses) if clauses else Q()
    excluded = [(term,) for term in _terms(query.excluded)]
    if excluded:
        # any of them excludes a message: NOT (a OR b), one clause of alternatives
        where &= ~Q(pk__in=engine.matching([tuple(term for (term,) in excluded)]))
    return where


def _server_only(rows, query, hits, indexed):
    """The ids the server found for every text term that the index does not match."""
    per_term = [set().union(*(ids[n] for ids in hits.values())) for n in range(len(query.text))]
    candidates = set.intersection(*per_term) if per_term else set()
    if not candidates:
        return frozenset()
    candidates = rows.filter(pk__in=candidates)
    return frozenset(candidates.exclude(indexed).values_list("pk", flat=True))


def _ordered(rows):
    return rows.order_by("-date", "-id")  # the list's own order (listing.SORTS["date"])


def _search_text(folders, terms):
    """Each account's source searched for the text in its folders: (one TextSearch of them
    all, the account whose failure it holds or None). One account failing never stops the
    others: its folders count as unsearched, and the banner names its failure."""
    by_account = {}
    for folder in folders:
        by_account.setdefault(folder.account_id, (folder.account, []))[1].append(folder)
    ids, unsearched, truncated, failure, failed = {}, [], False, None, None
    for account, mine in by_account.values():
        found = source_for_account(account).search_text(account, mine, terms)
        ids.update(found.ids)
        unsearched += found.unsearched
        truncated = truncated or found.truncated
        if found.failure is not None and failure is None:
            failure, failed = found.failure, account
    return TextSearch(ids, unsearched, failure, truncated), failed


def _folders_everywhere(user, folder_name):
    """Every account's folders in scope; with ``in:Name``, that folder of each account that
    has one (SearchError when none has)."""
    folders, named, missing = [], 0, None
    for account in MailAccount.objects.filter(user=user).order_by("email", "pk"):
        if folder_name is None:
            folders += _folders_in_scope(account, None)
            continue
        try:
            folder = _named_folder(account, folder_name)
        except SearchError as error:
            missing = error
            continue
        named += 1
        folders += _folders_in_scope(account, folder)
    if missing is not None and not named:
        raise missing
    return folders


def _scope(user, folder_id, account_id):
    if folder_id is not None:
        folder = actions.get_folder_for_user(user, folder_id)
        return folder, folder.account
    if account_id is not None:
        return None, actions.get_account_for_user(user, account_id)
    raise TypeError("search_messages needs a folder_id or an account_id")


def _folders_in_scope(account, folder):
    """The folder alone, or every folder of the account that can hold mail and has some cached
    (a \\Noselect folder has none, and an empty one has nothing to map UIDs to)."""
    if folder is not None:
        return [folder] if folder.selectable else []
    cached = Message.objects.filter(folder=OuterRef("pk"), uid__isnull=False)
    return list(account.folders.filter(selectable=True).filter(Exists(cached)))


def _header_filter(query):
    where = Q()
    for sender in query.senders:
        where &= Q(from_name__icontains=sender) | Q(from_address__icontains=sender)
    for recipient in query.recipients:
        where &= Q(to__icontains=recipient) | Q(cc__icontains=recipient)
    for subject in query.subjects:
        where &= Q(subject__icontains=subject)
    if query.after is not None:
        where &= Q(date__gte=_start_of(query.after))
    if query.before is not None:
        where &= Q(date__lt=_start_of(query.before))
    if query.unread is not None:
        where &= Q(seen=not query.unread)
    if query.flagged:
        where &= Q(flagged=True)
    if query.has_attachment:
        where &= Q(has_attachments=True)
    return where


def _start_of(day):
    """Midnight of ``day`` where the user is (the active time zone), as Gmail reads dates."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _problem(account, failure, unsearched):
    """A sentence for the banner when the text could not be searched everywhere, else None."""
    if failure is not None:
        reason = describe_error(account, failure)
        return _(
            "The mail server could not be searched, so these results only match senders, "
            "recipients and subjects. %(reason)s"
        ) % {"reason": reason}
    if len(unsearched) == 1:
        return _(
            "Message text in %(folder)s was not searched: the folder changed on the server "
            "since the last sync. Try again in a few minutes."
        ) % {"folder": unsearched[0].name}
    if unsearched:
        return ngettext(
            "Message text in %(count)d folder was not searched: it changed on the server "
            "since the last sync. Try again in a few minutes.",
            "Message text in %(count)d folders was not searched: they changed on the server "
            "since the last sync. Try again in a few minutes.",
            len(unsearched),
        ) % {"count": len(unsearched)}
    return None
