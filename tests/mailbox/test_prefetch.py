"""After a sync, the text of the newest messages is fetched into the body cache (mailbox.sync.
prefetch), so that opening them reads the cache; on the real Dovecot."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mailbox.models import BodyPart, Message
from mailbox.parsing import find_parts, parse_bodystructure
from mailbox.sync import prefetch, run_account
from mailbox.sync.pool import POOL
from mailbox.testing.seed import generate_messages, seed_imap

pytestmark = [pytest.mark.servers]

COUNT = 8


@pytest.fixture
def synced(imap_account, other_client):
    seed_imap(other_client.imap, generate_messages(COUNT, seed=11, folders=["INBOX"]))
    assert run_account(imap_account.pk)
    return imap_account


def newest(account):
    return list(Message.objects.filter(folder__account=account).order_by("-date", "-id"))


def body_sections(message):
    text, html, _attachments, _inline = find_parts(
        parse_bodystructure(bytes(message.bodystructure))
    )
    return {part.section for part in (text, html) if part is not None}


def cached_sections(message):
    return set(BodyPart.objects.filter(message=message).values_list("section", flat=True))


@pytest.mark.django_db
def test_the_newest_messages_text_is_cached_with_its_preview_and_nothing_is_seen(
    synced, other_client
):
    before = other_client.flags("INBOX")
    assert any("\\Seen" not in flags for flags in before.values())  # some unread to keep so
    summary = prefetch.prefetch_account(synced.pk)
    assert summary["messages"] == COUNT and not summary["full"]
    for message in newest(synced):
        assert cached_sections(message) == body_sections(message) != set()
        assert message.preview, message.subject
    assert other_client.flags("INBOX") == before


@pytest.mark.django_db
def test_opening_a_prefetched_message_reads_the_cache(synced, alice_client):
    prefetch.prefetch_account(synced.pk)
    message = newest(synced)[0]
    long_ago = timezone.now() - timedelta(days=1)  # prefetched yesterday
    BodyPart.objects.filter(message=message).update(used_at=long_ago)
    parts = set(BodyPart.objects.filter(message=message).values_list("section", flat=True))
    response = alice_client.get(reverse("mailbox:message", args=[message.pk]), {"part": "pane"})
    assert response.status_code == 200
    assert POOL.idle_count(synced.pk) == 0 and POOL.lent(synced.pk) == 0  # no session opened
    used = dict(BodyPart.objects.filter(message=message).values_list("section", "used_at"))
    assert used.keys() == parts and any(at > long_ago for at in used.values())  # read
    with CaptureQueriesContext(connection) as queries:  # again at once: read, nothing written
        response = alice_client.get(reverse("mailbox:message", args=[message.pk]), {"part": "pane"})
    assert response.status_code == 200
    assert not [q for q in queries if q["sql"].startswith(("UPDATE", "INSERT", "DELETE"))]
    # the session, its user, two-factor login, the message, its conversation's messages (the
    # thread index), its trusted sender (HTML), its part
    assert len(queries) <= 7, [q["sql"][:80] for q in queries]
    assert dict(BodyPart.objects.filter(message=message).values_list("section", "used_at")) == used


@pytest.mark.django_db
def test_only_the_newest_are_fetched_as_configured(synced, settings):
    settings.WEBMAIL_PREFETCH_DAYS, settings.WEBMAIL_PREFETCH_MESSAGES = 0, 3
    prefetch.prefetch_account(synced.pk)
    messages = newest(synced)
    assert all(cached_sections(m) for m in messages[:3])
    assert not any(cached_sections(m) for m in messages[3:])
    assert not any(m.preview for m in messages[3:])


@pytest.mark.django_db
def test_the_cache_bound_is_respected_newest_first(synced, settings):
    messages = newest(synced)
    prefetch.prefetch_account(synced.pk)  # to learn the sizes
    sizes = [sum(p.size for p in BodyPart.objects.filter(message=m)) for m in messages]
    BodyPart.objects.all().delete()
    settings.WEBMAIL_BODY_CACHE_BYTES = sum(sizes[:3]) + sizes[3] // 2  # room for three
    summary = prefetch.prefetch_account(synced.pk)
    assert summary["full"]
    total = BodyPart.objects.filter(account=synced).aggregate(s=Sum("size"))["s"]
    assert total == sum(sizes[:3]) <= settings.WEBMAIL_BODY_CACHE_BYTES
    assert [bool(cached_sections(m)) for m in messages] == [True] * 3 + [False] * (COUNT - 3)


@pytest.mark.django_db
def test_a_full_cache_is_left_alone(synced, settings):
    settings.WEBMAIL_BODY_CACHE_BYTES = 0
    assert prefetch.prefetch_account(synced.pk)["full"]
    assert not BodyPart.objects.exists()


@pytest.mark.django_db
def test_a_prefetch_stopped_midway_resumes(synced, monkeypatch):
    monkeypatch.setattr(prefetch, "BATCH_MESSAGES", 3)

    def stop(name, **details):
        raise KeyboardInterrupt  # a worker killed after the first batch was committed

    monkeypatch.setattr(prefetch, "checkpoint", stop)
    with pytest.raises(KeyboardInterrupt):
        prefetch.prefetch_account(synced.pk)
    messages = newest(synced)
    assert [bool(cached_sections(m)) for m in messages] == [True] * 3 + [False] * (COUNT - 3)
    first = set(BodyPart.objects.values_list("pk", flat=True))
    monkeypatch.setattr(prefetch, "checkpoint", lambda name, **details: None)
    summary = prefetch.prefetch_account(synced.pk)
    assert summary["messages"] == COUNT - 3  # only the rest were fetched
    assert all(cached_sections(m) == body_sections(m) for m in newest(synced))
    assert first <= set(BodyPart.objects.values_list("pk", flat=True))  # kept as they were
    assert prefetch.prefetch_account(synced.pk)["messages"] == 0  # run again: nothing to do


@pytest.mark.django_db(transaction=True)
def test_a_sync_queues_the_prefetch_and_a_worker_runs_it(synced, other_client, celery_worker):
    from mailbox.tasks import sync_account
    from tests.running_app import wait_until

    seed_imap(other_client.imap, generate_messages(2, seed=12, folders=["INBOX"]))
    BodyPart.objects.all().delete()
    Message.objects.update(preview="")
    sync_account.delay(synced.pk)

    def all_cached():
        messages = newest(synced)
        return len(messages) == COUNT + 2 and all(
            cached_sections(m) and m.preview for m in messages
        )

    assert wait_until(all_cached, timeout=60), celery_worker.poll()
