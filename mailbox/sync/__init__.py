"""Keeping an account's cache in sync with its IMAP server, both ways.

``run_account`` is what the tasks call: under the account's lease it pushes the changes made
here, mirrors the folder list, and resyncs every folder whose STATUS says it may have changed.
A failure is recorded on the account and shown to its owner; it never touches other accounts.
"""

import contextlib
import logging

from django.utils import timezone

from accounts.connection import describe_error, incoming_endpoint
from accounts.models import MailAccount, Protocol
from mailbox.events import send_event_on_commit
from mailbox.models import PendingChange
from mailbox.protocols import imap
from mailbox.protocols.base import ConnectionProblem

from .folders import needs_sync, sync_folder_list
from .lease import run_exclusively
from .messages import sync_folder
from .push import push_pending

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def imap_session(account, **options):
    session = imap.open_session(incoming_endpoint(account), **options)
    try:
        yield session
    finally:
        with contextlib.suppress(ConnectionProblem, OSError):
            session.logout()


def run_account(account_id, *, folder_names=None, push_only=False, session_options=None,
                session=None, hand_over=None):  # fmt: skip
    """Push, then sync the account (or only ``folder_names``). False if another run holds it.

    ``session``: a logged-in session of the caller's to work on (the IDLE watcher keeps one
    per account: no login, and no cold SELECT, per new message); left open, and left in any
    state (another folder may be selected). Without it a session is opened and logged out.
    ``hand_over``: called instead of the whole sync that others asked for meanwhile (see
    lease.run_exclusively), by a caller that must not take it on (the watcher queues it)."""
    account = MailAccount.objects.get(pk=account_id, incoming_protocol=Protocol.IMAP)

    def work(lease, again):
        if again and hand_over is not None:
            hand_over()
            return
        with _session_for(account, session, session_options) as current:
            push_pending(account, current)
            if again or not push_only:
                _sync_folders(account, current, lease, None if again else folder_names)
        record_result(account, "")

    try:
        return run_exclusively(account.pk, work)
    except ConnectionProblem as problem:
        text = describe_error(account, problem)
        logger.warning("sync of account %s failed: %s", account.pk, problem)
        record_result(account, text)
        return True


def _session_for(account, session, options):
    if session is not None:
        return contextlib.nullcontext(session)
    return imap_session(account, **(options or {}))


def _sync_folders(account, session, lease, folder_names):
    def push_if_pending():
        if PendingChange.objects.filter(account=account).exists():
            push_pending(account, session)
            return True
        return False

    for folder in sync_folder_list(account, session):
        if not folder.selectable or (folder_names and folder.name not in folder_names):
            continue
        try:
            status = session.status(folder.name)
            if needs_sync(folder, status, session.has_condstore):
                sync_folder(folder, session, lease, status=status, between_batches=push_if_pending)
        except imap.ImapCommandError as refused:  # one folder's trouble is not the others'
            logger.warning("folder %s of account %s: %s", folder.pk, account.pk, refused)
        push_if_pending()
        lease.renew_if_due()


def record_result(account, error):
    """After a sync or fetch: its error ("" when it went well) and its time, on the account;
    the owner's pages hear of a change of error."""
    changed = account.last_error != error
    MailAccount.objects.filter(pk=account.pk).update(last_error=error, synced_at=timezone.now())
    account.last_error = error
    if changed:
        send_event_on_commit(
            [account.user_id],
            {"type": "account.changed", "account_id": account.pk, "error": bool(error)},
        )
