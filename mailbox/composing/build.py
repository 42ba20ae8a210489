"""The message as sent, built with Python's ``email`` package (EmailMessage, the SMTP policy).

UTF-8 throughout; the policy writes RFC 2047 encoded words for non-ASCII names and subjects and
RFC 2231 parameters for non-ASCII file names, folds at 78 and ends lines with CRLF. Every typed
value passes fields.check_line first (BadField), so no value can add or split a header."""

import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from .fields import Address, BadField, check_line

SMTP_UTF8 = policy.SMTP.clone(max_line_length=78)


@dataclass(frozen=True)
class Attachment:
    """A file to attach: ``data`` decoded bytes; ``content_type`` "type/subtype"."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class Outgoing:
    """Everything a message is built from. ``html`` (may be empty) must already be sanitized;
    ``text`` is the plain body (for formatted mail, its faithful plain-text rendering).
    ``forwarded`` holds whole original messages attached as message/rfc822."""

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
        """The envelope's RCPT TO addresses: To, Cc and Bcc, each once, in order."""
        seen, result = set(), []
        for address in [*self.to, *self.cc, *self.bcc]:
            if address.address.lower() not in seen:
                seen.add(address.address.lower())
                result.append(address.address)
        return result


def make_message_id(address: str) -> str:
    """A new ``<unique@domain>`` Message-ID on the sender's domain (RFC 5322 section 3.6.4)."""
    domain = address.rpartition("@")[2] or "localhost"
    check_line("from", domain)
    return make_msgid(idstring=f"{int(time.time())}.{secrets.token_hex(6)}", domain=domain)


def _addresses(field_name, addresses):
    return [address.as_email(field_name) for address in addresses]


def build_message(outgoing: Outgoing, *, with_bcc: bool = False) -> bytes:
    """The message's bytes (CRLF lines). ``with_bcc`` keeps the Bcc header: for the copy filed
    in Sent or Drafts, never for the one transmitted. Raises BadField for a bad typed value."""
    message = EmailMessage(policy=SMTP_UTF8)
    message["From"] = _addresses("from", [outgoing.sender])
    for name, addresses in (("To", outgoing.to), ("Cc", outgoing.cc)):
        if addresses:
            message[name] = _addresses(name.lower(), addresses)
    if with_bcc and outgoing.bcc:
        message["Bcc"] = _addresses("bcc", outgoing.bcc)
    if outgoing.reply_to:
        message["Reply-To"] = _addresses("reply_to", outgoing.reply_to)
    message["Subject"] = check_line("subject", outgoing.subject)
    message["Date"] = format_datetime(outgoing.date or datetime.now().astimezone())
    message["Message-ID"] = check_line(
        "message_id", outgoing.message_id or make_message_id(outgoing.sender.address)
    )
    if outgoing.in_reply_to:
        message["In-Reply-To"] = check_line("in_reply_to", outgoing.in_reply_to)
    if outgoing.references:
        message["References"] = check_line("references", " ".join(outgoing.references))
    message["MIME-Version"] = "1.0"
    _set_body(message, outgoing)
    return message.as_bytes(policy=SMTP_UTF8)


def _set_body(message, outgoing):
    message.set_content(outgoing.text, subtype="plain", charset="utf-8", cte=_cte(outgoing.text))
    if outgoing.html:
        message.add_alternative(outgoing.html, subtype="html", charset="utf-8",
                                cte=_cte(outgoing.html))  # fmt: skip
    for attachment in outgoing.attachments:
        check_line("attachment", attachment.filename)
        maintype, _, subtype = attachment.content_type.partition("/")
        if not maintype or not subtype or not LINE_SAFE(attachment.content_type):
            raise BadField("attachment", "not a content type", attachment.content_type)
        message.add_attachment(attachment.data, maintype=maintype, subtype=subtype,
                               filename=attachment.filename)  # fmt: skip
    for original in outgoing.forwarded:
        part = EmailMessage(policy=SMTP_UTF8)
        part.set_content(original, maintype="message", subtype="rfc822", cte="8bit")
        message.add_attachment(part)


def LINE_SAFE(value):  # noqa: N802 - used as a predicate
    try:
        check_line("attachment", value)
    except BadField:
        return False
    return all(c.isascii() and c.isprintable() and c not in ' ;"' for c in value)


def _cte(text):
    """quoted-printable keeps long lines and non-ASCII safe over any relay (RFC 5322 2.1.1
    limits lines to 998 characters; 8bit needs 8BITMIME end to end)."""
    return "quoted-printable" if not text.isascii() or any(
        len(line) > 76 for line in text.splitlines()) else "7bit"  # fmt: skip
