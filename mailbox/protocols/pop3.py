"""POP3 client: connect (implicit TLS, STLS or plain) and log in through the guarded socket."""

import poplib

from .base import (
    ConnectionProblem,
    Problem,
    Security,
    as_text,
    check_wire_text,
    open_socket,
    tls_context,
    translated_errors,
)


class _POP3(poplib.POP3):
    def __init__(self, endpoint):
        self._endpoint = endpoint
        super().__init__(endpoint.host, endpoint.port, timeout=endpoint.timeout)

    def _create_socket(self, timeout):
        return open_socket(self._endpoint)


class _POP3TLS(poplib.POP3_SSL):
    def __init__(self, endpoint):
        self._endpoint = endpoint
        super().__init__(
            endpoint.host,
            endpoint.port,
            timeout=endpoint.timeout,
            context=tls_context(endpoint.ca_pem),
        )

    def _create_socket(self, timeout):
        return self.context.wrap_socket(open_socket(self._endpoint), server_hostname=self.host)


def connect(endpoint, login=True):
    """An authenticated ``poplib.POP3`` for ``endpoint``, or :class:`ConnectionProblem`."""
    with translated_errors():
        try:
            if endpoint.security == Security.TLS:
                client = _POP3TLS(endpoint)
            else:
                client = _POP3(endpoint)
                if endpoint.security == Security.STARTTLS:
                    if "STLS" not in _capabilities(client):
                        client.close()
                        raise ConnectionProblem(Problem.STARTTLS_MISSING)
                    client.stls(context=tls_context(endpoint.ca_pem))
        except poplib.error_proto as exc:
            raise ConnectionProblem(Problem.PROTOCOL, as_text(exc.args)) from exc
        if login:
            check_wire_text(endpoint.username, "user name")
            check_wire_text(endpoint.password, "password")
            try:
                client.user(endpoint.username)
                client.pass_(endpoint.password)
            except poplib.error_proto as exc:
                raise ConnectionProblem(Problem.AUTH_FAILED, as_text(exc.args)) from exc
        return client


def _capabilities(client):
    try:
        return client.capa()
    except poplib.error_proto:  # a server without CAPA offers no STLS either
        return {}


def check_login(endpoint):
    client = connect(endpoint)
    with translated_errors():
        try:
            client.quit()
        except (poplib.error_proto, OSError):
            pass
