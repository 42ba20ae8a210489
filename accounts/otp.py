"""Two-factor login with django-otp: the user's devices (an authenticator app, TOTP, and ten
one-time recovery codes), the forms that check a code, and the login waiting for its code.

A user with a confirmed device is asked for a code after the right password (accounts.twofactor
.login_code) and is not logged in until it is right. Codes are throttled by django-otp itself:
each wrong one doubles the wait before the next try on that device (1, 2, 4 ... seconds).
"""

import base64
import math
import re
import time

import segno
from django import forms
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth import login as auth_login
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_otp import device_classes
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

PENDING_LOGIN = "webmail_pending_login"  # the session key of a login waiting for its code
PENDING_SECONDS = 300


def two_factor_is_on(user):
    """Whether login asks this user for a code: any confirmed device (the app, recovery codes).

    Asked on every request (accounts.middleware): one query over every kind of device, where
    django_otp.user_has_device spends one per kind on a user who has none."""
    if user.is_anonymous:
        return False
    first, *rest = (model.objects.filter(user=user, confirmed=True).values("pk")
                    for model in device_classes())  # fmt: skip
    return first.union(*rest, all=True).exists()


def session_is_verified(user, session):
    """Whether this session showed a code of the user's (django-otp keeps the device it was
    verified by in the session): for the WebSocket, where OTPMiddleware does not run."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.models import Device

    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    device = Device.from_persistent_id(persistent_id) if persistent_id else None
    return device is not None and device.user_id == user.pk and device.confirmed


def get_setup_device_for_user(user):
    """The authenticator app being set up (shown as a QR code), not yet confirmed by a code."""
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()


def recovery_codes_for_user(user):
    device = StaticDevice.objects.filter(user=user, confirmed=True).first()
    return [] if device is None else [token.token for token in device.token_set.order_by("pk")]


def devices_for_code(user, code):
    """Where a typed code may be checked: six digits are the app's, anything else a recovery
    code. Only there, so that a mistyped app code does not slow down the recovery codes."""
    model = TOTPDevice if re.fullmatch(r"\d{6}", code) else StaticDevice
    return model.objects.devices_for_user(user, confirmed=True)


def normalize_code(text):
    return re.sub(r"[\s-]", "", text).lower()


def qr_code_svg(device):
    """The device's otpauth:// address as an inline SVG QR code, drawn here: the secret goes to
    no other service, and the page needs no script."""
    qr = segno.make(device.config_url, error="m")
    title = _("QR code for your authenticator app")
    svg = qr.svg_inline(scale=5, border=3, svgclass="qr-code", lineclass=None, title=title)
    return mark_safe(svg)  # noqa: S308 (segno's markup; the address is only drawn, in paths)


def secret_text(device):
    """The secret as typed into an app by hand: base32, in groups of four."""
    secret = base64.b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


class CodeForm(forms.Form):
    """A code from the app or a recovery code, checked on the devices ``devices(code)`` gives
    (a queryset); ``form.device`` is the one that took it. django-otp throttles each device."""

    code = forms.CharField(
        label=_("Code"),
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )

    def __init__(self, devices, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.devices, self.device = devices, None

    def clean_code(self):
        code = normalize_code(self.cleaned_data["code"])
        with transaction.atomic():  # the failure count must commit, so no raise in here
            device, wait_until = self._check(code)
        if wait_until is not None:
            raise forms.ValidationError(wait_message(wait_until), code="throttled")
        if device is None:
            raise forms.ValidationError(_("That code is not right."), code="invalid")
        self.device = device
        return code

    def _check(self, code):
        """(device that took the code or None, time before which no code is checked or None)."""
        wait_until = None
        for device in self.devices(code).select_for_update():
            allowed, details = device.verify_is_allowed()
            if not allowed:
                wait_until = details.get("locked_until", wait_until)
            elif device.verify_token(code):
                return device, None
        return None, wait_until


def wait_message(until):
    seconds = max(1, math.ceil((until - timezone.now()).total_seconds()))
    if seconds > 60:
        minutes = math.ceil(seconds / 60)
        return ngettext(
            "Too many wrong codes. Try again in %(minutes)d minute.",
            "Too many wrong codes. Try again in %(minutes)d minutes.",
            minutes,
        ) % {"minutes": minutes}
    return ngettext(
        "Too many wrong codes. Try again in %(seconds)d second.",
        "Too many wrong codes. Try again in %(seconds)d seconds.",
        seconds,
    ) % {"seconds": seconds}


class PasswordAgainForm(forms.Form):
    """The user's password again, before a change that weakens the login. Checked through
    authenticate(), so that guesses here are throttled like those on the login page."""

    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, request, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_password(self):
        password = self.cleaned_data["password"]
        user = self.request.user
        checked = authenticate(self.request, username=user.get_username(), password=password)
        if checked is None or checked.pk != user.pk:
            raise forms.ValidationError(_("That is not your password."), code="invalid")
        return password


def start_pending_login(request, user, next_url):
    """The password was right: remember who is logging in, until the code (not logged in)."""
    request.session.cycle_key()
    request.session[PENDING_LOGIN] = {
        "user": user.pk,
        "backend": user.backend,
        "hash": user.get_session_auth_hash(),  # a password changed meanwhile ends it
        "since": time.time(),
        "next": next_url,
    }


def get_pending_login(request):
    """The user whose password was right a moment ago and whose code is awaited, or None."""
    pending = request.session.get(PENDING_LOGIN)
    if not pending or not 0 <= time.time() - pending["since"] < PENDING_SECONDS:
        return None
    user = get_user_model().objects.filter(pk=pending["user"], is_active=True).first()
    if user is None or not constant_time_compare(user.get_session_auth_hash(), pending["hash"]):
        return None
    return user


def finish_pending_login(request, user, device):
    """The code was right: log the user in, verified by that device. Returns where to go."""
    pending = request.session.pop(PENDING_LOGIN)
    auth_login(request, user, backend=pending["backend"])
    otp_login(request, device)
    return pending["next"]
