"""SMTP client: connect (implicit TLS, STARTTLS or plain), EHLO, AUTH, via the guarded socket."""

import smtplib

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
        except smtplib.SMTPResponseException as exc:
            detail = f"{exc.smtp_code} {as_text(exc.smtp_error)}"
            raise ConnectionProblem(Problem.PROTOCOL, detail) from exc
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
