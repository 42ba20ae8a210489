"""What a reply or a forward starts from: its subject, recipients, threading fields, quoted
text and signature. Pure functions over strings; the caller reads the original and translates
the templates."""

import html
import re
from datetime import datetime

from .fields import LINE_BREAKS, Address

MAX_REFERENCES = 20  # Thunderbird trims References the same way: the first and the newest
MAX_MESSAGE_ID = 250

# "Re:", "RE :", "Re[2]:", "Re(2):", and the usual translations (German Aw, Nordic Sv, Dutch
# Antw, Finnish Vs, Polish Odp, Turkish Ynt, Portuguese Res, Italian Rif, Chinese 回复 / 答复)
_REPLY_PREFIX = re.compile(
    r"\s*(?:re|aw|sv|antw|vs|odp|ynt|res|rif|回复|答复|回覆)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*",
    re.IGNORECASE,
)
# "Fwd:", "Fw:", German WG, French TR, Spanish RV, Portuguese Enc, Polish PD, Chinese 转发 / 轉寄
_FORWARD_PREFIX = re.compile(
    r"\s*(?:fwd|fw|wg|tr|rv|enc|pd|转发|轉寄)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*", re.IGNORECASE
)
_MSG_ID = re.compile(r"<[!-;=?-~]+>")  # printable ASCII in angle brackets, none inside
_BARE_MSG_ID = re.compile(r"[!-;=?-~]+")


def _strip_prefixes(subject: str, prefix: re.Pattern) -> str:
    while match := prefix.match(subject):
        subject = subject[match.end() :]
    return subject.strip()


def reply_subject(subject: str) -> str:
    """``"Re: " + subject`` with the reply prefixes it had ("Re: Re:", "RE:", "Aw:", "Sv:",
    "Re[2]:" ...) collapsed into that one. ``"Re: Fwd: x"`` stays so."""
    return "Re: " + _strip_prefixes(subject, _REPLY_PREFIX)


def forward_subject(subject: str) -> str:
    """``"Fwd: " + subject`` with the forward prefixes it had ("Fwd: Fw:", "WG:" ...) collapsed
    into that one."""
    return "Fwd: " + _strip_prefixes(subject, _FORWARD_PREFIX)


def _unique(addresses: list[Address], leave_out: set[str]) -> list[Address]:
    """``addresses`` without empty ones, without those in ``leave_out`` (lower case), each
    once (the first wins); adds the ones kept to ``leave_out``."""
    kept = []
    for address in addresses:
        key = address.address.lower()
        if key and key not in leave_out:
            leave_out.add(key)
            kept.append(address)
    return kept


def reply_recipients(
    *,
    from_: list[Address],
    reply_to: list[Address],
    to: list[Address],
    cc: list[Address],
    own_addresses: set[str],
    reply_all: bool,
) -> tuple[list[Address], list[Address]]:
    """(To, Cc) of a reply to a message with these From, Reply-To, To and Cc.

    1. The reply goes to Reply-To when the original has one, else to its From (RFC 5322 3.6.2).
    2. Reply all adds the original To to that, and keeps its Cc as Cc.
    3. The user's ``own_addresses`` (compared without case) are left out everywhere, and each
       address comes once, where it first appears.
    4. When that leaves no To (the user replies to a message they sent), the reply goes to the
       original To instead (as Thunderbird does); when those are the user's too (a note to
       self), to the original sender.
    """
    own = {address.lower() for address in own_addresses}
    author = reply_to or from_
    new_to = _unique(author + (to if reply_all else []), set(own))
    if not new_to:
        new_to = _unique(to, set(own)) or _unique(author, set())
    taken = own | {address.address.lower() for address in new_to}
    new_cc = _unique(cc, taken) if reply_all else []
    return new_to, new_cc


def _msg_id(value: str) -> str:
    """``value`` as a ``<msg-id>`` token ("<>" added to a bare one), or "" when it is none."""
    value = value.strip()
    if not LINE_BREAKS.isdisjoint(value) or len(value) > MAX_MESSAGE_ID:
        return ""
    if _BARE_MSG_ID.fullmatch(value) and not value.startswith("<"):
        value = f"<{value}>"
    return value if _MSG_ID.fullmatch(value) else ""


def reply_references(
    *, message_id: str, references: list[str], in_reply_to: str
) -> tuple[str, list[str]]:
    """(In-Reply-To, References) of a reply to a message with these fields (RFC 5322 3.6.4):
    In-Reply-To is the parent's Message-ID; References the parent's References (or, without
    them, its In-Reply-To) then its Message-ID.

    Ids come back as ``<...>`` tokens (bare ones, as mailbox.parsing gives them, get their
    brackets); one with a line break, a space or no sense is dropped, a repeated one kept once.
    At most MAX_REFERENCES: the first (the thread's root) and the newest.
    """
    parent = _msg_id(message_id)
    ancestors = [value for value in map(_msg_id, references) if value] or [_msg_id(in_reply_to)]
    chain = []
    for value in [*ancestors, parent]:
        if value and value not in chain:
            chain.append(value)
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1) :]
    return parent, chain


def _one_line(text: str) -> str:
    return " ".join("".join(" " if char in LINE_BREAKS else char for char in text).split())


def attribution(
    when: datetime | None,
    name: str,
    address: str,
    template: str = "On {date}, {sender} wrote:",
    *,
    template_without_date: str = "{sender} wrote:",
    date_format: str = "%Y-%m-%d %H:%M",
) -> str:
    """The line above a quote: ``template`` with {date} (``when`` as ``date_format``, in its
    own time zone) and {sender} ("Name <address>", or whichever of the two there is). Without a
    date, ``template_without_date``. The caller passes translated templates. One line."""
    sender = f"{name} <{address}>" if name and address else name or address
    if when is None:
        return _one_line(template_without_date.format(sender=_one_line(sender)))
    return _one_line(template.format(date=when.strftime(date_format), sender=_one_line(sender)))


def quote_plain(text: str, attribution: str) -> str:
    """The start of a plain reply: an empty line to write in, a blank line, ``attribution``,
    then each line of ``text`` quoted: "> " before it, ">" alone before a line already quoted
    or empty (as mutt and Thunderbird do, so "> > x" does not drift into "> >  > x")."""
    lines = re.split(r"\r\n|\r|\n", text.rstrip("\r\n"))
    quoted = [f">{line}" if line.startswith(">") or not line else f"> {line}" for line in lines]
    return "\n\n" + "\n".join([_one_line(attribution), *quoted]) + "\n"


def quote_html(html_text: str, attribution: str) -> str:
    """The start of a formatted reply: ``attribution`` (escaped here) then ``html_text`` (already
    sanitized by the caller) in a ``<blockquote type="cite">`` (RFC 2854 readers show it quoted)."""
    return (
        f"<p>{html.escape(_one_line(attribution))}</p>"
        f'<blockquote type="cite">{html_text}</blockquote>'
    )


FORWARD_HEADING = "---------- Forwarded message ---------"


def forward_block_text(
    *, headers: list[tuple[str, str]], text: str, heading: str = FORWARD_HEADING
) -> str:
    """The body of an inline forward: an empty line to write in, a blank line, ``heading``, one
    "Name: value" line per header (From, Date, Subject, To ...), a blank line, the original
    ``text``."""
    lines = [_one_line(heading), *(f"{_one_line(k)}: {_one_line(v)}" for k, v in headers)]
    return "\n\n" + "\n".join(lines) + "\n\n" + text


def forward_block_html(
    *, headers: list[tuple[str, str]], html: str, heading: str = FORWARD_HEADING
) -> str:
    """The formatted body of an inline forward: ``heading`` and the headers (escaped here) in a
    paragraph, then the original ``html`` (already sanitized by the caller). As with
    quote_html, the room to write above is the caller's (an empty block in the editor)."""
    lines = [_escaped(heading), *(f"{_escaped(k)}: {_escaped(v)}" for k, v in headers)]
    return f"<p>{'<br>'.join(lines)}</p>{html}"


def _escaped(text: str) -> str:
    return html.escape(_one_line(text))


SIGNATURE_SEPARATOR = "-- "  # RFC 3676 section 4.3: "-- " alone on its line


def _without_separator(signature: str) -> str:
    """A signature that already starts with the separator line, without it."""
    first, newline, rest = signature.partition("\n")
    return rest if newline and first.rstrip() == "--" else signature


def add_signature_text(text: str, signature: str) -> str:
    """``text`` + a blank line + "-- " + ``signature``; ``text`` alone without a signature."""
    if not signature.strip():
        return text
    return f"{text}\n\n{SIGNATURE_SEPARATOR}\n{_without_separator(signature)}"


def add_signature_html(html_text: str, signature_html: str) -> str:
    """``html_text`` + ``<div class="signature">-- <br>`` + ``signature_html`` (already
    sanitized by the caller) + ``</div>``; ``html_text`` alone without a signature."""
    if not signature_html.strip():
        return html_text
    return f'{html_text}<div class="signature">{SIGNATURE_SEPARATOR}<br>{signature_html}</div>'
