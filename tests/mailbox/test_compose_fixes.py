"""What a new user found on the compose screen, server side: recipients typed without commas (or
with a pasted "Bcc:" line) refused and named instead of silently mis-addressed; every bad item
named; a save of a version older than the draft's refused (two tabs on one draft); control
characters named as such; attachment names kept whole; forwarded parts sized decoded."""

import email
import email.policy

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.defaultfilters import filesizeformat

from accounts.identities import default_identity
from mailbox.composing.fields import (
    ADDRESS_IN_NAME,
    HEADER_NAME,
    TWO_ADDRESSES,
    Address,
    BadField,
    parse_address_field,
)
from mailbox.models import Contact, Draft, OutboxMessage
from tests.mailbox.test_compose_entry import PDF, original_raw
from tests.mailbox.test_compose_views import form, save

pytestmark = [pytest.mark.django_db, pytest.mark.servers]


@pytest.fixture
def identity(imap_account):
    return default_identity(imap_account)


@pytest.fixture
def original(deliver, imap_account, identity):
    return deliver(original_raw(imap_account.email))


# --- typed address boxes (pure) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "reason", "named"),
    [
        ("demo@example.com family@example.com", TWO_ADDRESSES,
         "demo@example.com family@example.com"),
        ("Ann a@b.org c@d.org", TWO_ADDRESSES, "Ann a@b.org c@d.org"),
        ("bob@b.org, demo@example.com Bcc: x@y.example", HEADER_NAME,
         "demo@example.com Bcc: x@y.example"),
        ("Bcc: x@y.example", HEADER_NAME, "Bcc: x@y.example"),
        ('"Bcc:" <x@y.example>', HEADER_NAME, '"Bcc:" <x@y.example>'),
        ('"demo@example.com" <family@example.com>', ADDRESS_IN_NAME,
         '"demo@example.com" <family@example.com>'),
        ("demo@example.com, not an address, bob@@x", "not an email address", "not an address"),
        ("demo@example.com, bob@@x", "not an email address", "bob@@x"),
        ("Ann <ann@nowhere>", "not an email address", "ann@nowhere"),
        ("a@b.org, <a b@c.org>", "not an email address", "a b@c.org"),
        ("Ann", "not an email address", "Ann"),
    ],
)  # fmt: skip
def test_a_typed_box_that_would_be_misread_is_refused_naming_the_part(typed, reason, named):
    with pytest.raises(BadField) as refused:
        parse_address_field("to", typed)
    assert (refused.value.field, refused.value.reason, refused.value.value) == ("to", reason, named)


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("Ann <a@b.org>, c@d.org", [Address("Ann", "a@b.org"), Address("", "c@d.org")]),
        ("a@b.org; c@d.org", [Address("", "a@b.org"), Address("", "c@d.org")]),
        ('"Lee, Ann" <a@b.org>', [Address("Lee, Ann", "a@b.org")]),
        ("Ann Lee a@b.org", [Address("Ann Lee", "a@b.org")]),
        ('"a@b.org" <a@b.org>', [Address("a@b.org", "a@b.org")]),  # a reply's usual form
        ("a@b.org,, c@d.org, ", [Address("", "a@b.org"), Address("", "c@d.org")]),
    ],
)
def test_well_typed_boxes_still_read_as_before(typed, read):
    assert parse_address_field("to", typed) == read


# --- the views -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("demo@example.com family@example.com",
         "“demo@example.com family@example.com” in To looks like several addresses: separate "
         "them with commas."),
        ("demo@example.com Bcc: x@y.example",
         "“demo@example.com Bcc: x@y.example” in To looks like a header line: write addresses "
         "only, separated by commas."),
        ("demo@example.com, not an address, bob@@x",
         "“not an address” in To is not an email address."),
    ],
)  # fmt: skip
def test_a_misaddressed_send_is_refused_naming_the_part_and_nothing_is_noted(
    as_alice, identity, typed, error
):
    response = as_alice.post("/mail/compose/send/", form(identity, to=typed))
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["error"]) == ("to", error)
    assert not OutboxMessage.objects.exists()
    assert not Contact.objects.exists(), "no contact learned from a refused send"


def test_only_checked_addresses_become_contacts(as_alice, identity):
    response = as_alice.post("/mail/compose/send/", form(identity, to="Fam <family@example.com>"),
                             headers={"X-Requested-With": "fetch"})  # fmt: skip
    assert response.status_code == 200, response.content
    assert list(Contact.objects.values_list("name", "address")) == [("Fam", "family@example.com")]


@pytest.mark.parametrize("char", ["\x00", "\x07"])
def test_a_control_character_in_the_subject_is_named_as_one(as_alice, identity, char):
    response = as_alice.post("/mail/compose/send/", form(identity, subject=f"Tea{char}time"),
                             headers={"X-Requested-With": "fetch"})  # fmt: skip
    if char == "\x07":  # a BEL cannot split a header: the subject goes (encoded) as typed
        assert response.status_code == 200, response.content
        return
    assert response.status_code == 400
    assert response.json()["error"] == "Subject: control characters are not allowed here."


# --- two windows on one draft --------------------------------------------------------------------


def test_a_save_of_an_older_version_is_refused_and_keeps_nothing(as_alice, identity):
    first = save(as_alice, identity, text="one")
    draft_id = first["draft"]
    other = save(as_alice, identity, draft=draft_id, version=1, text="the other tab's")
    assert other["version"] == 2
    late = as_alice.post("/mail/compose/save/",
                         form(identity, draft=draft_id, version=1, text="this tab's"))  # fmt: skip
    assert late.status_code == 409
    assert late.json()["stale"] is True
    assert "changed in another window" in late.json()["error"]
    draft = Draft.objects.get()
    assert (draft.text, draft.version) == ("the other tab's", 2)
    again = save(as_alice, identity, draft=draft_id, version=2, text="this tab's, chosen")
    assert again["version"] == 3


def test_a_send_from_an_older_version_is_refused(as_alice, identity):
    draft_id = save(as_alice, identity)["draft"]
    save(as_alice, identity, draft=draft_id, version=1, text="newer")
    response = as_alice.post("/mail/compose/send/", form(identity, draft=draft_id, version=1))
    assert response.status_code == 409
    assert not OutboxMessage.objects.exists()
    assert Draft.objects.get().text == "newer"


# --- attachments ---------------------------------------------------------------------------------


def test_an_attachment_is_listed_with_the_pages_own_size_words(as_alice, identity):
    draft_id = save(as_alice, identity)["draft"]
    upload = SimpleUploadedFile("notes v2.txt", b"x" * 6)
    response = as_alice.post(f"/mail/drafts/{draft_id}/attachments/", {"files": [upload]})
    assert response.status_code == 200
    (attached,) = response.json()["attachments"]
    assert (attached["filename"], attached["size_text"]) == ("notes v2.txt", "6\xa0bytes")


def test_an_uploaded_name_is_kept_whole_from_the_names_the_page_posts(as_alice, identity):
    draft_id = save(as_alice, identity)["draft"]
    name = "evil\r\nContent-Type: text/html.txt"
    upload = SimpleUploadedFile(name, b"x")
    response = as_alice.post(f"/mail/drafts/{draft_id}/attachments/",
                             {"files": [upload], "names": [name]})  # fmt: skip
    assert response.status_code == 200
    (attached,) = response.json()["attachments"]
    assert attached["filename"] == "evil  Content-Type: text/html.txt"
    sent = as_alice.post("/mail/compose/send/", form(identity, draft=draft_id, version=2),
                         headers={"X-Requested-With": "fetch"})  # fmt: skip
    assert sent.status_code == 200, sent.content
    raw = bytes(OutboxMessage.objects.get().raw)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    (part,) = list(message.iter_attachments())
    assert part.get_filename() == "evil  Content-Type: text_html.txt"
    assert part.get_content_type() == "text/plain"


def test_too_big_names_the_files_refused(as_alice, identity, settings):
    settings.WEBMAIL_MAX_MESSAGE_BYTES = 10
    draft_id = save(as_alice, identity)["draft"]
    upload = SimpleUploadedFile("holiday.jpg", b"x" * 11)
    response = as_alice.post(f"/mail/drafts/{draft_id}/attachments/", {"files": [upload]})
    assert response.status_code == 413
    assert response.json()["error"] == (
        "Not attached: “holiday.jpg”. Attachments may weigh 10\xa0bytes in all, together."
    )


def test_a_forwarded_part_is_listed_with_its_decoded_size(as_alice, original):
    response = as_alice.get(f"/mail/compose/forward/{original.pk}/")
    ((_section, name, _type, size),) = response.context["reused"]
    assert name == "minutes.pdf"
    assert abs(size - len(PDF)) <= 2, f"{size}: the encoded size, not the file's"
    assert filesizeformat(size) in response.content.decode()
