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

    def get_header(self, message) -> bytes:
        """The message's whole header block, at most HEADER_LIMIT bytes."""
        raise NotImplementedError

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
