"""Two-factor login on every request: a user who uses it is only let in by a session that showed
a code (one opened before it was turned on must log in again); with WEBMAIL_REQUIRE_2FA, a user
who does not use it yet is sent to set it up and may do nothing else until then."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from .otp import two_factor_is_on

# What a user who must still set up two-factor login may reach: the setup itself, logging out,
# the language, the health check. (Static files are served before any of this.)
SETUP_VIEWS = frozenset({
    "accounts:two_factor", "accounts:two_factor_start", "accounts:two_factor_confirm",
    "login", "login_code", "logout", "set_language", "healthz",
})  # fmt: skip
OPEN_VIEWS = frozenset({"login", "login_code", "logout", "set_language", "healthz"})


class RequireTwoFactorMiddleware:
    """Runs after django_otp's OTPMiddleware (which says whether the session showed a code)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or user.is_verified():
            return None
        name = request.resolver_match.view_name
        if two_factor_is_on(user):
            if name in OPEN_VIEWS:
                return None
            logout(request)  # a session from before two-factor login was turned on
            messages.info(request, _("Two-factor login is on for you now: log in again."))
            return redirect("login")
        if settings.WEBMAIL_REQUIRE_2FA and name not in SETUP_VIEWS:
            return redirect("accounts:two_factor")
        return None
