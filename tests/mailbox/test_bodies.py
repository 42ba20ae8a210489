"""Message bodies and attachments are fetched when opened, part by part."""

import datetime
import email
import email.policy

import pytest
from django.utils import timezone

from mailbox.models import BodyPart, Message
from mailbox.sources import PartNotFound
from mailbox.sources.imap import ImapSource, evict
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
        ImapSource().get_part(message, "1").decode() == "Here is the report, café.\r\n"
    )  # as on the wire
    assert BodyPart.objects.filter(message=message, section="1").exists()
    assert ImapSource().get_part(message, "1").decode().startswith("Here is")  # from the cache


def test_an_attachment_streams_in_chunks_equal_to_the_original(synced):
    message, payload = synced
    source = ImapSource()
    stream = source.stream_part(message, source.find_part(message, "2"), chunk_size=10_000)
    chunks = list(stream)
    stream.close()
    assert len(chunks) > 5
    assert b"".join(chunks) == payload
    assert not BodyPart.objects.filter(section="2").exists()  # streamed, not cached


@pytest.mark.parametrize("older", ["1", "2"])
def test_the_cache_keeps_within_its_bound_by_dropping_the_least_recently_used_part(
    synced, settings, older
):
    """Room for one of the two parts, whichever is larger: the one used longer ago goes, the
    other stays (not the larger, not both)."""
    message, _payload = synced
    source = ImapSource()
    source.get_part(message, "1")
    source.get_part(message, "2")
    sizes = dict(BodyPart.objects.filter(message=message).values_list("section", "size"))
    assert sizes.keys() == {"1", "2"} and sizes["2"] > 100_000 > sizes["1"]
    now = timezone.now()
    BodyPart.objects.filter(message=message).update(used_at=now)
    BodyPart.objects.filter(message=message, section=older).update(
        used_at=now - datetime.timedelta(hours=1)
    )
    settings.WEBMAIL_BODY_CACHE_BYTES = sum(sizes.values()) - 1
    assert evict(message.folder.account_id) == 1
    newer = "2" if older == "1" else "1"
    assert list(BodyPart.objects.values_list("section", flat=True)) == [newer]
    assert evict(message.folder.account_id) == 0  # within its bound now: nothing more goes


def test_an_unknown_section_is_refused(synced):
    with pytest.raises(PartNotFound):
        ImapSource().get_part(synced[0], "9.9")


def test_alice_downloads_an_attachment_streamed(synced, client, alice):
    message, payload = synced
    client.force_login(alice)
    response = client.get(f"/mail/messages/{message.pk}/parts/2/")
    assert response.status_code == 200 and response.streaming
    assert b"".join(response.streaming_content) == payload
    assert response["Content-Disposition"] == (
        "attachment; filename=\"report.bin\"; filename*=UTF-8''report.bin"
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_bob_cannot_download_alices_attachment(synced, client, bob):
    client.force_login(bob)
    assert client.get(f"/mail/messages/{synced[0].pk}/parts/2/").status_code == 404


@pytest.mark.parametrize(
    ("name", "fallback"),
    [
        ("résumé.pdf", "r_sum_.pdf"),
        ('a"b\r\nc.txt', "a_b__c.txt"),
        ("../../etc/passwd", "_.._etc_passwd"),
        ("", "attachment"),
    ],
)
def test_filenames_are_made_safe(name, fallback):
    from mailbox.views.download import content_disposition

    header = content_disposition(name)
    assert f'filename="{fallback}"' in header
    assert "\r" not in header and "\n" not in header
