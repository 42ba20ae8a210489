"""Settings for the test suite: the real settings with test values for what the env would give.

The suite runs on PostgreSQL (TEST_DATABASE_URL) and a real Redis (TEST_REDIS_URL); `make test`
makes sure both answer. The embedded SQLite mode has its own end-to-end test.
"""

import os
import secrets
import tempfile

os.environ["WEBMAIL_ENV_FILE"] = os.devnull  # never read a developer's var/webmail.env
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("WEBMAIL_ENCRYPTION_KEYS", "dGVzdC1vbmx5LWtleS0wMTIzNDU2Nzg5LWFiY2RlZmc=")
os.environ["DATABASE_URL"] = os.environ.get(
    "TEST_DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/postgres"
)
os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("WEBMAIL_REDIS_PREFIX", "webmail-test")
os.environ.setdefault("WEBMAIL_ALLOW_PRIVATE_HOSTS", "1")
os.environ.setdefault("WEBMAIL_CONNECT_TIMEOUT", "3")
# raw POP3 mail: a directory of this run's own (worker processes started by tests inherit it)
os.environ.setdefault("WEBMAIL_MAIL_DIR", tempfile.mkdtemp(prefix="webmail-test-mail-"))

from .settings import *  # noqa: E402,F403
from .settings import CACHES, DATABASES, STORAGES  # noqa: E402

STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
# whitenoise serves static/ as it is (no collectstatic), so daphne started by a test has its scripts
WHITENOISE_USE_FINDERS = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A new connection per request, as the tests expect; a bench's worker keeps them as production
# does (WEBMAIL_TEST_CONN_MAX_AGE). daphne never does, as in production (settings.py).
if os.environ.get("WEBMAIL_ASGI") != "1":
    DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("WEBMAIL_TEST_CONN_MAX_AGE", "0"))
# Redis as the cache, as in production. Database ids repeat from test to test and from run to
# run, so each process has keys of its own (the process id and a random part in the prefix)
# and each test a new generation of them (mailbox.testing.cache_keys).
CACHES["default"]["KEY_PREFIX"] += f"-{os.getpid()}-{secrets.token_hex(4)}"
CACHES["default"]["KEY_FUNCTION"] = "mailbox.testing.cache_keys.make_key"
CACHES["default"]["TIMEOUT"] = 300
