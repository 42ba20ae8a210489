# The webmail image: one image for every process (web, worker, beat, watcher); the compose file
# picks the process with `command:`. Without one, the container runs the web process.
FROM python:3.11-slim-bookworm

# PYTHONPATH=/app: `pip install .` also puts the packages in site-packages, but settings.py finds
# templates/, static/ and locale/ next to the package it is imported from, so the copy in /app must
# be the one imported, whichever entry point (daphne, celery, manage.py) starts the process.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=webmail.settings \
    WEBMAIL_VAR_DIR=/var/lib/webmail \
    STATIC_ROOT=/app/staticfiles

RUN groupadd --system --gid 1000 webmail \
    && useradd --system --uid 1000 --gid webmail --home-dir /var/lib/webmail --no-create-home \
        --shell /usr/sbin/nologin webmail \
    && mkdir -p /var/lib/webmail \
    && chown webmail:webmail /var/lib/webmail

WORKDIR /app

COPY pyproject.toml ./
COPY webmail/ webmail/
COPY accounts/ accounts/
COPY mailbox/ mailbox/
RUN pip install --no-cache-dir . \
    && rm -rf build *.egg-info

COPY manage.py ./
COPY templates/ templates/
COPY static/ static/
COPY locale/ locale/

# Build-time values only, set for this one step and not kept in the image. DEBUG stays 0: in debug
# mode settings.py picks the plain static storage, which writes no manifest, and whitenoise's
# manifest storage (used at run time) would then fail on every {% static %}. So the dummy secret
# has to pass the production checks: 32+ characters, and a well-formed (all-zero) Fernet key.
RUN DEBUG=0 \
    SECRET_KEY=build-time-only-dummy-secret-key-not-used-at-run-time \
    WEBMAIL_ENCRYPTION_KEYS=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    python manage.py collectstatic --noinput

USER webmail

EXPOSE 8000
VOLUME /var/lib/webmail

# Django answers 400 to a Host header that ALLOWED_HOSTS does not list, so the probe sends the
# first allowed host (a leading dot or a "*" turned into a name that matches it).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; host = (os.environ.get('ALLOWED_HOSTS') or 'localhost').split(',')[0].strip(); host = 'localhost' if host == '*' else host.lstrip('*.') or 'localhost'; urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:8000/healthz', headers={'Host': host}), timeout=8)"]

# Migrations run on every start (a no-op when there is nothing to apply); exec hands PID 1 to
# daphne so that `docker stop` reaches it.
CMD ["sh", "-c", "python manage.py migrate --noinput && exec daphne -b 0.0.0.0 -p 8000 webmail.asgi:application"]
