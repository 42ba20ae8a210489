"""The pure part of reading a message, from raw bytes to the HTML the reading pane shows, for the
fuzzer (bench/fuzz.py) and for the tests that keep what it found (tests/mailbox/test_fuzz_finds.py).

It is what mailbox.views.message does for a message kept here (mailbox.sources.local), without
the database and the request: the header fields of the list row, the part tree of one scan, the
bodies found (find_parts), each text body decoded with its uuencoded/yEnc files taken out and
turned into HTML, the HTML body sanitized, the preview line, and every attachment's name and size
as the list shows them. Nested messages (message/rfc822) are read as parts of the tree, as the
pane shows them in place. Anything raised here is a bug the reader would meet as a server error.
"""

from io import BytesIO

from mailbox.parsing import find_parts, parse_header_fields
from mailbox.parsing.attachments import decoded_size, part_name, split_embedded
from mailbox.parsing.charsets import decode_text_part
from mailbox.parsing.mime import read_part, scan_message
from mailbox.parsing.preview import preview_line
from mailbox.sanitize import sanitize_html, text_to_html

PART_LIMIT = 4 << 20  # bytes of one body read, as a reader's would be bounded by the page


def render(raw: bytes) -> dict:
    """{"subject", "text_html", "html", "preview", "attachments": [(name, size)]} of ``raw``."""
    stream = BytesIO(raw)
    scanned = scan_message(stream)
    header = parse_header_fields(raw[: scanned.header_end])
    text, html, attachments, inline = find_parts(scanned.tree)
    shown = {"subject": header.subject, "text_html": "", "html": "", "preview": ""}
    if text is not None:
        data = read_part(stream, text, limit=PART_LIMIT)
        body, _files = split_embedded(data)
        charset = text.params.get("charset", "")
        flowed = text.params.get("format", "").lower() == "flowed"
        delsp = text.params.get("delsp", "").lower() == "yes"
        shown["text_html"] = text_to_html(
            decode_text_part(body, text.content_type, charset), flowed, delsp
        )
        shown["preview"] = preview_line(data, text)
    if html is not None:
        data = read_part(stream, html, limit=PART_LIMIT)
        markup = decode_text_part(data, html.content_type, html.params.get("charset", ""))
        shown["html"] = sanitize_html(markup, cid_url=lambda cid: None).html
        shown["preview"] = shown["preview"] or preview_line(data, html)
    shown["attachments"] = [
        (part_name(part, header.subject), decoded_size(part)[0]) for part in attachments + inline
    ]
    return shown
