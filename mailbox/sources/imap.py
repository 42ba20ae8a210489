"""Messages on an IMAP server: parts fetched on demand (BODY.PEEK[section]), small ones cached.

Parts and headers are fetched over the account's pooled sessions (mailbox.sync.pool: no login
and no SELECT per part); the text of the newest messages is usually in the cache already, put
there after each sync (mailbox.sync.prefetch).

Small parts (text, inline images) are cached per account up to WEBMAIL_BODY_CACHE_BYTES, the least
recently used evicted first. Attachments and the whole message are streamed, decoded on the way,
never held whole in memory. Free text is searched by the server (UID SEARCH TEXT) under EXAMINE,
so that searching never changes a flag.
"""

import contextlib
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from mailbox.models import BodyPart, Message
from mailbox.parsing import parse_bodystructure
from mailbox.parsing.transfer import decode, decoded
from mailbox.protocols.base import ConnectionProblem
from mailbox.protocols.imap import ImapCommandError
from mailbox.protocols.imap import MessageGone as ImapMessageGone
from mailbox.protocols.imap.names import search_criteria

from .base import HEADER_LIMIT, MessageGone, MessageSource, TextSearch, opened_stream

CACHE_PART_LIMIT = 2 * 1024 * 1024  # larger parts are streamed, never cached
MAX_SERVER_HITS = 10_000  # UIDs kept per term and folder: the highest, the latest to arrive
BULK_UIDS = 50  # messages per UID FETCH of parts_in_bulk
USED_AT_STEP = timedelta(minutes=30)  # a cached part's used_at is kept to this precision


@contextlib.contextmanager
def _selected(message):
    """A new IMAP session with the message's folder opened read-only (EXAMINE): for streams,
    which may hold it for a long download (the pool's few sessions stay free for the pane)."""
    from mailbox.sync import imap_session

    with imap_session(message.folder.account) as session:
        session.select(message.folder.name, readonly=True)
        try:
            yield session
        except ImapMessageGone as gone:
            raise MessageGone(message.pk) from gone


def _on_server(message, work):
    """``work(session)`` on a pooled session of the message's account, its folder examined
    (EXAMINE again only when the session has another folder open)."""
    from mailbox.sync.pool import run_pooled

    name = message.folder.name

    def examined(session):
        if session.selected != name or not session.selected_readonly:
            session.select(name, readonly=True)
            return work(session)
        try:
            return work(session)
        except ImapMessageGone:
            # a session's view of its folder grows only when the server may tell it (at a
            # command's end): mail that arrived since is unknown to it until then
            session.noop()
            return work(session)

    try:
        return run_pooled(message.folder.account, examined)
    except ImapMessageGone as gone:
        raise MessageGone(message.pk) from gone


class ImapSource(MessageSource):
    def part_tree(self, message):
        return parse_bodystructure(bytes(message.bodystructure))

    def get_part(self, message, section):
        cached = cached_part(message, section)
        if cached is not None:
            return cached
        part = self.find_part(message, section)
        raw = _on_server(message, lambda session: session.fetch_part(message.uid, section))
        data = decode(raw, part.encoding)
        if len(data) <= CACHE_PART_LIMIT:
            store_part(message, section, data)
        return data

    def parts_in_bulk(self, wanted):
        """From the body cache where it has them, the rest fetched per folder on a pooled
        session, several messages per UID FETCH (BODY.PEEK: nothing becomes \\Seen). What is
        fetched is not cached: a pass over old mail would evict what the prefetch brought for
        readers, and reading does not mark a cached part used. Left out: messages gone, a
        folder gone or with another UIDVALIDITY. ConnectionProblem when the server fails."""
        found = _cached_in_bulk(wanted)
        by_folder = {}
        for message, part in wanted:
            if (message.pk, part.section) not in found:
                by_folder.setdefault(message.folder_id, []).append((message, part))
        for items in by_folder.values():
            found.update(_fetch_in_bulk(items))
        return found

    def get_header(self, message):
        """Kept in the cache as the part "HEADER" once fetched."""
        cached = cached_part(message, "HEADER")
        if cached is not None:
            return cached
        # one partial fetch, BODY.PEEK[HEADER]<0.HEADER_LIMIT>: a hostile block stays bounded
        data = _on_server(message, lambda session: _first_chunk(session, message.uid, "HEADER"))
        store_part(message, "HEADER", data)
        return data

    def get_message_header(self, message, part):
        """BODY.PEEK[<section>.HEADER], cached as that section."""
        section = f"{part.section}.HEADER"
        cached = cached_part(message, section)
        if cached is not None:
            return cached
        data = _on_server(message, lambda session: _first_chunk(session, message.uid, section))
        store_part(message, section, data)
        return data

    def stream_part(self, message, part, chunk_size=1 << 20):
        return _stream(message, part.section, part.encoding, chunk_size)

    def stream_message(self, message, chunk_size=1 << 20):
        """BODY.PEEK[] by partial fetches of ``chunk_size`` bytes."""
        return _stream(message, "", None, chunk_size)

    def search_text(self, account, folders, terms):
        """UID SEARCH TEXT per folder and term, through ``names.search_criteria`` (which
        quotes, sends non-ASCII as UTF-8 literals and refuses CR, LF and NUL). A folder's UIDs
        are trusted only while its UIDVALIDITY is the one cached. On one of the account's
        pooled sessions (mailbox.sync.pool: no new login for each search). A connection that
        fails drops everything: the caller falls back to the cache."""
        from mailbox.sync.pool import run_pooled

        def search(session):
            found, unsearched, cut = {}, [], False
            for folder in folders:
                uids = _search_folder(session, folder, terms)
                if uids is None:
                    unsearched.append(folder)
                    continue
                cut = cut or any(len(hits) > MAX_SERVER_HITS for hits in uids)
                found[folder] = [_ids(folder, hits[-MAX_SERVER_HITS:]) for hits in uids]
            return TextSearch(found, unsearched, None, cut)

        try:
            return run_pooled(account, search)
        except ConnectionProblem as failure:
            return TextSearch({}, list(folders), failure)


def _cached_in_bulk(wanted):
    keys = {(message.pk, part.section) for message, part in wanted}
    found = {}
    ids = sorted({message_id for message_id, _section in keys})
    sections = {section for _message_id, section in keys}
    for start in range(0, len(ids), 500):
        rows = BodyPart.objects.filter(message_id__in=ids[start : start + 500],
                                       section__in=sections)  # fmt: skip
        for message_id, section, data in rows.values_list("message_id", "section", "data"):
            if (message_id, section) in keys:
                found[message_id, section] = bytes(data)
    return found


def _fetch_in_bulk(items):
    """{(message id, section): decoded bytes} of ``items``, [(message, part)] of one folder:
    one UID FETCH per set of sections (and per BULK_UIDS messages), pipelined."""
    folder = items[0][0].folder
    groups = {}  # (sections) -> {uid: (message, {section: part})}
    by_message = {}
    for message, part in items:
        by_message.setdefault(message.pk, (message, {}))[1][part.section] = part
    for message, parts in by_message.values():
        groups.setdefault(tuple(sorted(parts)), {})[message.uid] = (message, parts)

    def work(session):
        try:
            opened = session.select(folder.name, readonly=True)
        except ImapCommandError:  # the folder is gone: each message says so on its own read
            return {}
        found = {}
        for sections, messages in groups.items():
            uids = [uid for uid, (m, _p) in messages.items() if m.uidvalidity == opened.uidvalidity]
            if not uids:
                continue
            for uid, fetched in session.fetch_sections(uids, sections, batch=BULK_UIDS):
                message, parts = messages[uid]
                for section, raw in fetched.items():
                    if section in parts:
                        found[message.pk, section] = decode(raw, parts[section].encoding)
        return found

    from mailbox.sync.pool import run_pooled

    return run_pooled(folder.account, work)


def _first_chunk(session, uid, section):
    return next(session.iter_part(uid, section, chunk_size=HEADER_LIMIT), b"")


def _stream(message, section, encoding, chunk_size):
    exit_stack = contextlib.ExitStack()
    try:
        session = exit_stack.enter_context(_selected(message))
        chunks = decoded(session.iter_part(message.uid, section, chunk_size=chunk_size), encoding)
    except BaseException:
        exit_stack.close()
        raise
    return opened_stream(_gone_as_neutral(chunks, message), exit_stack.close)


def _gone_as_neutral(chunks, message):
    try:
        yield from chunks
    except ImapMessageGone as gone:
        raise MessageGone(message.pk) from gone


def _search_folder(session, folder, terms):
    """The UIDs matching each term (ascending), or None when the folder cannot be trusted: a
    UIDVALIDITY other than the cached one means the same UIDs now name other messages."""
    if folder.uidvalidity is None:  # never synced: no cached message to find
        return [[] for _term in terms]
    try:
        opened = session.select(folder.name, readonly=True)  # EXAMINE: no flag changes
        if opened.uidvalidity != folder.uidvalidity:
            return None
        return [session.uid_search(search_criteria(text=term)) for term in terms]
    except ImapCommandError:  # gone since the last sync, or a charset it does not take
        return None


def _ids(folder, uids):
    if not uids:
        return set()
    rows = Message.objects.filter(folder=folder, uidvalidity=folder.uidvalidity, uid__in=uids)
    return set(rows.values_list("pk", flat=True))


# --- the body-part cache ---------------------------------------------------------------------


def cached_part(message, section):
    """The cached bytes of ``section``, marked as just used; None when they are not cached.

    The mark (used_at, what eviction goes by) is written only when it is older than
    USED_AT_STEP: the least recently used are still evicted first, to that step, and reading
    a message again, or just after the prefetch brought it, is a read without a write."""
    cached = BodyPart.objects.filter(message=message, section=section).first()
    if cached is None:
        return None
    now = timezone.now()
    if cached.used_at is None or now - cached.used_at >= USED_AT_STEP:
        BodyPart.objects.filter(pk=cached.pk).update(used_at=now)
    return bytes(cached.data)


def store_part(message, section, data):
    account_id = message.folder.account_id
    with transaction.atomic():
        BodyPart.objects.update_or_create(
            message=message,
            section=section,
            defaults={"account_id": account_id, "data": data, "size": len(data)},
        )
    evict(account_id)


def evict(account_id, bound=None):
    """Drop the least recently used parts until the account's cache fits its bound."""
    bound = settings.WEBMAIL_BODY_CACHE_BYTES if bound is None else bound
    parts = BodyPart.objects.filter(account_id=account_id)
    total = parts.aggregate(total=Sum("size"))["total"] or 0
    if total <= bound:
        return 0
    doomed, freed = [], 0
    for pk, size in parts.order_by("used_at", "pk").values_list("pk", "size").iterator():
        if total - freed <= bound:
            break
        doomed.append(pk)
        freed += size
    BodyPart.objects.filter(pk__in=doomed).delete()
    return len(doomed)
