from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from mailbox.protocols.base import Security

from . import crypto


class Protocol(models.TextChoices):
    IMAP = "imap", "IMAP"
    POP3 = "pop3", "POP3"


class SecurityChoice(models.TextChoices):
    TLS = Security.TLS.value, _("TLS (implicit)")
    STARTTLS = Security.STARTTLS.value, _("STARTTLS")
    NONE = Security.NONE.value, _("None (unencrypted)")


class SmtpAuth(models.TextChoices):
    SAME = "same", _("Same user name and password as incoming")
    CUSTOM = "custom", _("Another user name and password")
    NONE = "none", _("No authentication")


DEFAULT_PORTS = {
    Protocol.IMAP: {Security.TLS: 993, Security.STARTTLS: 143, Security.NONE: 143},
    Protocol.POP3: {Security.TLS: 995, Security.STARTTLS: 110, Security.NONE: 110},
    "smtp": {Security.TLS: 465, Security.STARTTLS: 587, Security.NONE: 25},
}


class MailAccount(models.Model):
    """One set of server credentials: an incoming IMAP or POP3 server and an outgoing SMTP one."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    display_name = models.CharField(_("your name"), max_length=200, blank=True)
    email = models.EmailField(_("email address"))

    incoming_protocol = models.CharField(
        _("incoming protocol"), max_length=4, choices=Protocol.choices, default=Protocol.IMAP
    )
    incoming_host = models.CharField(_("incoming server"), max_length=253)
    incoming_port = models.PositiveIntegerField(_("port"))
    incoming_security = models.CharField(
        _("security"), max_length=8, choices=SecurityChoice.choices, default=Security.TLS
    )
    incoming_username = models.CharField(_("user name"), max_length=320)
    incoming_password_encrypted = models.TextField(editable=False)

    smtp_host = models.CharField(_("outgoing (SMTP) server"), max_length=253)
    smtp_port = models.PositiveIntegerField(_("port"))
    smtp_security = models.CharField(
        _("security"), max_length=8, choices=SecurityChoice.choices, default=Security.STARTTLS
    )
    smtp_auth = models.CharField(
        _("authentication"), max_length=6, choices=SmtpAuth.choices, default=SmtpAuth.SAME
    )
    smtp_username = models.CharField(_("user name"), max_length=320, blank=True)
    smtp_password_encrypted = models.TextField(blank=True, editable=False)

    ca_pem = models.TextField(
        _("trusted CA certificate"),
        blank=True,
        help_text=_("PEM certificate(s) trusted instead of the system's for this account."),
    )
    last_error = models.TextField(blank=True)
    # One sync at a time per account: a lease that expires (a killed worker frees it by time).
    sync_lease_until = models.DateTimeField(null=True, editable=False)
    sync_lease_token = models.CharField(max_length=32, blank=True, editable=False)
    sync_again = models.BooleanField(default=False, editable=False)  # asked for while busy
    synced_at = models.DateTimeField(null=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["email", "id"]
        verbose_name = _("mail account")

    def __str__(self):
        return self.email

    @property
    def incoming_password(self):
        return crypto.decrypt(self.incoming_password_encrypted)

    @incoming_password.setter
    def incoming_password(self, value):
        self.incoming_password_encrypted = crypto.encrypt(value)

    @property
    def smtp_password(self):
        return crypto.decrypt(self.smtp_password_encrypted)

    @smtp_password.setter
    def smtp_password(self, value):
        self.smtp_password_encrypted = crypto.encrypt(value)


class Theme(models.TextChoices):
    SYSTEM = "system", _("Follow the system")
    LIGHT = "light", _("Light")
    DARK = "dark", _("Dark")


class MarkRead(models.IntegerChoices):
    IMMEDIATELY = 0, _("As soon as it is opened")
    AFTER_3S = 3, _("After 3 seconds")
    AFTER_10S = 10, _("After 10 seconds")
    NEVER = -1, _("Never: I mark mail read myself")


class Preferences(models.Model):
    """How one portal user likes the mail screens."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True
    )
    theme = models.CharField(_("theme"), max_length=6, choices=Theme.choices, default=Theme.SYSTEM)
    mark_read_after = models.IntegerField(
        _("mark a message read"), choices=MarkRead.choices, default=MarkRead.IMMEDIATELY
    )

    def __str__(self):
        return f"preferences of {self.user}"


def get_preferences(user):
    """The user's preferences; the defaults (unsaved) for one who never changed them.

    Asked several times a request (the theme, the screen, mark-read): the answer is kept on
    the user object, whose life is the request's, found or not."""
    try:
        return user.preferences  # Django keeps it on the user once found
    except Preferences.DoesNotExist:
        user.preferences = Preferences(user=user)
        return user.preferences
