"""The compose screen: a new message, a reply, a forward, an edited draft; its saves (JSON, as the
user types and when the page is left), its attachments, and the send that hands it to the outbox.

The entry points (GET) only fill the form: the first save makes the Draft row (mailbox.drafts).
What a reply or a forward starts from is read from the original through its message source, with
the reading pane's own helpers (mailbox.views.message), and shaped by mailbox.composing.reply.
"""

import email.parser
import email.policy
import re
import secrets
from datetime import datetime

from csp.decorators import csp_exempt
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from accounts.identities import default_identity, get_identity_for_user, identities_for_user
from accounts.models import MailAccount, get_preferences
from mailbox import drafts
from mailbox.composing import fields, reply
from mailbox.composing.fields import Address, BadField
from mailbox.composing.text import html_to_text
from mailbox.models import ComposeMode, OutboxMessage
from mailbox.outbox import do_cancel_send, get_outbox_for_user
from mailbox.parsing.addresses import parse_addresses
from mailbox.parsing.attachments import decoded_size, part_name
from mailbox.protocols.base import ConnectionProblem
from mailbox.sanitize import text_to_html
from mailbox.sources import MessageGone, rawstore, source_for
from mailbox.sync.drafts import AttachmentGone

from .download import content_disposition
from .message import get_message_or_404, message_parts, part_text, sanitized_body

ENTRY_MODES = {"reply", "reply_all", "forward", "forward_att", "edit", "edit_as_new"}
FIELD_LABELS = {
    "to": gettext_lazy("To"),
    "cc": gettext_lazy("Cc"),
    "bcc": gettext_lazy("Bcc"),
    "subject": gettext_lazy("Subject"),
    "from": gettext_lazy("From"),
    "reply_to": gettext_lazy("Reply-To"),
    "attachment": gettext_lazy("Attachment"),
}
# what is wrong with one item typed in an address box, naming it and the box (BadField.reason)
ADDRESS_REASONS = {
    "not an email address": gettext_lazy("“%(value)s” in %(field)s is not an email address."),
    fields.TWO_ADDRESSES: gettext_lazy(
        "“%(value)s” in %(field)s looks like several addresses: separate them with commas."
    ),
    fields.ADDRESS_IN_NAME: gettext_lazy(
        "“%(value)s” in %(field)s has an address in its name: separate addresses with commas."
    ),
    fields.HEADER_NAME: gettext_lazy(
        "“%(value)s” in %(field)s looks like a header line: write addresses only, separated "
        "by commas."
    ),
}
LINE_BREAKS = fields.LINE_BREAKS - {"\0"}  # the characters that split a line (NUL does not)
READ_ERRORS = (ConnectionProblem, MessageGone, OSError)
# the empty lines above a quote or a forwarded message, where the editor's cursor starts
ROOM_TO_WRITE = "<div><br></div><div><br></div>"
CLIENT_KEY_TTL = 3600  # seconds a form's first save is remembered, so a second never makes two


# --- the form's starting point -------------------------------------------------------------------


def own_addresses(user, identities):
    found = {identity.address.lower() for identity in identities}
    found.update(
        e.lower() for e in MailAccount.objects.filter(user=user).values_list("email", flat=True)
    )
    return found


def addresses_of(text):
    return [Address(name, address) for name, address in parse_addresses(text or "") if address]


def header_fields(message):
    """The original's header block as an email.message.Message (compat32: raw values), or an
    empty one when it cannot be read."""
    try:
        raw = source_for(message).get_header(message)
    except READ_ERRORS:
        raw = b""
    return email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)


def unfolded(headers, name):
    return re.sub(r"\r?\n[ \t]", " ", str(headers.get(name) or ""))


def identity_for(user, identities, message, mode):
    """The identity whose address the original was sent to (To or Cc), or, for an edit, the one
    it is from; else its account's default, else the user's first."""
    if mode in {"edit", "edit_as_new"}:
        sent_to = {message.from_address.lower()}
    else:
        sent_to = {a.address.lower() for a in addresses_of(message.to) + addresses_of(message.cc)}
    for identity in sorted(identities, key=lambda i: i.account_id != message.folder.account_id):
        if identity.address.lower() in sent_to:
            return identity
    if message.folder.account.user_id == user.pk:
        return default_identity(message.folder.account)
    return identities[0]


def bracketed(message_id):
    """A Message-ID as a header writes it: the cache keeps them without their angle brackets."""
    message_id = message_id.strip()
    if not message_id or message_id.startswith("<"):
        return message_id
    return f"<{message_id}>"


def thread_ids(message):
    """(message_id, references, in_reply_to) of a cached message, as headers write them."""
    references = [bracketed(ref) for ref in message.references.split()]
    return bracketed(message.message_id), references, bracketed(message.in_reply_to)


def join(addresses):
    return ", ".join(str(address) for address in addresses)


def original_bodies(request, message):
    """(text, html) of the original: its text part, and its sanitized HTML (inline images left
    out), each "" when missing; when one is missing it is made from the other."""
    text_part, html_part, _attachments, _inline = message_parts(message)
    text = html = ""
    try:
        if html_part is not None:
            sanitized = sanitized_body(request.user, message, html_part, False)
            html = re.sub(re.escape(sanitized["nonce"]) + r"-\d+", "", sanitized["html"])
        if text_part is not None:
            text = part_text(message, text_part)
    except READ_ERRORS:
        pass
    if not text and html:
        text = html_to_text(html)
    if not html and text:
        html = text_to_html(text)
    return text, html


def reused_parts(message, mode):
    """The original's attachments a forward (or an edit) takes again: (section, name, type,
    size); forward as attachment: the whole message."""
    if mode == "forward_att":
        name = (message.subject or "message")[:200].replace("/", "_") + ".eml"
        return [("", name, "message/rfc822", message.size)]
    _text, _html, attachments, _inline = message_parts(message)
    # named and sized as the reading pane lists them ("Part 1.2.doc" for one without a name;
    # the decoded size, not the base64 one the server gives)
    return [(part.section, part_name(part), part.content_type, decoded_size(part)[0])
            for part in attachments]  # fmt: skip


def starting_form(request, message, mode, identities):
    """(initial form values, drafts.Start) for ``mode`` from ``message``."""
    text, html = original_bodies(request, message) if mode != "forward_att" else ("", "")
    initial = {"identity": identity_for(request.user, identities, message, mode),
               "subject": message.subject, "to": "", "cc": "", "bcc": ""}  # fmt: skip
    if mode in {"reply", "reply_all"}:
        start = _reply_form(request, message, mode, identities, initial, text, html)
    elif mode in {"forward", "forward_att"}:
        start = _forward_form(message, mode, initial, text, html)
    else:
        start = _edit_form(message, mode, initial, text, html)
    return initial, start


def _reply_form(request, message, mode, identities, initial, text, html):
    """Reply and reply all: recipients (Reply-To honoured, the user's own addresses left out),
    threading, the original quoted."""
    headers = header_fields(message)
    to, cc = reply.reply_recipients(
        from_=addresses_of(unfolded(headers, "From")) or addresses_of(message.from_address),
        reply_to=addresses_of(unfolded(headers, "Reply-To")), to=addresses_of(message.to),
        cc=addresses_of(message.cc), own_addresses=own_addresses(request.user, identities),
        reply_all=mode == "reply_all",
    )  # fmt: skip
    message_id, old_references, old_in_reply_to = thread_ids(message)
    in_reply_to, references = reply.reply_references(
        message_id=message_id, references=old_references, in_reply_to=old_in_reply_to
    )
    line = reply.attribution(
        timezone.localtime(message.date), message.from_name, message.from_address,
        _("On {date}, {sender} wrote:"), template_without_date=_("{sender} wrote:"),
    )  # fmt: skip
    initial.update(
        to=join(to), cc=join(cc), subject=reply.reply_subject(message.subject),
        text=reply.quote_plain(text, line), html=ROOM_TO_WRITE + reply.quote_html(html, line),
    )  # fmt: skip
    return drafts.Start(mode=mode, original=message, in_reply_to=in_reply_to,
                        references=" ".join(references))  # fmt: skip


def _forward_form(message, mode, initial, text, html):
    """Forward inline (the original's headers and text, its attachments re-used) or as an
    attachment (the whole original)."""
    initial["subject"] = reply.forward_subject(message.subject)
    if mode == "forward":
        block, heading = forward_headers(message), _("---------- Forwarded message ---------")
        initial.update(
            text=reply.forward_block_text(headers=block, text=text, heading=heading),
            html=ROOM_TO_WRITE + reply.forward_block_html(headers=block, html=html,
                                                          heading=heading),
        )  # fmt: skip
    return drafts.Start(mode=mode, original=message, attach=reused_parts(message, mode))


def _edit_form(message, mode, initial, text, html):
    """Edit a draft (its copy replaced by the next save) or edit as new: the message as it is,
    its attachments copied here."""
    headers = header_fields(message)
    initial.update(to=message.to, cc=message.cc, bcc=unfolded(headers, "Bcc"), text=text,
                   html=html, keep_body=True)  # fmt: skip
    _id, references, in_reply_to = thread_ids(message) if mode == "edit" else ("", [], "")
    return drafts.Start(mode=ComposeMode.EDIT if mode == "edit" else ComposeMode.NEW,
                        in_reply_to=in_reply_to, references=" ".join(references),
                        attach=reused_parts(message, mode), copy_from=message,
                        replaces=message if mode == "edit" else None)  # fmt: skip


def forward_headers(message):
    when = formats.date_format(timezone.localtime(message.date), "DATETIME_FORMAT")
    sender = join(
        addresses_of(message.from_address and f"{message.from_name} <{message.from_address}>")
    )
    block = [("From", sender), ("Date", when), ("Subject", message.subject), ("To", message.to)]
    if message.cc:
        block.append(("Cc", message.cc))
    return block


def signature_html(identity):
    """The identity's formatted signature, sanitized; made from the plain one when it has none."""
    return drafts.clean_html(identity.signature_html) or (
        text_to_html(identity.signature_text) if identity.signature_text.strip() else ""
    )


def with_signature(initial, identity):
    """The identity's signature, once, when the form first opens (never on a save)."""
    if initial.get("keep_body"):
        return initial
    text, html = initial.get("text", ""), initial.get("html", "")
    initial["text"] = reply.add_signature_text(text, identity.signature_text)
    initial["html"] = reply.add_signature_html(html, signature_html(identity))
    return initial


def identity_choices(identities):
    """(identity, its signature block as plain text, as HTML): compose.js swaps the block when
    another identity is chosen."""
    return [(identity, reply.add_signature_text("", identity.signature_text),
             reply.add_signature_html("", signature_html(identity)))
            for identity in identities]  # fmt: skip


# --- pages ---------------------------------------------------------------------------------------


def compose_page(request, initial, *, draft=None, start=None, identities=None):
    identities = identities or identities_for_user(request.user)
    prefs = get_preferences(request.user)
    is_html = initial.get("is_html", prefs.compose_html)
    original = start.original if start else (draft.original if draft else None)
    context = {
        "initial": initial, "draft": draft, "start": start,
        "identities": identity_choices(identities),
        "is_html": is_html, "max_bytes": drafts.max_bytes(),
        "attachments": draft.attachments.all() if draft else [],
        "reused": start.attach if start else [],
        "outbox": _waiting_outbox(draft), "mode": (start.mode if start else draft.mode),
        "original": original,
        "replaces": start.replaces if start else None,
        "copy_from": start.copy_from if start else None,
        "back_url": _close_url(original), "client_key": _new_key(),
    }  # fmt: skip
    return render(request, "mailbox/compose.html", context)


def _waiting_outbox(draft):
    """The draft's message in the outbox (any state), or None."""
    return OutboxMessage.objects.filter(draft_id=draft.pk).first() if draft else None


def _new_key():
    return secrets.token_urlsafe(12)


def _close_url(original):
    """Where "Close" goes: back to the message replied to or forwarded, else to the mail."""
    if original is not None:
        return reverse("mailbox:message", args=[original.pk])
    return reverse("mailbox:home")


def _no_identity(request):
    messages.info(request, _("Add a mail account first: mail is sent from one."))
    return redirect("accounts:list")


@login_required
@require_GET
def compose_new(request):
    """A new, empty message, from the account ``?account=`` (the first one by default)."""
    identities = identities_for_user(request.user)
    if not identities:
        return _no_identity(request)
    wanted = request.GET.get("account", "")
    identity = next((i for i in identities if str(i.account_id) == wanted), identities[0])
    initial = with_signature({"identity": identity, "to": request.GET.get("to", "")[:1000]},
                             identity)  # fmt: skip
    return compose_page(request, initial, start=drafts.Start(), identities=identities)


@login_required
@require_GET
def compose_from(request, mode, message_id):
    """Reply, reply all, forward (inline or as attachment), edit a draft, edit as new."""
    if mode not in ENTRY_MODES:
        raise Http404
    message = get_message_or_404(request.user, message_id)
    if mode == "edit" and (own := drafts.draft_of_copy(request.user, message)) is not None:
        return redirect("mailbox:draft", own.pk)  # one of ours: as it was left, attachments too
    identities = identities_for_user(request.user)
    initial, start = starting_form(request, message, mode, identities)
    if mode not in {"edit", "edit_as_new"}:
        initial = with_signature(initial, initial["identity"])
    return compose_page(request, initial, start=start, identities=identities)


@login_required
@require_GET
def draft_page(request, draft_id):
    """A saved draft in the editor, as it was left."""
    draft = drafts.get_draft_for_user(request.user, draft_id)
    if draft is None:
        raise Http404
    initial = {"identity": draft.identity, "to": draft.to, "cc": draft.cc, "bcc": draft.bcc,
               "subject": draft.subject, "text": draft.text, "html": draft.html,
               "is_html": draft.is_html}  # fmt: skip
    return compose_page(request, initial, draft=draft)


# --- saving --------------------------------------------------------------------------------------


def posted_id(request, name):
    """An id posted in a form field, or None: 1 to 18 digits (webmail.converters.IdConverter),
    so that no value overflows the database's bigint."""
    value = request.POST.get(name, "")
    return int(value) if re.fullmatch(r"[0-9]{1,18}", value) and int(value) else None


def form_fields(request):
    """drafts.DraftFields from the posted form; Http404 for an identity not the user's."""
    post = request.POST
    identity_id = posted_id(request, "identity")
    identity = identity_id and get_identity_for_user(request.user, identity_id)
    if not identity:
        raise Http404
    is_html = post.get("is_html") == "1"
    html = post.get("html", "") if is_html else ""
    fields = drafts.DraftFields(
        identity=identity, to=post.get("to", ""), cc=post.get("cc", ""), bcc=post.get("bcc", ""),
        subject=post.get("subject", ""), is_html=is_html, html=html,
        text="" if is_html else post.get("text", ""),
    )  # fmt: skip
    return fields


def posted_start(request):
    """Where a first save's draft comes from, re-read from the original (never trusted from the
    form): its mode, threading and the parts the user kept."""
    mode = request.POST.get("mode", "")
    original_id = posted_id(request, "original")
    if mode not in ENTRY_MODES:
        return drafts.Start()
    if original_id is None:
        raise Http404
    message = get_message_or_404(request.user, original_id)
    identities = identities_for_user(request.user)
    _initial, start = starting_form(request, message, mode, identities)
    kept = set(request.POST.getlist("reuse"))
    start.attach = [part for part in start.attach if part[0] in kept]
    return start


def bad_field_answer(bad):
    return JsonResponse({"error": bad_field_text(bad), "field": bad.field,
                         "value": bad.value[:200]}, status=400)  # fmt: skip


def bad_field_text(bad):
    """What is wrong with a typed field, naming it and the bad part as typed."""
    label = FIELD_LABELS.get(bad.field, bad.field)
    params = {"field": label, "value": bad.value[:200]}
    if bad.reason == "a line break or control character":
        if any(char in LINE_BREAKS for char in bad.value):
            return _("%(field)s: line breaks are not allowed here.") % params
        return _("%(field)s: control characters are not allowed here.") % params
    if bad.value and bad.reason in ADDRESS_REASONS:
        return ADDRESS_REASONS[bad.reason] % params
    if bad.value:
        return _("%(field)s: “%(value)s”: %(reason)s") % {**params, "reason": bad.reason}
    return f"{label}: {bad.reason}"


def _draft_from_post(request):
    """The draft the form is saving: its id, or the one its first save made (by the form's key),
    or None for a first save."""
    if not request.POST.get("draft", ""):
        key = _client_key(request)
        draft_id = _remembered_draft(key) if key else None
        if not draft_id:
            return None
    else:
        draft_id = posted_id(request, "draft")
    draft = draft_id and drafts.get_draft_for_user(request.user, draft_id)
    if not draft:
        raise Http404
    return draft


def _remembered_draft(key):
    """The draft a form's first save made (its id), or None; None too while Redis does not
    answer: the save then makes a draft, as a first save does (a second one only when the first
    save's answer was lost as well)."""
    try:
        return cache.get(key)
    except RedisError:
        return None


def _remember_draft(key, draft_id):
    try:
        cache.set(key, draft_id, CLIENT_KEY_TTL)
    except RedisError:  # the draft is saved; only a lost answer could make a second one
        pass


def _client_key(request):
    key = request.POST.get("client_key", "")
    return f"compose-key:{request.user.pk}:{key}" if re.fullmatch(r"[\w-]{8,40}", key) else None


def save(request):
    """The form saved; (draft, None) or (None, error response)."""
    fields = form_fields(request)
    draft = _draft_from_post(request)
    try:
        if draft is None:
            draft = drafts.do_save_draft(request.user, fields, start=posted_start(request))
            if _client_key(request):
                _remember_draft(_client_key(request), draft.pk)
        else:
            draft = drafts.do_save_draft(request.user, fields, draft=draft,
                                         seen_version=posted_id(request, "version"))  # fmt: skip
    except BadField as bad:
        return None, bad_field_answer(bad)
    except drafts.InOutbox as waiting:
        return None, JsonResponse({"error": str(waiting)}, status=409)
    except drafts.Stale as stale:
        return None, JsonResponse({"error": str(stale), "stale": True,
                                   "version": draft.version}, status=409)  # fmt: skip
    except READ_ERRORS:  # an edited message's attachments are copied at the first save
        text = _("The message's attachments could not be read now. Try again in a moment.")
        return None, JsonResponse({"error": text}, status=503)
    return draft, None


def saved_answer(draft):
    return {
        "draft": draft.pk, "version": draft.version,
        "saved_at": formats.time_format(timezone.localtime(draft.updated_at), "H:i"),
        "saved_iso": draft.updated_at.isoformat(),
        "url": reverse("mailbox:draft", args=[draft.pk]),
        "attach_url": reverse("mailbox:draft_attach", args=[draft.pk]),
        "discard_url": reverse("mailbox:draft_discard", args=[draft.pk]),
        "attachments": [attachment_json(a) for a in draft.attachments.all()],
    }  # fmt: skip


def attachment_json(attachment):
    return {
        "id": attachment.pk, "filename": attachment.filename, "size": attachment.size,
        "size_text": filesizeformat(attachment.size),
        "content_type": attachment.content_type,
        "url": reverse("mailbox:draft_attachment", args=[attachment.draft_id, attachment.pk]),
        "remove_url": reverse("mailbox:draft_attachment_delete",
                              args=[attachment.draft_id, attachment.pk]),
    }  # fmt: skip


@login_required
@require_POST
def draft_save(request):
    """Save the form (JSON): {draft, version, saved_at, url, ...}, or {error, field} (400)."""
    draft, error = save(request)
    if error is not None:
        return error
    return JsonResponse(saved_answer(draft))


@login_required
@require_POST
def draft_attach(request, draft_id):
    """Upload files to the draft (multipart, field "files", several at once)."""
    draft = drafts.get_draft_for_user(request.user, draft_id)
    if draft is None:
        raise Http404
    files = request.FILES.getlist("files")
    if not files:  # nothing to attach: the draft as it is
        return JsonResponse(saved_answer(draft))
    try:
        # the names as the browser gave them (compose.js): Django's parser cuts them at "/"
        names = [name[:1000] for name in request.POST.getlist("names")]
        drafts.do_attach_files(request.user, draft, files, names=names or None)
    except drafts.TooBig as too_big:
        return JsonResponse({"error": str(too_big)}, status=413)
    except BadField as bad:
        return bad_field_answer(bad)
    except drafts.InOutbox as waiting:
        return JsonResponse({"error": str(waiting)}, status=409)
    return JsonResponse(saved_answer(drafts.get_draft_for_user(request.user, draft_id)))


@login_required
@require_GET
@csp_exempt()  # its own policy below: a file of the user's, shown as nothing but a download
def draft_attachment(request, draft_id, attachment_id):
    """An attachment of the draft, downloaded as it will be sent: an uploaded file from the
    mail storage, or (re-used from a message) that message's own download."""
    draft = drafts.get_draft_for_user(request.user, draft_id)
    attachment = draft and draft.attachments.filter(pk=attachment_id).first()
    if not attachment:
        raise Http404
    if attachment.source_id and attachment.section:
        return redirect("mailbox:part_download", attachment.source_id, attachment.section)
    if attachment.source_id:
        return redirect("mailbox:message_original", attachment.source_id)
    try:
        handle = rawstore.open_raw(attachment.stored_name)
    except OSError as gone:
        raise Http404 from gone
    response = FileResponse(handle, content_type="application/octet-stream")
    response["Content-Disposition"] = content_disposition(attachment.filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@login_required
@require_POST
def draft_attachment_delete(request, draft_id, attachment_id):
    draft = drafts.get_draft_for_user(request.user, draft_id)
    try:
        if draft is None or not drafts.do_remove_attachment(request.user, draft, attachment_id):
            raise Http404
    except drafts.InOutbox as waiting:
        return JsonResponse({"error": str(waiting)}, status=409)
    return JsonResponse(saved_answer(drafts.get_draft_for_user(request.user, draft_id)))


@login_required
@require_POST
def draft_discard(request, draft_id):
    """Discard the draft: it goes, with its copy in Drafts."""
    draft = drafts.get_draft_for_user(request.user, draft_id)
    if draft is None:
        raise Http404
    if OutboxMessage.objects.filter(draft_id=draft.pk).exists():
        return _answer(request, {"error": _("This message is in the outbox: cancel sending it "
                                            "first.")}, status=409)  # fmt: skip
    drafts.do_delete_draft(draft)
    return _answer(request, {"redirect": reverse("mailbox:home")})


def _answer(request, data, status=200):
    """JSON for compose.js; a redirect with a notice for a plain form."""
    if request.headers.get("X-Requested-With") == "fetch":
        return JsonResponse(data, status=status)
    if "error" in data:
        messages.error(request, data["error"])
    return redirect(data.get("redirect") or request.META.get("HTTP_REFERER") or "mailbox:home")


@login_required
@require_POST
def html_text(request):
    """The plain text of formatted mail (the editor's toggle to plain text)."""
    return JsonResponse({"text": html_to_text(drafts.clean_html(request.POST.get("html", "")))})


# --- sending -------------------------------------------------------------------------------------


def send_later_time(request):
    """The chosen time of "send later" (in the user's time zone), None to send now; ValueError
    with a message for the user."""
    if request.POST.get("later") != "1":
        return None
    try:
        when = timezone.make_aware(datetime.fromisoformat(request.POST.get("send_at", "").strip()))
    except (ValueError, OverflowError) as bad:
        raise ValueError(_("Choose the date and time to send it.")) from bad
    if when <= timezone.now():
        raise ValueError(_("Choose a time in the future."))
    return when


@login_required
@require_POST
def draft_send(request):
    """Save the form, check it, and queue the message; {outbox, undo_url, send_at, redirect},
    or {error, field} with the saved draft's answer (it was saved all the same)."""
    draft, error = save(request)
    if error is not None:
        return error
    try:
        when = send_later_time(request)
        outbox = drafts.do_send_draft(request.user, draft, send_at=when)
    except OperationalError:  # queued, but its task not: the outbox's beat round sends it
        outbox = OutboxMessage.objects.filter(draft_id=draft.pk, user=request.user).first()
        if outbox is None:
            text = _("The webmail could not queue the message. Try again in a moment.")
            return _send_problem(draft, text, "", 503)
    except drafts.InOutbox as waiting:
        return _send_problem(draft, str(waiting), "", 409)
    except BadField as bad:
        return _send_problem(draft, bad_field_text(bad), bad.field, 400)
    except drafts.TooBig as too_big:
        return _send_problem(draft, str(too_big), "attachment", 413)
    except ValueError as bad_time:
        return _send_problem(draft, str(bad_time), "send_at", 400)
    except AttachmentGone as gone:
        text = _("“%(name)s” is gone with the message it came from: remove it to send.") % {
            "name": gone.args[0]}  # fmt: skip
        return _send_problem(draft, text, "attachment", 400)
    except READ_ERRORS:
        text = _("An attachment of the original could not be read now. Try again in a moment.")
        return _send_problem(draft, text, "", 503)
    answer = {"outbox": outbox.pk, "scheduled": outbox.scheduled,
              "send_at": outbox.send_at.isoformat(), "draft": draft.pk,
              "undo_url": reverse("mailbox:send_undo", args=[outbox.pk]),
              "redirect": _back_url(draft)}  # fmt: skip
    return _answer(request, answer)


def _send_problem(draft, text, field, status):
    return JsonResponse({**saved_answer(draft), "error": text, "field": field}, status=status)


def _back_url(draft):
    if draft.original_id and draft.original is not None:
        return reverse("mailbox:folder_messages", args=[draft.original.folder_id])
    return reverse("mailbox:home")


@login_required
@require_POST
def send_undo(request, outbox_id):
    """Undo a send still waiting (or cancel a scheduled one): back to the editor, as it was."""
    if get_outbox_for_user(request.user, outbox_id) is None:
        raise Http404
    draft_id = do_cancel_send(request.user, outbox_id)
    if draft_id is False:
        return _answer(request, {"error": _("Too late: the message is already on its way.")},
                       status=409)  # fmt: skip
    url = reverse("mailbox:draft", args=[draft_id]) if draft_id else reverse("mailbox:home")
    return _answer(request, {"redirect": url})
