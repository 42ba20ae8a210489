"""A fault-injecting POP3 proxy for tests: it sits between a client and Dovecot's plain POP3 port.

A real Dovecot cannot be told to drop a connection in the middle of RETR, to lack UIDL or TOP, or to
refuse SASL's initial response; this proxy does those on request and records every command line
clients send. No Django here; threads only (two per connection).

How it keeps track of answers without parsing them: it hides PIPELINING from CAPA, so a client
that reads CAPA sends its next command only after the whole answer to the previous one. Every byte
the server sends after a command was forwarded therefore belongs to that command's answer, and
the server-to-client side can relay in big chunks, knowing only what the last command was.
After STLS the proxy relays blindly (it cannot read TLS) and records nothing more.
"""

import contextlib
import socket
import threading
from dataclasses import dataclass

CHUNK = 256 * 1024
HIDDEN_ANSWER = b"-ERR Unknown command\r\n"
REFUSED_IR_ANSWER = b"-ERR Initial response not supported\r\n"
COMMAND_OF = {"SASL": "AUTH"}  # a capability whose command has another name


@dataclass
class _Fault:
    prefix: str  # upper-case
    after_bytes: int
    forward: bool
    times: int

    def matches(self, line):
        upper = line.upper()
        return upper == self.prefix or upper.startswith(self.prefix + " ")


class Pop3Proxy:
    """Listens on 127.0.0.1:``port`` and relays each connection to the upstream POP3 server.

    ``hide_uidl`` / ``hide_top``: UIDL / TOP leave the CAPA answer, and the command itself is
    answered "-ERR Unknown command" without reaching the server. ``hide`` does the same for other
    capabilities ("SASL" hides AUTH, "STLS", "USER"). ``refuse_initial_response``: an AUTH with
    an initial response (RFC 5034) is answered -ERR, as by a server that only knows the "+" form.
    ``duplicate_uidl``: in a UIDL listing, message 2 gets message 1's unique-id, as a broken
    server might (RFC 1939 forbids it).
    ``pipelining`` keeps PIPELINING in CAPA (a fault's ``after_bytes`` then counts from
    whatever answer is flowing when the faulted command arrives).
    ``commands`` lists every command line clients sent, in order, without CRLF, the PASS and
    APOP secrets, AUTH initial responses and SASL data lines shown as "***"."""

    def __init__(
        self,
        upstream_port,
        upstream_host="127.0.0.1",
        *,
        hide_uidl=False,
        hide_top=False,
        hide=(),
        refuse_initial_response=False,
        pipelining=False,
        duplicate_uidl=False,
    ):
        self.upstream = (upstream_host, upstream_port)
        hidden = {name.upper() for name in hide}
        hidden |= {"UIDL"} if hide_uidl else set()
        hidden |= {"TOP"} if hide_top else set()
        # without PIPELINING a client waits for each answer, so that ``after_bytes`` counts from
        # the faulted command's answer; with it, from the first answer then flowing
        self.hidden_capabilities = frozenset(hidden | (set() if pipelining else {"PIPELINING"}))
        self.hidden_commands = frozenset(COMMAND_OF.get(name, name) for name in hidden)
        self.refuse_initial_response = refuse_initial_response
        self.duplicate_uidl = duplicate_uidl
        self.port = 0
        self.commands = []
        self._faults = []
        self._lock = threading.Lock()
        self._links = []
        self._threads = []
        self._listener = None
        self._stopping = threading.Event()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def start(self):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)  # the accept loop looks at _stopping this often
        self.port = self._listener.getsockname()[1]
        self._spawn(self._accept_loop)
        return self

    def stop(self):
        """Stop accepting, close every connection, wait for the threads."""
        self._stopping.set()
        if not self._threads:
            return
        self._threads[0].join(5)  # the accept loop: no link is added after this
        self._listener.close()
        for link in self._links:
            link.close()
        for thread in self._threads[1:]:
            thread.join(5)

    def wait_closed(self, timeout=5.0):
        """Wait until every connection so far has ended (both sides relayed what they got): after
        a client closed, :attr:`commands` then holds all it sent."""
        for thread in self._threads[1:]:
            thread.join(timeout)

    def drop_on(self, command_prefix, *, after_bytes=0, forward=True, times=1):
        """Arm a fault for the next ``times`` connections that send a command matching
        ``command_prefix`` (case-insensitive; whole words: "RETR 2" is not "RETR 20").
        ``forward=False``: close both sockets without forwarding the command. ``forward=True``:
        forward it, relay ``after_bytes`` bytes of the answer (counted from its first byte), then
        close both sockets: with 0, as soon as the server starts answering."""
        fault = _Fault(command_prefix.upper().strip(), after_bytes, forward, times)
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self):
        with self._lock:
            self._faults.clear()

    def _take_fault(self, line):
        """The armed fault ``line`` triggers (one of its ``times`` is spent), or None."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(line):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _spawn(self, target, *args):
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self):
        while not self._stopping.is_set():
            try:
                client, _address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            link = _Link(self, client, server)
            with self._lock:
                self._links.append(link)
            self._spawn(link.from_client)
            self._spawn(link.from_server)


class _Link:
    """One proxied connection. ``from_client`` parses command lines and sets what the next answer
    is ("capa": to be filtered; ``budget``: bytes left before a fault closes both sockets);
    ``from_server`` relays the answer accordingly."""

    def __init__(self, proxy, client, server):
        self.proxy, self.client, self.server = proxy, client, server
        for sock in (client, server):
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.budget = None  # int while a forwarded fault counts down the answer's bytes
        self.capa = None  # bytearray while a CAPA (or rewritten UIDL) answer is being gathered
        self.gathering = "CAPA"
        self.sasl = False  # an AUTH exchange is open: the client's lines are SASL data
        self.blind = False  # after STLS: relay only
        self._send_lock = threading.Lock()
        self._close_lock = threading.Lock()
        self._closed = False

    def close(self):
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def to_client(self, data):
        with self._send_lock:
            if not self._closed:
                self.client.sendall(data)

    def from_client(self):
        pending = b""
        try:
            while data := self.client.recv(CHUNK):
                if self.blind:
                    self.server.sendall(data)
                    continue
                pending += data
                while b"\n" in pending and not self.blind:
                    line, _, pending = pending.partition(b"\n")
                    if not self.command(line + b"\n"):
                        return
                if self.blind and pending:
                    self.server.sendall(pending)
                    pending = b""
        except OSError:
            pass
        finally:
            self.close()

    def command(self, raw):
        """Record, then drop, answer or forward one client line; False when the link is closed."""
        text = raw.rstrip(b"\r\n").decode("utf-8", "replace")
        words = text.split(" ")
        word = words[0].upper()
        self.proxy.commands.append(self.masked(text, words))
        fault = None if self.sasl else self.proxy._take_fault(text)
        if fault is not None and not fault.forward:
            self.close()
            return False
        if not self.sasl and word in self.proxy.hidden_commands:
            self.to_client(HIDDEN_ANSWER)
            return True
        if word == "AUTH" and len(words) > 2 and self.proxy.refuse_initial_response:
            self.to_client(REFUSED_IR_ANSWER)
            return True
        if fault is not None:
            self.budget = fault.after_bytes
        elif word == "CAPA" and not self.sasl:
            self.capa, self.gathering = bytearray(), "CAPA"
        elif word == "UIDL" and len(words) == 1 and self.proxy.duplicate_uidl:
            self.capa, self.gathering = bytearray(), "UIDL"
        if not self.sasl:
            self.sasl = word == "AUTH"
            self.blind = word == "STLS"
        self.server.sendall(raw)
        return True

    def masked(self, text, words):
        if self.sasl:
            return "***"
        word = words[0].upper()
        keep = {"PASS": 1, "APOP": 2, "AUTH": 2}.get(word)
        if keep is None or len(words) <= keep:
            return text
        return " ".join(words[:keep] + ["***"])

    def from_server(self):
        try:
            while data := self.server.recv(CHUNK):
                if self.sasl and data.startswith((b"+OK", b"-ERR")):
                    self.sasl = False  # the exchange is over; "+ " continuations keep it open
                if self.budget is not None:
                    if not self.spend(data):
                        return
                elif self.capa is not None:
                    self.gather_capa(data)
                else:
                    self.to_client(data)
        except OSError:
            pass
        finally:
            self.close()

    def spend(self, data):
        """Relay what is left of the fault's budget; False once it is spent (link closed)."""
        part = data[: self.budget]
        if part:
            self.to_client(part)
        self.budget -= len(part)
        if self.budget > 0:
            return True
        self.close()
        return False

    def gather_capa(self, data):
        """Collect the CAPA answer; once complete, relay it without the hidden capabilities."""
        self.capa += data
        answer = bytes(self.capa)
        single = answer.startswith(b"-ERR") and answer.endswith(b"\n")
        if not single and not answer.endswith((b"\n.\r\n", b"\n.\n")):
            return
        self.capa = None
        lines = answer.splitlines(keepends=True)
        if self.gathering == "UIDL":
            self.to_client(b"".join(_duplicated(lines)))
            return
        hidden = self.proxy.hidden_capabilities
        kept = [line for line in lines if _first_word(line) not in hidden]
        self.to_client(b"".join(kept))


def _duplicated(lines):
    """A UIDL listing where message 2 has message 1's unique-id."""
    ids = {line.split()[0]: line.split()[1] for line in lines[1:-1] if len(line.split()) == 2}
    if b"1" not in ids or b"2" not in ids:
        return lines
    return [b"2 " + ids[b"1"] + b"\r\n" if line.startswith(b"2 ") else line for line in lines]


def _first_word(line):
    words = line.split(None, 1)
    return words[0].decode("ascii", "replace").upper() if words else ""
