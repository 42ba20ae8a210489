from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.actions import do_rotate_encryption
from accounts.models import MailAccount


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored mail password with the first key of WEBMAIL_ENCRYPTION_KEYS. "
        "Put the new key first, keep the old ones after it, run this, then remove the old keys."
    )

    def handle(self, *args, **options):
        with transaction.atomic():
            count = do_rotate_encryption(MailAccount.objects.all())
        self.stdout.write(f"re-encrypted the passwords of {count} mail account(s)")
