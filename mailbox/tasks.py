"""Celery tasks: thin shells over mailbox.sync. They take ids and survive running twice."""

from celery import shared_task

from accounts.models import MailAccount, Protocol

from . import sync


@shared_task(ignore_result=True)
def sync_account(account_id, folder_names=None, push_only=False):
    """Push the account's pending changes, then sync it (or just ``folder_names``)."""
    if MailAccount.objects.filter(pk=account_id, incoming_protocol=Protocol.IMAP).exists():
        sync.run_account(account_id, folder_names=folder_names, push_only=push_only)


@shared_task(ignore_result=True)
def sync_all_accounts():
    """The safety net, on beat's schedule: every IMAP account, each in its own task."""
    ids = MailAccount.objects.filter(incoming_protocol=Protocol.IMAP).values_list("pk", flat=True)
    for account_id in ids:
        sync_account.delay(account_id)
