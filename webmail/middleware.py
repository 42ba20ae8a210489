"""The browser's time zone for each request: mail dates show in the user's own time."""

import zoneinfo

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
