"""Attachments, streamed from the server to the browser chunk by chunk, never held whole."""

import re
from urllib.parse import quote

from django.contrib.auth.decorators import login_required
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from . import bodies
from .models import Message

UNSAFE_IN_FILENAME = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|;]')


def content_disposition(filename):
    """RFC 6266: an ASCII fallback and the exact name in UTF-8; no path, no header break."""
    name = UNSAFE_IN_FILENAME.sub("_", filename or "").strip(" .") or "attachment"
    name = name[:200]
    fallback = name.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@login_required
@require_GET
def part_download(request, message_id, section):
    message = get_object_or_404(
        Message.objects.select_related("folder__account"),
        pk=message_id,
        folder__account__user=request.user,
        uid__isnull=False,
    )
    try:
        part = bodies.find_part(message, section)
    except (bodies.PartNotFound, ValueError):
        raise Http404 from None
    response = StreamingHttpResponse(
        bodies.iter_part(message, section), content_type="application/octet-stream"
    )
    response["Content-Disposition"] = content_disposition(part.filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Referrer-Policy"] = "no-referrer"
    return response
