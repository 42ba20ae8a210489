"""Local folders: where a POP3 account's mail lives, working like a server's folders.

Each folder hands out its own UIDs from ``uidnext`` under a fixed UIDVALIDITY, so that every
reader and every action treats a kept message like a confirmed IMAP one. The raw bytes stay in
the mail storage under ``raw_name`` whatever folder the message is moved to; they are deleted
only after the commit that deletes the last row naming them.
"""

import io
import uuid

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from mailbox.events import announce_counts
from mailbox.fulltext import get_index
from mailbox.models import Folder, Message, Role
from mailbox.parsing import find_parts, mime, tree_has_attachments
from mailbox.parsing.preview import preview_line
from mailbox.sources import rawstore

from . import store, threads

LOCAL_UIDVALIDITY = 1
DELIMITER = "/"
# name, role: the folders every POP3 account starts with (the Inbox is named as IMAP names it)
STANDARD_FOLDERS = [
    ("INBOX", Role.INBOX),
    ("Drafts", Role.DRAFTS),
    ("Sent", Role.SENT),
    ("Archive", Role.ARCHIVE),
    ("Junk", Role.JUNK),
    ("Trash", Role.TRASH),
]


def create_folder(account, name, role=""):
    """A new empty local folder (or the existing one of that name)."""
    folder, _created = Folder.objects.get_or_create(
        account=account,
        name=name,
        defaults={"delimiter": DELIMITER, "role": role, "uidvalidity": LOCAL_UIDVALIDITY,
                  "uidnext": 1, "backfill_done": True, "server_messages": 0},
    )  # fmt: skip
    return folder


def ensure_standard_folders(account):
    """Inbox, Drafts, Sent, Archive, Junk and Trash, made once; returns them by role."""
    return {role: create_folder(account, name, role) for name, role in STANDARD_FOLDERS}


def inbox(account):
    return Folder.objects.filter(account=account, role=Role.INBOX).first() or create_folder(
        account, "INBOX", Role.INBOX
    )


def allocate_uids(folder_id, count):
    """The next ``count`` UIDs of a local folder; its ``uidnext`` moves past them. Inside the
    caller's transaction the UPDATE holds the folder's row, so allocations never overlap. One
    statement (UPDATE ... RETURNING: PostgreSQL, SQLite 3.35+)."""
    table = connection.ops.quote_name(Folder._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET uidnext = uidnext + %s WHERE id = %s RETURNING uidnext",  # noqa: S608
            [count, folder_id],
        )
        end = cursor.fetchone()[0]
    return list(range(end - count, end))


def keep_message(folder, raw, *, seen=True):
    """Keep ``raw`` (bytes) as a new message of the local ``folder``, as a fetch keeps one: the
    file made durable first (rawstore), then its row committed (a Sent copy: read). Returns the
    Message. OSError when the mail storage cannot take it; nothing is recorded then."""
    spool = rawstore.Spool()
    name = f"{rawstore.account_prefix(folder.account_id)}kept-{uuid.uuid4().hex}.eml"
    handle = spool.file(name)
    try:
        handle.write(raw)
    except OSError:
        rawstore.discard(handle)
        raise
    (name,) = rawstore.keep_all([(handle, name)])
    tree = mime.scan_bytes(raw).tree
    attachments, preview = tree_has_attachments(tree), preview_of(io.BytesIO(raw), tree)
    header = raw[: mime.header_end(raw)]
    with transaction.atomic():
        (uid,) = allocate_uids(folder.pk, 1)
        row = store.kept_message_values(folder.pk, LOCAL_UIDVALIDITY, uid, header, len(raw),
                                        attachments, name, timezone.now(), preview)  # fmt: skip
        (row,) = threads.with_threads(folder.account_id, store.KEPT_COLUMNS, [row])
        values = dict(zip((*store.KEPT_COLUMNS, "thread"), row, strict=True))
        message = Message.objects.create(**{**values, "seen": seen})
        get_index().index_headers_for_ids([message.pk])
        return message


PREVIEW_BYTES = 64 * 1024  # of the text body read for the list's preview line


def preview_of(stream, tree):
    """The list's preview line of a raw message (``stream``, seekable, scanned as ``tree``),
    from the body the reading pane shows."""
    text, html, _attachments, _inline = find_parts(tree)
    part = text or html
    if part is None:
        return ""
    return preview_line(mime.read_part(stream, part, limit=PREVIEW_BYTES), part)


def count_new_mail(folder, count):
    """``count`` new unread messages just put in ``folder``: its counts move by that much."""
    Folder.objects.filter(pk=folder.pk).update(total=F("total") + count, unread=F("unread") + count)
    folder.total, folder.unread = Folder.objects.values_list("total", "unread").get(pk=folder.pk)
    announce_counts(folder.account.user_id, folder)


def move_messages(rows, target):
    """Put ``rows`` (Message objects of one account's local folders) into ``target``."""
    uids = allocate_uids(target.pk, len(rows))
    for row, uid in zip(rows, uids, strict=True):
        row.folder_id, row.uid, row.uidvalidity = target.pk, uid, LOCAL_UIDVALIDITY
    Message.objects.bulk_update(rows, ["folder_id", "uid", "uidvalidity"])


def delete_messages(message_ids):
    """Delete kept messages for good: their rows now, and once that commits the raw files no
    other row names (a copy shares its original's file)."""
    ids = list(message_ids)
    rows = Message.objects.filter(pk__in=ids)
    names = set(rows.exclude(raw_name="").values_list("raw_name", flat=True))
    shared = Message.objects.filter(raw_name__in=names).exclude(pk__in=ids)
    doomed = names - set(shared.values_list("raw_name", flat=True))
    rows.delete()
    if doomed:
        transaction.on_commit(lambda: rawstore.delete_raw(sorted(doomed)))


def delete_folder(folder):
    """A local folder, its subfolders and every message in them."""
    prefix = folder.name + (folder.delimiter or DELIMITER)
    doomed = Folder.objects.filter(account_id=folder.account_id, name__startswith=prefix)
    ids = [folder.pk, *doomed.values_list("pk", flat=True)]
    delete_messages(Message.objects.filter(folder_id__in=ids).values_list("pk", flat=True))
    Folder.objects.filter(pk__in=ids).delete()
