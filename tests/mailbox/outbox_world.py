"""Alice's sending accounts on the real fixture servers, messages queued the way the compose
screen queues them, and another client (plain imaplib) that reads what arrived."""

import email
import email.policy
import imaplib
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from django.utils import timezone

from accounts.actions import do_save_mail_account
from accounts.models import MailAccount
from mailbox.outbox import do_queue_message


def new_login(world, prefix="s"):
    name = prefix + uuid.uuid4().hex[:12]
    password = "pw-" + name
    return world.dovecot.add_user(name, password), password


def sending_account(user, world, login, *, protocol="imap", smtp_port=None, security="starttls",
                    **fields):  # fmt: skip
    """``user``'s account on ``login``: IMAP (or POP3) in plain, SMTP by submission with
    STARTTLS and AUTH (the fixture's CA trusted), unless ``smtp_port``/``security`` say else."""
    address, password = login
    account = MailAccount(
        user=user, email=address, display_name="Alice", incoming_protocol=protocol,
        incoming_host="127.0.0.1", incoming_port=world.dovecot.ports[protocol],
        incoming_security="none", incoming_username=address, smtp_host="127.0.0.1",
        smtp_port=smtp_port or world.smtp.ports["submission"], smtp_security=security,
        ca_pem=world.dovecot.ca_pem, **fields,
    )  # fmt: skip
    account.incoming_password = password
    return do_save_mail_account(account)


def built(account, to, *, cc=(), subject="Kumquat jam", body="A jar for you.\n"):
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["From"] = f"Alice <{account.email}>"
    mail["To"] = ", ".join(to)
    if cc:
        mail["Cc"] = ", ".join(cc)
    mail["Subject"] = subject
    mail["Date"] = formatdate(localtime=True)
    mail["Message-ID"] = make_msgid(domain=account.email.rpartition("@")[2])
    mail.set_content(body)
    return mail


def queue(account, to, *, cc=(), bcc=(), when=None, size=0, **kwargs):
    """A message queued as compose queues it: due at ``when`` (default: now)."""
    body = kwargs.pop("body", "A jar for you.\n") + "x" * size
    mail = built(account, to, cc=cc, body=body, **kwargs)
    return do_queue_message(
        account.user, account, raw=mail.as_bytes(), bcc=", ".join(bcc),
        envelope_from=account.email, recipients=[*to, *cc, *bcc],
        send_at=when or timezone.now(), subject=str(mail["Subject"]), to_display=mail["To"],
        message_id=mail["Message-ID"].strip("<>"),
    )  # fmt: skip


class Reader:
    """Another IMAP client on a mailbox of the fixture's Dovecot."""

    def __init__(self, world, login):
        self.world, self.login = world, login

    def messages(self, folder="INBOX"):
        """The messages in ``folder`` as email.message objects, with their flags as ``flags``."""
        client = imaplib.IMAP4("127.0.0.1", self.world.dovecot.ports["imap"], timeout=10)
        try:
            client.login(*self.login)
            status, data = client.select(f'"{folder}"', readonly=True)
            assert status == "OK", data
            if int(data[0]) == 0:
                return []
            status, data = client.fetch("1:*", "(FLAGS RFC822)")
            assert status == "OK", data
            found = []
            for item in data:
                if isinstance(item, tuple):
                    message = email.message_from_bytes(item[1], policy=email.policy.default)
                    message.flags = [f.decode() for f in imaplib.ParseFlags(item[0])]
                    found.append(message)
            return found
        finally:
            client.logout()
