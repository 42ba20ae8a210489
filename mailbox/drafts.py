"""Drafts: the compose screen's state saved as the user types, its attachments, its copy in the
Drafts folder (mailbox.sync.drafts, by the task save_draft_copy after each save), the send that
hands it to the outbox, and the draft's end once its message is sent.

Every function here that changes something is a user-visible write: it runs in one transaction,
and what follows it (the copy's task, the browsers' event) happens once that commits."""

import dataclasses
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Identity, get_preferences

from .composing.build import build_message, make_message_id
from .composing.fields import LINE_BREAKS, BadField, check_line
from .composing.text import html_to_text
from .contacts import do_note_contacts
from .events import send_event_on_commit
from .models import ComposeMode, Draft, DraftAttachment, OutboxMessage
from .outbox import do_queue_message
from .sanitize import sanitize_html
from .sources import rawstore

ORIGINAL_FLAGS = {
    ComposeMode.REPLY: "\\Answered",
    ComposeMode.REPLY_ALL: "\\Answered",
    ComposeMode.FORWARD: "$Forwarded",
    ComposeMode.FORWARD_ATTACHED: "$Forwarded",
}
TYPED_FIELDS = ("to", "cc", "bcc", "subject")  # one line each: a line break is refused


class InOutbox(ValueError):
    """The draft's message is in the outbox (waiting, sending or sent): it is not changed nor
    sent again; a waiting one is taken back with mailbox.outbox.do_cancel_send first."""


class Stale(ValueError):
    """The draft was saved elsewhere (another tab or window) since the version the form saw:
    nothing is saved, so that neither text is lost silently."""


class TooBig(ValueError):
    """Attachments past the operator's limit (settings.WEBMAIL_MAX_MESSAGE_BYTES)."""


@dataclasses.dataclass
class DraftFields:
    """What the compose form holds. ``html`` is the editor's, not yet sanitized; for formatted
    mail ``text`` is made from it when saved."""

    identity: Identity
    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""
    is_html: bool = False
    text: str = ""
    html: str = ""


@dataclasses.dataclass
class Start:
    """Where a new draft comes from: a mode, the original message, its threading fields, and
    the original's parts to attach again (sections; "" for the whole message)."""

    mode: str = ComposeMode.NEW
    original: object = None
    in_reply_to: str = ""
    references: str = ""
    attach: list = dataclasses.field(default_factory=list)  # [(section, filename, type, size)]
    replaces: object = None  # an edited draft's Message: its copy is replaced by the next save
    copy_from: object = None  # edit, edit as new: ``attach`` copied from it into the storage


def get_draft_for_user(user, draft_id):
    """The user's own draft, or None."""
    return (
        Draft.objects.select_related("account", "identity", "original__folder__account")
        .filter(pk=draft_id, user=user)
        .first()
    )


def draft_of_copy(user, message):
    """The user's draft whose copy in Drafts is ``message`` (by its place, or by the Message-ID
    that the draft made and keeps), or None."""
    drafts = Draft.objects.filter(user=user, account_id=message.folder.account_id)
    found = drafts.filter(copy_folder_id=message.folder_id, copy_uidvalidity=message.uidvalidity,
                          copy_uid=message.uid).first()  # fmt: skip
    if found is None and message.message_id:
        found = drafts.filter(message_id=f"<{message.message_id.strip('<>')}>").first()
    return found


def max_bytes():
    return settings.WEBMAIL_MAX_MESSAGE_BYTES


def too_big_message(names=()):
    """Why files were refused, naming them (``names``) and the operator's limit."""
    limit = filesizeformat(max_bytes())
    if not names:
        return _("Attachments may weigh %(limit)s in all, together.") % {"limit": limit}
    return _("Not attached: %(names)s. Attachments may weigh %(limit)s in all, together.") % {
        "names": ", ".join(f"“{name}”" for name in names), "limit": limit}  # fmt: skip


def typed_file_name(name):
    """An uploaded file's name as kept: whole, control characters (line breaks, NUL) as spaces;
    the message's build makes it safe to send (composing.build.attachment_filename)."""
    name = "".join(" " if ord(char) < 32 or 0x7F <= ord(char) <= 0x9F or char in LINE_BREAKS
                   else char for char in name or "")  # fmt: skip
    return name.strip()[:255] or "attachment"


def check_fields(fields: DraftFields) -> None:
    """BadField for a line break (or NUL) in a one-line field: it could add a header."""
    for name in TYPED_FIELDS:
        check_line(name, getattr(fields, name))


def clean_html(html):
    """The editor's HTML as we would send it: through our own sanitizer (no remote loads)."""
    return sanitize_html(html).html if html.strip() else ""


def _apply(draft, fields):
    """The form's values on the draft; formatted text sanitized, its plain text made from it."""
    draft.identity = fields.identity
    draft.account_id = fields.identity.account_id
    for name in (*TYPED_FIELDS, "is_html", "text"):
        setattr(draft, name, getattr(fields, name))
    if fields.is_html:
        draft.html = clean_html(fields.html)
        draft.text = html_to_text(draft.html)
    else:
        draft.html = ""


@transaction.atomic
def do_save_draft(
    user, fields: DraftFields, *, draft=None, start: Start | None = None, seen_version=None
) -> Draft:
    """Save the form: a new draft (``start`` says where from) or a new version of ``draft``.
    BadField for a line break in a one-line field (nothing saved). ``seen_version``: the version
    the form last loaded or saved; Stale when the draft is newer (saved elsewhere meanwhile),
    nothing saved; None saves whatever the version. Its copy follows."""
    check_fields(fields)
    if draft is None:
        draft = _create(user, fields, start or Start())
    else:
        draft = Draft.objects.select_for_update(of=("self",)).get(pk=draft.pk, user=user)
        check_not_in_outbox(draft)
        if seen_version is not None and draft.version > seen_version:
            raise Stale(
                _(
                    "This draft was changed in another window. Reload to see that "
                    "version; your text here is kept in this window until you do."
                )
            )
        _apply(draft, fields)
        draft.version = F("version") + 1
        draft.save()
        draft.refresh_from_db()
    _saved(draft)
    return draft


def _create(user, fields, start):
    draft = Draft(user=user, mode=start.mode, original=start.original, version=1,
                  in_reply_to=start.in_reply_to, references=start.references,
                  message_id=make_message_id(fields.identity.address))  # fmt: skip
    _apply(draft, fields)
    if start.replaces is not None:
        replaced = start.replaces
        draft.copy_folder_id, draft.copy_uidvalidity = replaced.folder_id, replaced.uidvalidity
        draft.copy_uid = replaced.uid
    draft.save()
    for section, filename, content_type, size in start.attach:
        row = DraftAttachment(draft=draft, filename=filename[:255],
                              content_type=content_type[:255], size=size or 0)  # fmt: skip
        if start.copy_from is None:  # a forward: read from the original when it is sent
            row.source, row.section = start.original, section
        else:  # the edited message may go (its copy is replaced): keep the bytes
            row.stored_name, row.size = _copy_part(draft, start.copy_from, section)
        row.save()
    return draft


def _copy_part(draft, message, section):
    """Keep one part of ``message`` in the storage for ``draft``: (name, size). (A rollback
    after this leaves the file unnamed under the account's drafts/<id>/: harmless, and rare.)"""
    from django.core.files.base import ContentFile

    from .sources import source_for

    data = source_for(message).get_part(message, section)
    name = rawstore.storage().save(_file_name(draft), ContentFile(data))
    return name, len(data)


def _saved(draft):
    from .tasks import save_draft_copy

    # robust: a task queue that does not answer must not lose the save (logged; the next save's
    # task brings the copy up to date)
    transaction.on_commit(lambda: save_draft_copy.delay(draft.pk), robust=True)
    send_event_on_commit(
        [draft.user_id], {"type": "draft.saved", "draft_id": draft.pk, "version": draft.version}
    )


def check_not_in_outbox(draft):
    if OutboxMessage.objects.filter(draft_id=draft.pk).exists():
        raise InOutbox(_("This message is in the outbox: cancel sending it to change it."))


def attachments_size(draft):
    return draft.attachments.aggregate(total=Sum("size"))["total"] or 0


def do_attach_files(user, draft, files, names=None) -> list[DraftAttachment]:
    """Keep uploaded files (Django UploadedFile objects) as the draft's attachments, in the mail
    storage under the account's drafts/<draft id>/. ``names``: the files' names as the browser
    gave them, one per file (Django's upload parser cuts a name at "/"); else the uploads' own.
    TooBig when the draft's attachments would weigh more than the limit (naming them): nothing
    is kept. A name's control characters are kept as spaces (typed_file_name)."""
    if names is None or len(names) != len(files):
        names = [upload.name for upload in files]
    names = [typed_file_name(name) for name in names]
    stored = []
    try:
        with transaction.atomic():
            draft = Draft.objects.select_for_update(of=("self",)).get(pk=draft.pk, user=user)
            check_not_in_outbox(draft)
            if attachments_size(draft) + sum(upload.size for upload in files) > max_bytes():
                raise TooBig(too_big_message(names))
            rows = [
                _keep_upload(draft, upload, name, stored)
                for upload, name in zip(files, names, strict=True)
            ]
            Draft.objects.filter(pk=draft.pk).update(version=F("version") + 1)
            draft.refresh_from_db()
            _saved(draft)
    except BaseException:
        rawstore.delete_raw(stored)
        raise
    return rows


def _file_name(draft):
    """Under the account's own folder of the mail storage, so that deleting the account
    (rawstore.delete_account) takes the files of its drafts with it."""
    return f"{rawstore.account_prefix(draft.account_id)}drafts/{draft.pk}/{secrets.token_hex(12)}"


def _keep_upload(draft, upload, name, stored):
    kept = rawstore.storage().save(_file_name(draft), upload)
    stored.append(kept)
    content_type = (upload.content_type or "application/octet-stream").split(";")[0].strip()
    return DraftAttachment.objects.create(
        draft=draft, filename=name,
        content_type=content_type[:255] or "application/octet-stream", size=upload.size,
        stored_name=kept,
    )  # fmt: skip


@transaction.atomic
def do_remove_attachment(user, draft, attachment_id) -> bool:
    """Take an attachment off the draft (its file goes once that commits); False if unknown."""
    draft = Draft.objects.select_for_update(of=("self",)).get(pk=draft.pk, user=user)
    check_not_in_outbox(draft)
    attachment = draft.attachments.filter(pk=attachment_id).first()
    if attachment is None:
        return False
    attachment.delete()
    if attachment.stored_name:
        transaction.on_commit(lambda: rawstore.delete_raw([attachment.stored_name]))
    Draft.objects.filter(pk=draft.pk).update(version=F("version") + 1)
    draft.refresh_from_db()
    _saved(draft)
    return True


@transaction.atomic
def do_delete_draft(draft: Draft) -> None:
    """The draft goes: its row, its uploaded files (after the commit) and its copy in Drafts
    (by a task: a server that is down must not stop a send from finishing)."""
    from .tasks import delete_draft_copy

    draft = Draft.objects.select_for_update(of=("self",)).filter(pk=draft.pk).first()
    if draft is None:
        return
    names = [n for n in draft.attachments.values_list("stored_name", flat=True) if n]
    copy = (draft.account_id, draft.copy_folder_id, draft.copy_uidvalidity, draft.copy_uid,
            draft.message_id)  # fmt: skip
    draft.delete()
    # robust: what follows the commit must not fail the caller (the outbox, a message sent);
    # a file or a copy left behind is logged
    transaction.on_commit(lambda: rawstore.delete_raw(names), robust=True)
    if copy[1] is not None:
        transaction.on_commit(lambda: delete_draft_copy.delay(*copy), robust=True)


# --- sending -------------------------------------------------------------------------------------


def recipients_display(outgoing):
    return ", ".join(str(address) for address in [*outgoing.to, *outgoing.cc])[:1000]


def check_send_draft(draft):
    """The draft as it would be sent: (Outgoing, raw bytes). BadField naming the bad address and
    its field, or "to" when there is no recipient at all."""
    from .sync.drafts import outgoing_for

    check_fields(draft)
    outgoing = outgoing_for(draft, strict=True, date=timezone.now())
    if not outgoing.recipients:
        raise BadField("to", _("Add at least one recipient."))
    if attachments_size(draft) > max_bytes():
        raise TooBig(too_big_message())
    return outgoing, build_message(outgoing)


@transaction.atomic
def do_send_draft(user, draft, *, send_at=None):
    """Queue the draft's message (mailbox.outbox): sent once the user's undo delay passes, or at
    ``send_at`` (aware datetime, "send later"). The draft stays until the message is sent, so
    that Undo gives it back. Errors as check_send_draft, nothing queued."""
    draft = Draft.objects.select_for_update(of=("self",)).select_related(
        "account", "identity"
    ).get(pk=draft.pk, user=user)  # fmt: skip
    check_not_in_outbox(draft)
    outgoing, raw = check_send_draft(draft)
    scheduled = send_at is not None
    if send_at is None:
        send_at = timezone.now() + timedelta(seconds=get_preferences(user).undo_send_seconds)
    outbox = do_queue_message(
        user, draft.account, raw=raw, recipients=outgoing.recipients,
        bcc=", ".join(str(address) for address in outgoing.bcc),
        envelope_from=outgoing.sender.address, send_at=send_at, scheduled=scheduled,
        draft=draft, original=draft.original, original_flag=ORIGINAL_FLAGS.get(draft.mode, ""),
        subject=draft.subject, to_display=recipients_display(outgoing),
        message_id=draft.message_id,
    )  # fmt: skip
    people = [*outgoing.to, *outgoing.cc, *outgoing.bcc]
    do_note_contacts(user, [(person.name, person.address) for person in people])
    return outbox
