"""Message bodies and attachments are fetched when opened, part by part."""

import email
import email.policy

import pytest

from mailbox import bodies
from mailbox.models import BodyPart, Message
from mailbox.sync import run_account

pytestmark = [pytest.mark.django_db, pytest.mark.servers]


def attachment_message(size):
    message = email.message.EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.org", "b@example.org", "report"
    message.set_content("Here is the report, café.\n")
    payload = bytes(range(256)) * (size // 256)
    message.add_attachment(
        payload, maintype="application", subtype="octet-stream", filename="report.bin"
    )
    return message.as_bytes(policy=email.policy.SMTP), payload


@pytest.fixture
def synced(imap_account, other_client):
    raw, payload = attachment_message(300_000)
    other_client.select("INBOX")
    other_client.imap.append("INBOX", None, None, raw)
    run_account(imap_account.pk)
    return Message.objects.get(folder__account=imap_account), payload


def test_the_text_part_is_fetched_decoded_and_cached(synced):
    message, _payload = synced
    assert message.has_attachments
    assert (
        bodies.get_part(message, "1").decode() == "Here is the report, café.\r\n"
    )  # as on the wire
    assert BodyPart.objects.filter(message=message, section="1").exists()
    assert bodies.get_part(message, "1").decode().startswith("Here is")  # from the cache


def test_an_attachment_streams_in_chunks_equal_to_the_original(synced):
    message, payload = synced
    chunks = list(bodies.iter_part(message, "2", chunk_size=10_000))
    assert len(chunks) > 5
    assert b"".join(chunks) == payload
    assert not BodyPart.objects.filter(section="2").exists()  # streamed, not cached


def test_the_cache_keeps_within_its_bound(synced, settings):
    message, _payload = synced
    bodies.get_part(message, "1")
    settings.WEBMAIL_BODY_CACHE_BYTES = 10
    bodies.get_part(message, "2")  # 300 KB: over the bound, the oldest part goes
    assert bodies.evict(message.folder.account_id) == 0
    total = sum(BodyPart.objects.values_list("size", flat=True))
    assert total <= 300_000 + 10
    assert not BodyPart.objects.filter(section="1").exists()


def test_an_unknown_section_is_refused(synced):
    with pytest.raises(bodies.PartNotFound):
        bodies.get_part(synced[0], "9.9")
