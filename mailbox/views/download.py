"""A message's raw material: attachments downloaded or previewed, the whole message as a .eml
file, and every header field for "show details".

Downloads stream from the message source (the IMAP server, or the mail kept here) to the browser
chunk by chunk, never held whole. Everything
here comes from a hostile sender, so each response is a wall of its own: a download is
``attachment`` with a safe RFC 6266 name; a preview is served only when the bytes really are
one of a few image types or a PDF, under the type they are, never the type declared; every
response carries nosniff and a Content-Security-Policy that allows nothing.
"""

import re
import unicodedata
from urllib.parse import quote

from asgiref.sync import sync_to_async
from csp.decorators import csp_exempt
from django.contrib.auth.decorators import login_required
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts.connection import describe_error
from mailbox.parsing import BodyStructureError, parse_header_fields
from mailbox.parsing.attachments import part_name
from mailbox.parsing.bidi import BIDI_CONTROLS
from mailbox.parsing.headers import list_header_fields
from mailbox.protocols.base import ConnectionProblem
from mailbox.sources import HEADER_LIMIT, MessageGone, PartNotFound, source_for

from .message import get_message_or_404

CHUNK_SIZE = 1 << 20  # bytes per partial fetch, and per piece sent to the browser
SANDBOX = "default-src 'none'; sandbox"
# No ``sandbox`` for PDFs: Chrome before its out-of-process PDF viewer (and Firefox's pdf.js)
# refuse to show a PDF in a sandboxed document. The bytes start with %PDF- and are served as
# application/pdf with nosniff, so no browser parses them as HTML; PDF scripts run inside the
# viewer, apart from our origin. 'self' lets the viewer's own wrapper page embed the PDF, and
# its inline styles size it; nothing else may load, submit or frame it from elsewhere.
PDF_CSP = (
    "default-src 'none'; object-src 'self'; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'; form-action 'none'; base-uri 'none'"
)
UNSAFE_IN_FILENAME = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|;]')
INVISIBLE = {"Cc", "Cf", "Zl", "Zp"}  # controls, invisible formatting, line breaks

# Previews: the declared type decides whether to offer one, the first bytes whether to serve it
PREVIEW_TYPES = {
    "image/png": "image",
    "image/gif": "image",
    "image/jpeg": "image",
    "image/pjpeg": "image",
    "image/webp": "image",
    "application/pdf": "pdf",
}
PREVIEW_LIMIT = 28 * 1024 * 1024  # octets as the server counts them: about 20 MB in base64


# --- names and headers ---------------------------------------------------------------------------


def safe_filename(text):
    """``text`` as a file name: no path, quote, control, bidi control ("txt.exe" shown as
    "exe.txt") or other invisible formatting character."""
    text = "".join(
        "_" if c in BIDI_CONTROLS or unicodedata.category(c) in INVISIBLE else c
        for c in text[:1000]
    )
    return UNSAFE_IN_FILENAME.sub("_", text).strip(" .")


def content_disposition(filename, disposition="attachment"):
    """RFC 6266: an ASCII fallback and the exact name in UTF-8; no path, no header break."""
    name = safe_filename(filename or "")[:200] or "attachment"
    fallback = name.encode("ascii", "replace").decode().replace("?", "_")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def eml_filename(subject):
    return (safe_filename(subject or "")[:150] or "message") + ".eml"


# --- previews ------------------------------------------------------------------------------------


def previewable(part):
    """ "image", "pdf" or None: whether to offer a preview of ``part`` (a parsed BodyPart), by
    its declared type and size. The preview itself re-checks the bytes."""
    kind = PREVIEW_TYPES.get(part.content_type)
    return kind if kind is not None and _small_enough(part) else None


def _small_enough(part):
    return part.size is not None and part.size <= PREVIEW_LIMIT


def sniff_image(head):
    """The type the bytes really are, by their magic number: PNG, GIF, JPEG, WebP or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _verified_type(kind, head):
    if kind == "image":
        return sniff_image(head)
    return "application/pdf" if head.startswith(b"%PDF-") else None


# --- responses -----------------------------------------------------------------------------------


class _AsyncChunks:
    """A sources.Stream for daphne. Django's ASGI handler reads a synchronous iterator whole into
    a list before it sends anything (StreamingHttpResponse.__aiter__); this fetches one chunk at
    a time in a worker thread instead, so memory stays at one chunk."""

    def __init__(self, stream):
        self.stream = stream

    def __aiter__(self):
        return self

    async def __anext__(self):
        chunk = await sync_to_async(self.stream.next_chunk, thread_sensitive=False)()
        if chunk is None:
            raise StopAsyncIteration
        return chunk

    def close(self):
        self.stream.close()


def _streaming(request, stream, content_type):
    content = _AsyncChunks(stream) if isinstance(request, ASGIRequest) else stream
    return StreamingHttpResponse(content, content_type=content_type)


def _guarded(response, csp=SANDBOX):
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = csp
    response["Referrer-Policy"] = "no-referrer"
    return response


def _plain(status, text):
    response = HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return _guarded(response)


def _part_or_404(message, section):
    try:
        return source_for(message).find_part(message, section)
    except (PartNotFound, BodyStructureError, MessageGone):
        raise Http404 from None
    except ConnectionProblem:  # the tree of a kept message could not be read: said by _open
        raise Http404 from None


def _embedded_or_404(message, section):
    """(a file embedded in a part, None), or (None, a calm 503); Http404 when there is none."""
    try:
        _host, found = source_for(message).find_embedded(message, section)
    except (PartNotFound, BodyStructureError, MessageGone):
        raise Http404 from None
    except ConnectionProblem as problem:
        return None, _plain(503, describe_error(message.folder.account, problem))
    return found, None


def download_name(message, part):
    """The name ``part`` is downloaded under (parsing.attachments.part_name): a forwarded
    message's subject needs its header, which the source may not give now ("Part 2.eml")."""
    subject = None
    if part.message is not None and not part.filename:
        try:
            header = source_for(message).get_message_header(message, part)
            subject = parse_header_fields(header).subject
        except (ConnectionProblem, MessageGone):
            pass
    return part_name(part, subject)


def _open(message, part=None):
    """(a sources.Stream of ``part``, or of the whole message, None), or (None, a calm 503)
    when the source cannot give it now. Http404 when the message is gone."""
    source = source_for(message)
    try:
        if part is None:
            return source.stream_message(message, CHUNK_SIZE), None
        return source.stream_part(message, part, CHUNK_SIZE), None
    except MessageGone:
        raise Http404 from None
    except ConnectionProblem as problem:  # a refusal too
        return None, _plain(503, describe_error(message.folder.account, problem))


# --- views ---------------------------------------------------------------------------------------


@login_required
@require_GET
@csp_exempt()  # _guarded() gives its own policy
def part_download(request, message_id, section):
    """One part as a file; a file embedded in a part ("2~tnef.1") too."""
    message = get_message_or_404(request.user, message_id)
    if "~" in section:
        return _embedded_download(message, section)
    part = _part_or_404(message, section)
    name = download_name(message, part)
    stream, problem = _open(message, part)
    if problem is not None:
        return problem
    response = _streaming(request, stream, "application/octet-stream")
    response["Content-Disposition"] = content_disposition(name)
    return _guarded(response)


def _embedded_download(message, section):
    found, problem = _embedded_or_404(message, section)
    if problem is not None:
        return problem
    response = HttpResponse(found.data, content_type="application/octet-stream")
    response["Content-Disposition"] = content_disposition(found.name)
    return _guarded(response)


def _embedded_preview(message, section):
    found, problem = _embedded_or_404(message, section)
    if problem is not None:
        return problem
    kind = PREVIEW_TYPES.get(found.content_type)
    content_type = _verified_type(kind, found.data[:16]) if kind else None
    if content_type is None:
        raise Http404
    response = HttpResponse(found.data, content_type=content_type)
    response["Content-Disposition"] = content_disposition(found.name, "inline")
    response["Cache-Control"] = "private, max-age=3600"
    return _guarded(response, PDF_CSP if kind == "pdf" else SANDBOX)


@login_required
@require_GET
@csp_exempt()  # _guarded() gives its own policy
def message_original(request, message_id):
    """The whole message as it came (IMAP BODY.PEEK[], or the raw file kept), as a .eml file."""
    message = get_message_or_404(request.user, message_id)
    stream, problem = _open(message)
    if problem is not None:
        return problem
    response = _streaming(request, stream, "message/rfc822")
    response["Content-Disposition"] = content_disposition(eml_filename(message.subject))
    return _guarded(response)


@login_required
@require_GET
def message_headers(request, message_id):
    """Every header field, decoded and escaped: a fragment for the reading pane's details."""
    message = get_message_or_404(request.user, message_id)
    context = {"message": message, "fields": [], "truncated": False, "problem": None}
    status = 200
    try:
        raw = source_for(message).get_header(message)
        context["fields"], more = list_header_fields(raw)
        # fields were left out, or the block was cut at the fetch's bound
        context["truncated"] = more or len(raw) >= HEADER_LIMIT
    except MessageGone:
        raise Http404 from None
    except ConnectionProblem as problem:
        context["problem"], status = describe_error(message.folder.account, problem), 503
    response = render(request, "mailbox/_headers.html", context, status=status)
    response["Cache-Control"] = "private" if status == 200 else "no-store"
    return response


@login_required
@require_GET
@csp_exempt()  # _guarded() gives its own policy
def part_preview(request, message_id, section):
    """An image or a PDF shown inline, only when its first bytes say it is what it claims."""
    message = get_message_or_404(request.user, message_id)
    if "~" in section:
        return _embedded_preview(message, section)
    part = _part_or_404(message, section)
    kind = PREVIEW_TYPES.get(part.content_type)
    if kind is None:
        raise Http404
    if not _small_enough(part):
        return _plain(413, _("This attachment is too large to preview. Download it instead."))
    stream, problem = _open(message, part)
    if problem is not None:
        return problem
    content_type = _verified_type(kind, stream.peek(16))
    if content_type is None:
        stream.close()
        raise Http404
    response = _streaming(request, stream, content_type)
    response["Content-Disposition"] = content_disposition(part_name(part), "inline")
    response["Cache-Control"] = "private, max-age=3600"
    return _guarded(response, PDF_CSP if kind == "pdf" else SANDBOX)
