"""The identities a user sends as: each mail account has at least one, its default made from the
account's own name and address the first time it is asked for.

Exactly one identity of an account is its default. The writes that could break that (making the
first one, making another the default, deleting one) lock the account's row first, so that two
requests at once are done one after the other (accounts.actions)."""

from django.db import transaction

from .models import Identity, MailAccount


def lock_account(account_id) -> None:
    """Hold the account's row until the transaction ends (a no-op lock on SQLite, whose writes
    are serialized anyway). Call inside ``transaction.atomic``."""
    list(MailAccount.objects.select_for_update().filter(pk=account_id).values_list("pk"))


def default_identity(account: MailAccount) -> Identity:
    """The account's default identity, made from the account's name and address if it has none
    (and repaired, should no identity be marked default, by marking its oldest one)."""
    found = Identity.objects.filter(account=account, is_default=True).order_by("id").first()
    if found is not None:
        return found
    with transaction.atomic():
        lock_account(account.pk)
        found = Identity.objects.filter(account=account).order_by("-is_default", "id").first()
        if found is None:
            found = Identity.objects.create(
                account=account, name=account.display_name, address=account.email, is_default=True
            )
        elif not found.is_default:
            found.is_default = True
            found.save(update_fields=["is_default"])
    return found


def identities_for_user(user) -> list[Identity]:
    """Every identity of every account of ``user`` (each account's default made if missing),
    accounts in their usual order, each account's default first."""
    accounts = list(MailAccount.objects.filter(user=user))
    have = set(
        Identity.objects.filter(account__in=accounts, is_default=True).values_list(
            "account_id", flat=True
        )
    )
    for account in accounts:
        if account.pk not in have:
            default_identity(account)
    return list(
        Identity.objects.filter(account__user=user)
        .select_related("account")
        .order_by("account__email", "account_id", "-is_default", "address", "id")
    )


def get_identity_for_user(user, identity_id) -> Identity | None:
    """The user's own identity by id, or None (also for an id that is not a number)."""
    try:
        identity_id = int(identity_id)
    except (TypeError, ValueError):
        return None
    if not 0 < identity_id < 2**63:
        return None
    return (
        Identity.objects.filter(pk=identity_id, account__user=user)
        .select_related("account")
        .first()
    )
