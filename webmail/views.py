import redis
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect
from django.template import loader
from django.templatetags.static import static
from django.views import defaults
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_safe

RETRY_AFTER_SECONDS = 30


@login_required
def home(request):
    return redirect("mailbox:home")


@require_safe
@cache_control(public=True, max_age=86400)
def favicon(request):
    """/favicon.ico, which browsers and tools ask for whatever the page's <link rel="icon">
    says: a temporary redirect to the SVG icon. Not permanent: the target's name carries a hash
    of its content (whitenoise's manifest storage), and a new icon gets a new name."""
    return HttpResponseRedirect(static("favicon.svg"))


def _database_problem():
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any driver error means "not answering"
        return f"database: {exc.__class__.__name__}: {exc}".strip()
    return None


def _redis_problem():
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2
        )
        client.ping()
    except Exception as exc:  # connection refused, auth, timeout ...
        return f"redis: {exc.__class__.__name__}: {exc}".strip()
    return None


@never_cache
def healthz(request):
    """200 when the database and Redis answer, 503 naming what does not."""
    problems = [p for p in (_database_problem(), _redis_problem()) if p]
    if problems:
        return JsonResponse({"status": "unavailable", "problems": problems}, status=503)
    return JsonResponse({"status": "ok"})


def server_error(request):
    """The 500 handler: 503.html (with Retry-After) when the database does not answer now, as
    while PostgreSQL restarts; else Django's 500.html. Both with an empty context.

    The database is asked again rather than the exception looked at: under ASGI the handler
    runs in another thread than the one that failed, without the exception, and a request can
    fail on the database in a middleware as well as in its view. A refused connection answers
    at once, and the connect timeout bounds the rest (settings.DATABASES)."""
    problem = _database_problem()
    connection.close()  # a broken one is not kept; under ASGI, this thread's own is not left
    if problem is None:
        return defaults.server_error(request)
    response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
