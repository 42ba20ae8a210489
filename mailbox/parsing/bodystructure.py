"""IMAP BODYSTRUCTURE (RFC 3501 section 7.4.2) as a tree of BodyPart, and what a reader fetches.

The raw response is read in two steps: a tokenizer turns it into nested lists (strings, ints,
None for NIL) without recursion, refusing more than MAX_DEPTH levels; a builder then walks those
lists (recursion bounded by that same depth) and names each part with its RFC 3501 section
number (6.4.5). Extension data is optional, so the plain BODY form is read too. Anything that
is not a body structure raises :class:`BodyStructureError` and nothing else.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from .charsets import clean, decode_params, decode_raw, decode_words

__all__ = [
    "BodyPart",
    "BodyStructureError",
    "find_parts",
    "has_attachments",
    "is_attachment",
    "parse_bodystructure",
    "tree_has_attachments",
]

MAX_DEPTH = 50  # parenthesis levels, which bounds MIME nesting too
MAX_BYTES = 1 << 20  # a digest of 500 forwarded messages needs about half of this
MAX_TOKENS = 100_000  # about 20 per part, 60 with an envelope
MAX_FILENAME_CHARS = 255
BODY_TYPES = ("text/plain", "text/html")


class BodyStructureError(ValueError):
    """The server's BODYSTRUCTURE is not one (or nests deeper than MAX_DEPTH)."""


@dataclass(slots=True)
class BodyPart:
    section: str  # "1", "1.2"; a message's top multipart is "TEXT" ("3.TEXT" inside part 3)
    content_type: str  # lower-case "type/subtype"
    params: dict[str, str] = field(default_factory=dict)  # names lower-case, RFC 2231 decoded
    id: str | None = None  # Content-ID as sent, with its <>
    description: str | None = None  # RFC 2047 decoded
    encoding: str | None = None  # lower-case Content-Transfer-Encoding
    size: int | None = None  # octets, as encoded
    lines: int | None = None  # text/* and message/rfc822 only
    md5: str | None = None
    disposition: str | None = None  # lower-case: "attachment", "inline", ...
    disposition_params: dict[str, str] = field(default_factory=dict)
    filename: str | None = None  # disposition filename, else Content-Type name; decoded
    language: list[str] = field(default_factory=list)
    location: str | None = None
    children: list["BodyPart"] = field(default_factory=list)  # multipart/* only
    message: "BodyPart | None" = None  # message/rfc822: the attached message's body
    body_start: int | None = None  # byte offsets of the encoded body in a raw message file;
    body_end: int | None = None  # None for parts that came from IMAP (see mime.py)

    @property
    def content_id(self) -> str | None:
        """The Content-ID as a cid: URL names it: without <> or spaces."""
        if self.id is None:
            return None
        return "".join(self.id.split()).removeprefix("<").removesuffix(">") or None

    @property
    def is_multipart(self) -> bool:
        return self.content_type.startswith("multipart/")

    def walk(self, into_messages: bool = True) -> Iterator["BodyPart"]:
        """This part and every part below it, in document order."""
        yield self
        for child in self.children:
            yield from child.walk(into_messages)
        if into_messages and self.message is not None:
            yield from self.message.walk(into_messages)


# --- tokens to nested lists ---------------------------------------------------------------------

# ( ) "quoted" or an atom (NIL or a number); a lone '"' or '{' is an error, found as a token
_TOKEN = re.compile(rb'[()]|"[^"\\]*(?:\\.[^"\\]*)*"|[^\s()"{]+|["{]', re.S)
# the same, with literals ({12} CRLF then 12 bytes, which the loop takes)
_TOKEN_OR_LITERAL = re.compile(
    rb'[ \t\r\n]*(?:([()]|"[^"\\]*(?:\\.[^"\\]*)*"|[^\s()"{]+|")|\{(\d{1,10})\+?\}\r?\n)', re.S
)

Item = str | int | None | list["Item"]  # what a token list holds


def _unescape(data: bytes) -> bytes:
    """A quoted string's content without its escapes: backslash-x stands for x."""
    if b"\\" not in data:
        return data
    return b"\\".join(piece.replace(b"\\", b"") for piece in data.split(b"\\\\"))


def _text(data: bytes) -> str:
    return data.decode("ascii") if data.isascii() else decode_raw(data)


def _tokens(raw: bytes) -> list[bytes | str]:
    """Tokens as bytes; a literal's content comes as a str (already a string)."""
    if b"{" not in raw:
        return _TOKEN.findall(raw)
    tokens: list[bytes | str] = []
    pos, end = 0, len(raw)
    while match := _TOKEN_OR_LITERAL.match(raw, pos):
        token, literal = match.groups()
        pos = match.end()
        if token is not None:
            tokens.append(token)
            continue
        size = int(literal)
        if pos + size > end:
            raise BodyStructureError("a literal is longer than the data")
        tokens.append(_text(raw[pos : pos + size]))
        pos += size
    if raw[pos:].strip():
        raise BodyStructureError(f"unexpected byte at {pos}")
    return tokens


def _lists(raw: bytes) -> list[Item]:
    """The one parenthesised list ``raw`` holds, as nested Python lists, without recursion."""
    if len(raw) > MAX_BYTES:
        raise BodyStructureError(f"longer than {MAX_BYTES} bytes")
    tokens = _tokens(raw)
    if len(tokens) > MAX_TOKENS:
        raise BodyStructureError(f"more than {MAX_TOKENS} tokens")
    if not tokens or tokens[0] != b"(":
        raise BodyStructureError("a body structure is one parenthesised list")
    stack: list[list[Item]] = []
    current: list[Item] = []
    for index, token in enumerate(tokens):
        if isinstance(token, str):  # a literal
            current.append(token)
            continue
        first = token[0]
        if first == 34:  # "
            if len(token) < 2 or token[-1] != 34:
                raise BodyStructureError("unterminated string")
            text = _unescape(token[1:-1])
            current.append(text.decode("ascii") if text.isascii() else decode_raw(text))
        elif first == 40:  # (
            if len(stack) >= MAX_DEPTH:
                raise BodyStructureError(f"nested deeper than {MAX_DEPTH} levels")
            stack.append(current)
            current = []
        elif first == 41:  # )
            if not stack:
                raise BodyStructureError("unbalanced ')'")
            done, current = current, stack.pop()
            current.append(done)
            if not stack:
                if index != len(tokens) - 1:
                    raise BodyStructureError("text after the body structure")
                return done
        elif token == b"NIL" or token.upper() == b"NIL":
            current.append(None)
        elif token.isdigit() and len(token) < 20:
            current.append(int(token))
        else:
            raise BodyStructureError(f"unexpected {token[:20]!r}")
    raise BodyStructureError("unbalanced '('")


# --- nested lists to parts ----------------------------------------------------------------------


def _str(item: Item, what: str) -> str | None:
    """An nstring field: a string or NIL, else the structure is broken."""
    if item is None or isinstance(item, str):
        return item
    raise BodyStructureError(f"{what} is not a string or NIL")


def _int(item: Item, what: str) -> int | None:
    if item is None or isinstance(item, int):
        return item
    raise BodyStructureError(f"{what} is not a number or NIL")


def _params(item: Item) -> dict[str, str]:
    """A body-fld-param: ("name" "value" ...) or NIL."""
    if item is None:
        return {}
    if type(item) is not list:
        raise BodyStructureError("a parameter list is not a list")
    pairs = []
    for index in range(0, len(item) - 1, 2):
        name, value = item[index], item[index + 1]
        if not (type(name) is str and (type(value) is str or value is None)):
            raise BodyStructureError("a parameter list is not a list of strings")
        pairs.append((name, value or ""))
    return decode_params(pairs)


def _header_text(value: str | None, limit: int = 998) -> str | None:
    if value is None:
        return None
    if "=?" in value:
        value = decode_words(value)
    return clean(value)[:limit]


def _filename(disposition_params: dict[str, str], params: dict[str, str]) -> str | None:
    """Disposition filename, else Content-Type name; decoded, without any directory part."""
    name = disposition_params.get("filename") or params.get("name")
    name = _header_text(name, 4 * MAX_FILENAME_CHARS)
    if not name:
        return None
    # RFC 2183 2.3: a receiving agent must not take directory information from the sender
    name = name.replace("\\", "/").rpartition("/")[2].strip()
    return name[:MAX_FILENAME_CHARS] or None


def _extensions(part: BodyPart, items: list[Item]) -> None:
    """body-fld-dsp, body-fld-lang, body-fld-loc (what follows md5 or the multipart params)."""
    if items and items[0] is not None:
        disposition = items[0]
        if not isinstance(disposition, list) or not disposition:
            raise BodyStructureError(f"part {part.section}: the disposition is not a list")
        kind = _str(disposition[0], "the disposition")
        part.disposition = (kind or "").strip().lower() or None
        part.disposition_params = _params(disposition[1] if len(disposition) > 1 else None)
    if len(items) > 1:
        language = items[1]
        if isinstance(language, list):
            part.language = [item for item in language if isinstance(item, str)]
        elif language is not None:
            part.language = [_str(language, "the language") or ""]
    if len(items) > 2:
        part.location = _header_text(_str(items[2], "the location"))


_MEDIA_TOKEN = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*")


def _media_type(media: str | None, subtype: str | None) -> str:
    """Lower-case "type/subtype"; a missing or impossible half gets the RFC 2045 default."""
    media = (media or "").strip().lower()
    subtype = (subtype or "").strip().lower()
    if not _MEDIA_TOKEN.fullmatch(media):
        media = "application"
    if not _MEDIA_TOKEN.fullmatch(subtype):
        subtype = "mixed" if media == "multipart" else "octet-stream"
    return f"{media}/{subtype}"


def _is_message(items: list[Item], content_type: str) -> bool:
    return (
        content_type in ("message/rfc822", "message/global")
        and len(items) >= 10
        and isinstance(items[7], list)
        and isinstance(items[8], list)
    )


def _build(items: Item, section: str, prefix: str, depth: int) -> BodyPart:
    """The part ``items`` describes; its children are numbered ``prefix`` + 1, 2, ..."""
    if not isinstance(items, list) or not items:
        raise BodyStructureError(f"part {section} is not a list")
    if depth > MAX_DEPTH:
        raise BodyStructureError(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(items[0], list):
        return _build_multipart(items, section, prefix, depth)
    if len(items) < 7:
        raise BodyStructureError(f"part {section} has {len(items)} fields, not at least 7")
    content_type = _media_type(_str(items[0], "the type"), _str(items[1], "the subtype"))
    part = BodyPart(section, content_type, _params(items[2]))
    part.id = _header_text(_str(items[3], "the id"))
    part.description = _header_text(_str(items[4], "the description"))
    part.encoding = (_str(items[5], "the encoding") or "").strip().lower() or None
    part.size = _int(items[6], "the size")
    rest = 7
    if _is_message(items, part.content_type):
        part.message = _build_message(items[8], section + ".", depth + 1)
        part.lines = _int(items[9], "the line count")
        rest = 10
    elif content_type.startswith("text/") and len(items) > 7:
        part.lines = _int(items[7], "the line count")
        rest = 8
    if len(items) > rest:
        part.md5 = _str(items[rest], "the MD5")
        _extensions(part, items[rest + 1 :])
    part.filename = _filename(part.disposition_params, part.params)
    return part


def _build_multipart(items: list[Item], section: str, prefix: str, depth: int) -> BodyPart:
    count = 0
    while count < len(items) and isinstance(items[count], list):
        count += 1
    subtype = _str(items[count], "the subtype") if count < len(items) else None
    part = BodyPart(section, _media_type("multipart", subtype))
    part.children = [
        _build(child, f"{prefix}{number}", f"{prefix}{number}.", depth + 1)
        for number, child in enumerate(items[:count], 1)
    ]
    extensions = items[count + 1 :]
    if extensions:
        part.params = _params(extensions[0])
        _extensions(part, extensions[1:])
    part.filename = _filename(part.disposition_params, part.params)
    return part


def _build_message(items: Item, prefix: str, depth: int) -> BodyPart:
    """A message's body: a multipart is ``prefix`` + TEXT, a single part ``prefix`` + 1."""
    if isinstance(items, list) and items and isinstance(items[0], list):
        return _build(items, prefix + "TEXT", prefix, depth)
    return _build(items, prefix + "1", prefix + "1.", depth)


def parse_bodystructure(raw: bytes) -> BodyPart:
    """The part tree of a BODYSTRUCTURE (or BODY) response: the parenthesised list as sent,
    literals included (``{12}`` CRLF and 12 bytes). Raises BodyStructureError, only."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise BodyStructureError(f"not bytes but {type(raw).__name__}")
    try:
        return _build_message(_lists(bytes(raw)), "", 0)
    except BodyStructureError:
        raise
    except (ValueError, TypeError, IndexError, AttributeError, RecursionError) as error:
        raise BodyStructureError(f"not a body structure: {error}") from error


# --- what the user sees -------------------------------------------------------------------------


def is_attachment(part: BodyPart) -> bool:
    """Whether ``part`` is a file by its own fields alone: an "attachment" disposition, or a
    name on a part that is not multipart, not text/plain or text/html and not "inline". Parts
    without a name are judged by where they sit: :func:`tree_has_attachments`."""
    if part.disposition == "attachment":
        return True
    return (
        part.filename is not None
        and part.disposition != "inline"
        and part.content_type not in BODY_TYPES
        and not part.is_multipart
    )


def tree_has_attachments(tree: BodyPart) -> bool:
    """The paperclip rule: is anything in the message a file to download? Every leaf that
    :func:`find_parts` does not take for the body (the text/html shown or an alternative of
    it) or for an inline image (a Content-ID the HTML may show) is one, named or not; a
    forwarded message is one, and so is whatever it holds."""
    return bool(find_parts(tree)[2])


def has_attachments(raw: bytes | None) -> bool:
    """:func:`tree_has_attachments` of a BODYSTRUCTURE response; False for none or one that
    does not parse. Never raises.

    Fast for the common cases: an "attachment" disposition anywhere answers yes without a
    parse, and so does a single text/plain or text/html part answer no (the body itself)."""
    if not raw:  # also None: the server sent no structure
        return False
    raw = bytes(raw)
    if len(raw) <= MAX_BYTES and not _OPAQUE.search(raw):
        if _ATTACHMENT.search(raw):
            return True
        if _SINGLE_TEXT.match(raw):
            return False
    try:
        tree = parse_bodystructure(raw)
    except BodyStructureError:
        return False
    return tree_has_attachments(tree)


# what the regular expressions below cannot see through: literals, and escapes that a server
# never needs (it escapes only " and \)
_OPAQUE = re.compile(rb"\{\d+\+?\}\r?\n|\\[^\"\\]")
_ATTACHMENT = re.compile(rb'\(\s*"\s*attachment\s*"\s*(?:\(|NIL\s*\))', re.I)
# one leaf, text/plain or text/html: only its disposition could make it a file (seen above)
_SINGLE_TEXT = re.compile(rb'\(\s*"text"\s*"(?:plain|html)"', re.I)


def find_parts(
    tree: BodyPart,
) -> tuple[BodyPart | None, BodyPart | None, list[BodyPart], list[BodyPart]]:
    """What a reader fetches: (text/plain body, text/html body, attachments, inline parts).

    1. The bodies are text/plain and text/html leaves whose disposition is not "attachment";
       of each type the one under the outermost multipart/alternative wins, else the first.
       Parts inside an attached message/rfc822 are never bodies: the message part itself is
       an attachment.
    2. A body candidate that lost and sits in a multipart/alternative is an alternative
       rendering of the body and is dropped; one that lost elsewhere is an attachment.
    3. Every other leaf with a Content-ID and no "attachment" disposition is inline (the HTML
       may show it through cid:; a reader lists the ones it does not reference as
       attachments); the rest are attachments, in document order.
    """
    leaves: list[tuple[BodyPart, int | None]] = []
    _collect(tree, 0, None, leaves)
    text = _best(leaves, "text/plain")
    html = _best(leaves, "text/html")
    attachments: list[BodyPart] = []
    inline: list[BodyPart] = []
    for part, alternative in leaves:
        if part is text or part is html:
            continue
        if alternative is not None and _is_body_candidate(part):
            continue
        if part.id and part.disposition != "attachment" and part.message is None:
            inline.append(part)
        else:
            attachments.append(part)
    return text, html, attachments, inline


def _is_body_candidate(part: BodyPart) -> bool:
    return part.content_type in BODY_TYPES and part.disposition != "attachment"


def _collect(
    part: BodyPart, depth: int, alternative: int | None, out: list[tuple[BodyPart, int | None]]
) -> None:
    """The leaves under ``part`` with the depth of the outermost alternative above each."""
    if not part.is_multipart:
        out.append((part, alternative))
        return
    if part.content_type == "multipart/alternative" and alternative is None:
        alternative = depth
    for child in part.children:
        _collect(child, depth + 1, alternative, out)


def _best(leaves: list[tuple[BodyPart, int | None]], content_type: str) -> BodyPart | None:
    best, best_rank = None, None
    for index, (part, alternative) in enumerate(leaves):
        if part.content_type == content_type and _is_body_candidate(part):
            rank = (MAX_DEPTH + 1 if alternative is None else alternative, index)
            if best_rank is None or rank < best_rank:
                best, best_rank = part, rank
    return best
