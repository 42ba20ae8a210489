"""Every write to mail accounts goes through here, with its event to the owner's browsers."""

from django.db import transaction

from mailbox.events import send_event_on_commit

from .models import Preferences, Protocol


@transaction.atomic
def do_save_mail_account(account, last_error=""):
    created = account.pk is None
    account.last_error = last_error
    account.save()
    send_event_on_commit(
        [account.user_id], {"type": "account.changed", "account_id": account.pk, "created": created}
    )
    if account.incoming_protocol == Protocol.IMAP:
        from mailbox.tasks import sync_account

        transaction.on_commit(lambda: sync_account.delay(account.pk))
    return account


@transaction.atomic
def do_delete_mail_account(account):
    account_id, user_id = account.pk, account.user_id
    account.delete()
    send_event_on_commit([user_id], {"type": "account.deleted", "account_id": account_id})


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
