"""Alice stars mail while the task queue does not answer (Redis restarting, as bench/load.py
does under load): the change is made, answered as made, and kept for the next push; it is not
a 500 for a change that was kept."""

import pytest
from kombu.exceptions import OperationalError

from mailbox import tasks
from mailbox.models import Message, PendingChange
from mailbox.sync import run_account

from .conftest import folder

# the view's own commit runs the push's on_commit, as in production
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.servers]


@pytest.fixture
def queue_down(monkeypatch):
    """sync_account.delay fails as kombu fails when Redis refuses the connection."""
    tried = []

    def refused(*args, **kwargs):
        tried.append(args)
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.sync_account, "delay", refused)
    return tried


def test_alice_flags_mail_while_the_queue_is_down_and_the_next_push_takes_it(
    as_alice, imap_account, other_client, queue_down
):
    other_client.seed(4, seed=5, folders=["INBOX"])
    assert run_account(imap_account.pk)
    messages = list(folder(imap_account, "INBOX").messages.order_by("uid")[:2])

    response = as_alice.post(
        "/mail/messages/action/", {"action": "flag", "ids": [m.pk for m in messages]}
    )

    assert (response.status_code, response.json()) == (200, {"ok": True, "count": 2})
    assert queue_down == [(imap_account.pk,)], "the push was asked for once"
    assert all(
        "\\Flagged" in m.flags for m in Message.objects.filter(pk__in=[m.pk for m in messages])
    )
    assert PendingChange.objects.filter(account=imap_account).exists(), "kept for the next push"

    assert run_account(imap_account.pk, push_only=True)  # the account's next sync

    server = other_client.flags("INBOX")
    assert all("\\Flagged" in server[m.uid] for m in messages)
    assert not PendingChange.objects.filter(account=imap_account).exists()
