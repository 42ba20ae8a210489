"""WEBMAIL_REQUIRE_2FA: the operator requires two-factor login from everyone."""

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.shortcuts import redirect

from .otp import two_factor_is_on

# What a user who must still set up two-factor login may reach: the setup itself, logging out,
# the language, the health check. (Static files are served before any of this.)
SETUP_VIEWS = frozenset({
    "accounts:two_factor", "accounts:two_factor_start", "accounts:two_factor_confirm",
    "login", "login_code", "logout", "set_language", "healthz",
})  # fmt: skip


class RequireTwoFactorMiddleware:
    """A logged-in user without two-factor login is sent to set it up, from every page but the
    setup's own, until it is on. Runs after django_otp's OTPMiddleware."""

    def __init__(self, get_response):
        if not settings.WEBMAIL_REQUIRE_2FA:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or request.resolver_match.view_name in SETUP_VIEWS:
            return None
        if user.is_verified() or two_factor_is_on(user):
            return None
        return redirect("accounts:two_factor")
