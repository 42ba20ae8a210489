"""POP3 client: RFC 1939, with CAPA (RFC 2449), STLS (RFC 2595) and SASL PLAIN (RFC 5034, 4616).

No Django here. :func:`open_session` connects through the guarded socket of :mod:`.base`, secures
the connection as the endpoint says (TLS is always verified), reads CAPA and logs in; the
:class:`Pop3Session` it returns speaks the TRANSACTION state.

Rules the session keeps:
- Every command line is made by :func:`command_line`, which refuses line breaks and NUL in any
  argument before anything is sent.
- Answers are read in bounded pieces: a status line or a CAPA/LIST/UIDL line up to 4 KB, a message
  line in pieces of 64 KB; RETR streams into the caller's file and never holds a message whole.
- A multi-line answer is complete only at its "." line: a connection that drops before it raises,
  it never yields a truncated message.
- After any failure but an -ERR (:class:`Pop3Error`) or a refused argument, the connection is out
  of step with the server; it is closed and the session refuses further commands.
- Deletions become final only at a successful :meth:`Pop3Session.quit`; closing without it (the
  context manager does) removes nothing.
"""

import base64
import collections
import contextlib
import itertools
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from .base import (
    FORBIDDEN_CHARACTERS,
    ConnectionProblem,
    Endpoint,
    Problem,
    Security,
    ServerRefused,
    open_socket,
    tls_context,
    translated_errors,
)

LINE_BREAKS = FORBIDDEN_CHARACTERS  # NUL and every break str.splitlines() splits on
MAX_LINE = 4096  # a status line or a line of CAPA, LIST or UIDL; longer is not POP3
PIECE = 65536  # (the reader's unit in tests: a line cut at it is still one line)
READ_BUFFER = 256 * 1024  # bytes read at a time, and written to the caller's file at a time
PIPELINE_WINDOW = 16  # RETR commands sent ahead of their answers, where the server pipelines
MAX_COMMAND = 255  # RFC 2449 section 4: octets in a command line, CRLF included
TOP_LIMIT = 256 * 1024
# RFC 2449 / RFC 3206 response codes that say "not now", not "wrong password" or "unsupported"
TRANSIENT_CODES = frozenset({"IN-USE", "LOGIN-DELAY", "SYS/TEMP", "SYS/PERM"})
CLOSED = "the server closed the connection before the end of its answer"

Trace = Callable[[str], None]


class _Writable(Protocol):
    def write(self, data: bytes, /) -> Any: ...


class Pop3Error(ServerRefused):
    """The server answered -ERR (Problem.PROTOCOL). ``command`` is the command word ("RETR"),
    ``text`` what followed "-ERR" (decoded, no CRLF), ``code`` its RFC 2449 response code
    ("IN-USE", "SYS/TEMP", "AUTH", ...) upper-cased, or "" when there is none."""

    def __init__(self, command: str, text: str):
        super().__init__(command, text, f"{command}: -ERR {text}".rstrip())
        self.code = response_code(text)


class _OutputFailed(Exception):
    """Writing to the caller's file failed; carries that error past :func:`translated_errors`."""


def response_code(text: str) -> str:
    """The RFC 2449 section 8 response code at the start of ``text`` ("[IN-USE] ..."), or ""."""
    if not text.startswith("["):
        return ""
    end = text.find("]")
    return text[1:end].upper() if end > 0 else ""


def refuse_line_breaks(value: str, what: str) -> str:
    """``value`` unchanged; ConnectionProblem(BAD_INPUT) if it holds one of :data:`LINE_BREAKS`."""
    if not LINE_BREAKS.isdisjoint(value):
        raise ConnectionProblem(Problem.BAD_INPUT, f"{what} contains a line break or NUL")
    return value


def command_line(word: str, *args: str) -> bytes:
    """The one place command lines are made: ``word`` and ``args`` joined by single spaces, UTF-8
    encoded (user names and passwords may be non-ASCII), CRLF-terminated (RFC 1939 section 3).
    Raises ConnectionProblem(BAD_INPUT) for a line break or NUL in any part."""
    for part in (word, *args):
        refuse_line_breaks(part, f"an argument of {word}" if args else "a command")
    return " ".join((word, *args)).encode() + b"\r\n"


def _number(number: int) -> str:
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ConnectionProblem(Problem.BAD_INPUT, f"not a message number: {number!r}")
    return str(number)


def _cut_short(line: bytes) -> ConnectionProblem:
    """The error for a line read without its LF: too long, or the connection ended."""
    if len(line) > MAX_LINE:
        return ConnectionProblem(Problem.PROTOCOL, f"an answer line is over {MAX_LINE} bytes")
    return ConnectionProblem(Problem.PROTOCOL, CLOSED)


class _Capped:
    """A write target that keeps the first ``limit`` bytes and counts away the rest."""

    def __init__(self, limit: int):
        self.parts: list[bytes] = []
        self.room = limit

    def write(self, data: bytes) -> None:
        if self.room > 0:
            self.parts.append(data[: self.room])
            self.room -= len(self.parts[-1])


class Pop3Session:
    """One authenticated POP3 connection (RFC 1939 TRANSACTION state), made by :func:`open_session`.

    Message numbers are this session's (1 = first in the maildrop). ``capabilities`` is the CAPA
    answer after login: upper-case names -> their arguments, {} when the server has no CAPA.
    ``trace``, when given, receives "C: <command>" for each command line sent and "S: <line>" for
    each status line received, with the PASS argument and SASL data as "***".

    As a context manager it closes without QUIT: only :meth:`quit` makes deletions final.
    Errors: :class:`Pop3Error` for an -ERR answer (the session stays usable), ConnectionProblem
    for everything else (the session is then closed)."""

    def __init__(self, sock: socket.socket, *, trace: Trace | None = None):
        self.capabilities: dict[str, list[str]] = {}
        self._trace = trace
        self._broken = ""
        self._attach(sock)

    def _attach(self, sock: socket.socket) -> None:
        self._sock = sock
        self._file = sock.makefile("rb", buffering=READ_BUFFER)

    def __enter__(self) -> "Pop3Session":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the commands ---------------------------------------------------------------------------

    def stat(self) -> tuple[int, int]:
        """STAT (RFC 1939 section 5): (messages, octets) in the maildrop, deleted ones left out."""
        text = self._command("STAT")
        try:
            count, octets = text.split()[:2]
            return int(count), int(octets)
        except ValueError:
            raise ConnectionProblem(Problem.PROTOCOL, f"STAT: +OK {text}") from None

    def uidl(self) -> dict[int, str] | None:
        """UIDL (RFC 1939 section 7): {message number: unique-id}, or None when the server has
        no UIDL (CAPA lists capabilities without it, or it answers -ERR). An -ERR carrying a
        transient response code ([SYS/TEMP], [IN-USE]) raises Pop3Error instead: not an absence."""
        if self.capabilities and "UIDL" not in self.capabilities:
            return None
        try:
            lines = self._multi_line("UIDL")
        except Pop3Error as exc:
            if exc.code in TRANSIENT_CODES:
                raise
            return None
        return {number: value.decode("latin-1") for number, value in _numbered(lines, "UIDL")}

    def list_sizes(self) -> dict[int, int]:
        """LIST (RFC 1939 section 5): {message number: size in octets, as RETR sends it}."""
        lines = self._multi_line("LIST")
        try:
            return {number: int(value) for number, value in _numbered(lines, "LIST")}
        except ValueError:
            raise ConnectionProblem(Problem.PROTOCOL, "LIST: a size is not a number") from None

    def retr_to(self, number: int, out: _Writable) -> int:
        """RETR (RFC 1939 section 7): write message ``number`` into the binary file ``out`` as the
        server sent it (CRLF line ends), dot-stuffing and the final "." removed; returns the bytes
        written. Streams in blocks of at most ~256 KB. Pop3Error for -ERR (no such message);
        ConnectionProblem when the connection fails before the end (a first part of the message
        may be in ``out`` by then: discard it); an error of ``out.write`` is raised as it is."""
        with self._guard():
            self._send("RETR", _number(number))
            self._read_status("RETR")
            return self._copy_data(out)

    def retr_each(self, numbers: Iterable[int], open_out: Callable[[int], _Writable]):
        """RETR each of ``numbers`` in turn, pipelined (RFC 2449 section 6.6: up to
        PIPELINE_WINDOW commands in flight) when CAPA lists PIPELINING, one at a time otherwise.

        Yields (number, out, bytes written) for each message, ``out`` being what
        ``open_out(number)`` gave to write it into, or (number, None, Pop3Error) when the server
        refused that one (the others go on). A failed connection raises ConnectionProblem: the
        message being read then is incomplete in its ``out``, the ones after it were not read."""
        window = PIPELINE_WINDOW if "PIPELINING" in self.capabilities else 1
        numbers, in_flight = iter(numbers), collections.deque()
        with self._guard():
            while True:
                if len(in_flight) <= window // 2:  # refill the window, in one write
                    more = list(itertools.islice(numbers, window - len(in_flight)))
                    self._send_all([("RETR", _number(number)) for number in more])
                    in_flight.extend(more)
                if not in_flight:
                    return
                yield self._retr_answer(in_flight.popleft(), open_out)

    def _retr_answer(self, number, open_out):
        try:
            self._read_status("RETR")
        except Pop3Error as refusal:
            return number, None, refusal
        out = open_out(number)
        return number, out, self._copy_data(out)

    def top(self, number: int, lines: int = 0, *, limit: int = TOP_LIMIT) -> bytes | None:
        """TOP (RFC 1939 section 7): the header of message ``number`` and the first ``lines`` lines
        of its body, at most ``limit`` bytes of it kept (the rest is read and dropped). None when
        the server has no TOP: CAPA lists capabilities without it, or (no CAPA) it answers -ERR."""
        if self.capabilities and "TOP" not in self.capabilities:
            return None
        if isinstance(lines, bool) or not isinstance(lines, int) or lines < 0:
            raise ConnectionProblem(Problem.BAD_INPUT, f"not a line count: {lines!r}")
        kept = _Capped(limit)
        try:
            with self._guard():
                self._send("TOP", _number(number), str(lines))
                self._read_status("TOP")
                self._copy_data(kept)
        except Pop3Error as exc:
            if self.capabilities or exc.code in TRANSIENT_CODES:
                raise
            return None
        return b"".join(kept.parts)

    def dele(self, number: int) -> None:
        """DELE (RFC 1939 section 5): mark message ``number``; it goes at a successful QUIT."""
        self._command("DELE", _number(number))

    def rset(self) -> None:
        """RSET (RFC 1939 section 5): unmark every message marked by DELE in this session."""
        self._command("RSET")

    def noop(self) -> None:
        """NOOP (RFC 1939 section 5): nothing, but proves the connection is alive."""
        self._command("NOOP")

    def quit(self) -> None:
        """QUIT (RFC 1939 section 6), then close. The messages marked by DELE are removed only
        when this returns: it raises Pop3Error on -ERR, ConnectionProblem when the answer never
        came (the server may or may not have removed them)."""
        try:
            self._command("QUIT")
        finally:
            self.close()

    def close(self) -> None:
        """Drop the connection without QUIT: the server removes nothing. Safe to call twice."""
        self._broken = self._broken or "closed"
        for closeable in (self._file, self._sock):
            with contextlib.suppress(OSError):
                closeable.close()

    # --- connecting -----------------------------------------------------------------------------

    def _start(self, endpoint: Endpoint) -> None:
        """Greeting, CAPA, STLS when asked, login, then CAPA again (RFC 2449 section 5: what a
        server offers may change once the user is known)."""
        with self._guard():
            self._read_status("greeting")
        self.capabilities = self._capa()
        if endpoint.security == Security.STARTTLS:
            self._starttls(endpoint)
        self._login(endpoint.username, endpoint.password)
        self.capabilities = self._capa()

    def _capa(self) -> dict[str, list[str]]:
        """CAPA (RFC 2449): {NAME: [arguments]}; {} when the server answers -ERR (no CAPA)."""
        try:
            lines = self._multi_line("CAPA")
        except Pop3Error:
            return {}
        capabilities = {}
        for line in lines:
            words = line.decode("utf-8", "replace").split()
            if words:
                capabilities[words[0].upper()] = words[1:]
        return capabilities

    def _starttls(self, endpoint: Endpoint) -> None:
        """STLS (RFC 2595 section 4), verifying the certificate for ``endpoint.host``. The reader
        used in clear is dropped, so nothing a man in the middle slipped in after "+OK" is read
        as if it came over TLS; the CAPA read in clear is forgotten and asked again."""
        if "STLS" not in self.capabilities:
            raise ConnectionProblem(Problem.STARTTLS_MISSING)
        try:
            self._command("STLS")
        except Pop3Error as exc:
            raise ConnectionProblem(Problem.STARTTLS_MISSING, exc.text) from exc
        with self._guard():
            context = tls_context(endpoint.ca_pem)
            tls = context.wrap_socket(self._sock, server_hostname=endpoint.host)
            self._file.close()
            self._attach(tls)
        self.capabilities = self._capa()

    def _login(self, username: str, password: str) -> None:
        """SASL PLAIN when CAPA offers it (RFC 5034), else USER/PASS (RFC 1939 section 7).
        AUTH_FAILED with the server's text when refused; Pop3Error when the refusal carries a
        transient code ([IN-USE], [SYS/TEMP]: the password may well be right)."""
        refuse_line_breaks(username, "the user name")
        refuse_line_breaks(password, "the password")
        mechanisms = {name.upper() for name in self.capabilities.get("SASL", [])}
        try:
            if "PLAIN" in mechanisms:
                self._auth_plain(username, password)
            else:
                self._command("USER", username)
                self._command("PASS", password, secret=True)
        except Pop3Error as exc:
            if exc.code in TRANSIENT_CODES:
                raise
            raise ConnectionProblem(Problem.AUTH_FAILED, exc.text) from exc

    def _auth_plain(self, username: str, password: str) -> None:
        """AUTH PLAIN (RFC 5034, message per RFC 4616: no authzid, UTF-8). The credentials go as
        the initial response when that fits in 255 octets (RFC 5034 section 4); if the server
        refuses that form without a response code, they go again after its "+" continuation."""
        message = f"\0{username}\0{password}".encode()
        response = base64.b64encode(message).decode("ascii")
        if len(command_line("AUTH", "PLAIN", response)) <= MAX_COMMAND:
            try:
                return self._sasl(("AUTH", "PLAIN", response), None)
            except Pop3Error as exc:
                if exc.code:  # [AUTH]: the credentials are wrong, not the form
                    raise
        self._sasl(("AUTH", "PLAIN"), response)

    def _sasl(self, command: tuple[str, ...], response: str | None) -> None:
        """One AUTH exchange: ``command``, then ``response`` after a "+" continuation; a second
        continuation (or one when ``response`` is None) is cancelled with "*" (RFC 5034 4)."""
        with self._guard():
            self._send(*command, secret=len(command) > 2)
            answer = self._read_line()
            for reply in (response, None):
                if not (answer == "+" or answer.startswith("+ ")):
                    break
                self._send(reply or "*", secret=reply is not None)
                answer = self._read_line()
            self._status("AUTH", answer)

    # --- sending and reading --------------------------------------------------------------------

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Socket and TLS errors become ConnectionProblem. Any failure but an -ERR or a refused
        argument leaves the connection out of step with the server: it is closed."""
        if self._broken:
            raise ConnectionProblem(Problem.PROTOCOL, f"the connection is closed: {self._broken}")
        try:
            with translated_errors():
                try:
                    yield
                except ssl.SSLEOFError as exc:
                    raise ConnectionProblem(Problem.PROTOCOL, CLOSED) from exc
        except Pop3Error:
            raise
        except ConnectionProblem as exc:
            if exc.problem != Problem.BAD_INPUT:
                self._break(str(exc))
            raise
        except _OutputFailed as exc:
            self._break("the message could not be written")
            raise exc.args[0] from None
        except BaseException as exc:
            self._break(repr(exc))
            raise

    def _break(self, reason: str) -> None:
        self.close()
        self._broken = reason

    def _note(self, line: str) -> None:
        if self._trace is not None:
            self._trace(line)

    def _send_all(self, commands: list[tuple[str, ...]]) -> None:
        """Send several command lines in one write (pipelining; none of them secret)."""
        if not commands:
            return
        if self._trace is not None:
            for command in commands:
                self._trace("C: " + " ".join(command))
        self._sock.sendall(b"".join(command_line(*command) for command in commands))

    def _send(self, word: str, *args: str, secret: bool = False) -> None:
        """Send one command line; with ``secret`` its last part shows as "***" in the trace."""
        line = command_line(word, *args)
        if self._trace is not None:
            parts = [word, *args]
            if secret:
                parts[-1] = "***"
            self._trace("C: " + " ".join(parts))
        self._sock.sendall(line)

    def _command(self, word: str, *args: str, secret: bool = False) -> str:
        """Send a command and read its status line: the text after "+OK"; Pop3Error on -ERR."""
        with self._guard():
            self._send(word, *args, secret=secret)
            return self._read_status(word)

    def _multi_line(self, word: str) -> list[bytes]:
        """Send a command whose +OK answer is a short multi-line listing (CAPA, LIST, UIDL)."""
        with self._guard():
            self._send(word)
            self._read_status(word)
            return self._listing()

    def _read_line(self) -> str:
        """One status line (at most 4 KB), decoded, without CRLF; traced."""
        line = self._file.readline(MAX_LINE + 1)
        if not line.endswith(b"\n"):
            raise _cut_short(line)
        text = line.rstrip(b"\r\n").decode("utf-8", "replace")
        self._note("S: " + text)
        return text

    def _read_status(self, command: str) -> str:
        return self._status(command, self._read_line())

    def _status(self, command: str, text: str) -> str:
        """The text after "+OK" in ``text``; Pop3Error for "-ERR", ConnectionProblem otherwise."""
        if text.startswith("+OK"):
            return text[3:].strip()
        if text.startswith("-ERR"):
            raise Pop3Error(command, text[4:].strip())
        raise ConnectionProblem(Problem.PROTOCOL, f"{command}: unexpected answer {text[:80]!r}")

    def _listing(self) -> list[bytes]:
        """The lines of a short multi-line answer, without CRLF, dot-stuffing removed."""
        lines = []
        readline = self._file.readline
        while True:
            line = readline(MAX_LINE + 1)
            if not line.endswith(b"\n"):
                raise _cut_short(line)
            line = line.rstrip(b"\r\n")
            if line == b".":
                return lines
            lines.append(line[1:] if line[:1] == b"." else line)

    def _copy_data(self, out: _Writable) -> int:
        """Copy a multi-line answer's data into ``out``; returns the bytes written.

        The data is read in blocks as they arrive and handled with bytes methods, never line by
        line (RETR must keep pace with the server: a message is some hundreds of lines):
        1. Every line starts after an LF, the first one after the status line's: the block is
           kept with the LF before it. A "." after an LF is either the final "." line (LF "."
           CRLF, or LF "." LF) or dot-stuffing: everything before the final line loses the "."
           after each LF (RFC 1939 section 3).
        2. The end of a block is held back from the last LF within 3 bytes of it, so that no
           LF "." pair or final line is ever cut in two (one byte already written is kept in
           front, to be dropped again: it says whether the next byte starts a line).
        3. An empty read is the connection ending before the final line: ConnectionProblem.
           What follows the final line (the next answer, when commands are pipelined) is left
           unread."""
        peek, consume, held, written = self._file.peek, self._file.read, b"\n", 0
        while True:
            block = peek(READ_BUFFER)  # what has arrived; read no further than the final line:
            if not block:  # with pipelining, the next answer may follow in the same block
                raise ConnectionProblem(Problem.PROTOCOL, CLOSED)
            data = held + block  # data[0] is written already (or the status line's LF)
            end = _final_line(data)
            if end is not None:
                stop, after, stuffed = end
                consume(after - len(held))
                chunk = (_unstuffed(data[:stop]) if stuffed else data[:stop])[1:]
                return written + _write(out, [chunk], len(chunk))
            consume(len(block))
            cut = data.rfind(b"\n", max(0, len(data) - 3))
            if cut == 0:  # only a line start and up to two bytes: wait for more
                held = data
                continue
            cut = len(data) if cut == -1 else cut
            chunk = _unstuffed(data[:cut])[1:]
            written += _write(out, [chunk], len(chunk))
            held = data[cut - 1 :]


def _final_line(data: bytes) -> tuple[int, int, bool] | None:
    """(where the data ends, after its last LF; where the final "." line ends; whether a
    stuffed "." came before it) or None. One pass: LF "." is rare in mail but for
    dot-stuffing, so the first one is usually the end."""
    at, stuffed = data.find(b"\n."), False
    while at != -1:
        following = data[at + 2 : at + 4]
        if following == b"\r\n" or following[:1] == b"\n":
            return at + 1, at + 2 + (2 if following == b"\r\n" else 1), stuffed
        at, stuffed = data.find(b"\n.", at + 2), True
    return None


def _unstuffed(data: bytes) -> bytes:
    return data.replace(b"\n.", b"\n") if b"\n." in data else data


def _write(out: _Writable, batch: list[bytes], size: int) -> int:
    """Write all of ``batch`` (an unbuffered file may take a write in parts)."""
    data = memoryview(b"".join(batch))
    try:
        while data:
            done = out.write(data)
            if done == 0:
                raise OSError("the file took nothing")
            data = data[done if isinstance(done, int) else len(data) :]
    except Exception as exc:
        raise _OutputFailed(exc) from exc
    return size


def _numbered(lines: list[bytes], command: str) -> Iterator[tuple[int, bytes]]:
    """(message number, first argument) of each "n value" line of a LIST or UIDL answer."""
    seen = set()
    for line in lines:
        words = line.split()
        if len(words) < 2 or not words[0].isdigit() or min(words[1]) < 0x21:
            raise ConnectionProblem(Problem.PROTOCOL, f"{command}: unexpected line {line[:80]!r}")
        number = int(words[0])
        if number in seen:
            raise ConnectionProblem(Problem.PROTOCOL, f"{command}: message {number} twice")
        seen.add(number)
        yield number, words[1]


def open_session(endpoint: Endpoint, *, trace: Trace | None = None) -> Pop3Session:
    """An authenticated :class:`Pop3Session` on ``endpoint``: connected through the address
    policy, TLS as ``endpoint.security`` says (implicit TLS; STLS per RFC 2595, else
    STARTTLS_MISSING; or none), certificate verified for ``endpoint.host``, CAPA read, logged in.

    Raises ConnectionProblem: UNKNOWN_HOST, PRIVATE_HOST, REFUSED, UNREACHABLE, TIMEOUT,
    TLS_CERTIFICATE, TLS_HANDSHAKE, STARTTLS_MISSING, AUTH_FAILED, BAD_INPUT (a line break or
    NUL in the user name or password; nothing of them sent), PROTOCOL; Pop3Error for a login
    refused with a transient response code ([IN-USE], [SYS/TEMP], [LOGIN-DELAY])."""
    with translated_errors():
        sock = open_socket(endpoint)
        if endpoint.security == Security.TLS:
            try:
                context = tls_context(endpoint.ca_pem)
                sock = context.wrap_socket(sock, server_hostname=endpoint.host)
            except BaseException:
                sock.close()
                raise
    session = Pop3Session(sock, trace=trace)
    try:
        session._start(endpoint)
    except BaseException:
        session.close()
        raise
    return session


def check_login(endpoint: Endpoint) -> None:
    """Log in and out; raises ConnectionProblem with the reason when logging in fails."""
    session = open_session(endpoint)
    try:
        session.quit()
    except ConnectionProblem:
        pass  # the login worked; nothing was marked for deletion, so a failed QUIT loses nothing
