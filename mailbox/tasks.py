"""Celery tasks: thin shells over mailbox.sync. They take ids and survive running twice."""

import logging

from celery import shared_task

from accounts.models import MailAccount, Protocol

from . import sync
from .models import Draft, PendingChange

logger = logging.getLogger(__name__)

MAX_RETRY_SECONDS = 900


def retry_countdown(account_id, retries):
    """Seconds until the next try, or None: changes made here that could not reach the server
    (it did not answer) are tried again, 30 s, 60 s, ... up to 15 minutes apart."""
    account = MailAccount.objects.filter(pk=account_id).only("last_error").first()
    if account is None or not account.last_error:
        return None
    if not PendingChange.objects.filter(account_id=account_id).exists():
        return None
    return min(30 * 2**retries, MAX_RETRY_SECONDS)


@shared_task(bind=True, ignore_result=True, max_retries=20)
def sync_account(self, account_id, folder_names=None, push_only=False):
    """Push the account's pending changes, then sync it (or just ``folder_names``)."""
    if not MailAccount.objects.filter(pk=account_id, incoming_protocol=Protocol.IMAP).exists():
        return
    sync.run_account(account_id, folder_names=folder_names, push_only=push_only)
    if not push_only:
        prefetch_bodies.delay(account_id)
        index_account_text.delay(account_id)
    countdown = retry_countdown(account_id, self.request.retries)
    if countdown is not None and not self.request.is_eager:
        raise self.retry(countdown=countdown)


@shared_task(ignore_result=True)
def prefetch_bodies(account_id):
    """The text of the account's newest messages into the body cache (mailbox.sync.prefetch);
    run twice, the second finds them cached. A server that fails: the next sync queues it."""
    from mailbox.protocols.base import ConnectionProblem

    from .sync.prefetch import prefetch_account

    if not MailAccount.objects.filter(pk=account_id, incoming_protocol=Protocol.IMAP).exists():
        return
    try:
        prefetch_account(account_id)
    except ConnectionProblem as problem:
        logger.warning("prefetch of account %s failed: %s", account_id, problem)


@shared_task(ignore_result=True)
def sync_all_accounts():
    """The safety net, on beat's schedule: every IMAP account, each in its own task."""
    ids = MailAccount.objects.filter(incoming_protocol=Protocol.IMAP).values_list("pk", flat=True)
    for account_id in ids:
        sync_account.delay(account_id)


@shared_task(bind=True, ignore_result=True, max_retries=8)
def save_draft_copy(self, draft_id):
    """Bring a draft's copy in Drafts up to date (mailbox.sync.drafts): run late or twice, it
    finds the copy current and does nothing; then the Drafts folder is synced, so the list shows
    it. A server that does not answer: tried again; one that refuses: the next save tries."""
    from mailbox.protocols.base import ConnectionProblem, ServerRefused

    from .sync.drafts import CopyBusy, save_copy

    try:
        copied = save_copy(draft_id)
    except CopyBusy as busy:  # the holder may have looked before this save: look again soon
        raise self.retry(countdown=min(2 ** (self.request.retries + 1), 60)) from busy
    except ServerRefused as refused:
        logger.warning("the copy of draft %s was refused: %s", draft_id, refused)
        return
    except ConnectionProblem as problem:
        if self.request.is_eager:
            raise
        raise self.retry(
            countdown=min(30 * 2**self.request.retries, MAX_RETRY_SECONDS)
        ) from problem
    where = Draft.objects.filter(pk=draft_id, account__incoming_protocol=Protocol.IMAP)
    found = where.values_list("account_id", "copy_folder__name").first()
    if copied and found and found[1]:
        sync_account.delay(found[0], folder_names=[found[1]])


@shared_task(bind=True, ignore_result=True, max_retries=8)
def delete_draft_copy(self, account_id, folder_id, uidvalidity, uid, message_id):
    """Remove a deleted (or sent) draft's copy from Drafts; nothing left to remove is fine."""
    from mailbox.protocols.base import ConnectionProblem

    from .sync.drafts import delete_copy

    account = MailAccount.objects.filter(pk=account_id).first()
    if account is None:
        return
    try:
        delete_copy(account, folder_id, uidvalidity, uid, message_id)
    except ConnectionProblem as problem:
        if self.request.is_eager:
            raise
        raise self.retry(
            countdown=min(30 * 2**self.request.retries, MAX_RETRY_SECONDS)
        ) from problem


@shared_task(ignore_result=True)
def fetch_pop3_account(account_id):
    """Fetch a POP3 account's new mail (mailbox.sync.fetch); failures are recorded on it."""
    from .sync.fetch import fetch_account

    if MailAccount.objects.filter(pk=account_id, incoming_protocol=Protocol.POP3).exists():
        fetch_account(account_id)
        index_account_text.delay(account_id)


INDEX_PER_TASK = 500  # messages per run: a long first pass leaves room for other tasks


@shared_task(ignore_result=True)
def index_account_text(account_id):
    """Add the text of the account's newest unindexed messages to the search index
    (mailbox.sync.index), then queue the rest. Twice at once only indexes some twice."""
    from .sync.index import index_account

    account = MailAccount.objects.filter(pk=account_id).first()
    if account is None:
        return
    if index_account(account, limit=INDEX_PER_TASK) == INDEX_PER_TASK:
        index_account_text.delay(account_id)


@shared_task(ignore_result=True)
def fetch_due_pop3_accounts():
    """On beat's tick (WEBMAIL_FETCH_TICK_SECONDS): each POP3 account due, in its own task."""
    from .sync.fetch import due_pop3_accounts

    for account_id in due_pop3_accounts():
        fetch_pop3_account.delay(account_id)


# an ETA task waits in a worker's memory, unacknowledged; past the broker's visibility timeout
# (Redis: an hour) it is delivered again. Sends further off are left to send_due_outbox.
ETA_HORIZON_SECONDS = 900


def enqueue_send(outbox_id, send_at):
    """send_outbox_message for ``send_at`` (aware datetime), when it is near enough."""
    from django.utils import timezone

    if (send_at - timezone.now()).total_seconds() <= ETA_HORIZON_SECONDS:
        send_outbox_message.apply_async((outbox_id,), eta=send_at)


@shared_task(ignore_result=True)
def send_outbox_message(outbox_id):
    """Send an outbox row if it is queued and due (mailbox.sync.outbox); runs twice harmlessly."""
    from .sync.outbox import send_message

    again_at = send_message(outbox_id)
    if again_at is not None:
        enqueue_send(outbox_id, again_at)


@shared_task(ignore_result=True)
def send_due_outbox():
    """On beat's tick (WEBMAIL_OUTBOX_TICK_SECONDS): stale claims recovered, and each row whose
    task was lost (a worker restarted) sent in its own task."""
    from .sync.outbox import due_outbox_ids, recover_stale

    for outbox_id in {*recover_stale(), *due_outbox_ids()}:
        send_outbox_message.delay(outbox_id)
