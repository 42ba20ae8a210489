"""The folder tree: what the server lists, with roles and subscriptions, mirrored locally."""

from django.db import transaction

from mailbox.events import announce_folders
from mailbox.models import Folder, Role

ROLES = {choice.value for choice in Role}


def sync_folder_list(account, session):
    """Mirror LIST: add new folders, update attributes, drop folders gone from the server.

    Returns the account's folders (selectable ones first by role, then by name). The owner's
    pages hear of folders created, changed (subscription, role) or deleted.
    """
    listed = {info.name: info for info in session.list_folders()}
    created, changed = [], []
    with transaction.atomic():
        existing = {folder.name: folder for folder in Folder.objects.filter(account=account)}
        for name, info in listed.items():
            role = info.special_use if info.special_use in ROLES else ""
            values = {
                "delimiter": info.delimiter or "",
                "role": role,
                "subscribed": info.subscribed or role == Role.INBOX,
                "selectable": info.selectable,
            }
            folder = existing.get(name)
            if folder is None:
                created.append(Folder.objects.create(account=account, name=name, **values).pk)
            elif any(getattr(folder, key) != value for key, value in values.items()):
                Folder.objects.filter(pk=folder.pk).update(**values)
                changed.append(folder.pk)
        gone = [folder.pk for name, folder in existing.items() if name not in listed]
        Folder.objects.filter(pk__in=gone).delete()
        if created or changed or gone:
            announce_folders(account.user_id, account.pk, created=created, changed=changed,
                             deleted=gone)  # fmt: skip
    return list(Folder.objects.filter(account=account))


def needs_sync(folder, status, has_condstore):
    """STATUS says whether anything can have changed since the last complete sync."""
    if not folder.backfill_done or folder.uidvalidity != status.uidvalidity:
        return True
    if not has_condstore or status.highestmodseq is None:
        return True  # flag changes by others are invisible to STATUS without CONDSTORE
    return (
        folder.highestmodseq != status.highestmodseq
        or folder.uidnext != status.uidnext
        or folder.server_messages != status.messages
    )
