"""Connecting to real IMAP, POP3 and SMTP servers: every way it can go wrong has its own reason."""

import socket
import threading

import pytest

from mailbox.protocols import imap, pop3, smtp
from mailbox.protocols.base import ConnectionProblem, Endpoint, Problem, Security
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


@pytest.mark.parametrize("address", ["10.1.2.3", "192.168.1.1", "169.254.169.254", "::1", "fd00::1",
                                     "::ffff:127.0.0.1", "0.0.0.0", "100.64.0.1"])  # fmt: skip
def test_private_addresses_are_not_public(address):
    from mailbox.protocols.base import is_public_address

    assert not is_public_address(address)


def test_public_addresses_are_public():
    from mailbox.protocols.base import is_public_address

    assert is_public_address("93.184.216.34")
    assert is_public_address("2606:2800:220:1:248:1893:25c8:1946")


@pytest.mark.parametrize("client", [imap, pop3, smtp])
@pytest.mark.parametrize("bad", ["alice\r\nA1 DELETE INBOX", "alice\0", "alice\nx"])
def test_line_breaks_never_reach_the_wire(mail_world, client, bad):
    port = {imap: "imap", pop3: "pop3", smtp: "smtp_plain"}[client]
    ep = endpoint(mail_world, port, "none")
    ep = Endpoint(ep.host, ep.port, ep.security, bad, ep.password, allow_private=True, timeout=3)
    assert problem_of(client, ep).problem == Problem.BAD_INPUT


def test_the_password_never_shows_in_an_endpoint_repr():
    assert "s3cret" not in repr(Endpoint("h", 1, Security.TLS, "u", "s3cret"))
