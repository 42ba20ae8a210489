"""A save's copy goes through the queue: a real Celery worker started here takes the task
save_draft_copy from Redis and APPENDs the draft to Dovecot's Drafts, replacing the copy before."""

import time

import pytest

from accounts.identities import default_identity
from mailbox.models import Draft, Message, Role
from mailbox.sync import run_account
from mailbox.sync.drafts import CopyBusy
from tests.mailbox.test_drafts import server_drafts

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.servers, pytest.mark.slow]


def wait_for_copy(worker, draft_id, version):
    deadline = time.monotonic() + 30
    while not Draft.objects.filter(pk=draft_id, copy_version=version).exists():
        if time.monotonic() > deadline or worker.poll() is not None:
            worker.terminate()
            pytest.fail(f"no worker saved the copy: {worker.communicate(timeout=10)[0][-3000:]}")
        time.sleep(0.2)


def test_each_save_reaches_drafts_through_the_worker(
    alice_client,
    imap_account,
    other_client,
    celery_worker,  # noqa: F811
):
    assert run_account(imap_account.pk)
    form = {"identity": default_identity(imap_account).pk, "to": "bob@example.com",
            "subject": "Through the queue", "text": "one", "is_html": "0"}  # fmt: skip
    draft_id = alice_client.post("/mail/compose/save/", form).json()["draft"]
    wait_for_copy(celery_worker, draft_id, 1)
    assert [m["Subject"] for _u, _f, m in server_drafts(other_client)] == ["Through the queue"]
    form.update(draft=draft_id, subject="Through the queue, again")
    assert alice_client.post("/mail/compose/save/", form).json()["version"] == 2
    wait_for_copy(celery_worker, draft_id, 2)
    copies = server_drafts(other_client)
    assert [m["Subject"] for _u, _f, m in copies] == ["Through the queue, again"]
    # and the worker syncs Drafts: the list shows the new copy, once
    listed = Message.objects.filter(folder__account=imap_account, folder__role=Role.DRAFTS)
    deadline = time.monotonic() + 30
    while list(listed.values_list("subject", flat=True)) != ["Through the queue, again"]:
        assert time.monotonic() < deadline, list(listed.values_list("subject", flat=True))
        time.sleep(0.2)


def test_two_runs_at_once_leave_one_copy(alice, imap_account, other_client):
    """Two workers given the same draft at the same moment (a save's task and a redelivery):
    one holds the draft's lease and APPENDs, the other finds it held (or, later, the copy
    current)."""
    from mailbox.drafts import DraftFields, do_save_draft
    from mailbox.sync.drafts import save_copy

    assert run_account(imap_account.pk)
    identity = default_identity(imap_account)
    draft = None
    for version in range(1, 6):  # a few rounds: a race shows itself only now and then
        fields = DraftFields(identity, subject=f"Raced {version}", text="x")
        draft = do_save_draft(alice, fields, draft=draft)
        results = race(draft.pk, save_copy)
        assert version in results and set(results) <= {version, "busy"}, results
        assert save_copy(draft.pk) == version, "and a run after them has nothing to do"
        subjects = [m["Subject"] for _u, _f, m in server_drafts(other_client)]
        assert subjects == [f"Raced {version}"]


def race(draft_id, save_copy):
    """save_copy(draft_id) in two threads let go at once; their results."""
    import threading

    from django.db import connection

    start, results = threading.Barrier(2), []

    def run():
        try:
            start.wait()
            results.append(save_copy(draft_id))
        except CopyBusy:  # the other one holds the draft: its task would be tried again
            results.append("busy")
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results
