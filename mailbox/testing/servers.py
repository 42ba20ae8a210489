"""A private mail server for the tests and `make demo`: Dovecot (IMAP, POP3, LMTP) and an SMTP
server (aiosmtpd) that delivers into it over LMTP. No Django here.

Everything lives in one state directory; ports are free ones picked at start. TLS uses a throwaway
CA made here: clients trust ``ca_pem`` explicitly, verification is never turned off. The Dovecot
configuration follows ``shared/reference/dovecot.conf``; see there for why each setting is there.
"""

import contextlib
import datetime
import logging
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, TLSSetupException
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

logger = logging.getLogger(__name__)
DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
MAIL_UID = 8  # Debian's 'mail' user: Dovecot stores the mail as that user when started as root
MISMATCH_HOST = "127.0.0.2"  # loopback, but not in the certificate: a hostname mismatch


def stop_process(process, timeout=10):
    """Terminate ``process`` (a Popen, or None) and wait for it; kill it past ``timeout`` s."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port(host="127.0.0.1"):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(port, host="127.0.0.1", timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# --- a throwaway certificate authority ---------------------------------------------------------


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def make_certificates(directory, names=("localhost",), addresses=("127.0.0.1",)):
    """A CA and a server certificate it signs; returns (ca_pem, cert_path, key_path)."""
    import ipaddress

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Webmail test CA"))
        .issuer_name(_name("Webmail test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names = [x509.DNSName(n) for n in names] + [
        x509.IPAddress(ipaddress.ip_address(a)) for a in addresses
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_text(_pem(cert))
    key_path.write_text(_key_pem(key))
    key_path.chmod(0o600)
    (directory / "ca.crt").write_text(_pem(ca))
    return _pem(ca), cert_path, key_path


# --- Dovecot -----------------------------------------------------------------------------------

DOVECOT_CONF = """\
protocols = imap pop3 lmtp
listen = 127.0.0.1, {mismatch_host}
base_dir = {state}/run
state_dir = {state}/state
log_path = {state}/log/dovecot.log
info_log_path = {state}/log/dovecot.log
default_internal_user = dovecot
default_login_user = dovenull
ssl = yes
ssl_cert = <{state}/certs/server.crt
ssl_key = <{state}/certs/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
# no per-IP penalty after a wrong password: every test comes from 127.0.0.1, and one test's wrong
# password would slow the next test's login by seconds
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
passdb {{
  driver = passwd-file
  # one file per user: Dovecot looks at a passwd-file at most once a second, so users added
  # to a single file in quick succession would stay unknown for up to a second
  args = scheme=PLAIN username_format=%n {state}/users/%n
}}
userdb {{
  driver = static
  args = uid={uid} gid={uid} home={state}/mail/%n
}}
first_valid_uid = {uid}
first_valid_gid = {uid}
mail_location = {mail_location}
# Only this Dovecot touches its Maildirs (deliveries come over LMTP), so it need not rescan cur/
# on every SELECT: with 100,000 messages that rescan costs ~0.4 s a SELECT.
maildir_very_dirty_syncs = yes
mail_max_userip_connections = 200
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = subscribe
  }}
  mailbox Archive {{
    special_use = \\Archive
    auto = subscribe
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = {pop3s}
    ssl = yes
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0666
  }}
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
protocol lmtp {{
  auth_username_format = %Ln
}}
"""


@dataclass
class Dovecot:
    state: Path | None = None  # None: a new temp dir, removed on stop
    domain: str = "example.com"
    ports: dict = field(default_factory=dict)
    ca_pem: str = ""
    process: subprocess.Popen | None = None
    # Maildir by default; the sync benchmark uses mdbox, the format large installations use
    mail_location: str = "maildir:~/Maildir"

    host = "127.0.0.1"

    def start(self):
        if not os.path.exists(DOVECOT):
            raise RuntimeError(
                "Dovecot is not installed: apt-get install dovecot-imapd dovecot-pop3d "
                "dovecot-lmtpd (`make test` does it)"
            )
        if self.state is None:
            # under the temp dir: Dovecot's unprivileged processes must reach it, which a path
            # under a 0700 home or pytest's 0700 basetemp would not allow
            self.state = Path(tempfile.mkdtemp(prefix="webmail-dovecot-"))
            self._owns_state = True
        self.state = Path(self.state)
        for sub in ("run", "state", "log", "mail"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        self.state.chmod(0o755)  # the mail processes run as uid 8 and must reach mail/
        if os.geteuid() == 0:
            os.chown(self.state / "mail", MAIL_UID, MAIL_UID)
        self.ca_pem, _, _ = make_certificates(self.state / "certs")
        (self.state / "users").mkdir(exist_ok=True)
        names = ("imap", "imaps", "pop3", "pop3s", "lmtp")
        self.ports = {name: free_port() for name in names}
        config = self.state / "dovecot.conf"
        config.write_text(
            DOVECOT_CONF.format(
                state=self.state,
                uid=MAIL_UID,
                mismatch_host=MISMATCH_HOST,
                mail_location=self.mail_location,
                **self.ports,
            )
        )
        self._launch()
        return self

    def _launch(self):
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.state / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=open(self.state / "log" / "stderr.log", "ab"),  # noqa: SIM115
        )
        try:
            for port in self.ports.values():
                wait_for_port(port)
        except OSError as exc:
            self.stop()
            log = (self.state / "log" / "stderr.log").read_text()[-2000:]
            raise RuntimeError(f"Dovecot did not start: {log}") from exc

    def restart(self):
        """Stop the server and start it again on the same ports with the same mail, as an
        administrator's restart does: every open connection is closed (its processes too: a
        logged-in imap process outlives the master stopped alone)."""
        for pid in _children(self.process.pid):  # first, so that connections go at once
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.terminate()
        self.process.wait(10)
        self._launch()

    def stop(self):
        stop_process(self.process)
        if getattr(self, "_owns_state", False):
            shutil.rmtree(self.state, ignore_errors=True)

    def add_user(self, name, password):
        """A mail user ``name@domain``; Dovecot re-reads the passwd-file by itself."""
        if any(c in name + password for c in ":\r\n\0"):
            raise ValueError("a test user name or password may not contain ':' or line breaks")
        if "/" in name or name.startswith("."):
            raise ValueError("a test user name is a plain name")
        (self.state / "users" / name).write_text(f"{name}:{{PLAIN}}{password}\n")
        return f"{name}@{self.domain}"

    def check_password(self, login, password):
        path = self.state / "users" / login.split("@", 1)[0]
        if "/" in login or not path.is_file():
            return False
        return path.read_text().strip() == f"{path.name}:{{PLAIN}}{password}"

    def has_user(self, address):
        """Whether ``address`` (``name@domain``) is one of this Dovecot's users; the name in any
        case, as its LMTP looks users up (``auth_username_format = %Ln`` above)."""
        local, _, domain = address.rpartition("@")
        local = local.lower()
        if domain.lower() != self.domain or "/" in local or local.startswith("."):
            return False
        return (self.state / "users" / local).is_file()

    def deliver(self, recipient, message_bytes, sender="sender@example.org"):
        """Deliver one message over LMTP, as a real MTA would."""
        with smtplib.LMTP(self.host, self.ports["lmtp"], timeout=30) as lmtp:
            lmtp.sendmail(sender, [recipient], message_bytes)


def _children(pid):
    """The ids of the processes whose parent is ``pid`` (Linux's /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if parent == pid:
            found.append(int(stat.parent.name))
    return found


# --- SMTP ---------------------------------------------------------------------------------------


class _Authenticator:
    def __init__(self, dovecot):
        self.dovecot = dovecot

    def __call__(self, server, session, envelope, mechanism, auth_data):
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        if self.dovecot.check_password(login, password):
            return AuthResult(success=True)
        # handled=False lets aiosmtpd answer 535; anything else leaves the client hanging
        return AuthResult(success=False, handled=False)


class _DeliverOverLMTP:
    def __init__(self, dovecot):
        self.dovecot = dovecot
        self.received = []  # (sender, recipients) of everything accepted, for tests
        self.ca_file = dovecot.state / "certs" / "ca.crt"  # named in the log: trust this CA

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local, _, domain = address.rpartition("@")
        if domain.lower() != self.dovecot.domain:
            envelope.rcpt_tos.append(address)  # accepted and dropped: this server relays nowhere
            return "250 OK (not delivered: external domain)"
        # refused here, as a real MTA does, rather than accepted and bounced later: the sender
        # learns at once, and for good (RFC 3463 5.1.1), that the mailbox does not exist
        if not self.dovecot.has_user(address):
            return f"550 5.1.1 <{address}>: user unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        local = [r for r in envelope.rcpt_tos if r.lower().endswith("@" + self.dovecot.domain)]
        loop = asyncio.get_running_loop()
        try:
            for recipient in local:  # one LMTP transaction per recipient: one reply each
                await loop.run_in_executor(
                    None,
                    self.dovecot.deliver,
                    recipient,
                    envelope.original_content,
                    envelope.mail_from,
                )
        except (smtplib.SMTPException, OSError) as exc:
            return lmtp_reply(exc)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK delivered"

    async def handle_exception(self, error):
        """aiosmtpd's hook for an exception in a session; returns the reply. A client that broke
        off the STARTTLS handshake (most often: it does not trust our CA) is one line in the log,
        not aiosmtpd's traceback: a mail client pointed at the demo without its CA does that on
        every try. Anything else is logged with its traceback, as aiosmtpd does: a bug shows."""
        if isinstance(error, TLSSetupException):
            cause = error.__cause__
            reason = getattr(cause, "reason", None) or str(cause or "") or "the client hung up"
            logger.warning("SMTP: a client broke off the TLS handshake (%s); the server's "
                           "certificate is signed by the CA in %s",
                           reason, self.ca_file)  # fmt: skip
            return "454 4.7.0 TLS not available"  # not sent: aiosmtpd closes the connection
        logger.exception("SMTP: session failed")
        return f"500 Error: ({error.__class__.__name__}) {error}"


def lmtp_reply(exc):
    """The SMTP reply line that passes on LMTP's own answer in ``exc`` (its code and words: a
    5xx stays permanent, a 4xx temporary); a lost LMTP connection is a temporary 451."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code, text = next(iter(exc.recipients.values()))
    elif isinstance(exc, smtplib.SMTPResponseException):
        code, text = exc.smtp_code, exc.smtp_error
    else:
        return "451 4.4.0 delivery failed: the local mail store did not answer"
    if isinstance(text, bytes | bytearray):
        text = text.decode("utf-8", "replace")
    text = " ".join(str(text).split())  # one line: a reply of several would need "-" marks
    if not 400 <= code < 600:
        code = 451
    return f"{code} {text}"


@dataclass
class SmtpServers:
    """Three SMTP listeners: submission with STARTTLS, implicit TLS, and plain without STARTTLS."""

    dovecot: Dovecot
    ports: dict = field(default_factory=dict)
    controllers: list = field(default_factory=list)
    handler: _DeliverOverLMTP | None = None

    host = "127.0.0.1"

    def start(self):
        certs = self.dovecot.state / "certs"
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(certs / "server.crt", certs / "server.key")
        self.handler = _DeliverOverLMTP(self.dovecot)
        common = {"authenticator": _Authenticator(self.dovecot), "auth_require_tls": False}
        plans = {
            "submission": {"tls_context": server_tls, **common},
            "smtps": {"ssl_context": server_tls, **common},
            "plain": dict(common),
        }
        for name, kwargs in plans.items():
            port = free_port()
            ssl_context = kwargs.pop("ssl_context", None)
            controller = Controller(
                self.handler,
                hostname="127.0.0.1",
                port=port,
                ssl_context=ssl_context,
                server_hostname="localhost",  # the name the server greets with
                **kwargs,
            )
            controller.start()
            self.controllers.append(controller)
            self.ports[name] = port
        return self

    def stop(self):
        for controller in self.controllers:
            controller.stop()
        self.controllers.clear()


@dataclass
class MailWorld:
    """Dovecot plus the SMTP servers, started and stopped together."""

    state: Path | None = None
    mail_location: str = "maildir:~/Maildir"
    dovecot: Dovecot = None
    smtp: SmtpServers = None

    def start(self):
        self.dovecot = Dovecot(self.state, mail_location=self.mail_location).start()
        try:
            self.smtp = SmtpServers(self.dovecot).start()
        except Exception:
            self.dovecot.stop()
            raise
        return self

    def stop(self):
        if self.smtp:
            self.smtp.stop()
        if self.dovecot:
            self.dovecot.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
