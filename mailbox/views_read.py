"""Reading mail: a folder's messages, one message, its HTML body in a sandboxed frame, and the
inline images that body shows.

The HTML body is served on its own URL, sanitized, with a Content-Security-Policy that allows no
script and no remote load, and shown in an ``<iframe sandbox="">``: two independent walls between
a hostile message and the webmail's own pages.
"""

import base64
import datetime

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET
from kombu.exceptions import OperationalError

from accounts.connection import describe_problem
from mailbox.protocols.base import ConnectionProblem
from mailbox.protocols.imap import ImapCommandError

from . import actions, bodies
from .models import Message
from .parsing import BodyStructureError, find_parts, parse_bodystructure
from .parsing.charsets import decode_bytes
from .sanitize import sanitize_html, text_to_html

PAGE_SIZE = 50
INLINE_IMAGE_TYPES = {"image/png", "image/gif", "image/jpeg", "image/webp"}
INLINE_IMAGE_BYTES = 1024 * 1024  # a larger inline image is left out of the frame
BODY_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"
BODY_DOCUMENT = (
    '<!doctype html><meta charset="utf-8">'
    "<style>body { margin: .8rem; font: 15px/1.45 system-ui, sans-serif; color: #1d2330;"
    " overflow-wrap: anywhere; } img { max-width: 100%; height: auto; }</style>"
)


def get_message_or_404(user, message_id):
    """The user's own message, confirmed by the server (a placeholder has nothing to read)."""
    messages = Message.objects.select_related("folder__account")
    return get_object_or_404(messages, pk=message_id, folder__account__user=user, uid__isnull=False)


# --- a folder's messages ------------------------------------------------------------------------


def parse_cursor(value):
    """``?before=<date iso>,<id>`` as (date, id); None for the first page or a broken cursor."""
    date, _sep, pk = (value or "").rpartition(",")
    try:
        return datetime.datetime.fromisoformat(date), int(pk)
    except ValueError:
        return None


def folder_page(folder, cursor):
    """One page, newest first, after ``cursor`` by keyset (the index on folder, -date, -id)."""
    rows = folder.messages.order_by("-date", "-id")
    if cursor:
        date, pk = cursor
        rows = rows.filter(Q(date__lt=date) | Q(date=date, pk__lt=pk))
    rows = list(rows[: PAGE_SIZE + 1])
    page, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
    older = f"{page[-1].date.isoformat()},{page[-1].pk}" if more else None
    return page, older


@login_required
@require_GET
def folder_messages(request, folder_id):
    folder = actions.get_folder_for_user(request.user, folder_id)
    page, older = folder_page(folder, parse_cursor(request.GET.get("before")))
    context = {"folder": folder, "page": page, "older": older, "first": "before" not in request.GET}
    return render(request, "mailbox/folder_messages.html", context)


# --- one message --------------------------------------------------------------------------------


def message_parts(message):
    """find_parts of the message's cached structure; nothing for one that does not parse."""
    try:
        return find_parts(parse_bodystructure(bytes(message.bodystructure)))
    except BodyStructureError:
        return None, None, [], []


def part_text(message, part):
    return decode_bytes(bodies.get_part(message, part.section), part.params.get("charset", ""))


def sanitized_body(message, html_part, cid_url=None):
    def cid_link(cid):
        return reverse("mailbox:message_cid", args=[message.pk, cid])

    html = part_text(message, html_part)
    return sanitize_html(html, cid_url=cid_url or cid_link, allow_remote=False)


def inline_image(message, part):
    """The URL of an inline image (cid:) for the sandboxed frame: a data: URL.

    The frame's document has an opaque origin, so the browser sends it no session cookie
    (SameSite) and a link to message_cid would only meet the login page."""
    if part is None or part.content_type not in INLINE_IMAGE_TYPES:
        return None
    if (part.size or 0) > INLINE_IMAGE_BYTES * 4 // 3 + 1024:  # base64 on the wire
        return None
    try:
        data = bodies.get_part(message, part.section)
    except (ConnectionProblem, ImapCommandError):
        return None
    if len(data) > INLINE_IMAGE_BYTES:
        return None
    return f"data:{part.content_type};base64,{base64.b64encode(data).decode()}"


def find_cid(message, cid):
    """The leaf part whose Content-ID is ``cid``, or None."""
    try:
        tree = parse_bodystructure(bytes(message.bodystructure))
    except BodyStructureError:
        return None
    return next((p for p in tree.walk() if p.content_id == cid and not p.is_multipart), None)


def _mark_read(user, message):
    if message.seen:
        return
    try:
        actions.do_set_flags(user, [message.pk], add=["\\Seen"])
    except OperationalError:  # the task queue does not answer: the next sync pushes the flag
        pass


@login_required
@require_GET
def message_view(request, message_id):
    message = get_message_or_404(request.user, message_id)
    text, html, attachments, inline = message_parts(message)
    context = {"message": message, "folder": message.folder, "html": html is not None}
    shown_cids = frozenset()
    try:
        if html is not None:
            sanitized = sanitized_body(message, html)
            context["blocked_remote"] = sanitized.blocked_remote
            shown_cids = sanitized.cids
        elif text is not None:
            flowed = text.params.get("format", "").lower() == "flowed"
            delsp = text.params.get("delsp", "").lower() == "yes"
            context["text_html"] = text_to_html(part_text(message, text), flowed, delsp)
    except (ConnectionProblem, ImapCommandError) as problem:
        context["body_problem"] = _describe(message, problem)
    context["attachments"] = attachments + [p for p in inline if p.content_id not in shown_cids]
    _mark_read(request.user, message)
    return render(request, "mailbox/message.html", context)


def _describe(message, problem):
    if isinstance(problem, ConnectionProblem):
        account = message.folder.account
        return describe_problem(problem, account.incoming_host, account.incoming_port)
    return _("The server refused: %(text)s") % {"text": problem.text[:300]}


def _guarded(response):
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "no-referrer"
    return response


@login_required
@require_GET
@xframe_options_sameorigin
def message_body(request, message_id):
    """The sanitized HTML body, as a document of its own for the sandboxed frame."""
    message = get_message_or_404(request.user, message_id)
    _text, html, _attachments, inline = message_parts(message)
    if html is None:
        raise Http404
    parts = {part.content_id: part for part in inline}
    try:
        content = sanitized_body(
            message, html, cid_url=lambda cid: inline_image(message, parts.get(cid))
        ).html
        status = 200
    except (ConnectionProblem, ImapCommandError) as problem:
        content, status = format_html("<p>{}</p>", _describe(message, problem)), 503
    response = HttpResponse(BODY_DOCUMENT + content, status=status)
    response["Content-Security-Policy"] = BODY_CSP
    return _guarded(response)


@login_required
@require_GET
def message_cid(request, message_id, cid):
    """An inline image of the HTML body (cid:), only as one of a few image types."""
    message = get_message_or_404(request.user, message_id)
    part = find_cid(message, cid)
    if part is None or part.content_type not in INLINE_IMAGE_TYPES:
        raise Http404
    try:
        data = bodies.get_part(message, part.section)
    except (ConnectionProblem, ImapCommandError):
        return _guarded(HttpResponse(status=503))
    response = HttpResponse(data, content_type=part.content_type)
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return _guarded(response)
