from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.connection import check_mail_account, describe_check
from accounts.forms import MailAccountForm
from accounts.models import MailAccount

from .add_user import read_secret


class Command(BaseCommand):
    help = (
        "Add a mail account to a portal user (optionally creating the user), tested like the "
        "web form. Passwords come from environment variables or stdin."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="the portal user")
        parser.add_argument("--create-user", action="store_true")
        parser.add_argument("--user-password-env", metavar="VAR")
        parser.add_argument("--email", required=True)
        parser.add_argument("--name", default="", help="the sender's name")
        parser.add_argument("--protocol", choices=["imap", "pop3"], default="imap")
        parser.add_argument("--host", required=True)
        parser.add_argument("--port", type=int)
        parser.add_argument("--security", choices=["tls", "starttls", "none"], default="tls")
        parser.add_argument("--login", default="", help="default: the email address")
        parser.add_argument("--password-env", metavar="VAR")
        parser.add_argument("--password-stdin", action="store_true")
        parser.add_argument("--smtp-host", required=True)
        parser.add_argument("--smtp-port", type=int)
        parser.add_argument(
            "--smtp-security", choices=["tls", "starttls", "none"], default="starttls"
        )
        parser.add_argument("--smtp-auth", choices=["same", "custom", "none"], default="same")
        parser.add_argument("--smtp-login", default="")
        parser.add_argument("--smtp-password-env", metavar="VAR")
        parser.add_argument("--ca-file", help="PEM file of a CA to trust for this account")
        parser.add_argument("--no-check", action="store_true", help="save without testing")

    def handle(self, *args, **options):
        user = self._user(options)
        data = {
            "display_name": options["name"],
            "email": options["email"],
            "incoming_protocol": options["protocol"],
            "incoming_host": options["host"],
            "incoming_port": options["port"],
            "incoming_security": options["security"],
            "incoming_username": options["login"],
            "incoming_password": read_secret(
                options["password_env"], options["password_stdin"], "password"
            ),
            "smtp_host": options["smtp_host"],
            "smtp_port": options["smtp_port"],
            "smtp_security": options["smtp_security"],
            "smtp_auth": options["smtp_auth"],
            "smtp_username": options["smtp_login"],
            "smtp_password": read_secret(options["smtp_password_env"], False, "smtp-password")
            if options["smtp_auth"] == "custom"
            else "",
        }
        files = {}
        if options["ca_file"]:
            from django.core.files.uploadedfile import SimpleUploadedFile

            with open(options["ca_file"], "rb") as handle:
                files["ca_file"] = SimpleUploadedFile("ca.pem", handle.read())
        form = MailAccountForm(data, files, instance=MailAccount(user=user))
        if not form.is_valid():
            errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
            raise CommandError(errors)
        account = form.save(commit=False)
        if not options["no_check"]:
            problems = [
                t for t in describe_check(account, check_mail_account(account)).values() if t
            ]
            if problems:
                raise CommandError(" ".join(problems) + " (nothing saved; --no-check saves anyway)")
        from accounts.actions import do_save_mail_account

        do_save_mail_account(account)
        self.stdout.write(f"added {account.email} (#{account.pk}) to {user.username}")

    def _user(self, options):
        User = get_user_model()
        try:
            return User.objects.get(username=options["username"])
        except User.DoesNotExist:
            if not options["create_user"]:
                raise CommandError(f"no user {options['username']!r} (add --create-user)") from None
        password = read_secret(options["user_password_env"], False, "user-password")
        return User.objects.create_user(options["username"], options["email"], password)
