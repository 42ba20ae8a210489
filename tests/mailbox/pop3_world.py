"""Alice's POP3 account on the real Dovecot, and "another client" that sees what the server has.

The other client is plain poplib, independent of our own POP3 session, so that the tests compare
what we stored with what a second implementation sees on the server.
"""

import email.utils
import poplib
import uuid
from email.message import EmailMessage

from accounts.actions import do_save_mail_account
from accounts.models import MailAccount
from mailbox.models import Message


def new_mailbox(world):
    """A fresh mailbox on the test server: (address, password)."""
    name = "p" + uuid.uuid4().hex[:12]
    password = "pw-" + name
    return world.dovecot.add_user(name, password), password


def pop3_account(user, world, login, *, retention="keep", days=14, port=None, email_=None):
    """A POP3 account of ``user`` on ``login``, plain POP3 on loopback (``port``: a proxy's)."""
    address, password = login
    account = MailAccount(
        user=user, email=email_ or address, incoming_protocol="pop3", incoming_host="127.0.0.1",
        incoming_port=port or world.dovecot.ports["pop3"], incoming_security="none",
        incoming_username=address, smtp_host="127.0.0.1", smtp_port=world.smtp.ports["plain"],
        smtp_security="none", pop3_retention=retention, pop3_keep_days=days,
    )  # fmt: skip
    account.incoming_password = password
    return do_save_mail_account(account)


def message(subject, body="Hello there.\n", *, sender="zoe@example.org", size=0):
    """A small message; ``size`` pads the body to about that many bytes."""
    mail = EmailMessage()
    mail["From"] = f"Zoë <{sender}>"
    mail["To"] = "alice@example.com"
    mail["Subject"] = subject
    mail["Date"] = email.utils.formatdate(localtime=True)
    mail["Message-ID"] = email.utils.make_msgid(domain="example.org")
    mail.set_content(body + "x" * max(0, size - len(body)))
    return bytes(mail)


def deliver(world, login, *subjects, **kwargs):
    """Deliver one message per subject; returns their Message-IDs."""
    ids = []
    for subject in subjects:
        raw = message(subject, **kwargs)
        world.dovecot.deliver(login[0], raw)
        ids.append(email.message_from_bytes(raw)["Message-ID"].strip("<>"))
    return ids


class OtherClient:
    """poplib on the same mailbox: what is on the server now."""

    def __init__(self, world, login):
        self.world, self.login = world, login

    def _session(self):
        client = poplib.POP3("127.0.0.1", self.world.dovecot.ports["pop3"], timeout=10)
        client.user(self.login[0])
        client.pass_(self.login[1])
        return client

    def message_ids(self):
        """The Message-IDs of the messages on the server, in order."""
        client = self._session()
        try:
            count = client.stat()[0]
            return [_message_id(b"\r\n".join(client.top(n, 0)[1])) for n in range(1, count + 1)]
        finally:
            client.quit()

    def uidls(self):
        """{message number: UIDL} as the server says now."""
        client = self._session()
        try:
            lines = client.uidl()[1]
        finally:
            client.quit()
        return {int(n): uidl.decode() for n, uidl in (line.split() for line in lines)}

    def raw(self, number):
        client = self._session()
        try:
            return b"\r\n".join(client.retr(number)[1]) + b"\r\n"
        finally:
            client.quit()


def _message_id(header):
    return (email.message_from_bytes(header)["Message-ID"] or "").strip().strip("<>")


def stored_ids(account):
    """Message-IDs kept here for the account, one entry per stored message (duplicates show)."""
    return sorted(
        Message.objects.filter(folder__account=account).values_list("message_id", flat=True)
    )
