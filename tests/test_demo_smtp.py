"""The demo's SMTP server (the tests' too) when a mail client does not trust its certificate: one
short line in the log, no traceback, and the server keeps serving the clients that do trust it."""

import logging
import smtplib
import ssl

import pytest

from mailbox.protocols.base import tls_context

pytestmark = pytest.mark.servers


def untrusting_client(world, port_name):
    """A mail client that knows only the system's CAs, as one pointed at the demo would."""
    port, context = world.smtp.ports[port_name], ssl.create_default_context()
    with pytest.raises(ssl.SSLCertVerificationError):
        if port_name == "smtps":
            smtplib.SMTP_SSL("127.0.0.1", port, context=context, timeout=10)
        else:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                client.starttls(context=context)


def test_a_client_that_rejects_the_certificate_costs_one_line_and_no_traceback(mail_world, caplog):
    caplog.set_level(logging.INFO)
    for _ in range(2):
        untrusting_client(mail_world, "submission")
        untrusting_client(mail_world, "smtps")
    with smtplib.SMTP("127.0.0.1", mail_world.smtp.ports["submission"], timeout=10) as client:
        client.starttls(context=tls_context(mail_world.dovecot.ca_pem))  # served as before
        assert client.noop()[0] == 250

    assert [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()] == []
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    ca_file = str(mail_world.dovecot.state / "certs" / "ca.crt")
    assert len(lines) == 2, lines  # one per STARTTLS given up; implicit TLS is silent
    for line in lines:
        assert "\n" not in line and "TLSV1_ALERT_UNKNOWN_CA" in line and ca_file in line
