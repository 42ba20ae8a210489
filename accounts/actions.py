"""Every write to mail accounts goes through here, with its event to the owner's browsers."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from mailbox.composing.fields import LINE_BREAKS
from mailbox.events import send_event_on_commit
from mailbox.models import Folder
from mailbox.sanitize import sanitize_html
from mailbox.sources import rawstore
from mailbox.sync.local import ensure_standard_folders
from mailbox.watcher import tell_watchers_on_commit

from .identities import default_identity, get_identity_for_user, lock_account
from .models import Identity, MailAccount, Preferences, Protocol


@transaction.atomic
def do_save_mail_account(account, last_error=""):
    """Save an account and get its mail: a sync (IMAP) or a fetch (POP3) after the commit. A
    POP3 account gets its local folders; a changed protocol drops the folders of the old one
    (the form refuses that while a POP3 account keeps mail here). The IDLE watchers are told,
    so an IMAP account is watched (with what was saved) within a second."""
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
    tell_watchers_on_commit(account.pk)
    from mailbox.tasks import fetch_pop3_account, sync_account

    if account.incoming_protocol == Protocol.POP3:
        ensure_standard_folders(account)
        transaction.on_commit(lambda: fetch_pop3_account.delay(account.pk))
    else:
        transaction.on_commit(lambda: sync_account.delay(account.pk))
    return account


@transaction.atomic
def do_delete_mail_account(account):
    """Delete an account, its folders and, once that commits, the mail kept here for it; its
    IDLE watcher stops."""
    account_id, user_id = account.pk, account.user_id
    account.delete()
    tell_watchers_on_commit(account_id)
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
    shown = {"theme": preferences.theme, "notify_new_mail": preferences.notify_new_mail}
    send_event_on_commit([user.pk], {"type": "preferences.changed", **shown})
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


# --- identities: the names and addresses a user sends as (accounts.identities) ----------------


def _identity_of(user, identity_id):
    """The user's own identity, locked with its account for the change; 404 for any other."""
    identity = get_identity_for_user(user, identity_id)
    if identity is None:
        raise Http404("no such identity")
    lock_account(identity.account_id)
    try:
        identity.refresh_from_db()  # as it is now that its account is ours
    except Identity.DoesNotExist:
        raise Http404("no such identity") from None
    return identity


def _announce_identities(account):
    send_event_on_commit(
        [account.user_id], {"type": "account.changed", "account_id": account.pk, "created": False}
    )


def clean_signature_html(html):
    """The formatted signature as our sanitizer leaves it (mailbox.sanitize: no script, no
    handler, no form; links and images kept, since outgoing mail has no remote content to
    block), without the wrapper element the sanitizer puts around a fragment."""
    if not html.strip():
        return ""
    cleaned = sanitize_html(html, allow_remote=True).html
    if cleaned.startswith("<div>") and cleaned.endswith("</div>"):
        cleaned = cleaned[len("<div>") : -len("</div>")]
    return cleaned.strip()


def check_identity_fields(identity):
    """ValidationError naming each field that would go into a header with a line break or NUL
    in it (the form says so first; this holds for every other caller too)."""
    bad = {
        field: _("The %(field)s cannot contain a line break or a NUL character.")
        % {"field": Identity._meta.get_field(field).verbose_name}
        for field in ("name", "address", "reply_to")
        if not LINE_BREAKS.isdisjoint(getattr(identity, field))
    }
    if bad:
        raise ValidationError(bad)


@transaction.atomic
def do_save_identity(user, identity):
    """Save a new or changed identity of one of the user's accounts (404 for another's), its
    formatted signature sanitized first; ValidationError (check_identity_fields) for a line
    break in a header field. A new one joins the account's default (made from the
    account if not yet there: accounts.identities.default_identity); which one is the default
    changes only through do_make_identity_default."""
    account = get_object_or_404(MailAccount, pk=identity.account_id, user=user)
    check_identity_fields(identity)
    lock_account(account.pk)
    if identity.pk is not None:
        saved = Identity.objects.filter(pk=identity.pk, account=account).first()
        if saved is None:
            raise Http404("no such identity")
        identity.is_default = saved.is_default
    else:  # the account's own identity comes first, and stays the default
        identity.is_default = False
        default_identity(account)
    identity.signature_html = clean_signature_html(identity.signature_html)
    identity.save()
    _announce_identities(account)
    return identity


@transaction.atomic
def do_make_identity_default(user, identity_id):
    """Make the identity its account's default, and no other (both in one transaction)."""
    identity = _identity_of(user, identity_id)
    Identity.objects.filter(account_id=identity.account_id, is_default=True).exclude(
        pk=identity.pk
    ).update(is_default=False)
    if not identity.is_default:
        identity.is_default = True
        identity.save(update_fields=["is_default"])
    _announce_identities(identity.account)
    return identity


@transaction.atomic
def do_delete_identity(user, identity_id):
    """Delete an identity. ValidationError for the account's last one (an account always has
    one to send as); deleting the default makes the oldest remaining identity the default."""
    identity = _identity_of(user, identity_id)
    rest = Identity.objects.filter(account_id=identity.account_id).exclude(pk=identity.pk)
    heir = rest.order_by("-is_default", "id").first()
    if heir is None:
        raise ValidationError(
            _("%(address)s is the only identity of this account, which always needs one to "
              "send as: add another before removing it.") % {"address": identity.address}
        )  # fmt: skip
    identity.delete()
    if identity.is_default or not heir.is_default:
        rest.filter(pk=heir.pk).update(is_default=True)
    _announce_identities(identity.account)
