"""One folder's messages: first sync newest first, backfill, and cheap resyncs.

1. SELECT, with QRESYNC (uidvalidity, highestmodseq) when the folder is complete and the server
   offers it: the answer says what vanished and whose flags changed since.
2. A changed UIDVALIDITY voids every cached UID (RFC 4549 §4.1): the folder starts over.
3. Without QRESYNC, UID SEARCH ALL against the cached UIDs tells what vanished and what is new;
   flags come from CHANGEDSINCE (CONDSTORE) or, failing that, from comparing them all in batches.
4. New messages are fetched newest first: one small page at once (the user sees it), then the
   rest in batches, each committed with its progress: an interrupted sync resumes from the cache.
5. The folder's UIDNEXT and HIGHESTMODSEQ are stored only once everything up to them is applied.
"""

import time
from concurrent.futures import ThreadPoolExecutor

from django.db import connection, transaction
from django.utils import timezone

from mailbox.events import (
    MAX_LISTED,
    announce_added,
    announce_flags,
    announce_folder_changed,
    announce_removed,
    send_event_on_commit,
)
from mailbox.models import Folder

from . import store

FIRST_PAGE = 50
BATCH = 2000  # messages fetched, then inserted and committed, together
# SQLite: a commit writes to its log every page the batch touched, and the indexes not in UID
# order (sender, subject, size) have new rows all over them: at 100,000 messages a batch of
# 2,000 touches most of their pages. Fewer, larger commits write each page fewer times (one
# holds the write lock for ~0.3 s). PostgreSQL's COPY has no such cost.
SQLITE_BATCH = 10_000


def _chunks(items, size):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def sync_folder(folder, session, lease=None, *, status=None, between_batches=None):
    """Bring the cache of ``folder`` level with the server. Returns a summary dict."""
    if status is not None and not folder.backfill_done:
        store.refresh_counts(folder, status)  # the server's counts until the cache has it all
    qresync = None
    if folder.backfill_done and folder.highestmodseq and folder.uidvalidity:
        qresync = (folder.uidvalidity, folder.highestmodseq) if session.has_qresync else None
    selected = session.select(folder.name, qresync=qresync)
    uidvalidity = selected.uidvalidity
    if folder.uidvalidity != uidvalidity:
        if folder.uidvalidity is not None:
            store.reset_folder(folder, uidvalidity)
            announce_folder_changed(folder.account.user_id, folder)
        else:
            Folder.objects.filter(pk=folder.pk).update(uidvalidity=uidvalidity)
            folder.uidvalidity = uidvalidity
        qresync = None
    skip = store.ids_with_pending_changes(folder)
    summary = {"removed": [], "changed": [], "added": 0}

    if qresync:
        summary["removed"] = store.delete_uids(folder, uidvalidity, selected.vanished, skip)
        summary["changed"] = store.apply_flag_updates(folder, uidvalidity, selected.changed, skip)
        since = folder.uidnext or 1
        missing = [uid for uid in session.uid_search(f"UID {since}:*") if uid >= since]
        missing = sorted(set(missing) - store.cached_uids_between(folder, uidvalidity, since))
    else:
        missing = _compare_all(folder, session, uidvalidity, skip, summary)

    user_id = folder.account.user_id
    missing.sort(reverse=True)
    size = SQLITE_BATCH if connection.vendor == "sqlite" else BATCH
    batches = [missing[:FIRST_PAGE], *_chunks(missing[FIRST_PAGE:], size)] if missing else []
    if not _fetch_and_insert(
        folder, session, uidvalidity, batches, lease, between_batches, summary
    ):
        return summary  # the folder changed under us: the next run starts from the cache
    store.refresh_statistics_after_load(summary["added"])  # before the counts are read

    counts_unknown = folder.server_messages is None
    _store_state(folder, selected)
    if summary["removed"] or summary["changed"] or summary["added"] or counts_unknown:
        if counts_unknown:
            store.refresh_counts(folder)
        else:  # the total moves by what came and went; unread is counted from its small index
            store.refresh_counts(folder, delta=summary["added"] - len(summary["removed"]))
        _announce(user_id, folder, uidvalidity, missing, summary)
    return summary


def _announce(user_id, folder, uidvalidity, added_uids, summary):
    """What the sync changed, to the owner's pages: by id when it is a few messages (a new
    mail, a flag set elsewhere); "folder.changed" when it is many (a first sync)."""
    if summary["added"] > MAX_LISTED or len(summary["changed"]) > MAX_LISTED:
        announce_folder_changed(user_id, folder)
        return
    announce_removed(user_id, folder, summary["removed"])
    announce_flags(user_id, folder, store.flags_of(summary["changed"]))
    if summary["added"]:
        ids = store.ids_of_uids(folder, uidvalidity, added_uids)
        announce_added(user_id, folder, ids, delivered=True)


def _fetch_and_insert(folder, session, uidvalidity, batches, lease, between_batches, summary):
    """Fetch batch n+1 (network and parsing, in a thread) while batch n goes into the database.

    The session is only ever used by one thread at a time: the next fetch starts once the
    previous one is done and any pending changes have been pushed.
    """

    def fetch(batch):
        return store.rows_from_metas(folder.pk, uidvalidity, session.fetch_meta(batch))

    total = sum(len(batch) for batch in batches)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="imap-fetch") as pool:
        future = pool.submit(fetch, batches[0]) if batches else None
        for index in range(len(batches)):
            rows = future.result()
            pushed = index and between_batches and between_batches()
            if pushed and not _reselect(folder, session, uidvalidity):
                return False
            if index + 1 < len(batches):
                future = pool.submit(fetch, batches[index + 1])
            summary["added"] += store.insert_rows(folder, uidvalidity, rows)
            _progress(
                user_id=folder.account.user_id, folder=folder, cached=summary["added"], total=total
            )
            if lease:
                lease.renew_if_due()
    return True


def _compare_all(folder, session, uidvalidity, skip, summary):
    """Without QRESYNC: what vanished and whose flags changed, and the UIDs still to fetch."""
    server = session.uid_search("ALL")
    cached = store.cached_uids(folder, uidvalidity)
    server_set = set(server)
    summary["removed"] = store.delete_uids(folder, uidvalidity, cached - server_set, skip)
    kept = sorted(cached & server_set)
    if kept:
        if session.has_condstore and folder.highestmodseq and folder.backfill_done:
            updates = session.fetch_flags(None, changedsince=folder.highestmodseq)
        else:
            updates = session.fetch_flags(kept)
        summary["changed"] = store.apply_flag_updates(folder, uidvalidity, updates, skip)
    return [uid for uid in server if uid not in cached]


def _reselect(folder, session, uidvalidity):
    return session.select(folder.name).uidvalidity == uidvalidity


def _store_state(folder, selected):
    values = {
        "uidvalidity": selected.uidvalidity,
        "uidnext": selected.uidnext,
        "highestmodseq": selected.highestmodseq,
        "server_messages": selected.exists,
        "backfill_done": True,
        "synced_at": timezone.now(),
    }
    with transaction.atomic():
        Folder.objects.filter(pk=folder.pk).update(**values)
    for key, value in values.items():
        setattr(folder, key, value)


_last_progress = {}


def _progress(user_id, folder, cached, total):
    """At most two progress events a second per folder, and always the last one."""
    now = time.monotonic()
    if cached < total and now - _last_progress.get(folder.pk, 0) < 0.5:
        return
    _last_progress[folder.pk] = now
    send_event_on_commit(
        [user_id],
        {"type": "sync.progress", "folder_id": folder.pk, "cached": cached, "total": total},
    )
