"""RFC 5322 address lists (From, To, Cc) as (display name, address) pairs, leniently.

One regular expression cuts the value into tokens (quoted strings, angle addresses, specials,
words); comments are cut by hand because they nest. A small state machine then makes mailboxes
of them. What real mail does and this accepts: quoted names with commas and escapes, encoded
names (decoded after splitting, so an encoded comma cannot split a mailbox), ``addr (Name)``,
groups (``undisclosed-recipients:;`` is kept as a name, members are listed), ``Name addr@host``
without angle brackets, obsolete routes ``<@relay:addr>``, unterminated quotes and brackets.
"""

import re

from .charsets import clean, decode_words

__all__ = ["format_addresses", "parse_addresses"]

MAX_MAILBOXES = 500
MAX_NAME_CHARS = 255
MAX_ADDRESS_CHARS = 320  # RFC 5321: 64 for the local part, 255 for the domain

_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|<[^<>]*>?|[,;:()<>]|[^\s",;:<>()]+', re.S)
_COMMENT_SPECIAL = re.compile(r"\\.|[()]", re.S)
_UNESCAPE = re.compile(r"\\(.)", re.S)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NEEDS_QUOTES = re.compile(r'[,;:<>@"()\[\]\\]')
# the usual shapes of one mailbox: 'Name <addr>', '"Name, Q." <addr>', 'addr'
_SIMPLE = re.compile(
    r'\s*(?:"([^"\\]*)"|([^"\\<>(),:;@]*?))\s*<([^\s<>"(),:;\\]+)>\s*\Z'
    r'|\s*([^\s<>"(),:;\\]+)\s*\Z'
)

Mailbox = tuple[str, str]  # (display name, address); either may be ""


def _comment_end(text: str, start: int) -> int:
    """Index just after the ')' closing the comment whose '(' is at ``start - 1``."""
    depth = 1
    for match in _COMMENT_SPECIAL.finditer(text, start):
        char = match.group()
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if not depth:
                return match.end()
    return len(text)


def _tokens(text: str) -> list[str]:
    """Tokens; a comment is one token that starts with '(' and holds the comment's text."""
    if "(" not in text:
        return _TOKEN.findall(text)
    tokens = []
    pos = 0
    while match := _TOKEN.search(text, pos):
        token = match.group()
        pos = match.end()
        if token == "(":
            end = _comment_end(text, pos)
            token = "(" + text[pos:end].removesuffix(")")
            pos = end
        tokens.append(token)
    return tokens


def _word(token: str) -> str:
    if token[0] != '"':
        return token
    inner = token[1:-1] if len(token) > 1 and token.endswith('"') else token[1:]
    return _UNESCAPE.sub(r"\1", inner) if "\\" in inner else inner


def _name(words: list[str]) -> str:
    name = " ".join(_word(word) for word in words)
    if "=?" in name:
        name = decode_words(name)
    return clean(name)[:MAX_NAME_CHARS]


def _comment(comment: str) -> str:
    """A comment as the name of ``addr (Name)``."""
    if "=?" in comment:
        comment = decode_words(comment)
    return clean(comment.replace("\\", ""))[:MAX_NAME_CHARS]


def _address(text: str) -> str:
    if ":" in text:  # obsolete route: <@relay1,@relay2:user@host>
        text = text.rpartition(":")[2]
    return clean("".join(text.split()))[:MAX_ADDRESS_CHARS]


def _mailbox(words: list[str], angle: str | None, comment: str) -> Mailbox | None:
    """A mailbox from the words before and the <address> of one list entry."""
    if angle is not None:
        name = _name(words) or _comment(comment)
        return name, _address(angle[1:].removesuffix(">"))
    if not words:
        return None
    # no angle brackets: the last word with an @ is the address, the rest a name
    for index in range(len(words) - 1, -1, -1):
        if "@" in words[index] and words[index][0] != '"':
            rest = words[:index] + words[index + 1 :]
            return _name(rest) or _comment(comment), _address(words[index])
    if len(words) == 1 and words[0][0] != '"':
        return _comment(comment), _address(words[0])  # a local address: "To: root"
    return _name(words), ""


def _simple(text: str) -> list[Mailbox] | None:
    """The mailboxes of a list made only of the usual shapes (no control characters), or None."""
    if _CONTROL.search(text):
        return None
    result = []
    for piece in text.split(",") if '"' not in text else (text,):
        match = _SIMPLE.match(piece)
        if match is None:
            return None
        quoted, atoms, angle, bare = match.groups()
        if bare is not None:
            result.append(("", bare[:MAX_ADDRESS_CHARS]))
            continue
        name = quoted if quoted is not None else atoms
        if "=?" in name:
            name = clean(decode_words(name))
        result.append((name.strip()[:MAX_NAME_CHARS], angle[:MAX_ADDRESS_CHARS]))
    return result if len(result) <= MAX_MAILBOXES else None


def parse_addresses(text: str) -> list[Mailbox]:
    """The mailboxes of an address-list value (unfolded, not yet RFC 2047 decoded).

    An empty group gives one entry with the name ``"group-name:;"`` and no address.
    """
    if len(text) < 2000 and (simple := _simple(text)) is not None:
        return simple
    return _parse(text)


def _parse(text: str) -> list[Mailbox]:
    """The general case: a token loop."""
    result: list[Mailbox] = []
    words: list[str] = []
    angle: str | None = None
    comment = ""
    group_start = -1  # index in result where the open group's members begin
    group_name = ""

    def finish() -> None:
        nonlocal words, angle, comment
        mailbox = _mailbox(words, angle, comment)
        if mailbox is not None and (mailbox[0] or mailbox[1]):
            result.append(mailbox)
        words, angle, comment = [], None, ""

    for token in _tokens(text):
        first = token[0]
        if first == ",":
            finish()
            if len(result) >= MAX_MAILBOXES:
                break
        elif first == "<" and token != "<":
            if angle is None:
                angle = token
        elif first == "(":
            comment = comment or token[1:]
        elif first == ":" and angle is None and group_start < 0:
            group_name, words = _name(words), []
            group_start = len(result)
        elif first == ";":
            finish()
            if group_start >= 0 and len(result) == group_start and group_name:
                result.append((group_name + ":;", ""))
            group_start = -1
        elif first not in ":<>)":
            words.append(token)
    finish()
    if group_start >= 0 and len(result) == group_start and group_name:
        result.append((group_name + ":;", ""))  # a group without its ';'
    return result[:MAX_MAILBOXES]


def format_addresses(mailboxes: list[Mailbox], limit: int) -> str:
    """``Name <addr>, addr2`` for display, cut to ``limit`` characters at a mailbox if it can."""
    parts: list[str] = []
    length = 0
    for name, address in mailboxes:
        if name and address:
            if _NEEDS_QUOTES.search(name):
                name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
            part = f"{name} <{address}>"
        else:
            part = name or address
        length += len(part) + 2 * bool(parts)
        if length > limit:
            if not parts:
                return part[:limit]
            break
        parts.append(part)
    return ", ".join(parts)
