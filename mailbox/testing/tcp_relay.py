"""A TCP relay for tests that must lose a connection: it sits between a client and a server
port, notes when each connection came, and on request cuts them or refuses new ones (a server
that went away). No Django; threads only (two per connection)."""

import contextlib
import socket
import threading
import time


class TcpRelay:
    """Listens on 127.0.0.1:``port`` and relays each connection to ``upstream_port``.

    ``arrivals``: the time.monotonic() of each connection accepted, refused ones included.
    ``refuse``: while true, a new connection is closed at once. ``cut()``: every open
    connection is closed now, as by a server that restarted."""

    def __init__(self, upstream_port, upstream_host="127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.arrivals, self.refuse = [], False
        self._open, self._lock = set(), threading.Lock()
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
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    def _pipe(self, source, target):
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            self._close(source, target)

    def _close(self, *sockets):
        with self._lock:
            for sock in sockets:
                self._open.discard(sock)
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
