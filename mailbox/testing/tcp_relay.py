"""A TCP relay for tests that must lose a connection: it sits between a client and a server
port, notes when each connection came, and on request cuts them, refuses new ones (a server
that went away) or lets one go silent in the middle of a command (a peer that hangs). No
Django; threads only (two per connection)."""

import contextlib
import socket
import threading
import time


class TcpRelay:
    """Listens on 127.0.0.1:``port`` and relays each connection to ``upstream_port``.

    ``arrivals``: the time.monotonic() of each connection accepted, refused ones included.
    ``refuse``: while true, a new connection is closed at once. ``cut()``: every open
    connection is closed now, as by a server that restarted. ``hold_at()``: one connection goes
    silent after a given command. ``upstream_bytes``: bytes relayed from the server so far."""

    def __init__(self, upstream_port, upstream_host="127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.arrivals, self.refuse = [], False
        self.upstream_bytes = 0
        self._open, self._lock = set(), threading.Lock()
        self._hold, self._silent = None, set()
        threading.Thread(target=self._accept, name="relay-accept", daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _address = self.listener.accept()
            except OSError:
                return  # closed
            self.arrivals.append(time.monotonic())
            if self.refuse:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._open.update((client, server))
            for source, target, from_client in ((client, server, True), (server, client, False)):
                args = (source, target, from_client)
                threading.Thread(target=self._pipe, args=args, daemon=True).start()

    def hold_at(self, pattern, forward=True):
        """The next connection whose client sends ``pattern`` (bytes, within one read) goes
        silent there: that read is passed on to the server (``forward``) or dropped, then
        nothing more passes either way until ``cut()``, as with a peer that hangs in the middle
        of a command. Returns a threading.Event set at that moment."""
        held = threading.Event()
        self._hold = (pattern, forward, held)
        return held

    def _holds(self, data, source, target):
        hold = self._hold
        if hold is None or hold[0] not in data:
            return False
        self._hold = None
        pattern, forward, held = hold
        if forward:
            target.sendall(data)
        self._silent.update((source, target))
        held.set()
        return True

    def _pipe(self, source, target, from_client):
        try:
            while data := source.recv(65536):
                if from_client and self._holds(data, source, target):
                    continue
                if source in self._silent:
                    continue  # a silent connection: what comes is dropped
                if not from_client:
                    self.upstream_bytes += len(data)
                target.sendall(data)
        except OSError:
            pass
        finally:
            self._close(source, target)

    def _close(self, *sockets):
        with self._lock:
            for sock in sockets:
                self._open.discard(sock)
                self._silent.discard(sock)
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def cut(self):
        with self._lock:
            sockets = list(self._open)
        self._close(*sockets)

    def close(self):
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        self.listener.close()
        self.cut()
