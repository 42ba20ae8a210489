"""Header fields as we write them: encoded and folded here, not by the email package's folder.

Python's folder (email._header_value_parser) leaves lines holding only whitespace and doubled
spaces when it folds long non-ASCII values, and writes some values it cannot fold past 78 chars.
Our values are few and simple, so each is cut into pieces that are never split (a word, an
encoded-word, an ``<addr-spec>``, a ``<msg-id>``) and the pieces are laid out greedily:

1. a header is ``Name:`` then each piece after one space; when a piece would pass 78 chars, the
   space before it becomes CRLF SP (RFC 5322 section 2.2.3). The first piece always stays on the
   name's line, so no line is empty or whitespace only.
2. Text that is plain printable ASCII words separated by single spaces is written as is. Anything
   else (non-ASCII, control characters, runs of spaces, leading or trailing spaces, "=?", a word
   too long to fold) is written whole as RFC 2047 encoded-words in UTF-8, each at most 75 chars
   and holding whole characters (RFC 2047 sections 2 and 5), Q or B, whichever is shorter.
   Readers drop the whitespace between adjacent encoded-words (section 6.2), so the value comes
   back exactly as typed, spaces included.
3. A display name is atoms when it is made of atext words, else a quoted-string when it is
   printable ASCII short enough for one line, else encoded-words.

Every value must have passed fields.check_line (no line break, no NUL) before it gets here.

Python 3.11's parser keeps the whitespace between two encoded-words inside a display name
(CPython gh-128110, fixed upstream), so it reads a name that needs more than one encoded-word
(about 22 Cyrillic or 15 CJK characters) with extra spaces; mail clients and our own reader
(mailbox.parsing) follow RFC 2047 and read it exactly.
"""

import base64
import re
import string

MAX_LINE = 78  # RFC 5322 section 2.1.1: SHOULD; 998 is the MUST
MAX_WORD = 75  # RFC 2047 section 2: an encoded-word's length
# the shortest encoded-word worth starting at the end of a line rather than on the next one
MIN_WORD = 20
_PLAIN_TEXT = re.compile(r"[!-~]+(?: [!-~]+)*")
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?: [A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*")
# RFC 2047 section 5 (3): what a Q encoded-word may hold literally, even in a phrase
_Q_LITERAL = frozenset((string.ascii_letters + string.digits + "!*+-/").encode())
_Q_PREFIX, _B_PREFIX, _SUFFIX = "=?utf-8?q?", "=?utf-8?b?", "?="


class _Folder:
    """The lines of one header field, filled greedily with unsplittable pieces."""

    def __init__(self, name: str):
        self.lines: list[str] = []
        self.line = name + ":"
        self.started = False  # whether a piece is on the name's line

    def room(self) -> int:
        """How many chars a piece may have to fit on the current line."""
        return MAX_LINE - len(self.line) - 1

    def new_line(self) -> None:
        self.lines.append(self.line)
        self.line = ""

    def add(self, piece: str) -> None:
        if self.started and len(piece) > self.room():
            self.new_line()
        self.line += " " + piece
        self.started = True

    def add_encoded(self, text: str) -> None:
        """``text`` as encoded-words: one when it fits in one (a display name usually does),
        else the first sized to what is left of the line."""
        encode = _shorter_encoding(text)
        word, rest = _encoded_word(text, encode, MAX_WORD)
        if not rest and (self.started or len(word) <= self.room()):
            # one word, kept whole (on the next line if need be)
            self.add(word)
            return
        rest = text
        while True:
            room = self.room()
            if self.started and room < MIN_WORD:
                self.new_line()
                room = self.room()
            word, rest = _encoded_word(rest, encode, min(room, MAX_WORD))
            self.add(word)
            if not rest:
                return

    def text(self) -> str:
        """The field, CRLF between its lines, without the final CRLF."""
        return "\r\n".join([*self.lines, self.line])


def _q_length(data: bytes) -> int:
    return sum(1 if byte in _Q_LITERAL or byte == 0x20 else 3 for byte in data)


def _q(data: bytes) -> str:
    return "".join(
        chr(byte) if byte in _Q_LITERAL else "_" if byte == 0x20 else f"={byte:02X}"
        for byte in data
    )


def _b(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _shorter_encoding(text: str):
    """(prefix, encoder) of the shorter of Q and B for ``text`` as UTF-8."""
    data = text.encode("utf-8")
    if _q_length(data) <= len(_b(data)):
        return _Q_PREFIX, _q
    return _B_PREFIX, _b


def _encoded_word(text: str, encoding, limit: int) -> tuple[str, str]:
    """The longest encoded-word of at most ``limit`` chars (at least one character) starting
    ``text``, and the rest of ``text``."""
    prefix, encode = encoding
    budget = limit - len(prefix) - len(_SUFFIX)
    size = 0  # encoded length of text[:end]
    nbytes = 0
    end = 0
    for end, char in enumerate(text, start=1):
        data = char.encode("utf-8")
        if encode is _q:
            size += _q_length(data)
        else:
            nbytes += len(data)
            size = -(-nbytes // 3) * 4
        if size > budget and end > 1:
            end -= 1
            break
    else:
        end = len(text)
    return prefix + encode(text[:end].encode("utf-8")) + _SUFFIX, text[end:]


def _is_plain(text: str) -> bool:
    """Whether ``text`` can be written as it is, folded at its spaces only."""
    return (
        bool(_PLAIN_TEXT.fullmatch(text))
        and "=?" not in text
        and all(len(word) < MAX_LINE - 1 for word in text.split(" "))
    )


def unstructured(name: str, value: str) -> str:
    """``Name: value`` for a free-text field (Subject): folded, RFC 2047 where needed."""
    folder = _Folder(name)
    if not value:
        return folder.text()
    if _is_plain(value) and len(value.partition(" ")[0]) <= folder.room():
        for word in value.split(" "):
            folder.add(word)
    else:
        folder.add_encoded(value)
    return folder.text()


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _add_display_name(folder: _Folder, name: str) -> None:
    if _ATOMS.fullmatch(name) and "=?" not in name and _is_plain(name):
        for atom in name.split(" "):
            folder.add(atom)
    elif _is_plain(name) and len(_quoted(name)) < MAX_LINE - 1:
        folder.add(_quoted(name))
    else:
        folder.add_encoded(name)


def mailboxes(name: str, pairs: list[tuple[str, str]]) -> str:
    """``Name: a <x@y>, b <z@w>`` from (display name, ASCII addr-spec) pairs (RFC 5322 3.4)."""
    folder = _Folder(name)
    for index, (display_name, address) in enumerate(pairs):
        comma = "," if index < len(pairs) - 1 else ""
        if display_name:
            _add_display_name(folder, display_name)
            folder.add(f"<{address}>{comma}")
        else:
            folder.add(address + comma)
    return folder.text()


def tokens(name: str, values: list[str]) -> str:
    """``Name: t1 t2`` for unsplittable ASCII tokens (msg-ids, a date), folded between them."""
    folder = _Folder(name)
    for value in values:
        folder.add(value)
    return folder.text()
