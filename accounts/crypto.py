"""Mail passwords at rest: MultiFernet over WEBMAIL_ENCRYPTION_KEYS (the first key encrypts).

Rotation: put a new key first, keep the old ones after it, run `manage.py rotate_encryption_keys`,
then drop the old keys.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _fernet():
    keys = settings.WEBMAIL_ENCRYPTION_KEYS
    if not keys:
        raise ImproperlyConfigured("WEBMAIL_ENCRYPTION_KEYS is empty")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"WEBMAIL_ENCRYPTION_KEYS holds an invalid key: {exc}") from exc


def encrypt(plaintext):
    if not plaintext:
        return ""
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token):
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored mail password cannot be decrypted with WEBMAIL_ENCRYPTION_KEYS: "
            "was a key removed before `manage.py rotate_encryption_keys` ran?"
        ) from exc


def rotate(token):
    return _fernet().rotate(token.encode()).decode() if token else ""


def generate_key():
    return Fernet.generate_key().decode()
