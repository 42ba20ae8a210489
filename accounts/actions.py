"""Every write to mail accounts goes through here, with its event to the owner's browsers."""

from django.db import transaction

from mailbox.events import send_event_on_commit
from mailbox.models import Folder
from mailbox.sources import rawstore
from mailbox.sync.local import ensure_standard_folders

from .models import MailAccount, Preferences, Protocol


@transaction.atomic
def do_save_mail_account(account, last_error=""):
    """Save an account and get its mail: a sync (IMAP) or a fetch (POP3) after the commit. A
    POP3 account gets its local folders; a changed protocol drops the folders of the old one
    (the form refuses that while a POP3 account keeps mail here)."""
    created = account.pk is None
    if not created:
        before = MailAccount.objects.filter(pk=account.pk).values_list("incoming_protocol")
        if before and before[0][0] != account.incoming_protocol:
            Folder.objects.filter(account=account).delete()
    account.last_error = last_error
    account.save()
    send_event_on_commit(
        [account.user_id], {"type": "account.changed", "account_id": account.pk, "created": created}
    )
    from mailbox.tasks import fetch_pop3_account, sync_account

    if account.incoming_protocol == Protocol.POP3:
        ensure_standard_folders(account)
        transaction.on_commit(lambda: fetch_pop3_account.delay(account.pk))
    else:
        transaction.on_commit(lambda: sync_account.delay(account.pk))
    return account


@transaction.atomic
def do_delete_mail_account(account):
    """Delete an account, its folders and, once that commits, the mail kept here for it."""
    account_id, user_id = account.pk, account.user_id
    account.delete()
    send_event_on_commit([user_id], {"type": "account.deleted", "account_id": account_id})
    transaction.on_commit(lambda: rawstore.delete_account(account_id))


def do_rotate_encryption(accounts):
    """Re-encrypt every stored password with the first key; returns how many accounts changed."""
    from . import crypto

    count = 0
    for account in accounts.select_for_update():
        account.incoming_password_encrypted = crypto.rotate(account.incoming_password_encrypted)
        account.smtp_password_encrypted = crypto.rotate(account.smtp_password_encrypted)
        account.save(update_fields=["incoming_password_encrypted", "smtp_password_encrypted"])
        count += 1
    return count


@transaction.atomic
def do_save_preferences(user, **changes):
    """Change some of the user's preferences (theme, mark_read_after); other tabs follow."""
    preferences, _created = Preferences.objects.get_or_create(user=user)
    for name, value in changes.items():
        setattr(preferences, name, value)
    preferences.full_clean()
    preferences.save()
    user.preferences = preferences  # what get_preferences answers for the rest of the request
    send_event_on_commit([user.pk], {"type": "preferences.changed"})
    return preferences
