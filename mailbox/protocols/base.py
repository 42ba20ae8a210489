"""What the IMAP, POP3 and SMTP clients share: endpoints, the guarded connect, TLS, errors.

No Django here: plain pytest loads this module. Every client of ours opens its TCP connection
through :func:`open_socket`, which applies the private-address policy to the address it really
connects to (not to a name resolved earlier), and wraps TLS through :func:`tls_context`, which
always verifies. Python 3.11's imaplib/poplib/smtplib verify nothing unless given such a context.
"""

import contextlib
import enum
import errno
import ipaddress
import socket
import ssl
from dataclasses import dataclass


class Security(enum.StrEnum):
    TLS = "tls"  # implicit TLS: 993, 995, 465
    STARTTLS = "starttls"  # plain connect, then upgrade: 143, 110, 587
    NONE = "none"


class Problem(enum.StrEnum):
    """Why a connection failed; the web layer turns each into a sentence that says what to do."""

    UNKNOWN_HOST = "unknown_host"
    PRIVATE_HOST = "private_host"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    TLS_CERTIFICATE = "tls_certificate"
    TLS_HANDSHAKE = "tls_handshake"
    STARTTLS_MISSING = "starttls_missing"
    AUTH_FAILED = "auth_failed"
    AUTH_UNSUPPORTED = "auth_unsupported"
    PROTOCOL = "protocol"
    BAD_INPUT = "bad_input"
    PASSWORD_NEEDED = "password_needed"  # the server changed since its password was typed
    STORAGE = "storage"  # mail kept here could not be read or written (disk, storage service)


class ConnectionProblem(Exception):
    def __init__(self, problem, detail=""):
        super().__init__(f"{problem}: {detail}" if detail else str(problem))
        self.problem = Problem(problem)
        self.detail = detail


class ServerRefused(ConnectionProblem):
    """The server refused a command (IMAP NO or BAD, POP3 -ERR); ``text`` is what it said."""

    def __init__(self, command, text, detail=None):
        super().__init__(Problem.PROTOCOL, detail or f"{command}: {text}")
        self.command, self.text = command, text


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    security: Security
    username: str = ""
    password: str = ""
    ca_pem: str = ""  # PEM of the CA(s) to trust instead of the system's; "" = system trust store
    timeout: float = 15.0
    allow_private: bool = False

    def __repr__(self):  # never show the password, even in a traceback
        return f"Endpoint({self.host!r}, {self.port}, {self.security!s}, user={self.username!r})"


# NUL and every line break str.splitlines() splits on: each would end or split a command line
# somewhere (ours, a server's, a proxy's)
FORBIDDEN_CHARACTERS = frozenset("\r\n\0\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def check_wire_text(value, what="value"):
    """Refuse FORBIDDEN_CHARACTERS in ``value`` before anything is sent: ConnectionProblem
    (BAD_INPUT). Returns ``value``."""
    if not FORBIDDEN_CHARACTERS.isdisjoint(value):
        raise ConnectionProblem(Problem.BAD_INPUT, f"{what} contains a line break or NUL")
    return value


def is_public_address(address):
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def tls_context(ca_pem=""):
    """A verifying client context; with ``ca_pem`` that CA is trusted instead of the system's."""
    context = ssl.create_default_context(cadata=ca_pem or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def open_socket(endpoint):
    """Resolve, apply the address policy, connect to the first permitted address that answers."""
    check_wire_text(endpoint.host, "host")
    try:
        infos = socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ConnectionProblem(Problem.UNKNOWN_HOST, str(exc)) from exc
    allowed = [info for info in infos if endpoint.allow_private or is_public_address(info[4][0])]
    if not allowed:
        raise ConnectionProblem(Problem.PRIVATE_HOST, infos[0][4][0])
    last_error = None
    for family, kind, proto, _name, address in allowed:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(endpoint.timeout)
        try:
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last_error = exc
    raise last_error


@contextlib.contextmanager
def translated_errors():
    """Turn socket and TLS exceptions into a :class:`ConnectionProblem`."""
    try:
        yield
    except ConnectionProblem:
        raise
    except ssl.SSLCertVerificationError as exc:
        raise ConnectionProblem(Problem.TLS_CERTIFICATE, exc.verify_message or str(exc)) from exc
    except ssl.SSLError as exc:
        raise ConnectionProblem(Problem.TLS_HANDSHAKE, exc.reason or str(exc)) from exc
    except TimeoutError as exc:
        raise ConnectionProblem(Problem.TIMEOUT, str(exc)) from exc
    except ConnectionRefusedError as exc:
        raise ConnectionProblem(Problem.REFUSED, str(exc)) from exc
    except (ConnectionResetError, BrokenPipeError, EOFError) as exc:
        raise ConnectionProblem(Problem.PROTOCOL, "the server closed the connection") from exc
    except OSError as exc:
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            raise ConnectionProblem(Problem.UNREACHABLE, str(exc)) from exc
        raise ConnectionProblem(Problem.PROTOCOL, str(exc)) from exc


def as_text(reply):
    if isinstance(reply, bytes | bytearray):
        return reply.decode("utf-8", "replace")
    if isinstance(reply, list | tuple):
        return " ".join(as_text(part) for part in reply)
    return str(reply)
