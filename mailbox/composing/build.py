"""The message as sent: its header fields written by headers.py, its MIME body built with
Python's ``email`` package (the SMTP policy, CRLF).

1. Every typed value passes fields.check_line first (BadField naming the field), so no value can
   add or split a header; addresses pass fields.ascii_address, message ids _MSG_ID.
2. The top header fields are encoded and folded by headers.py (RFC 2047 for non-ASCII names and
   subjects, lines of at most 78 chars where a value can be folded).
3. The body: text/plain, or multipart/alternative with text/html, in UTF-8; then, when there are
   attachments, multipart/mixed. Text goes 7bit when it is ASCII in short lines, else
   quoted-printable, so no line passes 998 octets (RFC 5322 2.1.1); attachments go base64, with
   RFC 2231 file names (the email package writes those).
4. A forwarded original is attached byte for byte as message/rfc822 (7bit or 8bit, RFC 2046
   5.2.1), its lines ending in CRLF; one whose lines pass 998 octets cannot travel so and goes as
   an application/octet-stream ``.eml`` file in base64 instead.
"""

import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime

from mailbox.parsing.bidi import drop_bidi_controls
from mailbox.parsing.headers import parse_header_fields
from mailbox.parsing.mime import header_end

from . import headers
from .fields import LINE_BREAKS, Address, BadField, ascii_address, check_line

SMTP_UTF8 = policy.SMTP.clone(max_line_length=78)
MAX_7BIT_LINE = 78  # longer lines go quoted-printable (RFC 5322 2.1.1 SHOULD)
MAX_LINE_OCTETS = 998  # RFC 5322 2.1.1 MUST
MAX_MESSAGE_ID = 900  # a msg-id cannot be folded: it must fit one line with its field name
MAX_FILENAME = 150  # chars of a file name we make up (a forwarded message's)
# a msg-id as mail really has it: printable ASCII in angle brackets, no brackets inside
# (RFC 5322 3.6.4 asks for id-left "@" id-right; old mailers did not always comply)
_MSG_ID = re.compile(r"<[!-;=?-~]+>")
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")  # RFC 2045 token
_LINE_END = re.compile(rb"\r\n|\r|\n")
_TEXT_LINE = re.compile(r"\r\n|\r|\n")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_NOT_IN_FILENAME = re.compile(r'[\x00-\x1f\x7f-\x9f\u2028\u2029/\\:*?"<>|]+')


@dataclass(frozen=True)
class Attachment:
    """A file to attach: ``data`` decoded bytes; ``content_type`` "type/subtype" (anything else
    is sent as application/octet-stream); ``filename`` as the user's browser gave it."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class Outgoing:
    """Everything a message is built from. ``html`` (may be empty) must already be sanitized;
    ``text`` is the plain body (for formatted mail, its faithful plain-text rendering).
    ``forwarded`` holds whole original messages attached as message/rfc822.
    ``in_reply_to``, ``references`` and ``message_id`` are ``<...>`` tokens."""

    sender: Address
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    bcc: list[Address] = field(default_factory=list)
    reply_to: list[Address] = field(default_factory=list)
    subject: str = ""
    text: str = ""
    html: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    forwarded: list[bytes] = field(default_factory=list)
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    message_id: str = ""
    date: datetime | None = None

    @property
    def recipients(self) -> list[str]:
        """The envelope's RCPT TO addresses: To, Cc and Bcc, each once (compared without case),
        in order, as given to SMTP (a non-ASCII domain in IDNA where it converts)."""
        seen, result = set(), []
        for address in [*self.to, *self.cc, *self.bcc]:
            try:
                envelope = ascii_address("to", address.address)
            except BadField:
                envelope = address.address  # build_message refuses it, naming its field
            if envelope.lower() not in seen:
                seen.add(envelope.lower())
                result.append(envelope)
        return result


def make_message_id(address: str) -> str:
    """A new ``<unique@domain>`` Message-ID on the sender's domain (RFC 5322 section 3.6.4):
    the time in base 36 and 80 random bits, unique without any state."""
    check_line("from", address)
    domain = ascii_address("from", address).rpartition("@")[2] if "@" in address else ""
    stamp = _base36(time.time_ns() // 1000)
    return f"<{stamp}.{secrets.token_hex(10)}@{domain or 'localhost'}>"


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    result = ""
    while number:
        number, digit = divmod(number, 36)
        result = digits[digit] + result
    return result or "0"


def build_message(outgoing: Outgoing, *, with_bcc: bool = False) -> bytes:
    """The message's bytes (CRLF lines). ``with_bcc`` keeps the Bcc header: for the copy filed
    in Sent or Drafts, never for the one transmitted. Raises BadField for a bad typed value
    (its ``field``: from, to, cc, bcc, reply_to, subject, attachment, message_id, in_reply_to,
    references). The bytes are ASCII unless a forwarded original is 8-bit: then the SMTP client
    should ask for BODY=8BITMIME (RFC 6152) when the server offers it."""
    head = "\r\n".join(_header_fields(outgoing, with_bcc)) + "\r\n"
    originals = [_LINE_END.sub(b"\r\n", original) for original in outgoing.forwarded]
    message, placeholders = _mime_body(outgoing, originals)
    body = message.as_bytes(policy=SMTP_UTF8)
    for placeholder, original in zip(placeholders, originals, strict=True):
        body = body.replace(placeholder.encode("ascii"), original, 1)
    return head.encode("ascii") + body


def _header_fields(outgoing: Outgoing, with_bcc: bool) -> list[str]:
    """The top header fields we write, each folded, before the MIME ones."""
    fields = [_mailbox_field("From", "from", [outgoing.sender])]
    for name, addresses in (("To", outgoing.to), ("Cc", outgoing.cc)):
        if addresses:
            fields.append(_mailbox_field(name, name.lower(), addresses))
    if with_bcc and outgoing.bcc:
        fields.append(_mailbox_field("Bcc", "bcc", outgoing.bcc))
    elif outgoing.bcc:  # refused the same way whether or not the field is written
        _mailbox_field("Bcc", "bcc", outgoing.bcc)
    if outgoing.reply_to:
        fields.append(_mailbox_field("Reply-To", "reply_to", outgoing.reply_to))
    fields.append(headers.unstructured("Subject", check_line("subject", outgoing.subject)))
    date = outgoing.date or datetime.now()
    date = date if date.tzinfo else date.astimezone()  # naive: the server's local time
    fields.append(headers.tokens("Date", [format_datetime(date)]))
    message_id = outgoing.message_id or make_message_id(outgoing.sender.address)
    fields.append(headers.tokens("Message-ID", [_msg_id("message_id", message_id)]))
    if outgoing.in_reply_to:
        fields.append(headers.tokens("In-Reply-To", [_msg_id("in_reply_to", outgoing.in_reply_to)]))
    if outgoing.references:
        ids = [_msg_id("references", value) for value in outgoing.references]
        fields.append(headers.tokens("References", ids))
    return fields


def _mailbox_field(name: str, field_name: str, addresses: list[Address]) -> str:
    pairs = []
    for address in addresses:
        check_line(field_name, address.name)
        pairs.append((address.name, ascii_address(field_name, address.address)))
    return headers.mailboxes(name, pairs)


def _msg_id(field_name: str, value: str) -> str:
    check_line(field_name, value)
    if len(value) > MAX_MESSAGE_ID or not _MSG_ID.fullmatch(value):
        raise BadField(field_name, "not a message id", value)
    return value


def _mime_body(outgoing: Outgoing, originals: list[bytes]) -> tuple[EmailMessage, list[str]]:
    """The MIME structure (its own header fields are MIME-Version and the Content-* ones), and
    the placeholders that stand for the forwarded ``originals`` in it.

    The generator writes a message/rfc822 part given as a string as it is, but only in ASCII:
    a placeholder goes through it and the original's bytes are put in its place afterwards.
    The generator cannot see them when it picks the boundary, so ours is chosen not in them."""
    message = EmailMessage(policy=SMTP_UTF8)
    message.set_content(outgoing.text, subtype="plain", charset="utf-8", cte=_cte(outgoing.text))
    if outgoing.html:
        message.add_alternative(
            outgoing.html, subtype="html", charset="utf-8", cte=_cte(outgoing.html)
        )
    parts = [_attachment_part(attachment) for attachment in outgoing.attachments]
    placeholders = [f"forwarded-{secrets.token_hex(16)}" for _ in originals]
    parts += map(_forwarded_part, originals, placeholders)
    if parts:
        message.make_mixed()
        for part in parts:
            message.attach(part)
    if originals:
        message.set_boundary(_boundary(originals))
    return message, placeholders


def _boundary(originals: list[bytes]) -> str:
    while True:
        boundary = f"=_{secrets.token_hex(16)}"
        if not any(boundary.encode("ascii") in original for original in originals):
            return boundary


def _cte(text: str) -> str:
    """7bit for ASCII text in short lines without control characters, else quoted-printable
    (whose encoder keeps lines to 76 chars and needs no 8BITMIME on the way)."""
    short = all(len(line) <= MAX_7BIT_LINE for line in _TEXT_LINE.split(text))
    return "7bit" if text.isascii() and short and not _CONTROL.search(text) else "quoted-printable"


def _attachment_part(attachment: Attachment) -> MIMEPart:
    maintype, subtype = _content_type(attachment.content_type)
    part = MIMEPart(policy=SMTP_UTF8)
    part.set_content(
        attachment.data,
        maintype=maintype,
        subtype=subtype,
        disposition="attachment",
        filename=attachment_filename(attachment.filename),
    )
    return part


def _content_type(value: str) -> tuple[str, str]:
    """(maintype, subtype), lower case, of a "type/subtype" value; application/octet-stream
    for anything else, and for multipart and message types, which a file cannot be."""
    maintype, _, subtype = value.strip().lower().partition("/")
    if not (_TOKEN.fullmatch(maintype) and _TOKEN.fullmatch(subtype)):
        return "application", "octet-stream"
    if maintype in ("multipart", "message"):
        return "application", "octet-stream"
    return maintype, subtype


def attachment_filename(filename: str) -> str:
    """The name an attachment is sent with: ``filename`` whole, its control characters (line
    breaks and NUL too) as spaces, "/" and "\\" as "_" (no folder can be made of it: "../x"
    gives "_.._x"; cutting at them turned "a: text/html.txt" into "html.txt"), without bidi
    controls (mailbox.parsing.bidi: they disguise "x.exe"), without leading dots and spaces;
    "attachment" when nothing is left."""
    name = re.sub(r"[\x00-\x1f\x7f-\x9f\x85\u2028\u2029]", " ", drop_bidi_controls(filename))
    name = re.sub(r"[/\\]", "_", name).strip().lstrip(".").strip()
    if name in ("", ".", ".."):
        return "attachment"
    return name


def forwarded_filename(original: bytes) -> str:
    """The file name of a message forwarded as an attachment: its subject (decoded; what could
    not be in a file name as "_") + ".eml"; "message.eml" without a subject."""
    subject = drop_bidi_controls(parse_header_fields(original[: header_end(original)]).subject)
    name = "".join(" " if char in LINE_BREAKS else char for char in subject)
    name = _NOT_IN_FILENAME.sub("_", name)
    name = " ".join(name.split())[:MAX_FILENAME].strip(" .")
    return (name or "message") + ".eml"


def _forwarded_part(data: bytes, placeholder: str) -> MIMEPart:
    """The original message (CRLF line ends) as message/rfc822, its bytes as ``placeholder``."""
    filename = forwarded_filename(data)
    part = MIMEPart(policy=SMTP_UTF8)
    if any(len(line) > MAX_LINE_OCTETS for line in data.split(b"\r\n")):
        part.set_content(
            data,
            maintype="application",
            subtype="octet-stream",
            disposition="attachment",
            filename=filename,
        )
        return part
    part["Content-Type"] = "message/rfc822"
    part["Content-Transfer-Encoding"] = "7bit" if data.isascii() else "8bit"
    part.add_header("Content-Disposition", "attachment", filename=filename)
    part.set_payload(placeholder)
    return part
