"""Messages kept here: the raw bytes in the mail storage (rawstore), as a POP3 fetch stored them.

The part tree comes from one sequential scan of the raw file (mailbox.parsing.mime: boundaries
found by a streaming scanner, each part's header block read by the email package), with each
part's byte offsets, so that one part is read or streamed without reading the rest. A scan
costs well under a millisecond for common mail; its result is remembered per file (a kept
file never changes). Nothing here needs a network: reading is as fast as the disk.
"""

import functools
import re

from selectolax.lexbor import LexborHTMLParser

from mailbox.parsing.charsets import decode_text_part, decode_words
from mailbox.parsing.mime import iter_part, read_part, scan_message
from mailbox.protocols.base import ConnectionProblem, Problem

from . import rawstore
from .base import HEADER_LIMIT, MessageGone, MessageSource, TextSearch, opened_stream

MAX_SEARCHED_MESSAGES = 20_000  # newest first, per search; beyond, the result says it was cut
MAX_SEARCHED_TEXT = 1 << 20  # decoded bytes of each text part searched


def _open(message):
    """The raw file of ``message``: MessageGone when missing, ConnectionProblem(STORAGE) when
    the storage fails."""
    try:
        return rawstore.open_raw(message.raw_name)
    except FileNotFoundError as missing:
        raise MessageGone(message.pk) from missing
    except OSError as failure:
        raise ConnectionProblem(Problem.STORAGE, str(failure)) from failure


@functools.lru_cache(maxsize=512)
def _scanned(raw_name, size):
    """Remembered per file and size: a kept file does not change (a name is rewritten only
    with the same message, before any row names it)."""
    with rawstore.open_raw(raw_name) as handle:
        return scan_message(handle)


def scanned(message):
    """The :class:`mime.ScannedMessage` of a kept message (remembered per file)."""
    if not message.raw_name:
        raise MessageGone(message.pk)
    try:
        return _scanned(message.raw_name, message.size)
    except FileNotFoundError as missing:
        raise MessageGone(message.pk) from missing
    except OSError as failure:
        raise ConnectionProblem(Problem.STORAGE, str(failure)) from failure


class LocalSource(MessageSource):
    def part_tree(self, message):
        return scanned(message).tree

    def get_part(self, message, section):
        part = self.find_part(message, section)
        with _open(message) as handle:
            return read_part(handle, part)

    def get_header(self, message):
        end = min(scanned(message).header_end, HEADER_LIMIT)
        with _open(message) as handle:
            return handle.read(end)

    def get_message_header(self, message, part):
        """The file's bytes from the part's body start to its message's body start."""
        if part.message is None or part.body_start is None or part.message.body_start is None:
            return b""
        end = min(part.message.body_start, part.body_start + HEADER_LIMIT)
        with _open(message) as handle:
            handle.seek(part.body_start)
            return handle.read(max(end - part.body_start, 0))

    def stream_part(self, message, part, chunk_size=1 << 20):
        handle = _open(message)
        return opened_stream(iter_part(handle, part, chunk_size), handle.close)

    def stream_message(self, message, chunk_size=1 << 20):
        handle = _open(message)
        return opened_stream(iter(functools.partial(handle.read, chunk_size), b""), handle.close)

    def search_text(self, account, folders, terms):
        """Each kept message's header block and text parts (HTML reduced to its text), read
        from the storage, newest first: as fast as the disk, with no index (issue: a local
        full-text index)."""
        wanted = [term.casefold() for term in terms]
        found, seen = {folder: [set() for _term in terms] for folder in folders}, 0
        by_pk = {folder.pk: folder for folder in folders}
        rows = _searchable(folders)
        for pk, folder_id, raw_name in rows[: MAX_SEARCHED_MESSAGES + 1].iterator():
            seen += 1
            if seen > MAX_SEARCHED_MESSAGES:
                break
            text = _message_text(raw_name)
            for index, term in enumerate(wanted):
                if term in text:
                    found[by_pk[folder_id]][index].add(pk)
        return TextSearch(found, [], None, seen > MAX_SEARCHED_MESSAGES)


def _searchable(folders):
    from mailbox.models import Message

    rows = Message.objects.filter(folder__in=folders, uid__isnull=False).exclude(raw_name="")
    return rows.order_by("-date", "-id").values_list("pk", "folder_id", "raw_name")


_SPACE = re.compile(r"\s+")
_UNFOLD = re.compile(r"\r?\n[ \t]+")


def _message_text(raw_name):
    """What SEARCH TEXT would look through (RFC 3501 6.4.4: the header and the body), as IMAP
    servers read it: the header block with its encoded words decoded, every text part (HTML
    reduced to its text; attachments and forwarded messages included, a forwarded message's
    header block too: it is body text to IMAP) and the parts' names, case-folded, spaces
    collapsed."""
    try:
        with rawstore.open_raw(raw_name) as handle:
            scan = scan_message(handle)
            pieces = [_header_text(handle, 0, scan.header_end)]
            for part in scan.tree.walk():
                pieces.extend(filter(None, (part.filename, part.description)))
                if part.content_type.startswith("text/"):
                    pieces.append(_part_text(handle, part))
                elif part.message is not None and part.message.body_start is not None:
                    pieces.append(_header_text(handle, part.body_start, part.message.body_start))
    except OSError:
        return ""
    return _SPACE.sub(" ", " ".join(pieces)).casefold()


def _header_text(handle, start, end):
    """A header block of the file, unfolded, its encoded words decoded."""
    handle.seek(start)
    header = handle.read(max(min(end - start, HEADER_LIMIT), 0)).decode("utf-8", "replace")
    return decode_words(_UNFOLD.sub(" ", header))


def _part_text(handle, part):
    data = read_part(handle, part, limit=MAX_SEARCHED_TEXT)
    text = decode_text_part(data, part.content_type, part.params.get("charset", ""))
    if part.content_type == "text/html":
        text = LexborHTMLParser(text).text(separator=" ")
    return text
