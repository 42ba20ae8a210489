import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.actions import do_save_mail_account
from accounts.models import MailAccount, Protocol, SmtpAuth


class Command(BaseCommand):
    help = "Used by `make demo`: the demo user and its IMAP and POP3 accounts on the demo server."

    def add_arguments(self, parser):
        parser.add_argument("--user", default="demo")
        parser.add_argument("--imap-address", required=True)
        parser.add_argument("--imap-port", type=int, required=True)
        parser.add_argument("--pop3-address", required=True)
        parser.add_argument("--pop3-port", type=int, required=True)
        parser.add_argument("--smtp-port", type=int, required=True)
        parser.add_argument("--ca-file", required=True)

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        user, created = User.objects.get_or_create(username=options["user"])
        if created:
            user.set_password(os.environ["DEMO_USER_PASSWORD"])
            user.save()
        with open(options["ca_file"]) as handle:
            ca_pem = handle.read()
        plans = [
            (Protocol.IMAP, options["imap_address"], options["imap_port"], "DEMO_IMAP_PASSWORD"),
            (Protocol.POP3, options["pop3_address"], options["pop3_port"], "DEMO_POP3_PASSWORD"),
        ]
        for protocol, address, port, password_env in plans:
            account = MailAccount.objects.filter(user=user, email=address).first()
            account = account or MailAccount(user=user, email=address)
            account.display_name = address.split("@")[0].title()
            account.incoming_protocol = protocol
            account.incoming_host = account.smtp_host = "localhost"
            account.incoming_port, account.incoming_security = port, "tls"
            account.incoming_username = address
            account.incoming_password = os.environ[password_env]
            account.smtp_port, account.smtp_security = options["smtp_port"], "starttls"
            account.smtp_auth = SmtpAuth.SAME
            account.ca_pem = ca_pem
            do_save_mail_account(account)
        self.stdout.write(f"demo user '{user.username}' has its IMAP and POP3 accounts")
