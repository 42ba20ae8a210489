"""The admin site, with two-factor login for the users who turned it on (django-otp).

A user with a confirmed device reaches the admin only from a session verified by a code: one
logged in through the two-step login (accounts.twofactor), or through the admin's own login page,
which then asks for the code in the same form. The admin's password check goes through
authenticate(), so axes throttles it like the login page.
"""

from django import forms
from django.contrib.admin import AdminSite as DjangoAdminSite
from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite

from .otp import devices_for_code, normalize_code, two_factor_is_on


class AdminLoginForm(OTPAdminAuthenticationForm):
    """User name, password and, for a user with two-factor login on, a code: the app's six
    digits or a recovery code, told apart by their shape (no device to pick)."""

    otp_token = forms.CharField(
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )
    otp_error_messages = dict(
        OTPAdminAuthenticationForm.otp_error_messages,
        token_required=_("Type the code from your authenticator app, or a recovery code."),
        invalid_token=_("That code is not right."),
    )

    def clean_otp(self, user):
        if user is not None and two_factor_is_on(user):
            super().clean_otp(user)

    def _chosen_device(self, user):
        code = normalize_code(self.cleaned_data.get("otp_token") or "")
        return devices_for_code(user, code).select_for_update().first()

    def _verify_token(self, user, token, device=None):
        return super()._verify_token(user, normalize_code(token), device)

    def _update_form(self, user):
        """django-otp would fill a device list and show the password again: neither is needed."""


class AdminSite(OTPAdminSite):
    login_form = AdminLoginForm
    login_template = "admin/login_otp.html"

    def __init__(self, name="admin"):
        super().__init__(name)

    def has_permission(self, request):
        """Staff, and verified by a code if two-factor login is on for them."""
        user = request.user
        return DjangoAdminSite.has_permission(self, request) and (
            user.is_verified() or not two_factor_is_on(user)
        )
