"""The message list's preview line: the first words of a message's text. No Django here."""

from selectolax.lexbor import LexborHTMLParser

from .attachments import split_embedded
from .charsets import decode_text_part

PREVIEW_CHARS = 200
_NOT_SHOWN = ("head", "script", "style", "template", "noscript")


def preview_line(data, part):
    """The first PREVIEW_CHARS characters of a body part's words, spaces squeezed; ``data``
    is the part decoded from its transfer encoding, ``part`` its parsed BodyPart (type and
    charset). Uuencoded and yEnc blocks of a text/plain body are files, not words; an HTML
    body is reduced to its visible text."""
    charset = part.params.get("charset", "")
    if part.content_type == "text/html":
        text = _html_text(decode_text_part(data, part.content_type, charset))
    else:
        text = decode_text_part(split_embedded(data)[0], part.content_type, charset)
    return " ".join(text.split())[:PREVIEW_CHARS]


def _html_text(markup):
    tree = LexborHTMLParser(markup)
    tree.strip_tags(list(_NOT_SHOWN))
    body = tree.body
    return body.text(separator=" ") if body is not None else ""
