"""IMAP client: connect (implicit TLS, STARTTLS or plain) and log in through the guarded socket.

The sync engine builds on :func:`connect`; today it serves the account check.
"""

import imaplib

from ..base import (
    ConnectionProblem,
    Problem,
    Security,
    as_text,
    check_wire_text,
    open_socket,
    tls_context,
    translated_errors,
)


class _IMAP(imaplib.IMAP4):
    def __init__(self, endpoint):
        self._endpoint = endpoint
        super().__init__(endpoint.host, endpoint.port, timeout=endpoint.timeout)

    def _create_socket(self, timeout):
        return open_socket(self._endpoint)


class _IMAPTLS(imaplib.IMAP4_SSL):
    def __init__(self, endpoint):
        self._endpoint = endpoint
        super().__init__(
            endpoint.host,
            endpoint.port,
            ssl_context=tls_context(endpoint.ca_pem),
            timeout=endpoint.timeout,
        )

    def _create_socket(self, timeout):
        return self.ssl_context.wrap_socket(open_socket(self._endpoint), server_hostname=self.host)


def _login(client, endpoint):
    check_wire_text(endpoint.username, "user name")
    check_wire_text(endpoint.password, "password")
    try:
        if endpoint.username.isascii() and endpoint.password.isascii():
            client.login(endpoint.username, endpoint.password)
        else:
            secret = f"\0{endpoint.username}\0{endpoint.password}".encode()
            client.authenticate("PLAIN", lambda _challenge: secret)
    except imaplib.IMAP4.error as exc:
        raise ConnectionProblem(Problem.AUTH_FAILED, as_text(exc.args)) from exc


def connect(endpoint, login=True):
    """An authenticated ``imaplib.IMAP4`` for ``endpoint``, or :class:`ConnectionProblem`."""
    with translated_errors():
        try:
            if endpoint.security == Security.TLS:
                client = _IMAPTLS(endpoint)
            else:
                client = _IMAP(endpoint)
                if endpoint.security == Security.STARTTLS:
                    if "STARTTLS" not in client.capabilities:
                        client.shutdown()
                        raise ConnectionProblem(Problem.STARTTLS_MISSING)
                    client.starttls(ssl_context=tls_context(endpoint.ca_pem))
        except imaplib.IMAP4.abort as exc:
            raise ConnectionProblem(Problem.PROTOCOL, as_text(exc.args)) from exc
        except imaplib.IMAP4.error as exc:
            raise ConnectionProblem(Problem.PROTOCOL, as_text(exc.args)) from exc
        if login:
            _login(client, endpoint)
        return client


def check_login(endpoint):
    """Log in and out; raises :class:`ConnectionProblem` with the reason when that fails."""
    client = connect(endpoint)
    with translated_errors():
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
