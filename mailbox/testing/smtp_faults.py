"""An SMTP server for tests that fails on request: a real aiosmtpd on a free port of 127.0.0.1
(plain or with STARTTLS; AUTH with any password unless told otherwise), whose replies a test
scripts.

The fixture's SMTP (mailbox.testing.servers) always accepts; this one answers a command with a
4xx or 5xx reply, refuses some recipients, or cuts the connection in the middle of the data or
after it (before its reply), and counts what it accepted: ``deliveries``. No Django here.
"""

import threading
import time
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

from .servers import free_port


@dataclass
class Delivery:
    mail_from: str
    rcpt_tos: list
    content: bytes
    arrived: float  # time.time() when the end of its data came in


@dataclass
class Script:
    """What the server does next. Lists of replies are used up one per transaction, first
    first; once empty, the server accepts."""

    mail: list = field(default_factory=list)  # replies to MAIL FROM, e.g. "451 4.3.0 Busy"
    rcpt: dict = field(default_factory=dict)  # address -> its reply, every time ("550 ...")
    data_end: list = field(default_factory=list)  # replies to the end of the data
    cut_during_data: int = 0  # connections cut after a few bytes of their data
    cut_after_data: int = 0  # connections cut once the data is in, without a reply (accepted)
    passwords: set | None = None  # accepted passwords; None: any


class _Handler:
    def __init__(self, server):
        self.server = server

    async def handle_MAIL(self, server, session, envelope, address, options):
        reply = self.server.take("mail")
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        reply = self.server.script.rcpt.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = self.server.take("data_end")
        if reply:
            return reply
        self.server.accept(envelope)
        if self.server.take_count("cut_after_data"):
            server.transport.abort()  # accepted, and no reply ever comes
            return "250 OK"
        return "250 OK delivered"


class _FaultySMTP(SMTP):
    """aiosmtpd's server, able to drop the connection in the middle of the data."""

    def __init__(self, handler, owner, **kwargs):
        super().__init__(handler, **kwargs)
        self.owner = owner

    async def smtp_DATA(self, arg):
        if self.envelope.rcpt_tos and self.owner.take_count("cut_during_data"):
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.read(16)
            self.transport.abort()
            return
        await super().smtp_DATA(arg)


class _Controller(Controller):
    def __init__(self, owner, **kwargs):
        self.owner = owner
        super().__init__(_Handler(owner), **kwargs)

    def factory(self):
        return _FaultySMTP(self.handler, self.owner, **self.SMTP_kwargs)


class FaultySmtp:
    """``with FaultySmtp() as smtp:`` a server on ``smtp.port``; ``smtp.script`` what it does."""

    def __init__(self, tls_context=None):
        """``tls_context``: a server-side ssl.SSLContext to offer STARTTLS with."""
        self.script = Script()
        self.deliveries = []
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = _Controller(
            self, hostname="127.0.0.1", port=self.port, authenticator=self._authenticate,
            auth_require_tls=False, data_size_limit=None, tls_context=tls_context,
        )  # fmt: skip

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        allowed = self.script.passwords
        ok = allowed is None or auth_data.password.decode("utf-8", "replace") in allowed
        return AuthResult(success=ok, handled=False)

    def take(self, name):
        with self.lock:
            replies = getattr(self.script, name)
            return replies.pop(0) if replies else None

    def take_count(self, name):
        with self.lock:
            left = getattr(self.script, name)
            if left > 0:
                setattr(self.script, name, left - 1)
            return left > 0

    def accept(self, envelope):
        with self.lock:
            self.deliveries.append(Delivery(envelope.mail_from, list(envelope.rcpt_tos),
                                            envelope.original_content, time.time()))  # fmt: skip

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
