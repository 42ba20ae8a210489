"""Where a message starts: reply (Reply-To honoured), reply all (without the user's own
addresses), forward (the original's attachments re-used, not uploaded), forward as attachment
(the original whole, as message/rfc822), edit a draft (its copy on the server replaced), edit as
new. The originals are real messages on Dovecot, read through the message source."""

import email
import email.policy
import socket
from email.message import EmailMessage

import pytest

from accounts.identities import default_identity
from accounts.models import Identity
from mailbox.models import Draft, DraftAttachment, Folder, Message, OutboxMessage, Role
from mailbox.sources import source_for
from mailbox.sync import run_account
from mailbox.sync.drafts import save_copy
from tests.mailbox.test_drafts import server_drafts

pytestmark = [pytest.mark.django_db, pytest.mark.servers]

PDF = b"%PDF-1.4 the minutes of the meeting\x00\xff"


def original_raw(alice_address, *, extra_headers=()):
    mail = EmailMessage()
    mail["From"] = "Zoë Martin <zoe@example.org>"
    mail["Reply-To"] = "Book club <club@example.org>"
    mail["To"] = f"Alice <{alice_address}>, carol@example.org"
    mail["Cc"] = "Alice at home <alice@home.example>, dave@example.org"
    mail["Subject"] = "Minutes"
    mail["Date"] = "Mon, 30 Nov 2026 09:00:00 +0100"
    mail["Message-ID"] = "<minutes-1@example.org>"
    mail["References"] = "<agenda-1@example.org>"
    mail["In-Reply-To"] = "<agenda-1@example.org>"
    for name, value in extra_headers:
        mail[name] = value
    mail.set_content("Here are the minutes.\nSee you next month.\n")
    mail.add_attachment(PDF, maintype="application", subtype="pdf", filename="minutes.pdf")
    return mail.as_bytes()


@pytest.fixture
def identities(imap_account):
    default = default_identity(imap_account)
    home = Identity.objects.create(account=imap_account, name="Alice at home",
                                   address="alice@home.example")  # fmt: skip
    return default, home


@pytest.fixture
def original(deliver, imap_account, identities):
    return deliver(original_raw(imap_account.email))


def addresses(text):
    return sorted(a.lower() for _n, a in email.utils.getaddresses([text]))


def first_save(client, response, **changes):
    """The form as the page gave it, saved once (as compose.js does after typing stops)."""
    data = first_save_data(response, **changes)
    saved = client.post("/mail/compose/save/", data)
    assert saved.status_code == 200, saved.content
    return Draft.objects.get(pk=saved.json()["draft"]), data


def first_save_data(response, **changes):
    context = response.context
    initial = context["initial"]
    data = {
        "identity": initial["identity"].pk, "to": initial["to"], "cc": initial["cc"],
        "bcc": initial["bcc"], "subject": initial["subject"], "text": initial.get("text", ""),
        "is_html": "0", "mode": context["start"].mode if not context["copy_from"] else (
            "edit" if context["replaces"] else "edit_as_new"),
        "original": (context["copy_from"] or context["original"]).pk,
        "reuse": [part[0] for part in context["reused"]],
    }  # fmt: skip
    data.update(changes)
    return data


def send(client, data, draft):
    response = client.post("/mail/compose/send/", {**data, "draft": draft.pk},
                           headers={"X-Requested-With": "fetch"})  # fmt: skip
    assert response.status_code == 200, response.content
    outbox = OutboxMessage.objects.get()
    return outbox, email.message_from_bytes(bytes(outbox.raw), policy=email.policy.default)


def test_a_reply_goes_to_the_reply_to_address_and_threads(as_alice, original, identities):
    response = as_alice.get(f"/mail/compose/reply/{original.pk}/")
    assert response.status_code == 200
    initial = response.context["initial"]
    assert addresses(initial["to"]) == ["club@example.org"]
    assert initial["cc"] == ""
    assert initial["subject"] == "Re: Minutes"
    assert "> Here are the minutes." in initial["text"]
    assert initial["identity"] == identities[0], "the account's address was in To"
    draft, data = first_save(as_alice, response)
    assert draft.in_reply_to == "<minutes-1@example.org>"
    assert draft.references.split() == ["<agenda-1@example.org>", "<minutes-1@example.org>"]
    outbox, message = send(as_alice, data, draft)
    assert message["In-Reply-To"].strip() == "<minutes-1@example.org>"
    assert (outbox.original_id, outbox.original_flag) == (original.pk, "\\Answered")


def test_reply_all_leaves_out_every_address_of_the_user(as_alice, original, identities,
                                                         imap_account):  # fmt: skip
    initial = as_alice.get(f"/mail/compose/reply_all/{original.pk}/").context["initial"]
    everyone = addresses(initial["to"]) + addresses(initial["cc"])
    assert "club@example.org" in everyone
    assert {"carol@example.org", "dave@example.org"} <= set(everyone)
    assert imap_account.email.lower() not in everyone
    assert "alice@home.example" not in everyone


def test_the_identity_is_the_one_the_original_was_sent_to(as_alice, deliver, imap_account,
                                                          identities):  # fmt: skip
    raw = original_raw(imap_account.email).replace(
        f"To: Alice <{imap_account.email}>, carol@example.org".encode(), b"To: carol@example.org"
    )
    message = deliver(raw)
    initial = as_alice.get(f"/mail/compose/reply/{message.pk}/").context["initial"]
    assert initial["identity"] == identities[1]  # alice@home.example, in Cc


def test_forward_reuses_the_attachments_without_uploading_them(as_alice, original):
    response = as_alice.get(f"/mail/compose/forward/{original.pk}/")
    initial = response.context["initial"]
    assert initial["subject"] == "Fwd: Minutes"
    assert "Here are the minutes." in initial["text"]
    assert [part[1] for part in response.context["reused"]] == ["minutes.pdf"]
    draft, data = first_save(as_alice, response, to="erin@example.org")
    (attachment,) = DraftAttachment.objects.filter(draft=draft)
    assert (attachment.source_id, attachment.stored_name) == (original.pk, "")
    assert attachment.section
    outbox, message = send(as_alice, data, draft)
    assert outbox.original_flag == "$Forwarded"
    (pdf,) = [part for part in message.iter_attachments()]
    assert (pdf.get_filename(), pdf.get_content()) == ("minutes.pdf", PDF)


def test_a_forwarded_part_without_a_name_keeps_the_name_the_reading_pane_gives_it(
    as_alice, deliver, imap_account, identities
):
    mail = email.message_from_bytes(original_raw(imap_account.email), policy=email.policy.default)
    mail.add_attachment(b"\xd0\xcf\x11\xe0 a Word file", maintype="application", subtype="msword")
    del mail.get_payload()[-1]["Content-Disposition"]  # no name, no disposition: still a file
    message = deliver(mail.as_bytes())
    response = as_alice.get(f"/mail/compose/forward/{message.pk}/")
    assert [part[1] for part in response.context["reused"]] == ["minutes.pdf", "Part 3.doc"]


def test_a_forwarded_attachment_left_out_is_not_sent(as_alice, original):
    response = as_alice.get(f"/mail/compose/forward/{original.pk}/")
    draft, data = first_save(as_alice, response, to="erin@example.org", reuse=[])
    assert not draft.attachments.exists()
    _outbox, message = send(as_alice, data, draft)
    assert list(message.iter_attachments()) == []


def test_forward_as_attachment_attaches_the_original_whole(as_alice, original, imap_account):
    response = as_alice.get(f"/mail/compose/forward_att/{original.pk}/")
    draft, data = first_save(as_alice, response, to="erin@example.org")
    outbox, message = send(as_alice, data, draft)
    (attached,) = list(message.iter_attachments())
    assert attached.get_content_type() == "message/rfc822"
    inner = attached.get_content()
    assert inner["Message-ID"] == "<minutes-1@example.org>"
    assert "Here are the minutes." in inner.get_body(("plain",)).get_content()
    stream = source_for(original).stream_message(original)
    whole = b"".join(stream)
    stream.close()
    assert len(whole) > 500 and whole in bytes(outbox.raw), "the original, byte for byte"
    assert message["Subject"] == "Fwd: Minutes"


def test_editing_a_draft_replaces_its_copy_on_the_server(as_alice, imap_account, other_client):
    draft_raw = original_raw(imap_account.email, extra_headers=[("Bcc", "eve@example.org")])
    status, _ = other_client.imap.append('"Drafts"', "(\\Draft \\Seen)", None, draft_raw)
    assert status == "OK"
    assert run_account(imap_account.pk)
    message = Message.objects.get(folder__role=Role.DRAFTS, folder__account=imap_account)
    response = as_alice.get(f"/mail/compose/edit/{message.pk}/")
    initial = response.context["initial"]
    assert addresses(initial["bcc"]) == ["eve@example.org"]
    assert initial["subject"] == "Minutes"
    assert "Here are the minutes." in initial["text"]
    draft, _data = first_save(as_alice, response, subject="Minutes, corrected")
    assert (draft.copy_folder_id, draft.copy_uid) == (message.folder_id, message.uid)
    (attachment,) = draft.attachments.all()
    assert attachment.stored_name, "kept here: the edited copy on the server is about to go"
    save_copy(draft.pk)
    (copy,) = server_drafts(other_client)
    assert copy[2]["Subject"] == "Minutes, corrected"
    assert copy[0] != message.uid
    (pdf,) = list(copy[2].iter_attachments())
    assert pdf.get_content() == PDF


def test_edit_as_new_starts_a_new_message_from_a_sent_one(as_alice, imap_account, other_client):
    status, _ = other_client.imap.append('"Sent"', "(\\Seen)", None,
                                         original_raw(imap_account.email))  # fmt: skip
    assert status == "OK"
    assert run_account(imap_account.pk)
    sent = Message.objects.get(folder__role=Role.SENT, folder__account=imap_account)
    response = as_alice.get(f"/mail/compose/edit_as_new/{sent.pk}/")
    initial = response.context["initial"]
    assert addresses(initial["to"]) == sorted([imap_account.email.lower(), "carol@example.org"])
    assert initial["subject"] == "Minutes"
    draft, _data = first_save(as_alice, response)
    assert (draft.mode, draft.in_reply_to, draft.references, draft.copy_uid) == ("new", "", "",
                                                                                 None)  # fmt: skip
    assert draft.attachments.get().stored_name
    assert Folder.objects.get(pk=sent.folder_id).messages.count() == 1, "the original stays"


def test_bob_cannot_start_from_alices_message(as_alice, original, bob, client):
    client.force_login(bob)
    for mode in ("reply", "reply_all", "forward", "forward_att", "edit", "edit_as_new"):
        assert client.get(f"/mail/compose/{mode}/{original.pk}/").status_code == 404
    assert as_alice.get(f"/mail/compose/nonsense/{original.pk}/").status_code == 404


def test_edit_on_the_copy_of_one_of_our_drafts_reopens_that_draft(as_alice, imap_account,
                                                                  other_client):  # fmt: skip
    from mailbox.drafts import DraftFields, do_save_draft

    draft = do_save_draft(imap_account.user, DraftFields(default_identity(imap_account),
                                                         subject="Ours", text="x"))  # fmt: skip
    assert run_account(imap_account.pk)
    save_copy(draft.pk)
    assert run_account(imap_account.pk)
    copy = Message.objects.get(folder__role=Role.DRAFTS, folder__account=imap_account)
    response = as_alice.get(f"/mail/compose/edit/{copy.pk}/")
    assert response.status_code == 302 and response["Location"] == f"/mail/drafts/{draft.pk}/"


def test_a_forward_whose_original_is_gone_says_which_attachment(as_alice, original, other_client):
    response = as_alice.get(f"/mail/compose/forward/{original.pk}/")
    draft, data = first_save(as_alice, response, to="erin@example.org")
    other_client.imap.select("INBOX")
    other_client.imap.uid("STORE", str(original.uid), "+FLAGS", "(\\Deleted)")
    other_client.imap.expunge()  # another client deleted the original meanwhile
    assert run_account(original.folder.account_id)
    answer = as_alice.post("/mail/compose/send/", {**data, "draft": draft.pk},
                           headers={"X-Requested-With": "fetch"})  # fmt: skip
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("“minutes.pdf” is gone")
    assert not OutboxMessage.objects.exists()
    draft.refresh_from_db()
    assert save_copy(draft.pk) == draft.version, "the copy in Drafts keeps what is left"


def test_edit_as_new_while_the_server_is_down_saves_nothing_and_says_so(
    as_alice, imap_account, other_client
):
    status, _ = other_client.imap.append('"Sent"', "(\\Seen)", None,
                                         original_raw(imap_account.email))  # fmt: skip
    assert run_account(imap_account.pk)
    sent = Message.objects.get(folder__role=Role.SENT, folder__account=imap_account)
    response = as_alice.get(f"/mail/compose/edit_as_new/{sent.pk}/")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # a port nothing listens on: the server is "down"
    imap_account.incoming_port = closed.getsockname()[1]
    imap_account.save()
    try:
        saved = as_alice.post("/mail/compose/save/", first_save_data(response))
    finally:
        closed.close()
    assert saved.status_code == 503
    assert "could not be read now" in saved.json()["error"]
    assert not Draft.objects.exists()
