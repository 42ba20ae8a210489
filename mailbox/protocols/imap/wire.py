"""The wire under an ``ImapSession``: tags, sending commands (with literals), reading responses,
waiting for the socket. No Django here.

Every read and write goes through :meth:`Wire.guard`, which turns socket, TLS and parse errors
into :class:`ConnectionProblem`. After such an error the connection is out of step with the
server (a response may be half read), so the wire is marked broken and refuses further commands:
the caller opens a new session.
"""

import collections
import contextlib
import itertools
import select
import socket
import ssl
import time

from ..base import ConnectionProblem, Problem, translated_errors
from .names import Literal
from .parser import ParseError, parse_tagged, parse_untagged, read_response

MAX_UNSOLICITED = 50_000  # past this, the caller is told to resync instead of being sent more
SMALL_LITERAL = 4096  # LITERAL- (RFC 7888) allows non-synchronising literals up to this size


class Wire:
    """One IMAP connection's plumbing; ``ImapSession`` adds the commands.

    ``_describe(raw)`` (the subclass's) turns an untagged response into a ``(kind, value)``
    pair for :attr:`unsolicited`, or None for one not worth keeping."""

    def __init__(self, sock, file):
        self._sock = sock
        self._file = file
        self._tag_number = 0
        self._broken = None
        self._bye = ""
        self.unsolicited = []
        self._literal_plus = self._literal_minus = False

    # --- guarding -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def guard(self):
        """Errors become ConnectionProblem; any but a refused input break the connection."""
        if self._broken is not None:
            detail = f"the connection broke earlier: {self._broken}"
            raise ConnectionProblem(Problem.PROTOCOL, detail)
        try:
            with translated_errors():
                try:
                    yield
                except ParseError as exc:
                    raise ConnectionProblem(Problem.PROTOCOL, str(exc)) from exc
                except EOFError as exc:
                    detail = f"the server closed the connection: {self._bye}" if self._bye else ""
                    raise ConnectionProblem(Problem.PROTOCOL, detail or str(exc)) from exc
        except ConnectionProblem as exc:
            if exc.problem != Problem.BAD_INPUT and not getattr(exc, "command", None):
                self._break(exc)
            raise

    def _break(self, reason):
        self._broken = reason
        self.close()

    def interrupt(self):
        """From another thread: end a blocking wait (IDLE) by shutting the socket down. The
        session is unusable afterwards."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def close(self):
        """Close the socket without a word to the server (``logout`` says goodbye first)."""
        self._broken = self._broken or "closed"
        for closeable in (self._file, self._sock):
            with contextlib.suppress(OSError):
                closeable.close()

    # --- sending --------------------------------------------------------------------------------

    def _new_tag(self):
        self._tag_number += 1
        return b"W%d" % self._tag_number

    def _send(self, tag, parts):
        """``tag`` and ``parts`` (bytes, or :class:`Literal`) joined by spaces, then CRLF.

        A literal goes in the same write as LITERAL+ ``{n+}`` when the server allows; otherwise
        we send up to ``{n}`` and wait for the server's "+" before its bytes."""
        chunks = [tag]
        for part in parts:
            chunks.append(b" ")
            if not isinstance(part, Literal):
                chunks.append(part)
                continue
            size = len(part.data)
            if self._literal_plus or (self._literal_minus and size <= SMALL_LITERAL):
                chunks += [b"{%d+}\r\n" % size, part.data]
            else:
                chunks.append(b"{%d}\r\n" % size)
                self._sock.sendall(b"".join(chunks))
                self._await_continuation(tag)
                chunks = [part.data]
        chunks.append(b"\r\n")
        self._sock.sendall(b"".join(chunks))

    def _await_continuation(self, tag):
        while True:
            raw = self._read()
            if raw[:1] == b"+":
                return
            if raw[:2] == b"* ":
                self._note(raw)
                continue
            tagged = parse_tagged(raw)
            if tagged is not None and tagged[0] == tag:
                # refused before the literal was sent: report it like any completion
                raise _EarlyCompletion(tagged[1], tagged[2])
            raise ParseError(f"unexpected response: {raw[:80]!r}")

    # --- reading --------------------------------------------------------------------------------

    def _read(self):
        return read_response(self._file)

    def _note(self, raw):
        entry = self._describe(raw)
        if entry is None:
            return
        if len(self.unsolicited) < MAX_UNSOLICITED:
            self.unsolicited.append(entry)
        elif self.unsolicited[-1][0] != "OVERFLOW":
            self.unsolicited.append(("OVERFLOW", len(self.unsolicited)))

    def _describe(self, raw):  # pragma: no cover - ImapSession's
        raise NotImplementedError

    def _exchange(self, parts, handler=None):
        """Send one command, read to its completion; returns ``(tag, STATUS, text)``.

        ``handler(number, KIND, rest, raw)`` sees each untagged response first (as
        ``parse_untagged`` splits it) and returns True when it took it; the rest go to
        :attr:`unsolicited`."""
        with self.guard():
            tag = self._new_tag()
            try:
                self._send(tag, parts)
            except _EarlyCompletion as early:
                return tag, early.status, early.text
            return (tag, *self._complete(tag, handler))

    def _complete(self, tag, handler=None):
        """Read until ``tag``'s completion; returns ``(STATUS, text)``."""
        while True:
            raw = self._read()
            if raw[:2] == b"* ":
                parsed = parse_untagged(raw) if handler is not None else None
                if parsed is None or not handler(*parsed, raw):
                    self._note(raw)
                continue
            tagged = parse_tagged(raw)
            if tagged is None or tagged[0] != tag:
                raise ParseError(f"unexpected response: {raw[:80]!r}")
            return tagged[1], tagged[2]

    def _error(self, command, status, reply):
        """The exception for a NO or BAD completion (ImapSession's is ImapCommandError)."""
        return ConnectionProblem(Problem.PROTOCOL, f"{command}: {status} {reply}")

    def _command(self, name, parts, handler=None):
        """Run a command; returns the completion's text, raises ImapCommandError on NO/BAD."""
        _tag, status, reply = self._exchange(parts, handler)
        if status != "OK":
            raise self._error(name, status, _text(reply))
        return reply

    def _pipeline(self, name, commands, reader):
        """Run ``commands`` (an iterable of parts) with one more always sent ahead, so the server
        never waits for us between batches; yields ``reader(raw)`` of each untagged response
        for which it is not None (the rest go to :attr:`unsolicited`).

        Closing the generator early reads the commands in flight to their end, so the session
        stays usable."""
        commands = iter(commands)
        pending = collections.deque()
        file, note = self._file, self._note
        in_step = False  # True when we stop with the server in step: a refusal or close()
        with self.guard():
            try:
                for parts in itertools.islice(commands, 2):
                    pending.append(self._new_tag())
                    self._send(pending[-1], parts)
                while pending:
                    raw = read_response(file)
                    if raw[:2] == b"* ":
                        value = reader(raw)
                        if value is None:
                            note(raw)
                        else:
                            yield value
                        continue
                    tagged = parse_tagged(raw)
                    if tagged is None or tagged[0] != pending[0]:
                        raise ParseError(f"unexpected response: {raw[:80]!r}")
                    pending.popleft()
                    if tagged[1] != "OK":
                        in_step = True
                        raise self._error(name, tagged[1], _text(tagged[2]))
                    parts = next(commands, None)
                    if parts is not None:
                        pending.append(self._new_tag())
                        self._send(pending[-1], parts)
            except GeneratorExit:
                in_step = True
                raise
            finally:  # stopped early: what the reader would have taken is dropped
                while in_step and pending:
                    self._complete(pending.popleft(), lambda *response: bool(reader(response[-1])))

    # --- waiting --------------------------------------------------------------------------------

    def _wait(self, deadline):
        """Block until a response can be read (True) or ``deadline`` (monotonic) passes."""
        while True:
            if self._poll():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            select.select([self._sock], [], [], remaining)

    def _poll(self):
        """True when a response has started to arrive; EOFError if the server has gone.

        The reader may hold bytes already (so select() alone would not do); a non-blocking
        peek asks it, and the socket's own timeout is back for the reads that follow."""
        saved = self._sock.gettimeout()
        self._sock.settimeout(0.0)
        try:
            if self._file.peek(1):
                return True
            if isinstance(self._sock, ssl.SSLSocket):
                raise EOFError("the server closed the connection")  # else: SSLWantReadError
            if self._sock.recv(1, socket.MSG_PEEK) == b"":
                raise EOFError("the server closed the connection")
            return True
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False  # nothing yet (TLS: or only part of a record)
        finally:
            self._sock.settimeout(saved)

    def _idle(self, timeout):
        """IDLE, wait for the first report worth having (or ``timeout``), DONE, read the
        completion; returns every ``(kind, value)`` that came."""
        events = []
        with self.guard():
            tag = self._new_tag()
            try:
                self._send(tag, [b"IDLE"])
                self._await_continuation(tag)
            except _EarlyCompletion as early:
                raise self._error("IDLE", early.status, _text(early.text)) from None
            deadline = time.monotonic() + timeout
            while not events and self._wait(deadline):
                self._collect(self._read(), events)
            self._sock.sendall(b"DONE\r\n")
            status, reply = self._complete(
                tag, lambda *response: self._collect(response[-1], events)
            )
        if status != "OK":
            raise self._error("IDLE", status, _text(reply))
        return events

    def _collect(self, raw, events):
        if raw[:1] == b"+":
            return True  # a stray continuation: nothing to report
        entry = self._describe(raw)
        if entry is not None:
            events.append(entry)
        return True


def _text(value):
    return value.decode("utf-8", "replace")


class _EarlyCompletion(Exception):
    def __init__(self, status, text):
        super().__init__(status)
        self.status, self.text = status, text
