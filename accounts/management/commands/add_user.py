import os
import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


def read_secret(env_name, from_stdin, what):
    """Secrets come from an environment variable or stdin, never from argv (ps, shell history)."""
    if env_name:
        value = os.environ.get(env_name)
        if value is None:
            raise CommandError(f"{env_name} is not set")
        return value
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    raise CommandError(f"give the {what} with --{what}-env VAR or --{what}-stdin")


class Command(BaseCommand):
    help = "Create a portal user non-interactively (the password from an env var or stdin)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument("--admin", action="store_true", help="staff and superuser")
        parser.add_argument("--password-env", metavar="VAR")
        parser.add_argument("--password-stdin", action="store_true")

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(username=options["username"]).exists():
            raise CommandError(f"user {options['username']!r} exists already")
        password = read_secret(options["password_env"], options["password_stdin"], "password")
        create = User.objects.create_superuser if options["admin"] else User.objects.create_user
        user = create(options["username"], options["email"], password)
        self.stdout.write(f"created user {user.username}")
