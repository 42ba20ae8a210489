"""SMTP client: connect (implicit TLS, STARTTLS or plain), EHLO, AUTH, via the guarded socket;
one mail transaction (RFC 5321 3.3) that knows whether the end of its data was sent."""

import re
import smtplib
from dataclasses import dataclass, field

from .base import (
    ConnectionProblem,
    Problem,
    Security,
    ServerRefused,
    as_text,
    check_wire_text,
    open_socket,
    tls_context,
    translated_errors,
)


class Rejected(ServerRefused):
    """The server answered ``command`` with a 4xx or 5xx reply: ``code`` (int) and its own words
    (``text``). 4xx is temporary (RFC 5321 4.2.1): the same command may succeed later."""

    def __init__(self, command, code, text):
        super().__init__(command, text, detail=f"{code} {text}")
        self.code = code

    @property
    def temporary(self):
        return self.code < 500


class DataUncertain(ConnectionProblem):
    """The connection was lost after the end of the data (the final ".") was sent and before
    the server's reply: the server may have accepted the message, or not."""


class _SMTP(smtplib.SMTP):
    def __init__(self, endpoint):
        self._endpoint = endpoint
        super().__init__(endpoint.host, endpoint.port, timeout=endpoint.timeout)

    def _get_socket(self, host, port, timeout):
        return open_socket(self._endpoint)


class _SMTPTLS(smtplib.SMTP_SSL):
    def __init__(self, endpoint):
        self._endpoint = endpoint
        super().__init__(
            endpoint.host,
            endpoint.port,
            timeout=endpoint.timeout,
            context=tls_context(endpoint.ca_pem),
        )

    def _get_socket(self, host, port, timeout):
        return self.context.wrap_socket(open_socket(self._endpoint), server_hostname=self._host)


def connect(endpoint, login=True):
    """An ``smtplib.SMTP`` after EHLO (and AUTH when ``login`` and a user name is given)."""
    with translated_errors():
        try:
            if endpoint.security == Security.TLS:
                client = _SMTPTLS(endpoint)
            else:
                client = _SMTP(endpoint)
            client.ehlo()
            if endpoint.security == Security.STARTTLS:
                if not client.has_extn("starttls"):
                    client.close()
                    raise ConnectionProblem(Problem.STARTTLS_MISSING)
                client.starttls(context=tls_context(endpoint.ca_pem))
                client.ehlo()
            if login and endpoint.username:
                _login(client, endpoint)
        except smtplib.SMTPServerDisconnected as exc:
            # smtplib turns a read timeout into "Connection unexpectedly closed"
            timed_out = isinstance(exc.__context__, TimeoutError)
            problem = Problem.TIMEOUT if timed_out else Problem.PROTOCOL
            raise ConnectionProblem(problem, as_text(exc.args)) from exc
        except smtplib.SMTPResponseException as exc:  # the greeting, EHLO or STARTTLS refused
            raise Rejected("connect", exc.smtp_code, as_text(exc.smtp_error)) from exc
        return client


def _login(client, endpoint):
    check_wire_text(endpoint.username, "user name")
    check_wire_text(endpoint.password, "password")
    if not client.has_extn("auth"):
        client.close()
        raise ConnectionProblem(Problem.AUTH_UNSUPPORTED)
    try:
        client.login(endpoint.username, endpoint.password)
    except smtplib.SMTPAuthenticationError as exc:
        if 400 <= exc.smtp_code < 500:  # 454: the server cannot check passwords right now
            raise Rejected("AUTH", exc.smtp_code, as_text(exc.smtp_error)) from exc
        raise ConnectionProblem(Problem.AUTH_FAILED, as_text(exc.smtp_error)) from exc
    except smtplib.SMTPException as exc:
        raise ConnectionProblem(Problem.AUTH_UNSUPPORTED, str(exc)) from exc


def check_login(endpoint):
    client = connect(endpoint)
    with translated_errors():
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            pass


@dataclass
class Delivery:
    """What the server accepted: ``accepted`` recipients, and the ``refused`` ones with its
    reply to each ({address: "550 5.1.1 No such user"})."""

    accepted: list = field(default_factory=list)
    refused: dict = field(default_factory=dict)


LINE_START_DOT = re.compile(rb"(?m)^\.")


def transmit(client, sender, recipients, data, *, before_data=None, reply_timeout=300.0):
    """MAIL FROM, RCPT TO each recipient, DATA on a connected ``client``; a :class:`Delivery`.

    ``data``: the message (bytes, CRLF line ends). ``before_data()`` is called once the
    recipients are settled, just before DATA: after it the message may reach them.
    Raises :class:`Rejected` (MAIL FROM, every recipient, DATA or the end of data refused; for
    refused recipients, a 4xx one when all were 4xx, else the first 5xx), ConnectionProblem (the
    connection lost before the end of the data: nothing was delivered), :class:`DataUncertain`
    (lost after it). ``reply_timeout`` (seconds) bounds the wait for the final reply, which RFC
    5321 4.5.3.2.6 lets last 10 minutes."""
    for address in (sender, *recipients):
        check_wire_text(address, "address")
    with translated_errors():
        _reply("MAIL FROM", client.mail(sender, _mail_options(client, sender, recipients, data)))
        delivery = _recipients(client, recipients)
        if before_data is not None:
            before_data()
        _reply("DATA", client.docmd("DATA"), wanted=(354,))
        client.send(LINE_START_DOT.sub(b"..", data if data.endswith(b"\r\n") else data + b"\r\n"))
    _end_data(client, reply_timeout)
    return delivery


def _reply(command, reply, wanted=(250, 251)):
    code, text = reply
    if code not in wanted:
        raise Rejected(command, code, as_text(text))
    return code


def _mail_options(client, sender, recipients, data):
    options = []
    if not data.isascii() and client.has_extn("8bitmime"):
        options.append("BODY=8BITMIME")
    if not all(address.isascii() for address in (sender, *recipients)):
        if not client.has_extn("smtputf8"):  # RFC 6531: only a server that says so takes them
            raise Rejected("MAIL FROM", 553, "this server does not take non-ASCII addresses")
        options.append("SMTPUTF8")
    return options


def _recipients(client, recipients):
    accepted, refusals = [], {}
    for address in recipients:
        code, text = client.rcpt(address)
        if code in (250, 251):
            accepted.append(address)
        else:
            refusals[address] = (code, as_text(text))
    if not accepted:
        raise Rejected("RCPT TO", *_deciding(refusals.values()))
    return Delivery(accepted, {address: f"{c} {t}" for address, (c, t) in refusals.items()})


def _deciding(refusals):
    """The reply that speaks for all the recipients refused: a permanent one if there is one
    (trying again cannot help that recipient), else the first."""
    refusals = list(refusals) or [(554, "no recipients")]
    return next((reply for reply in refusals if reply[0] >= 500), refusals[0])


def _end_data(client, reply_timeout):
    """The final "." and the server's reply. From the moment the "." goes out, a lost
    connection leaves the outcome unknown: DataUncertain, never a plain failure."""
    try:
        client.sock.settimeout(reply_timeout)
        client.send(b".\r\n")
        code, text = client.getreply()
    except OSError as exc:  # smtplib's SMTPServerDisconnected is an OSError too
        raise DataUncertain(Problem.PROTOCOL, str(exc) or "the connection was lost") from exc
    _reply("end of data", (code, text))


def quit_quietly(client):
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
