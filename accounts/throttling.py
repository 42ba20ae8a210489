"""Login throttling with django-axes: who a failed login is counted against, the limits, and the
answer a locked-out client gets (settings: AXES_*, WEBMAIL_LOGIN_*; README "Configuration").

Every password check goes through django.contrib.auth.authenticate() (the login page, the admin's
login, the password asked again to turn two-factor login off), where axes' backend refuses a
locked-out client before the password is even looked at and counts each failure. A user name that
does not exist is counted exactly like one that does, so the answers never tell them apart.
"""

import ipaddress
import math

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.shortcuts import render


def client_address(request):
    """The address failures are counted against (AXES_CLIENT_IP_CALLABLE).

    REMOTE_ADDR, unless the site is behind its TLS proxy: then the last X-Forwarded-For entry,
    the one that proxy appended (earlier entries are whatever the client sent, and never
    trusted). Without the proxy the header is ignored altogether. An IPv6 client counts as its
    /64, the block one customer gets, so that walking through its own addresses gains nothing."""
    address = _address(request.META.get("REMOTE_ADDR", ""))
    if settings.WEBMAIL_BEHIND_TLS_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1]
        address = _address(forwarded) or address
    if address is None:
        return None
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    return str(address)


def _address(text):
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    return getattr(address, "ipv4_mapped", None) or address


class LoginThrottle(AxesDatabaseHandler):
    """axes' database handler with one limit for each way of counting: AXES_FAILURE_LIMIT
    failures of one user name from one address (a forgotten password locks only that name, from
    there), WEBMAIL_LOGIN_ADDRESS_FAILURE_LIMIT failures from one address whatever the names
    (one client trying a password on many accounts). Both within AXES_COOLOFF_TIME of the last
    failure."""

    def get_failures(self, request, credentials=None):
        recent = AccessAttempt.objects.filter(
            ip_address=request.axes_ip_address,
            attempt_time__gte=get_cool_off_threshold(request),
        )
        by_name = _failures(recent.filter(username=get_client_username(request, credentials)))
        if _failures(recent) >= settings.WEBMAIL_LOGIN_ADDRESS_FAILURE_LIMIT:
            return max(by_name, settings.AXES_FAILURE_LIMIT)
        return by_name

    def reset_user_attempts(self, request, credentials=None):
        """A successful login forgets the failures of that name from that address only: logging
        in to one's own account must not clear an address that tried others."""
        count, _by_model = AccessAttempt.objects.filter(
            ip_address=request.axes_ip_address,
            username=get_client_username(request, credentials),
        ).delete()
        return count


def _failures(attempts):
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


def lockout_minutes(request=None):
    return math.ceil(get_cool_off(request).total_seconds() / 60)


def lockout_response(request, original_response=None, credentials=None):
    """The answer to a locked-out client (AXES_LOCKOUT_CALLABLE), whatever the user name: each
    try while locked starts the wait again (axes' AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT),
    so the full wait is the true one."""
    minutes = lockout_minutes(request)
    response = render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response
