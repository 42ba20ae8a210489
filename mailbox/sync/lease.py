"""One sync per account at a time: a lease in the database that expires.

A worker killed mid-sync frees the account when its lease runs out. A sync asked for while the
lease is held sets ``sync_again``; the holder runs once more before letting go, so no request is
lost (see :func:`run_exclusively`).
"""

import datetime
import secrets
import time
from contextlib import contextmanager

from django.db.models import Q
from django.utils import timezone

from accounts.models import MailAccount

LEASE_SECONDS = 120


class AccountBusy(Exception):
    """Another worker holds this account's lease."""


class LeaseLost(Exception):
    """Our lease expired and someone else took the account: stop without writing more."""


RENEW_AFTER_SECONDS = 20  # renew_if_due: a lease younger than this is left as it is


class Lease:
    def __init__(self, account_id, token):
        self.account_id, self.token = account_id, token
        self.renewed_at = time.monotonic()
        self.released = False

    def renew(self):
        until = timezone.now() + datetime.timedelta(seconds=LEASE_SECONDS)
        held = MailAccount.objects.filter(pk=self.account_id, sync_lease_token=self.token)
        if not held.update(sync_lease_until=until):
            raise LeaseLost(self.account_id)
        self.renewed_at = time.monotonic()

    def renew_if_due(self):
        """Renew a lease taken or renewed more than RENEW_AFTER_SECONDS ago. Between the
        folders and batches of a sync: a sync of a few new messages writes the account's row
        for its claim and its release only (each write a commit, milliseconds each)."""
        if time.monotonic() - self.renewed_at >= RENEW_AFTER_SECONDS:
            self.renew()


@contextmanager
def account_lease(account_id):
    now = timezone.now()
    token = secrets.token_hex(16)
    free = Q(sync_lease_until__isnull=True) | Q(sync_lease_until__lt=now)
    claimed = MailAccount.objects.filter(free, pk=account_id).update(
        sync_lease_until=now + datetime.timedelta(seconds=LEASE_SECONDS),
        sync_lease_token=token,
        sync_again=False,
    )
    if not claimed:
        MailAccount.objects.filter(pk=account_id).update(sync_again=True)
        raise AccountBusy(account_id)
    lease = Lease(account_id, token)
    try:
        yield lease
    finally:
        if not lease.released:
            MailAccount.objects.filter(pk=account_id, sync_lease_token=token).update(
                sync_lease_until=None, sync_lease_token=""
            )


def run_exclusively(account_id, work):
    """Run ``work(lease, again=False)`` under the account's lease; then, while others asked
    meanwhile, ``work(lease, again=True)``: what they asked for is not known, so the work done
    again must cover any request (a whole sync, not just the folder the first run was for).

    Returns False when another worker holds the lease (it will run again for us).
    """
    try:
        with account_lease(account_id) as lease:
            again = False
            while True:
                work(lease, again=again)
                again = True
                # let go only if nobody asked meanwhile, in one statement: a request that comes
                # after it finds the lease free and runs by itself
                ours = MailAccount.objects.filter(pk=account_id, sync_lease_token=lease.token)
                if ours.filter(sync_again=False).update(sync_lease_until=None, sync_lease_token=""):
                    lease.released = True
                    return True
                ours.update(sync_again=False)
                lease.renew()
    except AccountBusy:
        return False
