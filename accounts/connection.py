"""From a MailAccount to a tested connection, and from a failure to a sentence for its owner.

Every failure a user can meet while their mail is fetched, read or changed is worded here, in
:func:`describe_error` (and :func:`describe_problem` for a connection that failed): the views,
the search and the sync all call these, so that the same trouble reads the same everywhere.
"""

import re
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.utils.translation import gettext as _

from mailbox.protocols import imap, pop3, smtp
from mailbox.protocols.base import ConnectionProblem, Endpoint, Problem, Security, ServerRefused

from .models import Protocol, SmtpAuth


def _endpoint(host, port, security, username, password, account):
    return Endpoint(
        host=host,
        port=port,
        security=Security(security),
        username=username,
        password=password,
        ca_pem=account.ca_pem,
        timeout=settings.WEBMAIL_CONNECT_TIMEOUT,
        allow_private=settings.WEBMAIL_ALLOW_PRIVATE_HOSTS,
    )


def incoming_endpoint(account):
    """The incoming server with its credentials. The stored password goes only to the server it
    was typed for: ConnectionProblem(PASSWORD_NEEDED) otherwise, before any connection."""
    if not account.may_send_incoming_password():
        raise ConnectionProblem(Problem.PASSWORD_NEEDED)
    return _endpoint(
        account.incoming_host,
        account.incoming_port,
        account.incoming_security,
        account.incoming_username,
        account.incoming_password,
        account,
    )


def outgoing_endpoint(account):
    """The outgoing server with what it logs in with (see incoming_endpoint)."""
    if not account.may_send_smtp_password():
        raise ConnectionProblem(Problem.PASSWORD_NEEDED)
    if account.smtp_auth == SmtpAuth.SAME:
        username, password = account.incoming_username, account.incoming_password
    elif account.smtp_auth == SmtpAuth.CUSTOM:
        username, password = account.smtp_username, account.smtp_password
    else:
        username, password = "", ""
    return _endpoint(
        account.smtp_host, account.smtp_port, account.smtp_security, username, password, account
    )


def _check_incoming(account):
    client = imap if account.incoming_protocol == Protocol.IMAP else pop3
    client.check_login(incoming_endpoint(account))


def _check_outgoing(account):
    smtp.check_login(outgoing_endpoint(account))


def _problem_of(check, account):
    try:
        check(account)
    except ConnectionProblem as problem:
        return problem
    return None


def check_mail_account(account):
    """Try both servers at once; returns {"incoming": problem or None, "outgoing": ...}."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        incoming = pool.submit(_problem_of, _check_incoming, account)
        outgoing = pool.submit(_problem_of, _check_outgoing, account)
        return {"incoming": incoming.result(), "outgoing": outgoing.result()}


def describe_problem(problem, host, port):
    """One sentence that says what went wrong and what to do about it."""
    where = f"{host}:{port}"
    detail = problem.detail
    sentences = {
        Problem.UNKNOWN_HOST: _("The server name %(host)s could not be found. Check its spelling.")
        % {"host": host},
        Problem.PRIVATE_HOST: _(
            "%(host)s is on a private, loopback or link-local address, which this webmail does "
            "not connect to. Ask your operator if your mail server is on the local network."
        )
        % {"host": host},
        Problem.REFUSED: _(
            "%(where)s refused the connection. Check the port, or whether the server is running."
        )
        % {"where": where},
        Problem.UNREACHABLE: _("%(where)s cannot be reached from here (%(detail)s).")
        % {"where": where, "detail": detail},
        Problem.TIMEOUT: _(
            "%(where)s did not answer in time. Check the port and the security setting, "
            "or try again later."
        )
        % {"where": where},
        Problem.TLS_CERTIFICATE: _(
            "The TLS certificate of %(where)s was not accepted: %(detail)s. If the server uses "
            "its own certificate authority, add that CA's certificate to this account."
        )
        % {"where": where, "detail": detail},
        Problem.TLS_HANDSHAKE: _(
            "The secure connection to %(where)s failed (%(detail)s). The port may expect another "
            "security setting: implicit TLS or STARTTLS."
        )
        % {"where": where, "detail": detail},
        Problem.STARTTLS_MISSING: _(
            "%(where)s does not offer STARTTLS, so the connection cannot be secured. Choose "
            "implicit TLS and its port, or another server."
        )
        % {"where": where},
        Problem.AUTH_FAILED: _("%(where)s refused the user name or password.") % {"where": where},
        Problem.AUTH_UNSUPPORTED: _(
            "%(where)s does not accept a login on this connection. Choose a secure connection, "
            "or no authentication if the server needs none."
        )
        % {"where": where},
        Problem.PROTOCOL: _("%(where)s answered unexpectedly: %(detail)s.")
        % {"where": where, "detail": detail},
        Problem.BAD_INPUT: _("A field contains a line break or a NUL character."),
        Problem.STORAGE: _(
            "The mail kept here could not be read or written (%(detail)s). Try again later, "
            "or tell your operator."
        )
        % {"detail": detail},
        Problem.PASSWORD_NEEDED: _(
            "The settings of %(where)s changed since its password was saved: edit the account "
            "and type the password again."
        )
        % {"where": where},
    }
    return sentences[problem.problem]


# What a person need not read in a refusal: "[ALREADYEXISTS] ", Dovecot's " (0.001 + 0.000 secs)."
SERVER_NOISE = re.compile(r"^\s*\[[^\]]*\]\s*|\s*\([\d.+ ]+secs?\)\.?\s*$")


def describe_error(account, error):
    """One sentence for the owner of ``account`` about ``error``: a command the server refused
    (its own words, without codes and timings), a connection that failed, mail kept here that
    could not be read, or a message that is gone."""
    from mailbox.sources import MessageGone

    if isinstance(error, MessageGone):
        return _("This message is no longer there: it was deleted or moved meanwhile.")
    if isinstance(error, ServerRefused):
        text = SERVER_NOISE.sub("", error.text or "")[:300] or error.command
        return _("The mail server refused: %(text)s") % {"text": text}
    return describe_problem(error, account.incoming_host, account.incoming_port)


def describe_check(account, result):
    """The sentences for a check_mail_account() result, keyed like it; None where it went well."""
    return {
        "incoming": result["incoming"]
        and describe_problem(result["incoming"], account.incoming_host, account.incoming_port),
        "outgoing": result["outgoing"]
        and describe_problem(result["outgoing"], account.smtp_host, account.smtp_port),
    }
