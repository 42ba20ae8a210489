"""POP3 against the real Dovecot: Carol logs in each way, reads her mail byte for byte and deletes
it only when she says QUIT. Through the fault-injecting proxy, her server lacks UIDL or TOP, or
drops the connection half way through an answer, and she is told instead of being handed half a
message."""

import base64
import hashlib
import io
import tracemalloc
import uuid

import pytest

from mailbox.protocols import imap, pop3
from mailbox.protocols.base import ConnectionProblem, Endpoint, Problem, Security
from mailbox.protocols.pop3 import Pop3Error
from mailbox.testing.pop3_proxy import Pop3Proxy

pytestmark = pytest.mark.servers

PASSWORD = "carol-pop-pw"
NON_ASCII_PASSWORD = "pässwörd-€-日本"


@pytest.fixture
def carol(mail_world):
    """A fresh mailbox for each test, so that no test sees another's mail."""
    return mail_world.dovecot.add_user(f"carol{uuid.uuid4().hex[:12]}", PASSWORD)


@pytest.fixture
def proxy_for(mail_world):
    """Makes proxies in front of Dovecot's plain POP3 port; all are stopped after the test."""
    proxies = []

    def make(**options):
        proxies.append(Pop3Proxy(mail_world.dovecot.ports["pop3"], **options).start())
        return proxies[-1]

    yield make
    for proxy in proxies:
        proxy.stop()


def endpoint(world, address, port="pop3", security="none", password=PASSWORD, **options):
    options = {"ca_pem": world.dovecot.ca_pem, "timeout": 10, "allow_private": True, **options}
    port = world.dovecot.ports[port] if isinstance(port, str) else port
    return Endpoint("localhost", port, Security(security), address, password, **options)


def through(proxy, address, password=PASSWORD):
    """Plain POP3 through ``proxy`` (it cannot relay TLS it would have to read)."""
    port = proxy.port
    return Endpoint("127.0.0.1", port, Security.NONE, address, password, allow_private=True)


def message(subject, body_lines=(b"Hello Carol.",)):
    head = [b"From: Dave <dave@example.org>", b"To: carol@example.com", b"Subject: " + subject]
    return b"\r\n".join([*head, b"", *body_lines]) + b"\r\n"


def stored(world, address, number=1):
    """The message as Dovecot stored it, by IMAP BODY.PEEK[] (with the headers LMTP added)."""
    port = world.dovecot.ports["imap"]
    client = imap.connect(
        Endpoint("127.0.0.1", port, Security.NONE, address, PASSWORD, allow_private=True)
    )
    try:
        client.select("INBOX", readonly=True)
        _status, data = client.fetch(str(number), "(BODY.PEEK[])")
        return data[0][1]
    finally:
        client.logout()


def retrieved(session, number=1):
    out = io.BytesIO()
    written = session.retr_to(number, out)
    assert written == len(out.getvalue())
    return out.getvalue()


def count_on_server(world, address):
    with pop3.open_session(endpoint(world, address)) as session:
        return session.stat()[0]


# --- logging in ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("port", "security"), [("pop3", "none"), ("pop3", "starttls"), ("pop3s", "tls")]
)
def test_carol_logs_in_with_each_security(mail_world, carol, port, security):
    mail_world.dovecot.deliver(carol, message(b"one"))
    trace = []
    with pop3.open_session(endpoint(mail_world, carol, port, security), trace=trace.append) as s:
        assert s.stat()[0] == 1
        assert "UIDL" in s.capabilities  # the CAPA after login, not the one before
        assert "SASL" not in s.capabilities
    assert ("C: STLS" in trace) == (security == "starttls")
    assert "S: +OK Logged in." in trace


def test_the_starttls_upgrade_is_verified(mail_world, carol):
    ep = endpoint(mail_world, carol, "pop3", "starttls", ca_pem="")
    with pytest.raises(ConnectionProblem) as caught:
        pop3.open_session(ep)
    assert caught.value.problem == Problem.TLS_CERTIFICATE


def test_a_server_without_stls_is_named(mail_world, carol, proxy_for):
    proxy = proxy_for(hide=("STLS",))
    ep = endpoint(mail_world, carol, proxy.port, "starttls")
    with pytest.raises(ConnectionProblem) as caught:
        pop3.open_session(ep)
    assert caught.value.problem == Problem.STARTTLS_MISSING
    proxy.wait_closed()
    assert proxy.commands == ["CAPA"]  # no credentials sent in clear


# The three ways to send a password: SASL PLAIN with the initial response (Dovecot's CAPA offers
# SASL PLAIN), the "+" continuation form when the server refuses the initial response, and
# USER/PASS when CAPA offers no SASL. Each says, in the trace, which one was taken.
LOGIN_PATHS = {
    "sasl-ir": ({}, ["C: AUTH PLAIN ***"]),
    "sasl-continuation": (
        {"refuse_initial_response": True},
        ["C: AUTH PLAIN ***", "C: AUTH PLAIN", "C: ***"],
    ),
    "user-pass": ({"hide": ("SASL",)}, ["C: USER {user}", "C: PASS ***"]),
}


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_a_non_ascii_password_logs_in_each_way(mail_world, proxy_for, path):
    options, expected = LOGIN_PATHS[path]
    address = mail_world.dovecot.add_user(f"dora{uuid.uuid4().hex[:12]}", NON_ASCII_PASSWORD)
    proxy = proxy_for(**options)
    trace = []
    ep = through(proxy, address, NON_ASCII_PASSWORD)
    with pop3.open_session(ep, trace=trace.append) as session:
        assert session.stat() == (0, 0)
    sent = [line for line in trace if line.startswith(("C: AUTH", "C: USER", "C: PASS", "C: *"))]
    assert sent == [line.format(user=address) for line in expected]


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_the_password_never_shows_in_the_trace_nor_the_proxy_log(mail_world, proxy_for, path):
    address = mail_world.dovecot.add_user(f"dora{uuid.uuid4().hex[:12]}", NON_ASCII_PASSWORD)
    proxy = proxy_for(**LOGIN_PATHS[path][0])
    trace = []
    with pop3.open_session(through(proxy, address, NON_ASCII_PASSWORD), trace=trace.append):
        pass
    proxy.wait_closed()
    everything = "\n".join(trace + proxy.commands)
    assert "***" in everything
    assert NON_ASCII_PASSWORD not in everything
    plain = base64.b64encode(f"\0{address}\0{NON_ASCII_PASSWORD}".encode()).decode()
    assert plain not in everything


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_a_wrong_password_is_named_each_way(mail_world, carol, proxy_for, path):
    proxy = proxy_for(**LOGIN_PATHS[path][0])
    with pytest.raises(ConnectionProblem) as caught:
        pop3.open_session(through(proxy, carol, "wrong"))
    assert caught.value.problem == Problem.AUTH_FAILED
    assert "Authentication failed" in caught.value.detail  # the server's own words


def test_a_wrong_password_is_named_over_tls(mail_world, carol):
    with pytest.raises(ConnectionProblem) as caught:
        pop3.open_session(endpoint(mail_world, carol, "pop3s", "tls", password="wrong"))
    assert caught.value.problem == Problem.AUTH_FAILED


BREAKS = ["\r\n", "\r", "\n", "\0", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028",
          "\u2029"]  # fmt: skip


@pytest.mark.parametrize("bad", BREAKS, ids=lambda b: "CRLF" if b == "\r\n" else f"U+{ord(b):04X}")
@pytest.mark.parametrize("field", ["username", "password"])
def test_line_breaks_in_credentials_never_reach_the_server(mail_world, proxy_for, bad, field):
    proxy = proxy_for(hide=("SASL",))  # USER/PASS: the credentials would go as they are
    user, password = "carol", PASSWORD
    if field == "username":
        user = f"carol{bad}DELE 1"
    else:
        password = f"pw{bad}DELE 1"
    trace = []
    with pytest.raises(ConnectionProblem) as caught:
        pop3.open_session(through(proxy, user, password), trace=trace.append)
    assert caught.value.problem == Problem.BAD_INPUT
    proxy.wait_closed()
    assert proxy.commands == ["CAPA"]
    assert [line for line in trace if line.startswith("C: ")] == ["C: CAPA"]


# --- reading ------------------------------------------------------------------------------------


def test_stat_uidl_and_list_describe_the_maildrop(mail_world, carol):
    for size in (10, 1000, 5000):
        mail_world.dovecot.deliver(carol, message(b"n", [b"x" * size]))
    with pop3.open_session(endpoint(mail_world, carol)) as session:
        sizes = session.list_sizes()
        uids = session.uidl()
        assert session.stat() == (3, sum(sizes.values()))
        assert sorted(sizes) == sorted(uids) == [1, 2, 3]
        assert sizes[1] < sizes[2] < sizes[3]
        assert len(set(uids.values())) == 3
        assert [len(retrieved(session, n)) for n in (1, 2, 3)] == [sizes[1], sizes[2], sizes[3]]
    with pop3.open_session(endpoint(mail_world, carol)) as session:
        assert session.uidl() == uids  # unique ids survive sessions: they key what we fetched


def test_retr_gives_the_message_byte_for_byte(mail_world, carol):
    piece = pop3.PIECE
    # one ~200 KB line without a leading dot, but with a "." at each place a bounded reader cuts
    # it: a piece starting with "." mid-line is data, and its last piece is exactly ".\r\n"
    long_line = bytearray(b"y" * (3 * piece + 1))
    for offset in range(piece, len(long_line), piece):
        long_line[offset] = ord(".")
    dots = [b".", b"..", b".leading dot", b"..two dots", b" .", b"."]
    raw = message(b"dots", [*dots, bytes(long_line), b"." * 100, b"end"])
    mail_world.dovecot.deliver(carol, raw)
    with pop3.open_session(endpoint(mail_world, carol)) as session:
        got = retrieved(session)
        size = session.list_sizes()[1]
    assert got == stored(mail_world, carol)
    assert got.endswith(raw)
    assert len(got) == size


def test_a_20_mb_message_streams_in_bounded_memory(mail_world, carol):
    lines = [b"%08d " % n + b"m" * 70 for n in range(260_000)]
    mail_world.dovecot.deliver(carol, message(b"big", lines))
    del lines

    class Digest:
        def __init__(self):
            self.sha, self.size = hashlib.sha256(), 0

        def write(self, data):
            self.sha.update(data)
            self.size += len(data)

    out = Digest()
    with pop3.open_session(endpoint(mail_world, carol)) as session:
        size = session.list_sizes()[1]
        tracemalloc.start()
        try:
            written = session.retr_to(1, out)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert size > 20_000_000
    assert written == out.size == size
    assert peak < 2_000_000, f"peak {peak} bytes for a {size}-byte message"
    assert out.sha.hexdigest() == hashlib.sha256(stored(mail_world, carol)).hexdigest()


def test_top_gives_the_header_within_its_limit(mail_world, carol):
    mail_world.dovecot.deliver(carol, message(b"top", [b"first", b"second", b"third"]))
    with pop3.open_session(endpoint(mail_world, carol)) as session:
        header = session.top(1)
        assert header.endswith(b"Subject: top\r\n\r\n")
        assert session.top(1, 1).endswith(b"\r\n\r\nfirst\r\n")
        assert session.top(1, 100, limit=20) == header[:20]
        assert session.stat()[0] == 1  # the rest of the cut answer was read: still in step


def test_an_err_answer_is_named_and_leaves_the_session_usable(mail_world, carol):
    mail_world.dovecot.deliver(carol, message(b"one"))
    with pop3.open_session(endpoint(mail_world, carol)) as session:
        with pytest.raises(Pop3Error) as caught:
            session.retr_to(7, io.BytesIO())
        assert caught.value.command == "RETR"
        assert "no message 7" in caught.value.text.lower()
        assert caught.value.problem == Problem.PROTOCOL
        session.noop()
        assert retrieved(session).endswith(message(b"one"))


@pytest.mark.parametrize("number", [0, -1, True, "1\r\nDELE 1", 1.0])
def test_a_message_number_is_checked_before_sending(mail_world, carol, number):
    trace = []
    with pop3.open_session(endpoint(mail_world, carol), trace=trace.append) as session:
        sent = len(trace)
        with pytest.raises(ConnectionProblem) as caught:
            session.dele(number)
        assert caught.value.problem == Problem.BAD_INPUT
        assert len(trace) == sent
        session.noop()  # nothing was sent: the session is still in step


def test_a_failing_output_file_raises_its_own_error(mail_world, carol):
    mail_world.dovecot.deliver(carol, message(b"one"))

    class Full:
        def write(self, data):
            raise OSError(28, "No space left on device")

    with pop3.open_session(endpoint(mail_world, carol)) as session:
        with pytest.raises(OSError) as caught:
            session.retr_to(1, Full())
        assert not isinstance(caught.value, ConnectionProblem)
        with pytest.raises(ConnectionProblem):  # half an answer is unread: never used again
            session.noop()


# --- deleting -----------------------------------------------------------------------------------


def test_dele_then_quit_removes_the_message(mail_world, carol):
    for subject in (b"one", b"two"):
        mail_world.dovecot.deliver(carol, message(subject))
    session = pop3.open_session(endpoint(mail_world, carol))
    session.dele(1)
    session.quit()
    assert count_on_server(mail_world, carol) == 1


def test_dele_without_quit_removes_nothing(mail_world, carol):
    mail_world.dovecot.deliver(carol, message(b"one"))
    with pop3.open_session(endpoint(mail_world, carol)) as session:
        session.dele(1)
    session = pop3.open_session(endpoint(mail_world, carol))
    session.dele(1)
    session.close()
    assert count_on_server(mail_world, carol) == 1


def test_rset_unmarks(mail_world, carol):
    mail_world.dovecot.deliver(carol, message(b"one"))
    session = pop3.open_session(endpoint(mail_world, carol))
    session.dele(1)
    session.rset()
    session.quit()
    assert count_on_server(mail_world, carol) == 1


def test_a_quit_whose_answer_is_lost_raises(mail_world, carol, proxy_for):
    mail_world.dovecot.deliver(carol, message(b"one"))
    proxy = proxy_for()
    proxy.drop_on("QUIT", after_bytes=0)
    session = pop3.open_session(through(proxy, carol))
    session.dele(1)
    with pytest.raises(ConnectionProblem) as caught:
        session.quit()
    assert caught.value.problem == Problem.PROTOCOL
    assert not isinstance(caught.value, Pop3Error)


# --- servers without UIDL or TOP ----------------------------------------------------------------


def test_without_uidl_in_capa_uidl_is_none(mail_world, carol, proxy_for):
    mail_world.dovecot.deliver(carol, message(b"one"))
    proxy = proxy_for(hide_uidl=True)
    with pop3.open_session(through(proxy, carol)) as session:
        assert "UIDL" not in session.capabilities
        assert session.uidl() is None
        assert session.list_sizes().keys() == {1}
    proxy.wait_closed()
    assert "UIDL" not in proxy.commands  # CAPA said so: not even asked


def test_without_capa_an_err_to_uidl_means_none(mail_world, carol, proxy_for):
    mail_world.dovecot.deliver(carol, message(b"one"))
    proxy = proxy_for(hide=("CAPA",), hide_uidl=True)
    with pop3.open_session(through(proxy, carol)) as session:
        assert session.capabilities == {}
        assert session.uidl() is None
        session.noop()
    proxy.wait_closed()
    assert "UIDL" in proxy.commands


def test_without_top_top_is_none(mail_world, carol, proxy_for):
    mail_world.dovecot.deliver(carol, message(b"one"))
    for options in ({"hide_top": True}, {"hide_top": True, "hide": ("CAPA",)}):
        proxy = proxy_for(**options)
        with pop3.open_session(through(proxy, carol)) as session:
            assert session.top(1) is None
            session.noop()


# --- connections that drop half way -------------------------------------------------------------


def _status_bytes(trace, command):
    """The length on the wire of the status line that answered ``command`` in ``trace``."""
    return len(trace[trace.index(f"C: {command}") + 1][3:].encode()) + 2


@pytest.mark.parametrize("cut", ["status", "mid-message", "all-but-the-final-dot"])
def test_a_connection_dropped_mid_retr_raises(mail_world, carol, proxy_for, cut):
    body = [b"line %05d of a long message" % n for n in range(4000)]
    mail_world.dovecot.deliver(carol, message(b"long", body))
    trace = []
    with pop3.open_session(endpoint(mail_world, carol), trace=trace.append) as session:
        whole = retrieved(session)
    status = _status_bytes(trace, "RETR 1")
    cuts = {"status": 0, "mid-message": 50_000, "all-but-the-final-dot": len(whole)}
    after = status + cuts[cut]
    proxy = proxy_for()
    proxy.drop_on("RETR 1", after_bytes=after)
    out = io.BytesIO()
    with pop3.open_session(through(proxy, carol)) as session:
        with pytest.raises(ConnectionProblem) as caught:
            session.retr_to(1, out)
        assert caught.value.problem == Problem.PROTOCOL
        assert whole.startswith(out.getvalue())  # never a whole message, nor a made-up one
        assert len(out.getvalue()) <= after - status
        with pytest.raises(ConnectionProblem):
            session.noop()


@pytest.mark.parametrize("cut", ["mid-line", "all-but-the-final-dot"])
def test_a_connection_dropped_mid_uidl_raises(mail_world, carol, proxy_for, cut):
    for subject in (b"one", b"two", b"three"):
        mail_world.dovecot.deliver(carol, message(subject))
    trace = []
    with pop3.open_session(endpoint(mail_world, carol), trace=trace.append) as session:
        uids = session.uidl()
    listing = sum(len(f"{n} {uid}\r\n") for n, uid in uids.items())
    status = _status_bytes(trace, "UIDL")
    proxy = proxy_for()
    proxy.drop_on("UIDL", after_bytes=status + (listing - 4 if cut == "mid-line" else listing))
    with pop3.open_session(through(proxy, carol)) as session:
        with pytest.raises(ConnectionProblem) as caught:
            session.uidl()
        assert caught.value.problem == Problem.PROTOCOL


def test_a_drop_before_the_command_is_forwarded_raises(mail_world, carol, proxy_for):
    mail_world.dovecot.deliver(carol, message(b"one"))
    proxy = proxy_for()
    proxy.drop_on("DELE", forward=False)
    with pop3.open_session(through(proxy, carol)) as session, pytest.raises(ConnectionProblem):
        session.dele(1)
    with pop3.open_session(through(proxy, carol)) as session:  # the fault is spent
        session.dele(1)
        session.quit()
    assert count_on_server(mail_world, carol) == 0


class _Pieces:
    """A connection that hands over its bytes in pieces of the given sizes, in turn."""

    def __init__(self, data, sizes):
        self.data, self.sizes, self.turn = data, sizes, 0

    def peek(self, _limit):
        """What has arrived: the next piece (again, until it is read)."""
        if self.turn % 2 == 0:
            self.piece = self.data[: self.sizes[self.turn // 2 % len(self.sizes)]]
            self.turn += 1
        return self.piece

    def read(self, size):
        assert size <= len(self.piece)
        taken, self.data = self.data[:size], self.data[size:]
        self.turn += 1
        return taken


def _stuffed(lines):
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines)


@pytest.mark.parametrize("seed", range(40))
def test_dot_stuffing_is_undone_whatever_the_pieces(seed):
    """However the bytes arrive (1 byte at a time, or cut just before or inside a CRLF "."),
    the data is the lines as sent, and nothing after the final line is read as data."""
    import random

    rng = random.Random(seed)
    alphabet = [b".", b"..", b".\r", b"x", b"\r", b" ", b"\n."]
    lines = [b"".join(rng.choice(alphabet) for _ in range(rng.randrange(6))).replace(b"\r\n", b"")
             for _ in range(rng.randrange(1, 30))]  # fmt: skip
    lines = [line.replace(b"\n", b"") for line in lines]
    wire = _stuffed(lines) + b".\r\n" + b"+OK the next answer\r\n"
    session = pop3.Pop3Session.__new__(pop3.Pop3Session)
    session._file = _Pieces(wire, [rng.randrange(1, 7) for _ in range(5)])
    out = io.BytesIO()
    assert session._copy_data(out) == len(b"".join(line + b"\r\n" for line in lines))
    assert out.getvalue() == b"".join(line + b"\r\n" for line in lines)
    assert session._file.data == b"+OK the next answer\r\n"  # left for the next read


def test_a_connection_that_ends_before_the_final_line_is_an_error():
    session = pop3.Pop3Session.__new__(pop3.Pop3Session)
    session._file = _Pieces(b"line one\r\n.\r", [3])
    with pytest.raises(ConnectionProblem):
        session._copy_data(io.BytesIO())
