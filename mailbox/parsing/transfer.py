"""Content-Transfer-Encoding (RFC 2045 section 6): base64 and quoted-printable, whole or streamed.

One decoder serves both: :func:`decode` is :class:`StreamDecoder` fed a single chunk, so a part
read whole and the same part streamed in chunks of any size give the same bytes. Nothing here
raises on any input, and a stream holds at most one partial line (bounded) between chunks.

1. base64: every byte outside the alphabet is dropped (line breaks, spaces, garbage). Padding
   ("=") ends a run of data (RFC 2045 6.8); decoding goes on after it, so that base64 blocks
   glued together by a sloppy sender all come out. A run's last incomplete quantum gives what
   its characters hold (2 characters: 1 byte, 3: 2 bytes; a lone character gives nothing).
2. quoted-printable: decoded a whole line at a time (binascii.a2b_qp); the tail after the last
   line break waits for the next chunk, unless it grows past MAX_PENDING (a body without line
   breaks), when it is decoded up to any "=" escape that the next chunk may complete.
3. Any other encoding (7bit, 8bit, binary, unknown names) is passed through unchanged.
"""

import binascii
from collections.abc import Iterable, Iterator

__all__ = ["StreamDecoder", "decode", "decoded"]

MAX_PENDING = 1 << 16  # bytes of one quoted-printable line kept back between chunks

_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# what bytes.translate deletes: everything but the alphabet and the padding character
_NOT_BASE64 = bytes(sorted(set(range(256)) - set(_BASE64_ALPHABET + b"=")))


def _base64_run(data: bytes) -> bytes:
    """A complete run of base64 characters (ended by padding or by the end of the data)."""
    extra = len(data) % 4
    if extra == 1:  # a lone character holds no whole byte
        data = data[:-1]
    elif extra:
        data += b"=" * (4 - extra)
    return binascii.a2b_base64(data) if data else b""


class StreamDecoder:
    """Decodes one transfer encoding chunk by chunk, whatever the chunk boundaries.

    ``feed(chunk)`` returns the bytes decoded so far (maybe b""), ``close()`` the rest; the
    encoding name is matched case-insensitively, None meaning 7bit.
    """

    def __init__(self, encoding: str | None):
        self.encoding = (encoding or "").strip().lower()
        self.pending = b""

    def feed(self, chunk: bytes) -> bytes:
        if self.encoding == "base64":
            return self._feed_base64(bytes(chunk))
        if self.encoding == "quoted-printable":
            return self._feed_qp(bytes(chunk))
        return bytes(chunk)

    def close(self) -> bytes:
        rest, self.pending = self.pending, b""
        if not rest:
            return b""
        if self.encoding == "base64":
            return _base64_run(rest)
        return binascii.a2b_qp(rest)

    def _feed_base64(self, chunk: bytes) -> bytes:
        data = chunk.translate(None, _NOT_BASE64)
        if self.pending:
            data = self.pending + data
        if b"=" not in data:
            usable = len(data) - len(data) % 4
            self.pending = data[usable:]
            return binascii.a2b_base64(memoryview(data)[:usable]) if usable else b""
        *runs, tail = data.split(b"=")
        usable = len(tail) - len(tail) % 4
        self.pending = tail[usable:]
        out = [_base64_run(run) for run in runs if run]
        if usable:
            out.append(binascii.a2b_base64(tail[:usable]))
        return b"".join(out)

    def _feed_qp(self, chunk: bytes) -> bytes:
        data = self.pending + chunk
        cut = data.rfind(b"\n") + 1
        if not cut and len(data) > MAX_PENDING:  # no line break: keep back a split escape only
            escape = data.rfind(b"=", len(data) - 2)
            cut = escape if escape >= 0 else len(data)
        self.pending = data[cut:]
        return binascii.a2b_qp(data[:cut]) if cut else b""


def decoded(chunks: Iterable[bytes], encoding: str | None) -> Iterator[bytes]:
    """The decoded bytes of ``chunks`` (an encoded body in pieces), never an empty chunk."""
    decoder = StreamDecoder(encoding)
    for chunk in chunks:
        data = decoder.feed(chunk)
        if data:
            yield data
    tail = decoder.close()
    if tail:
        yield tail


def decode(data: bytes, encoding: str | None) -> bytes:
    """``data`` (a whole encoded body) decoded from ``encoding`` (RFC 2045 6); never raises."""
    decoder = StreamDecoder(encoding)
    return decoder.feed(data) + decoder.close()
