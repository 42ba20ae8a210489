"""Connecting to real IMAP, POP3 and SMTP servers: every way it can go wrong has its own reason."""

import socket
import threading

import pytest

from mailbox.protocols import imap, pop3, smtp
from mailbox.protocols.base import (
    ConnectionProblem,
    Endpoint,
    Problem,
    Security,
    is_public_address,
)
from mailbox.testing.servers import MISMATCH_HOST, free_port
from tests.conftest import PASSWORDS

pytestmark = pytest.mark.servers

ALICE = "alice@example.com"


def endpoint(world, port_name, security, host="localhost", password=PASSWORDS["alice"], **kw):
    ports = {**world.dovecot.ports, **{f"smtp_{k}": v for k, v in world.smtp.ports.items()}}
    options = {"ca_pem": world.dovecot.ca_pem, "timeout": 3, "allow_private": True}
    options.update(kw)
    return Endpoint(host, ports[port_name], Security(security), ALICE, password, **options)


def problem_of(client, ep):
    with pytest.raises(ConnectionProblem) as caught:
        client.check_login(ep)
    return caught.value


CASES = [
    (imap, "imaps", "tls"),
    (imap, "imap", "starttls"),
    (imap, "imap", "none"),
    (pop3, "pop3s", "tls"),
    (pop3, "pop3", "starttls"),
    (pop3, "pop3", "none"),
    (smtp, "smtp_smtps", "tls"),
    (smtp, "smtp_submission", "starttls"),
    (smtp, "smtp_plain", "none"),
]


@pytest.mark.parametrize(("client", "port", "security"), CASES)
def test_it_logs_in_with_each_security(mail_world, client, port, security):
    client.check_login(endpoint(mail_world, port, security))


@pytest.mark.parametrize(("client", "port", "security"), CASES[::3] + CASES[1::3])
def test_a_wrong_password_is_named(mail_world, client, port, security):
    problem = problem_of(client, endpoint(mail_world, port, security, password="wrong"))
    assert problem.problem == Problem.AUTH_FAILED


@pytest.mark.parametrize("client", [imap, pop3, smtp])
def test_an_unknown_host_is_named(client):
    ep = Endpoint("no-such-host.invalid", 993, Security.TLS, "a", "b", timeout=3)
    assert problem_of(client, ep).problem == Problem.UNKNOWN_HOST


@pytest.mark.parametrize("client", [imap, pop3, smtp])
def test_a_closed_port_is_refused(client):
    ep = Endpoint("127.0.0.1", free_port(), Security.NONE, "a", "b", timeout=3, allow_private=True)
    assert problem_of(client, ep).problem == Problem.REFUSED


@pytest.fixture
def silent_server():
    """A server that accepts and never says a word: no real mail server can be made to do that."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.mark.parametrize("client", [imap, pop3, smtp])
def test_a_silent_server_times_out(client, silent_server):
    ep = Endpoint(
        "127.0.0.1", silent_server, Security.NONE, "a", "b", timeout=0.5, allow_private=True
    )
    assert problem_of(client, ep).problem == Problem.TIMEOUT


@pytest.mark.parametrize(
    ("client", "port"), [(imap, "imaps"), (pop3, "pop3s"), (smtp, "smtp_smtps")]
)
def test_a_certificate_from_an_unknown_authority_is_refused(mail_world, client, port):
    problem = problem_of(client, endpoint(mail_world, port, "tls", ca_pem=""))
    assert problem.problem == Problem.TLS_CERTIFICATE
    assert "local issuer" in problem.detail


@pytest.mark.parametrize(("client", "port"), [(imap, "imaps"), (pop3, "pop3s")])
def test_a_certificate_for_another_name_is_refused(mail_world, client, port):
    problem = problem_of(client, endpoint(mail_world, port, "tls", host=MISMATCH_HOST))
    assert problem.problem == Problem.TLS_CERTIFICATE
    assert "mismatch" in problem.detail


def test_starttls_upgrades_are_verified_too(mail_world):
    problem = problem_of(imap, endpoint(mail_world, "imap", "starttls", ca_pem=""))
    assert problem.problem == Problem.TLS_CERTIFICATE


def test_tls_on_a_plain_port_fails_the_handshake(mail_world):
    problem = problem_of(imap, endpoint(mail_world, "imap", "tls"))
    assert problem.problem == Problem.TLS_HANDSHAKE


def test_a_server_without_starttls_is_named(mail_world):
    problem = problem_of(smtp, endpoint(mail_world, "smtp_plain", "starttls"))
    assert problem.problem == Problem.STARTTLS_MISSING


@pytest.mark.parametrize("client", [imap, pop3, smtp])
def test_loopback_is_refused_unless_allowed(mail_world, client):
    port = {imap: "imap", pop3: "pop3", smtp: "smtp_plain"}[client]
    problem = problem_of(client, endpoint(mail_world, port, "none", allow_private=False))
    assert problem.problem == Problem.PRIVATE_HOST


PRIVATE_IPV4 = ["10.1.2.3", "192.168.1.1", "169.254.169.254", "0.0.0.0", "100.64.0.1",
                "127.0.0.1", "172.16.5.4", "224.0.0.1", "255.255.255.255"]  # fmt: skip
# IPv6 spellings that lead to one of those (or to IPv6 loopback, private, link-local): a NAT64
# gateway, a 6to4 or Teredo relay, or the kernel itself would deliver to the IPv4 address
CARRIED = [
    "::1", "fd00::1", "fe80::1%eth0",
    # IPv4-mapped and the deprecated IPv4-compatible forms, written every way
    "::ffff:127.0.0.1", "::ffff:7f00:1", "0:0:0:0:0:ffff:10.0.0.1", "::FFFF:192.168.1.1",
    "::127.0.0.1", "::7f00:1", "0:0:0:0:0:0:10.1.2.3", "::a9fe:a9fe", "::0.0.0.0",
    "::ffff:0:127.0.0.1", "::ffff:0:a00:1", "0:0:0:0:ffff:0:c0a8:101",  # SIIT's translated
    # NAT64, the well-known prefix (RFC 6052) and the local-use one (RFC 8215), even to a public
    # address: where the IPv4 address sits there depends on the operator
    "64:ff9b::127.0.0.1", "64:ff9b::7f00:1", "64:FF9B::A00:1", "64:ff9b:0:0:0:0:c0a8:101",
    "64:ff9b::169.254.169.254", "64:ff9b::6440:1", "64:ff9b::e000:1", "64:ff9b::ffff:ffff",
    "64:ff9b:1::7f00:1", "64:ff9b:1:7f:0:100::", "64:ff9b:1::808:808",
    # 6to4: the IPv4 address in bits 16-47
    "2002:7f00:1::", "2002:7f00:0001:0:0:0:0:1", "2002:a00:1::1", "2002:c0a8:101:1::1",
    "2002:a9fe:a9fe::", "2002:6440:1::", "2002:ac10:504::", "2002:ffff:ffff::", "2002::",
    # Teredo: the server in bits 32-63, the client XOR-obfuscated in the last 32 bits
    "2001:0:7f00:1::", "2001:0:a00:1:0:0:0:1", "2001:0:4136:e378:8000:63bf:80ff:fffe",
    "2001:0:4136:e378:8000:63bf:f5ff:fffe", "2001:0:4136:e378:8000:63bf:3f57:fefe",
]  # fmt: skip


@pytest.mark.parametrize("address", PRIVATE_IPV4 + CARRIED)
def test_private_addresses_are_not_public(address):
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946",
                                     "::ffff:93.184.216.34", "64:ff9b::93.184.216.34",
                                     "64:ff9b::5db8:d822", "2002:5db8:d822::1"])  # fmt: skip
def test_public_addresses_are_public(address):
    """Public servers reached through the same forms still work: an IPv6-only host with DNS64
    sees every IPv4 mail server as 64:ff9b::a.b.c.d."""
    assert is_public_address(address)


@pytest.fixture
def attempts(monkeypatch):
    """Every address our clients try to connect to; each attempt is refused at once."""
    tried = []

    def connect(sock, address):
        tried.append(address[0])
        raise ConnectionRefusedError

    monkeypatch.setattr(socket.socket, "connect", connect)
    return tried


def resolve_to(monkeypatch, *addresses):
    """DNS for the attacker's host name answers these addresses, as rebinding would."""

    def getaddrinfo(host, port, *args, **kwargs):
        assert host == "mail.attacker.example"
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))
                for address in addresses]  # fmt: skip

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize("client", [imap, pop3, smtp])
@pytest.mark.parametrize("address", ["::ffff:127.0.0.1", "::127.0.0.1", "2002:7f00:1::",
                                     "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",
                                     "2001:0:4136:e378:8000:63bf:80ff:fffe"])  # fmt: skip
def test_a_host_leading_to_loopback_is_refused_before_connecting(
    monkeypatch, attempts, client, address
):
    resolve_to(monkeypatch, address)
    ep = Endpoint("mail.attacker.example", 993, Security.NONE, "a", "b", timeout=3)
    assert problem_of(client, ep).problem == Problem.PRIVATE_HOST
    assert attempts == []  # not a byte sent, not even a SYN


def test_only_the_public_address_of_a_mixed_answer_is_tried(monkeypatch, attempts):
    resolve_to(monkeypatch, "2002:7f00:1::", "64:ff9b::a00:1", "64:ff9b::5db8:d822")
    ep = Endpoint("mail.attacker.example", 993, Security.NONE, "a", "b", timeout=3)
    assert problem_of(imap, ep).problem == Problem.REFUSED
    assert attempts == ["64:ff9b::5db8:d822"]


@pytest.mark.parametrize("host", ["::ffff:127.0.0.1", "::127.0.0.1", "2002:7f00:1::"])
def test_a_literal_address_leading_to_loopback_is_refused_unless_allowed(attempts, host):
    """Typed as the host itself (no DNS): ::ffff:127.0.0.1 reaches a server on 127.0.0.1 over
    a dual-stack socket."""
    ep = Endpoint(host, 993, Security.NONE, "a", "b", timeout=1)
    assert problem_of(imap, ep).problem == Problem.PRIVATE_HOST
    assert attempts == []
    problem_of(imap, Endpoint(host, 993, Security.NONE, "a", "b", timeout=1, allow_private=True))
    assert attempts == [host]


@pytest.mark.parametrize("client", [imap, pop3, smtp])
@pytest.mark.parametrize("bad", ["alice\r\nA1 DELETE INBOX", "alice\0", "alice\nx"])
def test_line_breaks_never_reach_the_wire(mail_world, client, bad):
    port = {imap: "imap", pop3: "pop3", smtp: "smtp_plain"}[client]
    ep = endpoint(mail_world, port, "none")
    ep = Endpoint(ep.host, ep.port, ep.security, bad, ep.password, allow_private=True, timeout=3)
    assert problem_of(client, ep).problem == Problem.BAD_INPUT


def test_the_password_never_shows_in_an_endpoint_repr():
    assert "s3cret" not in repr(Endpoint("h", 1, Security.TLS, "u", "s3cret"))
