"""One message: the reading pane (headers, body, attachments), and the body's sandboxed frame.

The HTML body is served on its own URL, sanitized, with a Content-Security-Policy that allows no
script and no remote load (unless the user chose to show remote content), and shown in an
``<iframe sandbox="">``: two independent walls between a hostile message and the webmail.

Everything about the message's content comes from its message source (mailbox.sources), so the
same code reads mail kept on an IMAP server and mail a POP3 fetch brought here.
"""

import base64
import dataclasses
import re
import secrets

from csp.decorators import csp_exempt
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import format_html
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_POST
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError
from selectolax.lexbor import LexborHTMLParser

from accounts.connection import describe_error
from accounts.models import get_preferences
from mailbox import actions
from mailbox.contacts import do_note_opened_sender
from mailbox.models import Message
from mailbox.parsing import BodyStructureError, find_parts, parse_header_fields
from mailbox.parsing.attachments import decoded_size, part_name, split_embedded
from mailbox.parsing.charsets import decode_text_part
from mailbox.parsing.preview import preview_line
from mailbox.protocols.base import ConnectionProblem
from mailbox.sanitize import sanitize_html, text_to_html
from mailbox.sources import MessageGone, source_for
from mailbox.sources.base import hidden_kind

from .conversation import conversation_for, conversation_pane

INLINE_IMAGE_TYPES = {"image/png", "image/gif", "image/jpeg", "image/webp"}
INLINE_IMAGE_BYTES = 1024 * 1024  # a larger inline image is left out of the frame
MAX_FORWARD_DEPTH = 5  # forwarded messages shown in place; deeper ones only as a .eml file
# The frame's sandbox lets a link the reader clicks open in a new tab (the sanitizer gives every
# link target=_blank and rel="noopener noreferrer"), unsandboxed there since it is another site's
# page; it allows no script, form, plugin or navigation of our page.
SANDBOX = "allow-popups allow-popups-to-escape-sandbox"
BODY_CSP = f"default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox {SANDBOX}"
# With remote content allowed, images (only) may come from anywhere over http(s).
BODY_CSP_REMOTE = (
    "default-src 'none'; img-src 'self' data: https: http:; style-src 'unsafe-inline'; "
    f"sandbox {SANDBOX}"
)
BODY_DOCUMENT = (
    '<!doctype html><meta charset="utf-8"><meta name="referrer" content="no-referrer">'
    "<style>html { background: #fff; } body { margin: .8rem; color: #1d2330;"
    " font: 15px/1.45 system-ui, sans-serif; overflow-wrap: anywhere; }"
    " img { max-width: 100%; height: auto; } pre { white-space: pre-wrap; }</style>"
)
# Wide HTML in a narrow frame (a 640 px newsletter on a phone) is reflowed, as Gmail and Apple
# Mail do, with CSS alone (the frame runs no script): below the widest fixed width the mail asks
# for, fixed widths give way to the frame's and images shrink with their boxes; the text keeps
# its size. A frame at least that wide shows the mail as laid out. The query is on the frame's
# own viewport; the margin leaves room for the body's margins and a scrollbar.
FIT_MARGIN = 64  # CSS px
FIT_TO_WIDTH = (
    "<style>@media (max-width: {width}px) {{"
    " img {{ max-width: 100% !important; height: auto !important; }}"
    " table, thead, tbody, tfoot, tr, td, th, caption, col, colgroup, div, p, center, blockquote,"
    " pre, ul, ol, li, dl, dt, dd, h1, h2, h3, h4, h5, h6, hr, section, article, header, footer,"
    " main, nav, aside, figure, figcaption, details, summary, address"
    " {{ width: auto !important; min-width: 0 !important; max-width: 100% !important; }}"
    " td, th {{ white-space: normal !important; }}"
    " pre {{ white-space: pre-wrap !important; }} }}</style>"
)
SANITIZED_TTL = 600  # seconds the page's sanitized body waits in the cache for the frame's request
# what reading a body may meet: the server or storage failing, or the message gone meanwhile
READ_ERRORS = (ConnectionProblem, MessageGone)


def get_message_or_404(user, message_id):
    """The user's own message, confirmed by the server (a placeholder has nothing to read)."""
    rows = Message.objects.select_related("folder__account")
    return get_object_or_404(rows, pk=message_id, folder__account__user=user, uid__isnull=False)


@login_required
@require_GET
def message_view(request, message_id):
    from .mail import list_context, screen_context

    message = get_message_or_404(request.user, message_id)
    first_open = not message.seen  # before the pane marks it read
    in_place = request.GET.get("part") == "thread-item"  # a conversation's message, opened
    thread = None if in_place else conversation_for(request, message)
    if thread is None:
        pane, template = reading_pane(request, message), "mailbox/_reading_pane.html"
    else:
        pane = conversation_pane(request, message, thread, reading_pane)
        template = "mailbox/_conversation_pane.html"
    if first_open:  # the autocomplete's "heard from": once per message, not on every view
        do_note_opened_sender(request.user, message)
    if in_place:
        item = {"pane": pane, "message": message, "open": True}
        return render(request, "mailbox/_thread_item.html", {"item": item})
    if request.GET.get("part") == "pane":
        return render(request, template, pane)
    # opening it may just have marked it read: the title's count is the folder's as it is now
    message.folder.refresh_from_db(fields=["unread", "total"])
    context = {**screen_context(request, message.folder), **list_context(request, message.folder)}
    context.update(pane)
    return render(request, "mailbox/mail.html", context)


# --- one message in the reading pane -------------------------------------------------------------


def message_parts(message):
    """find_parts of the message's structure; nothing for one that cannot be read."""
    try:
        return find_parts(source_for(message).part_tree(message))
    except (BodyStructureError, *READ_ERRORS):
        return None, None, [], []


def part_text(message, part):
    data = source_for(message).get_part(message, part.section)
    return decode_text_part(data, part.content_type, part.params.get("charset", ""))


def body_text(message, part):
    """(text, embedded files) of a text/plain body: its uuencoded and yEnc blocks are files,
    taken out of the text shown and of the preview line."""
    data, files = split_embedded(source_for(message).get_part(message, part.section))
    return decode_text_part(data, part.content_type, part.params.get("charset", "")), files


MAX_LISTED_PARTS = 300  # attachments listed in the pane


def reading_pane(request, message):
    """The context of the reading pane: headers, the body (or why it is missing), attachments
    (each a :class:`Listed`), and the forwarded messages shown in place."""
    text, html, attachments, inline = message_parts(message)
    # only an HTML body loads remote content: plain text asks nothing about its sender
    remote = _remote_choice(request, message) if html is not None else NO_REMOTE
    context = {"message": message, "html": html is not None, "remote": remote}
    shown_cids, embedded, blank = frozenset(), [], False
    try:
        if html is not None:
            sanitized = sanitized_body(request.user, message, html, remote["allowed"])
            context["blocked_remote"] = sanitized["blocked_remote"]
            shown_cids = frozenset(sanitized["cids"])
            blank = blank_html(sanitized["html"])
        elif text is not None:
            context["text_html"], embedded = text_body(message, text)
            _remember_preview(message, text)
            if not html_words(context["text_html"]):
                context["text_html"] = ""
    except READ_ERRORS as problem:
        context["body_problem"] = describe_error(message.folder.account, problem)
    parts = attachments + [p for p in inline if p.content_id not in shown_cids]
    # a page of thousands of files is unreadable and slow to make (10,000: seconds): the first
    # ones are listed, the rest counted (the original message has them all)
    context["unlisted"] = max(0, len(parts) - MAX_LISTED_PARTS)
    parts = parts[:MAX_LISTED_PARTS]
    context["attachments"], context["forwarded"] = listed_parts(message, parts, 1)
    if blank and context["forwarded"]:
        # forwarded as an attachment with an empty formatted text: no empty frame above the
        # message forwarded. Elsewhere the frame stays: an HTML body without words or images
        # may still show something (a CSS background, coloured cells), and it is all there is
        context["html"] = False
    context["attachments"] += [Listed.embedded(text, found) for found in embedded]
    if embedded:
        _remember_attachment_mark(message)
    context["mark_read"] = _mark_read_on_open(request.user, message)
    return context


def _remember_attachment_mark(message):
    """Files in the text (uuencode, yEnc) are known only once it is read, by IMAP as by POP3:
    the list's mark follows then, as the preview line does."""
    if not message.has_attachments:
        message.has_attachments = True
        Message.objects.filter(pk=message.pk).update(has_attachments=True)


def _remember_preview(message, part):
    """The list's preview line, once the text is known (it is cached: no second fetch)."""
    if message.preview:
        return
    words = preview_line(source_for(message).get_part(message, part.section), part)
    if words:
        message.preview = words
        Message.objects.filter(pk=message.pk).update(preview=message.preview)


def text_body(message, part):
    """(the text/plain ``part`` as HTML, the files embedded in it)."""
    flowed = part.params.get("format", "").lower() == "flowed"
    delsp = part.params.get("delsp", "").lower() == "yes"
    text, files = body_text(message, part)
    return text_to_html(text, flowed, delsp), files


# --- attachments, and forwarded messages shown in place -----------------------------------------


@dataclasses.dataclass
class Listed:
    """One line of the attachment list: a MIME part, or a file embedded in one (TNEF, uu)."""

    section: str  # for the download and preview URLs
    name: str
    content_type: str
    size: int | None  # octets as the download will have them
    sureness: str  # "exact", "estimate" (base64) or "bound" (quoted-printable: at most)
    preview: str | None = None  # "image", "pdf": a Preview link is offered (download.previewable)

    @classmethod
    def part(cls, part, subject=None):
        from .download import previewable

        size, sureness = decoded_size(part)
        name = part_name(part, subject)
        return cls(part.section, name, part.content_type, size, sureness, previewable(part))

    @classmethod
    def embedded(cls, host, found):
        from .download import previewable

        listed = cls(found.section(host.section), found.name, found.content_type,
                     len(found.data), "exact")  # fmt: skip
        listed.preview = previewable(listed)
        return listed


def listed_parts(message, parts, depth):
    """([Listed] for ``parts``, the forwarded messages among them shown in place): a TNEF
    part is followed by the files inside it; a message/rfc822 part is listed as a .eml file
    named after its subject and, up to MAX_FORWARD_DEPTH, shown as a :func:`forwarded_message`.
    A part the source cannot open now is still listed, as itself."""
    listed, forwarded = [], []
    source = source_for(message)
    for part in parts:
        if part.message is not None:
            shown = forwarded_message(message, part, depth)
            forwarded.append(shown)
            listed.append(shown["listed"])
            continue
        listed.append(Listed.part(part))
        if hidden_kind(part) == "tnef":
            try:
                found = source.embedded_files(message, part)
            except READ_ERRORS:
                found = []
            listed.extend(Listed.embedded(part, item) for item in found)
    return listed, forwarded


def forwarded_message(message, part, depth):
    """A message/rfc822 ``part`` as the pane shows it: {"listed", "fields" (HeaderFields of
    its header, or None when it could not be read), "text_html", "attachments", "forwarded"
    (those inside it), "depth", "too_deep" (shown only as its .eml file)}."""
    try:
        fields = parse_header_fields(source_for(message).get_message_header(message, part))
    except READ_ERRORS:
        fields = None
    subject = fields.subject if fields is not None else None
    shown = {"listed": Listed.part(part, subject), "fields": fields, "depth": depth,
             "too_deep": depth > MAX_FORWARD_DEPTH, "text_html": "", "attachments": [],
             "forwarded": []}  # fmt: skip
    if shown["too_deep"] or fields is None:
        return shown
    text, html, attachments, inline = find_parts(part.message)
    try:
        shown["text_html"], embedded = _inner_body(message, text, html)
        if not html_words(shown["text_html"]):  # a forward of a forward: no empty block
            shown["text_html"] = ""
    except READ_ERRORS:
        embedded = []
    shown["attachments"], shown["forwarded"] = listed_parts(
        message, attachments + inline, depth + 1
    )
    shown["attachments"] += [Listed.embedded(text, found) for found in embedded]
    return shown


def _inner_body(message, text, html):
    """(HTML of a forwarded message's text, its embedded files): its text/plain body, else
    the text of its HTML body (no frame for it: the words are shown, not the layout)."""
    if text is not None:
        return text_body(message, text)
    if html is not None:
        return text_to_html(html_words(part_text(message, html))), []
    return "", []


_BLOCK_START = re.compile(r"(?i)<(?=(?:p|div|br|li|tr|td|th|h[1-6]|blockquote|table)\b)")
_BLANK_LINES = re.compile(r"\n\s*\n\s*")
_SPACES = re.compile(r"[ \t\r\f\v]+")


# what shows without a word of text: an HTML body with one of these is not blank
_SHOWS_WITHOUT_WORDS = re.compile(r"(?i)<(?:img|svg|video|audio|picture|hr)\b")


def blank_html(html):
    """Whether a sanitized HTML body would show nothing (no words, no image): a message
    forwarded as an attachment with an empty formatted text gets no empty frame (~370 px) for it."""
    return not _SHOWS_WITHOUT_WORDS.search(html) and not html_words(html)


def html_words(html):
    """The text an HTML body shows, a line per block, without script, style or head."""
    tree = LexborHTMLParser(_BLOCK_START.sub("\n<", html))
    tree.strip_tags(["script", "style", "head", "template", "noscript"])
    lines = (_SPACES.sub(" ", line).strip() for line in (tree.text(separator="") or "").split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


NO_REMOTE = {"allowed": False, "trusted": False, "this_time": False}


def _remote_choice(request, message):
    """Whether remote content shows in this message: "this time" (?remote=1) or always for the
    sender (a TrustedSender)."""
    trusted = actions.is_trusted_sender(request.user, message.from_address)
    this_time = request.GET.get("remote") == "1"
    return {"allowed": trusted or this_time, "trusted": trusted, "this_time": this_time}


def _mark_read_on_open(user, message):
    """Mark the message read now, or tell the page after how many seconds to do it (None: never).

    Returns the delay for mail.js; 0 means it is done."""
    if message.seen:
        return None
    delay = get_preferences(user).mark_read_after
    if delay != 0:
        return delay if delay > 0 else None
    try:
        actions.do_set_flags(user, [message.pk], add=["\\Seen"])
        message.seen = True
    except OperationalError:  # the task queue does not answer: the next sync pushes the flag
        pass
    return 0


# --- the sanitized body, computed once for the page and its frame --------------------------------


def sanitized_body(user, message, html_part, allow_remote):
    """The sanitized HTML of the message, with inline images as markers to fill in.

    A dict: html, blocked_remote, cids (the Content-IDs in document order, each shown where its
    marker ``<nonce>-<index>`` is), nonce and width (SanitizedHtml.width). Sanitizing a big
    newsletter costs tens of milliseconds, and the page and then its frame both need it, so it
    is kept in the cache for a while, per user, message and remote choice. The nonce is random,
    so no mail can forge a marker."""
    key = (
        f"sanitized:{user.pk}:{message.pk}:{message.folder_id}:{message.uidvalidity}:"
        f"{message.uid}:{int(allow_remote)}"
    )
    found = _cache_get(key)
    if found is not None:
        return found
    nonce, cids = secrets.token_hex(8), []

    def marker(cid):
        if cid not in cids:
            cids.append(cid)
        return f"{nonce}-{cids.index(cid)}"

    html = part_text(message, html_part)
    result = sanitize_html(html, cid_url=marker, allow_remote=allow_remote)
    found = {"html": result.html, "blocked_remote": result.blocked_remote, "cids": cids,
             "nonce": nonce, "width": result.width}  # fmt: skip
    _cache_set(key, found)
    return found


def _cache_get(key):
    try:
        return cache.get(key)
    except RedisError:  # without the cache the body is only sanitized twice
        return None


def _cache_set(key, value):
    try:
        cache.set(key, value, SANITIZED_TTL)
    except RedisError:
        pass


def inline_image(message, part):
    """The URL of an inline image (cid:) for the sandboxed frame: a data: URL.

    The frame's document has an opaque origin, so the browser sends it no session cookie
    (SameSite) and a link to message_cid would only meet the login page."""
    if part is None or part.content_type not in INLINE_IMAGE_TYPES:
        return ""
    if (part.size or 0) > INLINE_IMAGE_BYTES * 4 // 3 + 1024:  # base64 on the wire
        return ""
    try:
        data = source_for(message).get_part(message, part.section)
    except READ_ERRORS:
        return ""
    if len(data) > INLINE_IMAGE_BYTES:
        return ""
    return f"data:{part.content_type};base64,{base64.b64encode(data).decode()}"


def with_inline_images(message, sanitized, inline):
    parts = {part.content_id: part for part in inline}
    cids = sanitized["cids"]

    def fill(match):
        index = int(match.group(1))
        return inline_image(message, parts.get(cids[index])) if index < len(cids) else ""

    return re.sub(re.escape(sanitized["nonce"]) + r"-(\d+)", fill, sanitized["html"])


def fit_to_width(width):
    """The stylesheet that reflows a body laid out ``width`` CSS px wide (an int) into a
    narrower frame; nothing for a body without a fixed width."""
    return FIT_TO_WIDTH.format(width=int(width) + FIT_MARGIN) if width else ""


def _guarded(response):
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "no-referrer"
    return response


@login_required
@require_GET
@xframe_options_sameorigin
@csp_exempt()  # its own policy below, not the pages' one
def message_body(request, message_id):
    """The sanitized HTML body, as a document of its own for the sandboxed frame."""
    message = get_message_or_404(request.user, message_id)
    _text, html, _attachments, inline = message_parts(message)
    if html is None:
        raise Http404
    allow_remote = _remote_choice(request, message)["allowed"]
    try:
        sanitized = sanitized_body(request.user, message, html, allow_remote)
        content, status = with_inline_images(message, sanitized, inline), 200
        content = fit_to_width(sanitized.get("width", 0)) + content  # older cache entries: 0
    except READ_ERRORS as problem:
        text = describe_error(message.folder.account, problem)
        content, status = format_html("<p>{}</p>", text), 503
    response = HttpResponse(BODY_DOCUMENT + content, status=status)
    response["Content-Security-Policy"] = BODY_CSP_REMOTE if allow_remote else BODY_CSP
    response["Cache-Control"] = "private, no-cache"
    return _guarded(response)


def find_cid(message, cid):
    """The leaf part whose Content-ID is ``cid``, or None."""
    try:
        tree = source_for(message).part_tree(message)
    except (BodyStructureError, *READ_ERRORS):
        return None
    return next((p for p in tree.walk() if p.content_id == cid and not p.is_multipart), None)


@login_required
@require_GET
@csp_exempt()  # its own policy below, not the pages' one
def message_cid(request, message_id, cid):
    """An inline image of the HTML body (cid:), only as one of a few image types."""
    message = get_message_or_404(request.user, message_id)
    part = find_cid(message, cid)
    if part is None or part.content_type not in INLINE_IMAGE_TYPES:
        raise Http404
    try:
        data = source_for(message).get_part(message, part.section)
    except READ_ERRORS:
        return _guarded(HttpResponse(status=503))
    response = HttpResponse(data, content_type=part.content_type)
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return _guarded(response)


@login_required
@require_POST
def trust_sender(request, message_id):
    """Always show remote content from this message's sender, or stop doing so."""
    message = get_message_or_404(request.user, message_id)
    trusted = request.POST.get("trusted") != "0"
    try:
        actions.do_trust_sender(request.user, message.from_address, trusted)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("mailbox:message", message.pk)
