"""Alice writes and sends while Redis, as Django's cache, does not answer (a restart, as
bench/load.py does under load): her saves and her send are answered, not a 500. The cache only
remembered which draft a form's first save made."""

import pytest
from django.test import override_settings

from accounts.identities import default_identity
from mailbox.models import Draft, OutboxMessage
from mailbox.testing.servers import free_port

pytestmark = [pytest.mark.django_db, pytest.mark.servers]


@pytest.fixture
def cache_down():
    """Django's cache on a Redis port where nothing listens: each call refused, as in a restart."""
    location = f"redis://127.0.0.1:{free_port()}/0"
    backend = "django.core.cache.backends.redis.RedisCache"
    with override_settings(CACHES={"default": {"BACKEND": backend, "LOCATION": location}}):
        yield


def form(identity, **values):
    return {"identity": identity.pk, "to": "Bob <bob@example.com>", "cc": "", "bcc": "",
            "subject": "Tea", "text": "Come at four.", "is_html": "0", "html": "",
            "client_key": "form-key-123", **values}  # fmt: skip


def test_alice_saves_and_sends_while_the_cache_is_down(as_alice, imap_account, cache_down):
    identity = default_identity(imap_account)

    first = as_alice.post("/mail/compose/save/", form(identity))
    assert first.status_code == 200, first.content
    draft = first.json()["draft"]
    again = as_alice.post("/mail/compose/save/", form(identity, draft=draft, version=1))
    assert again.status_code == 200, again.content
    sent = as_alice.post("/mail/compose/send/", form(identity, draft=draft, version=2),
                         headers={"X-Requested-With": "fetch"})  # fmt: skip

    assert sent.status_code == 200, sent.content
    assert Draft.objects.filter(pk=draft).count() == 1
    assert OutboxMessage.objects.get(pk=sent.json()["outbox"]).draft_id == draft
