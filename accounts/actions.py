"""Every write to mail accounts goes through here, with its event to the owner's browsers."""

from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

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


# Two-factor login (accounts/otp.py): an authenticator app (TOTP) and one-time recovery codes.
# No event: nothing on the mail screens shows them.
RECOVERY_CODES = 10


@transaction.atomic
def do_begin_two_factor(user):
    """A new secret for the user's authenticator app. Unconfirmed, so login does not ask for
    it, until the user types a first code from the app (do_turn_on_two_factor)."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


@transaction.atomic
def do_turn_on_two_factor(user, device):
    """The app showed a right code: login asks for one from now on. One app at a time; and a
    fresh set of recovery codes, returned."""
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return do_regenerate_recovery_codes(user)


@transaction.atomic
def do_regenerate_recovery_codes(user):
    """Ten new one-time recovery codes instead of the old ones (the device, and so its
    throttling, stays)."""
    device, _created = StaticDevice.objects.get_or_create(
        user=user, defaults={"name": "Recovery codes", "confirmed": True}
    )
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


@transaction.atomic
def do_turn_off_two_factor(user):
    """Back to the password alone: the app's secret and the recovery codes are deleted."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
