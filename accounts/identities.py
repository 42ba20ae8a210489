"""The identities a user sends as: each mail account has at least one, its default made from the
account's own name and address the first time it is asked for."""

from django.db import transaction

from .models import Identity, MailAccount


def default_identity(account: MailAccount) -> Identity:
    """The account's default identity, made from the account's name and address if it has none."""
    with transaction.atomic():
        found = Identity.objects.filter(account=account).order_by("-is_default", "id").first()
        if found is None:
            found = Identity.objects.create(
                account=account, name=account.display_name, address=account.email, is_default=True
            )
    return found


def identities_for_user(user) -> list[Identity]:
    """Every identity of every account of ``user`` (each account's default made if missing),
    accounts in their usual order, each account's default first."""
    accounts = list(MailAccount.objects.filter(user=user))
    have = set(Identity.objects.filter(account__in=accounts).values_list("account_id", flat=True))
    for account in accounts:
        if account.pk not in have:
            default_identity(account)
    return list(
        Identity.objects.filter(account__user=user)
        .select_related("account")
        .order_by("account__email", "account_id", "-is_default", "address", "id")
    )


def get_identity_for_user(user, identity_id) -> Identity | None:
    """The user's own identity by id, or None."""
    return (
        Identity.objects.filter(pk=identity_id, account__user=user)
        .select_related("account")
        .first()
    )
