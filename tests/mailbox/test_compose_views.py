"""The compose screen's views: a new message saved as a draft and sent into the outbox, with
its checks (bad addresses named, line breaks refused, the size limit), and Bob kept away from
Alice's drafts. The outbox's worker is not run here: the row it would send is parsed instead."""

import email
import email.policy

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.identities import default_identity
from accounts.models import MailAccount
from mailbox.composing.fields import LINE_BREAKS
from mailbox.models import Contact, Draft, DraftAttachment, OutboxMessage

pytestmark = [pytest.mark.django_db, pytest.mark.servers]


@pytest.fixture
def identity(imap_account):
    identity = default_identity(imap_account)
    identity.name = "Alice Liddell"
    identity.signature_text = "Alice, from the rabbit hole"
    identity.save()
    return identity


def form(identity, **values):
    data = {"identity": identity.pk, "to": "Bob <bob@example.com>", "cc": "", "bcc": "",
            "subject": "Tea", "text": "Come at four.", "is_html": "0", "html": ""}  # fmt: skip
    data.update(values)
    return data


def save(client, identity, **values):
    response = client.post("/mail/compose/save/", form(identity, **values))
    assert response.status_code == 200, response.content
    return response.json()


def parsed(raw):
    return email.message_from_bytes(bytes(raw), policy=email.policy.default)


def test_the_new_message_form_starts_with_the_signature(as_alice, identity):
    response = as_alice.get(f"/mail/compose/?account={identity.account_id}")
    assert response.status_code == 200
    initial = response.context["initial"]
    assert initial["identity"] == identity
    assert initial["text"].endswith("\n-- \nAlice, from the rabbit hole")
    assert "\n-- \nAlice, from the rabbit hole</textarea>" in response.content.decode()
    assert not Draft.objects.exists(), "opening the form saves nothing"


def test_the_first_save_makes_the_draft_and_the_next_ones_new_versions(as_alice, identity):
    first = save(as_alice, identity)
    draft = Draft.objects.get(pk=first["draft"])
    assert (first["version"], draft.subject, draft.to) == (1, "Tea", "Bob <bob@example.com>")
    assert draft.message_id.endswith(f"@{identity.address.split('@')[1]}>")
    second = save(as_alice, identity, draft=draft.pk, subject="Tea at five")
    draft.refresh_from_db()
    assert (second["draft"], second["version"], draft.subject) == (draft.pk, 2, "Tea at five")
    assert Draft.objects.count() == 1


def test_a_second_first_save_of_the_same_form_does_not_make_two_drafts(as_alice, identity):
    """The page-leaving save can cross the first one's answer: the form's key finds the draft."""
    first = save(as_alice, identity, client_key="form-key-123")
    again = save(as_alice, identity, client_key="form-key-123", subject="Later")
    assert again["draft"] == first["draft"]
    assert Draft.objects.get().subject == "Later"


def test_a_draft_reopens_as_it_was_left(as_alice, identity):
    draft_id = save(as_alice, identity, subject="Where we were")["draft"]
    response = as_alice.get(f"/mail/drafts/{draft_id}/")
    assert 'value="Where we were"' in response.content.decode()
    text = response.context["initial"]["text"]
    assert text == "Come at four.", "the signature is added once, not at every opening"


@pytest.mark.parametrize("name", ["to", "cc", "bcc", "subject"])
@pytest.mark.parametrize("line_break", sorted(LINE_BREAKS))
def test_a_line_break_in_a_typed_field_is_refused(as_alice, identity, name, line_break):
    value = f"bob@example.com{line_break}Bcc: eve@example.org"
    for url in ("/mail/compose/save/", "/mail/compose/send/"):
        response = as_alice.post(url, form(identity, **{name: value}))
        assert response.status_code == 400
        assert response.json()["field"] == name
        wanted = "control characters" if line_break == "\0" else "line breaks"
        assert f"{wanted} are not allowed" in response.json()["error"]
    assert not Draft.objects.exists()
    assert not OutboxMessage.objects.exists()


@pytest.mark.parametrize("name", ["to", "cc", "bcc"])
def test_a_bad_address_is_named_with_its_field_and_nothing_is_queued(as_alice, identity, name):
    values = {name: "Carol <carol@example.org>, bob@@example"}
    response = as_alice.post("/mail/compose/send/", form(identity, **values))
    assert response.status_code == 400
    answer = response.json()
    assert answer["field"] == name
    assert answer["error"] == f"“bob@@example” in {name.title()} is not an email address."
    assert not OutboxMessage.objects.exists()
    assert Draft.objects.get().to == form(identity, **values)["to"], "the draft keeps the text"


def test_a_message_needs_a_recipient(as_alice, identity):
    response = as_alice.post("/mail/compose/send/", form(identity, to=" "))
    assert response.status_code == 400
    assert response.json()["field"] == "to"
    assert not OutboxMessage.objects.exists()


def test_a_subjectless_message_is_accepted_by_the_server(as_alice, identity):
    response = as_alice.post("/mail/compose/send/", form(identity, subject=""),
                             headers={"X-Requested-With": "fetch"})  # fmt: skip
    assert response.status_code == 200
    assert OutboxMessage.objects.count() == 1


def test_a_send_queues_one_message_built_from_the_form(as_alice, identity):
    draft_id = save(as_alice, identity, subject="Tea ☕", cc="Zoë <zoe@example.org>",
                    bcc="eve@example.org")["draft"]  # fmt: skip
    upload = SimpleUploadedFile("menü.txt", "scones, jam €".encode(), "text/plain")
    response = as_alice.post(f"/mail/drafts/{draft_id}/attachments/", {"files": [upload]})
    assert response.status_code == 200
    response = as_alice.post("/mail/compose/send/",
                             form(identity, draft=draft_id, subject="Tea ☕",
                                  cc="Zoë <zoe@example.org>", bcc="eve@example.org"),
                             headers={"X-Requested-With": "fetch"})  # fmt: skip
    assert response.status_code == 200, response.content
    (outbox,) = OutboxMessage.objects.all()
    assert response.json()["outbox"] == outbox.pk
    assert outbox.draft_id == draft_id, "the draft stays until the message is sent: Undo"
    assert outbox.recipients == ["bob@example.com", "zoe@example.org", "eve@example.org"]
    assert outbox.bcc == "eve@example.org"
    assert outbox.envelope_from == identity.address
    assert not outbox.scheduled and outbox.send_at > outbox.created_at
    message = parsed(outbox.raw)
    assert message["Subject"] == "Tea ☕"
    assert b"=?utf-8?" in bytes(outbox.raw).split(b"\r\n\r\n")[0], "RFC 2047 in the header"
    assert message["From"].addresses[0].display_name == "Alice Liddell"
    assert message["Cc"].addresses[0].display_name == "Zoë"
    assert message["Bcc"] is None, "the Bcc header is never transmitted"
    assert message["Message-ID"].strip() == Draft.objects.get().message_id
    raw = bytes(outbox.raw)
    assert raw.isascii(), "7-bit throughout: any relay carries it"
    assert b"filename*=" in raw, "RFC 2231 for the non-ASCII file name"
    body, attachment = message.iter_parts()
    assert body.get_content().strip() == "Come at four."
    assert attachment["Content-Transfer-Encoding"] == "base64"
    assert attachment.get_filename() == "menü.txt"
    assert attachment.get_payload(decode=True) == "scones, jam €".encode()
    noted = dict(Contact.objects.filter(user=identity.account.user).values_list("address", "name"))
    assert noted == {"bob@example.com": "Bob", "zoe@example.org": "Zoë", "eve@example.org": ""}


def test_formatted_mail_goes_out_sanitized_with_its_plain_text(as_alice, identity):
    html = ('<div>Come at <b>four</b>.</div><script>alert(1)</script>'
            '<div><a href="javascript:alert(2)">here</a> <img src="https://tracker.example/x.gif">'
            "</div>")  # fmt: skip
    response = as_alice.post("/mail/compose/send/", form(identity, is_html="1", html=html,
                                                         text="ignored"))  # fmt: skip
    assert response.status_code == 302
    message = parsed(OutboxMessage.objects.get().raw)
    assert message.get_content_type() == "multipart/alternative"
    text, formatted = message.iter_parts()
    assert "Come at *four*." in " ".join(text.get_content().split())
    assert "<b>four</b>" in formatted.get_content()
    for hostile in ("<script", "javascript:", "tracker.example"):
        assert hostile not in formatted.get_content()


def test_attachments_past_the_limit_are_refused_and_nothing_is_kept(as_alice, identity, settings):
    settings.WEBMAIL_MAX_MESSAGE_BYTES = 1000
    draft_id = save(as_alice, identity)["draft"]
    files = [SimpleUploadedFile(f"f{n}.bin", b"x" * 600) for n in range(2)]
    response = as_alice.post(f"/mail/drafts/{draft_id}/attachments/", {"files": files})
    assert response.status_code == 413
    assert "1000\xa0bytes" in response.json()["error"]
    assert not DraftAttachment.objects.exists()
    one = SimpleUploadedFile("f.bin", b"x" * 600)
    assert (
        as_alice.post(f"/mail/drafts/{draft_id}/attachments/", {"files": [one]}).status_code == 200
    )
    assert DraftAttachment.objects.count() == 1


def test_an_attachment_can_be_removed(as_alice, identity):
    draft_id = save(as_alice, identity)["draft"]
    upload = SimpleUploadedFile("a.txt", b"a")
    answer = as_alice.post(f"/mail/drafts/{draft_id}/attachments/", {"files": [upload]}).json()
    (attachment,) = answer["attachments"]
    response = as_alice.post(attachment["remove_url"])
    assert response.status_code == 200 and response.json()["attachments"] == []
    assert not DraftAttachment.objects.exists()


def test_deleting_the_account_takes_its_drafts_files_with_it(
    as_alice, identity, django_capture_on_commit_callbacks
):
    from accounts.actions import do_delete_mail_account
    from mailbox.sources import rawstore

    draft_id = save(as_alice, identity)["draft"]
    upload = SimpleUploadedFile("a.txt", b"kept until the account goes")
    as_alice.post(f"/mail/drafts/{draft_id}/attachments/", {"files": [upload]})
    kept = DraftAttachment.objects.get().stored_name
    assert rawstore.storage().exists(kept)
    with django_capture_on_commit_callbacks(execute=True):
        do_delete_mail_account(MailAccount.objects.get(pk=identity.account_id))
    assert not rawstore.storage().exists(kept)


def test_undo_gives_the_draft_back_to_the_editor(as_alice, identity):
    draft_id = save(as_alice, identity, subject="Second thoughts")["draft"]
    answer = as_alice.post("/mail/compose/send/", form(identity, draft=draft_id,
                                                       subject="Second thoughts"),
                           headers={"X-Requested-With": "fetch"}).json()  # fmt: skip
    undone = as_alice.post(answer["undo_url"], headers={"X-Requested-With": "fetch"})
    assert undone.json() == {"redirect": f"/mail/drafts/{draft_id}/"}
    assert not OutboxMessage.objects.exists()
    page = as_alice.get(f"/mail/drafts/{draft_id}/").content.decode()
    assert 'value="Second thoughts"' in page


def test_send_later_is_scheduled_and_can_be_cancelled(as_alice, identity):
    data = form(identity, later="1", send_at="2999-01-01T08:30")
    answer = as_alice.post("/mail/compose/send/", data,
                           headers={"X-Requested-With": "fetch"}).json()  # fmt: skip
    outbox = OutboxMessage.objects.get()
    assert outbox.scheduled and outbox.send_at.year == 2999
    page = as_alice.get(f"/mail/drafts/{answer['draft']}/").content.decode()
    assert "scheduled to be sent" in page
    as_alice.post(answer["undo_url"])
    assert not OutboxMessage.objects.exists()
    past = form(identity, draft=answer["draft"], later="1", send_at="2001-01-01T08:30")
    response = as_alice.post("/mail/compose/send/", past)
    assert response.status_code == 400 and response.json()["field"] == "send_at"
    assert not OutboxMessage.objects.exists()


def test_discarding_a_draft_removes_it(as_alice, identity):
    draft_id = save(as_alice, identity)["draft"]
    response = as_alice.post(f"/mail/drafts/{draft_id}/discard/")
    assert response.status_code == 302
    assert not Draft.objects.exists()


def test_bob_cannot_reach_alices_drafts(as_alice, identity, bob, client, imap_account):
    draft_id = save(as_alice, identity)["draft"]
    upload = SimpleUploadedFile("a.txt", b"a")
    answer = as_alice.post(f"/mail/drafts/{draft_id}/attachments/", {"files": [upload]}).json()
    remove_url = answer["attachments"][0]["remove_url"]
    bobs = MailAccount.objects.get(pk=imap_account.pk)
    bobs.pk, bobs.user, bobs.email = None, bob, "bob@example.com"
    bobs.save()
    bobs_identity = default_identity(bobs)
    client.force_login(bob)
    assert client.get(f"/mail/drafts/{draft_id}/").status_code == 404
    for url in ("/mail/compose/save/", "/mail/compose/send/"):
        assert client.post(url, form(bobs_identity, draft=draft_id)).status_code == 404
        # nor may he send as Alice
        assert client.post(url, form(identity)).status_code == 404
    upload = SimpleUploadedFile("b.txt", b"b")
    attach_url = f"/mail/drafts/{draft_id}/attachments/"
    assert client.post(attach_url, {"files": [upload]}).status_code == 404
    assert client.post(remove_url).status_code == 404
    assert client.post(f"/mail/drafts/{draft_id}/discard/").status_code == 404
    draft = Draft.objects.get()
    assert (draft.version, draft.attachments.count()) == (2, 1)
    assert not OutboxMessage.objects.exists()


def test_a_draft_in_the_outbox_is_neither_changed_nor_sent_twice(as_alice, identity):
    draft_id = save(as_alice, identity)["draft"]
    first = as_alice.post("/mail/compose/send/", form(identity, draft=draft_id))
    assert first.status_code == 302
    for url in ("/mail/compose/send/", "/mail/compose/save/"):
        again = as_alice.post(url, form(identity, draft=draft_id, subject="Changed"))
        assert again.status_code == 409
        assert "outbox" in again.json()["error"]
    upload = SimpleUploadedFile("late.txt", b"late")
    attach = as_alice.post(f"/mail/drafts/{draft_id}/attachments/", {"files": [upload]})
    assert attach.status_code == 409
    discard = as_alice.post(f"/mail/drafts/{draft_id}/discard/",
                            headers={"X-Requested-With": "fetch"})  # fmt: skip
    assert discard.status_code == 409
    assert OutboxMessage.objects.count() == 1
    draft = Draft.objects.get()
    assert (draft.subject, draft.attachments.count()) == ("Tea", 0)


@pytest.mark.parametrize("line_break", sorted(LINE_BREAKS | {"\x07"}))
def test_a_control_character_in_an_attachment_name_is_kept_as_a_space(
    as_alice, identity, line_break
):
    """The whole name is kept (it was refused, or cut by the build at a "/"), its control
    characters as spaces: none reaches a header."""
    from mailbox.drafts import do_attach_files

    draft_id = save(as_alice, identity)["draft"]
    draft = Draft.objects.get(pk=draft_id)
    upload = SimpleUploadedFile(f"notes{line_break}Bcc: eve@example.org.txt", b"x")
    do_attach_files(draft.user, draft, [upload])
    assert DraftAttachment.objects.get().filename == "notes Bcc: eve@example.org.txt"


def test_an_uploaded_name_never_brings_a_line_break_into_the_message(as_alice, identity):
    """Django's upload parser already drops unprintable characters from file names; whatever
    gets through, the sent message has no header the name made."""
    draft_id = save(as_alice, identity)["draft"]
    upload = SimpleUploadedFile("notes\u2028Bcc: eve@example.org.txt", b"x")
    response = as_alice.post(f"/mail/drafts/{draft_id}/attachments/", {"files": [upload]})
    assert response.status_code == 200
    (name,) = DraftAttachment.objects.values_list("filename", flat=True)
    assert LINE_BREAKS.isdisjoint(name)
    as_alice.post("/mail/compose/send/", form(identity, draft=draft_id))
    message = parsed(OutboxMessage.objects.get().raw)
    assert message["Bcc"] is None
    assert "eve@example.org" not in OutboxMessage.objects.get().recipients


@pytest.mark.parametrize("send_at", ["", "tomorrow", "2999-13-45T99:00"])
def test_send_later_without_a_good_time_is_not_sent_now(as_alice, identity, send_at):
    response = as_alice.post("/mail/compose/send/", form(identity, later="1", send_at=send_at))
    assert response.status_code == 400
    assert response.json()["field"] == "send_at"
    assert response.json()["error"] == "Choose the date and time to send it."
    assert response.json()["draft"] == Draft.objects.get().pk, "saved all the same"
    assert not OutboxMessage.objects.exists()


def test_an_uploaded_attachment_downloads_as_a_plain_file(as_alice, identity, bob, client):
    draft_id = save(as_alice, identity)["draft"]
    upload = SimpleUploadedFile("page.html", b"<script>alert(1)</script>", "text/html")
    answer = as_alice.post(f"/mail/drafts/{draft_id}/attachments/", {"files": [upload]}).json()
    url = answer["attachments"][0]["url"]
    response = as_alice.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"<script>alert(1)</script>"
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith('attachment; filename="page.html"')
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    client.force_login(bob)
    assert client.get(url).status_code == 404
