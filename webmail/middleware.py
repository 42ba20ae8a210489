"""The browser's time zone for each request: mail dates show in the user's own time. And the
Content-Security-Policy of every page, with the page's own WebSocket origin."""

import zoneinfo

from csp.middleware import CSPMiddleware
from django.core.exceptions import DisallowedHost
from django.utils import timezone

COOKIE = "tz"  # set by static/js/live.js from Intl.DateTimeFormat().resolvedOptions().timeZone


def time_zone_middleware(get_response):
    def middleware(request):
        zone = _zone(request.COOKIES.get(COOKIE, ""))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        return get_response(request)

    return middleware


def _zone(name):
    if not name or len(name) > 64:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's policy (settings.CONTENT_SECURITY_POLICY), with connect-src extended by the
    origin of this page's WebSocket (static/js/live.js opens ws[s]://<host>/ws/live/): 'self'
    covers it in CSP Level 3 browsers, older ones (Safari before 15.4) need it spelled out.

    A response that carries its own policy (the message frame, downloads) keeps it untouched."""

    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only)
        try:
            host = request.get_host()
        except DisallowedHost:  # the 400 for a host we do not serve: 'self' is enough
            return parts
        if host.startswith("["):  # CSP has no syntax for an IPv6 literal: 'self' must do
            return parts
        scheme = "wss" if request.is_secure() else "ws"
        update = dict(parts.update or {})
        update["connect-src"] = [*update.get("connect-src", ()), f"{scheme}://{host}"]
        parts.update = update
        return parts
