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


# IPv6 forms that carry an IPv4 address in their last 32 bits: the deprecated IPv4-compatible
# ::a.b.c.d (RFC 4291 2.5.5.1), SIIT's IPv4-translated ::ffff:0:a.b.c.d (RFC 2765) and the
# NAT64 well-known prefix (RFC 6052), which DNS64 gives an IPv6-only host for every IPv4
# server, so that a public one must still work. (IPv4-mapped ::ffff:a.b.c.d is a plain IPv4
# connection: is_public_address judges it first.)
LAST_32_BITS = tuple(
    ipaddress.IPv6Network(prefix) for prefix in ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96")
)
# Local-use NAT64 (RFC 8215): where the IPv4 address sits depends on the operator's prefix
# length, and IANA lists the block as not globally reachable: refused whole.
NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


def is_public_address(address):
    """Whether we may connect to ``address``: globally reachable and not multicast, and so is
    every IPv4 address it carries (IPv4-compatible or -translated, NAT64, 6to4, Teredo), since
    a gateway or a tunnel would deliver to that IPv4 address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        return _is_public(ip)
    if ip.ipv4_mapped:  # a plain IPv4 connection: only that address counts
        return _is_public(ip.ipv4_mapped)
    if ip in NAT64_LOCAL:
        return False
    return _is_public(ip) and all(_is_public(carried) for carried in _carried_ipv4(ip))


def _is_public(ip):
    return ip.is_global and not ip.is_multicast


def _carried_ipv4(ip):
    """The IPv4 addresses an IPv6 address leads to. Teredo's are its server and its client (the
    client XOR-obfuscated; ``teredo`` undoes it)."""
    if any(ip in network for network in LAST_32_BITS):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip.sixtofour:
        return [ip.sixtofour]
    return list(ip.teredo or ())


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
