"""Two-factor login screens: the login in two steps (password, then code) and the user's own
settings (turn it on with a QR code and a first code, the recovery codes, turn it off).

The devices, forms and pending login are in accounts/otp.py; every change to devices is an
action in accounts/actions.py.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from .actions import (
    do_begin_two_factor,
    do_regenerate_recovery_codes,
    do_turn_off_two_factor,
    do_turn_on_two_factor,
)
from .otp import (
    CodeForm,
    PasswordAgainForm,
    devices_for_code,
    finish_pending_login,
    get_pending_login,
    get_setup_device_for_user,
    qr_code_svg,
    recovery_codes_for_user,
    secret_text,
    start_pending_login,
    two_factor_is_on,
)


class LoginView(auth_views.LoginView):
    """The password (throttled by axes); a user with two-factor login on then gets the code
    step, still logged out."""

    redirect_authenticated_user = True

    def form_valid(self, form):
        user = form.get_user()
        if not two_factor_is_on(user):
            return super().form_valid(form)
        start_pending_login(self.request, user, self.get_success_url())
        return redirect("login_code")


@sensitive_post_parameters("code")
@never_cache
@require_http_methods(["GET", "POST"])
def login_code(request):
    """The second step: a code from the app or a recovery code. Logged in only once it is right."""
    user = get_pending_login(request)
    if user is None:
        if request.method == "POST":
            messages.warning(request, _("That took too long: log in again."))
        return redirect("login")
    form = CodeForm(lambda code: devices_for_code(user, code), request.POST or None)
    if request.method == "POST" and form.is_valid():
        return redirect(finish_pending_login(request, user, form.device))
    return render(request, "registration/login_code.html", {"form": form})


@never_cache  # the page can show the secret of an app being set up
@login_required
@require_http_methods(["GET"])
def overview(request):
    """Whether two-factor login is on; the app being set up (QR code, first code); turning off."""
    return _two_factor_page(request)


def _two_factor_page(request, confirm_form=None, off_form=None, status=200, password_form=None):
    user = request.user
    context = {"on": two_factor_is_on(user), "required": settings.WEBMAIL_REQUIRE_2FA}
    if context["on"]:
        context["codes_left"] = len(recovery_codes_for_user(user))
        context["off_form"] = off_form or PasswordAgainForm(request)
    else:
        setup = get_setup_device_for_user(user)
        if setup is not None:
            context.update(setup=setup, qr_code=qr_code_svg(setup), secret=secret_text(setup),
                           confirm_form=confirm_form or CodeForm(None),
                           password_form=password_form or PasswordAgainForm(request))  # fmt: skip
    return render(request, "accounts/twofactor.html", context, status=status)


@login_required
@require_POST
def start(request):
    """A new secret for an authenticator app, shown until the user confirms it with a code."""
    if not two_factor_is_on(request.user):
        do_begin_two_factor(request.user)
    return redirect("accounts:two_factor")


@sensitive_post_parameters("code", "password")
@never_cache
@login_required
@require_POST
def confirm(request):
    """The first code, and the password again: a borrowed session alone cannot put its own
    authenticator app between the owner and their mail."""
    setup = get_setup_device_for_user(request.user)
    if setup is None or two_factor_is_on(request.user):
        return redirect("accounts:two_factor")
    password = PasswordAgainForm(request, request.POST)
    if not password.is_valid():
        return _two_factor_page(request, password_form=password, status=400)
    devices = TOTPDevice.objects.filter(pk=setup.pk, user=request.user, confirmed=False)
    form = CodeForm(lambda code: devices, request.POST)
    if not form.is_valid():
        return _two_factor_page(request, confirm_form=form, status=400)
    do_turn_on_two_factor(request.user, form.device)
    otp_login(request, form.device)  # this session has just shown a code
    messages.success(request, _("Two-factor login is on. Keep these recovery codes somewhere "
                                "safe: each one logs you in once without your phone."))  # fmt: skip
    return redirect("accounts:recovery_codes")


@never_cache  # the codes are secrets: no copy in any cache
@login_required
@require_http_methods(["GET", "POST"])
def recovery_codes(request):
    """The recovery codes left; a new set of ten (the old ones stop working)."""
    if not two_factor_is_on(request.user):
        return redirect("accounts:two_factor")
    if request.method == "POST":
        do_regenerate_recovery_codes(request.user)
        messages.success(request, _("New recovery codes: the old ones no longer work."))
        return redirect("accounts:recovery_codes")
    codes = recovery_codes_for_user(request.user)
    return render(request, "accounts/twofactor_codes.html", {"codes": codes})


@sensitive_post_parameters("password")
@login_required
@require_POST
def turn_off(request):
    """Turning it off needs the password again: a borrowed session alone cannot weaken the login."""
    if not two_factor_is_on(request.user):
        return redirect("accounts:two_factor")
    form = PasswordAgainForm(request, request.POST)
    if not form.is_valid():
        return _two_factor_page(request, off_form=form, status=400)
    do_turn_off_two_factor(request.user)
    if settings.WEBMAIL_REQUIRE_2FA:
        messages.success(request, _("Two-factor login is off. It is required here: set it up "
                                    "again with your new app."))  # fmt: skip
    else:
        messages.success(request, _("Two-factor login is off: your password alone logs you in."))
    return redirect("accounts:two_factor")
