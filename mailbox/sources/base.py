"""The message source: what the reading code asks of a message, whatever brought it here.

Readers (the reading pane, downloads, previews, "show details", search) call
:func:`mailbox.sources.source_for` and then only these methods; they never learn whether the
message lives on an IMAP server (``imap.ImapSource``: fetched on demand, small parts cached) or
here (``local.LocalSource``: the raw message kept in the mail storage, as POP3 brings it). A
third kind would be one more module implementing :class:`MessageSource`, as Django's cache and
storage backends implement theirs.

Errors, the same for every source:
- :class:`PartNotFound`: no part has that section;
- :class:`MessageGone`: the message is no longer where it was kept;
- ``ConnectionProblem`` (mailbox.protocols.base): the place it is kept cannot be read now (the
  server is down or refuses, the storage fails); ``describe_error`` words it for the user.
"""

import dataclasses
import threading
from collections.abc import Callable, Iterator

from mailbox.parsing import BodyPart
from mailbox.parsing.attachments import (
    EmbeddedFile,
    parse_virtual_section,
    split_embedded,
    tnef_files,
)


class PartNotFound(LookupError):
    pass


class MessageGone(LookupError):
    """The message is gone from where it was kept (expunged by another client, file missing)."""


@dataclasses.dataclass(frozen=True)
class TextSearch:
    """What a source found for free-text terms, per folder.

    ``ids``: {folder: [set of our message ids matching term 1, term 2, ...]}; folders in
    ``unsearched`` could not be searched (the caller falls back to the cached headers there);
    ``failure``: why none could be (a ConnectionProblem), or None; ``truncated``: more matched
    than were kept."""

    ids: dict
    unsearched: list
    failure: Exception | None = None
    truncated: bool = False


class Stream:
    """The bytes of one part, or of a whole message, chunk by chunk, opened when made.

    Sources open the connection or file and read the first chunk (``peek``) before handing the
    stream over, so that a server that is down or a message that is gone raises in the view,
    which can still answer calmly, not halfway through a download. ``close()`` releases what
    it holds; Django calls it when the response ends (also when the browser goes away)."""

    def __init__(self, chunks: Iterator[bytes], close: Callable[[], object]):
        self._chunks, self._close = chunks, close
        self._lock = threading.Lock()  # close() waits for a read under way in another thread
        self._head = b""

    def peek(self, size: int) -> bytes:
        """The first ``size`` bytes (fewer if there are fewer), which iteration still yields."""
        with self._lock:
            while len(self._head) < size and (chunk := next(self._chunks, None)) is not None:
                self._head += chunk
        return self._head[:size]

    def next_chunk(self) -> bytes | None:
        """The next chunk (what peek read first), or None at the end."""
        with self._lock:
            head, self._head = self._head, b""
            return head or next(self._chunks, None)

    def __iter__(self):
        while (chunk := self.next_chunk()) is not None:
            yield chunk

    def close(self):
        with self._lock:
            self._close()


def opened_stream(chunks, close):
    """A :class:`Stream` whose first chunk is read now; ``close`` runs if that fails."""
    try:
        stream = Stream(chunks, close)
        stream.peek(1)
        return stream
    except BaseException:
        close()
        raise


class MessageSource:
    """The operations readers need. Sections are RFC 3501's ("1", "2.1", "TEXT")."""

    def part_tree(self, message) -> BodyPart:
        """The message's MIME structure; BodyStructureError when it cannot be read."""
        raise NotImplementedError

    def find_part(self, message, section: str) -> BodyPart:
        """The part ``section`` of the message's tree; PartNotFound."""
        for part in self.part_tree(message).walk():
            if part.section == section:
                return part
        raise PartNotFound(section)

    def get_part(self, message, section: str) -> bytes:
        """One part's bytes, decoded from its transfer encoding (not from its charset)."""
        raise NotImplementedError

    def parts_in_bulk(self, wanted) -> dict:
        """Many parts at once, for a pass over many messages (the search index):
        {(message id, section): bytes decoded as get_part's} for ``wanted``, [(message, part)]
        with parts as find_part gives them. A source may leave any out, and the caller reads
        those with get_part (which raises what it raises); this one leaves them all."""
        return {}

    def get_header(self, message) -> bytes:
        """The message's whole header block, at most HEADER_LIMIT bytes."""
        raise NotImplementedError

    def get_message_header(self, message, part: BodyPart) -> bytes:
        """The header block of the message a message/rfc822 ``part`` holds (RFC 3501's
        "<section>.HEADER"), at most HEADER_LIMIT bytes."""
        raise NotImplementedError

    def embedded_files(self, message, part: BodyPart) -> list[EmbeddedFile]:
        """The files hidden in ``part``: a TNEF part's (winmail.dat), a text/plain part's
        uuencoded and yEnc blocks; [] for other parts, or a host too large to open."""
        kind = hidden_kind(part)
        if kind is None or (part.size or 0) > MAX_HOST_BYTES:
            return []
        data = self.get_part(message, part.section)
        return tnef_files(data) if kind == "tnef" else split_embedded(data)[1]

    def find_embedded(self, message, section: str) -> tuple[BodyPart, EmbeddedFile]:
        """(host part, file) of a virtual section ("2~tnef.1", see parsing.attachments);
        PartNotFound when it names nothing."""
        parsed = parse_virtual_section(section)
        if parsed is None:
            raise PartNotFound(section)
        host_section, kind, index = parsed
        host = self.find_part(message, host_section)
        for found in self.embedded_files(message, host):
            if found.kind == kind and found.index == index:
                return host, found
        raise PartNotFound(section)

    def stream_part(self, message, part: BodyPart, chunk_size: int = 1 << 20) -> Stream:
        """A :class:`Stream` of one part (as find_part describes it), decoded."""
        raise NotImplementedError

    def stream_message(self, message, chunk_size: int = 1 << 20) -> Stream:
        """A :class:`Stream` of the whole message, as it came."""
        raise NotImplementedError

    def search_text(self, account, folders, terms) -> TextSearch:
        """Which messages of ``folders`` contain each of ``terms`` (header or body text,
        case-insensitive substrings, as IMAP SEARCH TEXT, RFC 3501 6.4.4)."""
        raise NotImplementedError


HEADER_LIMIT = 256 * 1024  # a message's header block is read up to this many bytes
MAX_HOST_BYTES = 16 << 20  # encoded octets of a part opened (whole, each time the pane shows
# it: IMAP caches only small parts) to list the files inside; a larger one stays one file
TNEF_TYPES = ("application/ms-tnef", "application/vnd.ms-tnef")


def hidden_kind(part: BodyPart) -> str | None:
    """ "tnef" for a TNEF part, "text" for a text/plain part (uuencode, yEnc), else None."""
    if part.content_type in TNEF_TYPES:
        return "tnef"
    if part.content_type == "text/plain":
        return "text"
    return None
