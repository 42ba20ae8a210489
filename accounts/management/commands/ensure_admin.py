import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create a first administrator if there is none, and say how to log in."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, **options):
        User = get_user_model()
        note = Path(settings.VAR_DIR) / "initial-admin-password.txt"
        admin = User.objects.filter(is_superuser=True).order_by("pk").first()
        if admin is None:
            password = secrets.token_urlsafe(12)
            admin = User.objects.create_superuser(options["username"], "", password)
            note.parent.mkdir(parents=True, exist_ok=True)
            note.write_text(password + "\n")
            note.chmod(0o600)
            self.stdout.write(
                f"Created the administrator '{admin.username}' with the password {password}\n"
                f"(also kept in {note}; change it after logging in)."
            )
            return
        hint = f" (first password in {note})" if note.exists() else ""
        self.stdout.write(f"Log in as the administrator '{admin.username}'{hint}.")
