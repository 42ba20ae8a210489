"""One env-driven settings module. Every variable is listed in README.md ("Configuration").

Values come from the process environment first, then from the env file (``WEBMAIL_ENV_FILE``,
default ``var/webmail.env``) that ``make run`` writes on its first start, then from defaults.
Outside debug mode the secret key and the encryption keys must be real: defaults refuse to start.
"""

import datetime
import json
import os
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
PLACEHOLDER = "change-me"


def _read_env_file(path):
    values = {}
    if not path.is_file():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


VAR_DIR = Path(os.environ.get("WEBMAIL_VAR_DIR", BASE_DIR / "var"))
_FILE_ENV = _read_env_file(Path(os.environ.get("WEBMAIL_ENV_FILE", VAR_DIR / "webmail.env")))


def env(name, default=""):
    return os.environ.get(name, _FILE_ENV.get(name, default))


def env_bool(name, default=False):
    value = env(name, "1" if default else "0").lower()
    return value in ("1", "true", "yes", "on")


def env_list(name, default=""):
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG")
SECRET_KEY = env("SECRET_KEY", PLACEHOLDER)
WEBMAIL_ENCRYPTION_KEYS = env_list("WEBMAIL_ENCRYPTION_KEYS")
if not DEBUG:
    if SECRET_KEY in ("", PLACEHOLDER) or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "SECRET_KEY is unset or a placeholder. Set a long random value, or run `make run`, "
            "which generates one under var/."
        )
    if not WEBMAIL_ENCRYPTION_KEYS or PLACEHOLDER in WEBMAIL_ENCRYPTION_KEYS:
        raise ImproperlyConfigured(
            "WEBMAIL_ENCRYPTION_KEYS is unset or a placeholder. Generate one with `python -c "
            "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`."
        )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("WEBMAIL_BEHIND_TLS_PROXY") else None
)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("WEBMAIL_BEHIND_TLS_PROXY")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "SAMEORIGIN"
# a bulk action posts up to mailbox.forms.MAX_IDS message ids, one field each
DATA_UPLOAD_MAX_NUMBER_FIELDS = 6000
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# HSTS, sent by SecurityMiddleware on HTTPS responses only: behind the TLS proxy, browsers that saw
# the site once never try plain HTTP again for that long. Subdomains only when the operator says so.
SECURE_HSTS_SECONDS = (
    int(env("SECURE_HSTS_SECONDS", "31536000")) if env_bool("WEBMAIL_BEHIND_TLS_PROXY") else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS")
# The Content-Security-Policy of every page (django-csp; webmail.middleware adds the page's own
# WebSocket origin to connect-src): scripts and styles from our static files only, no inline
# script or handler, no plugin, no <base>, forms posted and frames embedded only by ourselves. The
# message body frame and the downloads send their own stricter policies (mailbox/views/).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [SELF],
        "form-action": [SELF],
    }
}

INSTALLED_APPS = [
    "daphne",
    "webmail.apps.AdminConfig",  # django.contrib.admin with two-factor login (accounts/admin_site)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "accounts",
    "mailbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.RequireTwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "webmail.middleware.ContentSecurityPolicyMiddleware",
    "webmail.middleware.time_zone_middleware",
    "axes.middleware.AxesMiddleware",  # last, as axes asks: turns a lockout into its answer
]

ROOT_URLCONF = "webmail.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "webmail.context_processors.theme",
                "webmail.context_processors.live",
            ],
        },
    },
]
WSGI_APPLICATION = "webmail.wsgi.application"
ASGI_APPLICATION = "webmail.asgi.application"

# Persistent connections in the worker and beat, not in the web process (webmail/asgi.py sets
# WEBMAIL_ASGI before the settings load): under ASGI each request runs in a thread of its own,
# whose connection would be kept, never used again, until it ages out (Django's docs: disable
# them under ASGI). With them, 10 users of bench/load.py had daphne hold 54 connections at once,
# and 50 users exhausted PostgreSQL's 100 ("too many clients": 500s).
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'webmail.sqlite3'}"),
        conn_max_age=0 if os.environ.get("WEBMAIL_ASGI") == "1" else 60,
        conn_health_checks=True,  # a connection kept across a database restart is replaced
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Several processes (web, worker, beat) share one file: wait for locks instead of failing
    # (timeout: SQLite's busy timeout, in seconds). WAL lets pages read while the sync writes;
    # synchronous=NORMAL in WAL syncs the log at checkpoints, not at every commit: a commit
    # survives the application crashing, and only a power cut can undo the last few (SQLite's
    # documented trade-off, the usual one for WAL). The sync commits once per batch. A page
    # cache of up to 32 MB a connection (SQLite's default: 2 MB) holds the message table's nine
    # indexes while a first sync inserts into all of them (a third less time at 100,000).
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -32000"
        ),
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
elif DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # A database that does not answer (a host gone, a firewall dropping packets) fails a request
    # in seconds, with the 503 page (webmail.views.server_error), rather than hanging it.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 5
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": env("WEBMAIL_REDIS_PREFIX", "webmail")},
    }
}
# Shared by every web process: a message's sanitized body, computed for its page, waits here for
# the frame's request, which may reach another process.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("WEBMAIL_REDIS_PREFIX", "webmail"),
        "TIMEOUT": 600,
    }
}
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# A worker killed in the middle of a task: acks_late leaves its task unacknowledged, and Redis
# hands it out again after the visibility timeout (an hour, kept: ETA tasks wait that long in a
# worker's memory, see tasks.ETA_HORIZON_SECONDS). A killed prefork child's task is acknowledged
# as failed (reject_on_worker_lost stays off: a task that kills its worker must not loop). No
# work is lost either way: it is in the database too (PendingChange, OutboxMessage) and beat's
# sweepers below run it again once the dead worker's lease on the account has run out
# (tests/mailbox/test_faults_worker.py).
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER")
WEBMAIL_RESYNC_SECONDS = int(env("WEBMAIL_RESYNC_SECONDS", "300"))
CELERY_BEAT_SCHEDULE = {
    # the safety net under IDLE (the watcher): every folder whose STATUS changed is resynced;
    # and, since a sync pushes first, under the queue: changes whose push task was lost (Redis
    # down when they were made, a worker killed) reach the server (tests/mailbox/test_faults_*)
    "resync-all-imap-accounts": {
        "task": "mailbox.tasks.sync_all_accounts",
        "schedule": WEBMAIL_RESYNC_SECONDS,
    },
    # POP3 accounts whose own fetch interval has passed
    "fetch-due-pop3-accounts": {
        "task": "mailbox.tasks.fetch_due_pop3_accounts",
        "schedule": int(env("WEBMAIL_FETCH_TICK_SECONDS", "60")),
    },
    # the outbox's safety net: rows whose task was lost, claims left by a killed worker
    "send-due-outbox": {
        "task": "mailbox.tasks.send_due_outbox",
        "schedule": int(env("WEBMAIL_OUTBOX_TICK_SECONDS", "30")),
    },
}
# Sending (mailbox.sync.outbox): a claim older than this is a worker that died; a message that
# keeps meeting temporary failures (4xx, a server down) is given up this long after its first try.
WEBMAIL_SEND_CLAIM_SECONDS = int(env("WEBMAIL_SEND_CLAIM_SECONDS", "600"))
WEBMAIL_SEND_RETRY_SECONDS = int(env("WEBMAIL_SEND_RETRY_SECONDS", str(4 * 3600)))
# Fetched body parts kept per account; the least recently used go first past this.
WEBMAIL_BODY_CACHE_BYTES = int(env("WEBMAIL_BODY_CACHE_BYTES", str(64 * 1024 * 1024)))
# After a sync, the text of each folder's newest messages is fetched into that cache: those of
# the last N days or the newest M, whichever are more (mailbox.sync.prefetch). 0 and 0: none.
WEBMAIL_PREFETCH_DAYS = int(env("WEBMAIL_PREFETCH_DAYS", "30"))
WEBMAIL_PREFETCH_MESSAGES = int(env("WEBMAIL_PREFETCH_MESSAGES", "1000"))
# The local search index (mailbox.fulltext): message text is indexed after the headers, up to
# this many characters per message; WEBMAIL_INDEX_BODIES=0 indexes headers and attachment names
# only, and the mail server's search keeps answering for text.
WEBMAIL_INDEX_BODIES = env_bool("WEBMAIL_INDEX_BODIES", True)
WEBMAIL_INDEX_BODY_BYTES = int(env("WEBMAIL_INDEX_BODY_BYTES", str(200 * 1024)))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Login throttling (django-axes, accounts/throttling.py): a user name that fails
# WEBMAIL_LOGIN_FAILURE_LIMIT times from one address is locked out there, and an address that fails
# WEBMAIL_LOGIN_ADDRESS_FAILURE_LIMIT times whatever the names, for WEBMAIL_LOGIN_LOCKOUT_MINUTES
# after the last try. Unknown user names count like real ones. The portal's login, the admin's and
# the password asked again in the preferences all go through axes' backend.
WEBMAIL_BEHIND_TLS_PROXY = env_bool("WEBMAIL_BEHIND_TLS_PROXY")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "accounts.throttling.LoginThrottle"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_FAILURE_LIMIT = int(env("WEBMAIL_LOGIN_FAILURE_LIMIT", "5"))
WEBMAIL_LOGIN_ADDRESS_FAILURE_LIMIT = int(env("WEBMAIL_LOGIN_ADDRESS_FAILURE_LIMIT", "20"))
AXES_COOLOFF_TIME = datetime.timedelta(minutes=int(env("WEBMAIL_LOGIN_LOCKOUT_MINUTES", "15")))
AXES_RESET_ON_SUCCESS = True
# behind the proxy, the address it appended to X-Forwarded-For; else REMOTE_ADDR, headers ignored
AXES_CLIENT_IP_CALLABLE = "accounts.throttling.client_address"
AXES_LOCKOUT_CALLABLE = "accounts.throttling.lockout_response"
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "password", "otp_token"]

# Two-factor login (django-otp, accounts/otp.py): users turn it on in their preferences; with
# WEBMAIL_REQUIRE_2FA, users without it are sent to set it up and may do nothing else until then.
WEBMAIL_REQUIRE_2FA = env_bool("WEBMAIL_REQUIRE_2FA")
OTP_TOTP_ISSUER = "Webmail"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the admin lists devices, never their secrets

LANGUAGE_CODE = env("LANGUAGE_CODE", "en")
LANGUAGES = [("en", _("English")), ("fr", _("French"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", VAR_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Raw messages kept here (POP3 mail): a private directory under var/ by default; operators may name
# any Django storage instead (e.g. storages.backends.s3.S3Storage) with its options as JSON.
WEBMAIL_MAIL_STORAGE = env("WEBMAIL_MAIL_STORAGE", "django.core.files.storage.FileSystemStorage")
_mail_options = json.loads(env("WEBMAIL_MAIL_STORAGE_OPTIONS", "") or "{}")
if WEBMAIL_MAIL_STORAGE.endswith(".FileSystemStorage"):
    _mail_options = {
        "location": env("WEBMAIL_MAIL_DIR", str(VAR_DIR / "mail")),
        "file_permissions_mode": 0o600,
        "directory_permissions_mode": 0o700,
        **_mail_options,
    }
STORAGES["mail"] = {"BACKEND": WEBMAIL_MAIL_STORAGE, "OPTIONS": _mail_options}

# Mail servers that users type may not be on loopback, private or link-local addresses unless the
# operator allows it (a household whose mail server is on the LAN; the tests; the demo).
WEBMAIL_ALLOW_PRIVATE_HOSTS = env_bool("WEBMAIL_ALLOW_PRIVATE_HOSTS")
WEBMAIL_CONNECT_TIMEOUT = float(env("WEBMAIL_CONNECT_TIMEOUT", "15"))
WEBMAIL_MAX_CA_FILE_BYTES = 64 * 1024
# The most a message's attachments may weigh together (bytes, decoded): uploads past it are refused
# with a message naming the limit. Most providers accept 25 MB; the encoded message is a third more.
WEBMAIL_MAX_MESSAGE_BYTES = int(env("WEBMAIL_MAX_MESSAGE_BYTES", str(25 * 1024 * 1024)))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    # axes: failures and lockouts (WARNING) are worth a line; every successful login is not
    "loggers": {"daphne": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
