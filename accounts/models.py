import hashlib

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
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


class Retention(models.TextChoices):
    """What a POP3 fetch leaves on the server (RFC 1939 DELE, final at QUIT)."""

    DELETE = "delete", _("Remove it from the server once it is downloaded")
    DAYS = "days", _("Keep it on the server for some days, then remove it")
    KEEP = "keep", _("Keep it on the server")


FETCH_INTERVALS = [
    (1, _("Every minute")),
    (5, _("Every 5 minutes")),
    (15, _("Every 15 minutes")),
    (30, _("Every 30 minutes")),
    (60, _("Every hour")),
    (0, _("Only when I press “Check now”")),
]


# written only by the workers, with conditional updates (mailbox.sync.lease and the sync/fetch)
WORKER_STATE = frozenset({"sync_lease_until", "sync_lease_token", "sync_again", "synced_at"})


def server_fingerprint(kind, host, port, security, ca_pem=""):
    """Which server a stored password was typed for: ``kind`` (the protocol, or "smtp-same" /
    "smtp-custom"), host, port, security and the CA trusted for it (another CA could vouch for
    another server under the same name). A password goes to no other server."""
    ca = hashlib.sha256((ca_pem or "").strip().encode()).hexdigest()
    identity = f"{kind}|{(host or '').strip().lower().rstrip('.')}|{port}|{security}|{ca}"
    return hashlib.sha256(identity.encode()).hexdigest()


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
    # The servers the stored passwords were typed for (server_fingerprint): a changed host, port
    # or security needs the password typed again, and the endpoints refuse to send it elsewhere.
    incoming_password_server = models.CharField(max_length=64, blank=True, editable=False)
    smtp_password_server = models.CharField(max_length=64, blank=True, editable=False)

    # POP3 only: what stays on the server, and how often to fetch
    pop3_retention = models.CharField(
        _("after download"), max_length=6, choices=Retention.choices, default=Retention.DAYS
    )
    pop3_keep_days = models.PositiveIntegerField(_("days to keep on the server"), default=14)
    fetch_interval = models.PositiveIntegerField(
        _("check for new mail"), choices=FETCH_INTERVALS, default=5
    )
    # Some servers (Gmail, some Exchange) file a copy of what they relay: no APPEND to Sent then
    server_saves_sent = models.BooleanField(
        _("the server files sent mail itself"),
        default=False,
        help_text=_("Tick this if the server puts a copy of each sent message in Sent by itself."),
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

    def save(self, *args, **kwargs):
        """Passwords typed since the load are confirmed for the servers named now.

        An update never writes the sync and fetch state (the lease, "sync again", the time of
        the last check): workers change those with conditional updates while a form or the
        admin holds an older copy of the account, which would otherwise write a finished
        worker's lease back (and nobody would check the account until it expired)."""
        if getattr(self, "_incoming_password_typed", False):
            self.incoming_password_server = self.incoming_server()
            if self.smtp_auth == SmtpAuth.SAME:
                self.smtp_password_server = self.smtp_server()
        if self.smtp_auth == SmtpAuth.CUSTOM and getattr(self, "_smtp_password_typed", False):
            self.smtp_password_server = self.smtp_server()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "incoming_password_server",
                                       "smtp_password_server"}  # fmt: skip
        elif self.pk is not None and not self._state.adding:
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name not in WORKER_STATE
            ]
        super().save(*args, **kwargs)
        self._incoming_password_typed = self._smtp_password_typed = False

    @property
    def is_pop3(self):
        return self.incoming_protocol == Protocol.POP3

    @property
    def incoming_password(self):
        return crypto.decrypt(self.incoming_password_encrypted)

    @incoming_password.setter
    def incoming_password(self, value):
        """A password typed now: confirmed for the servers this account names when saved."""
        self.incoming_password_encrypted = crypto.encrypt(value)
        self._incoming_password_typed = True

    @property
    def smtp_password(self):
        return crypto.decrypt(self.smtp_password_encrypted)

    @smtp_password.setter
    def smtp_password(self, value):
        self.smtp_password_encrypted = crypto.encrypt(value)
        self._smtp_password_typed = bool(value)

    def incoming_server(self):
        return server_fingerprint(
            self.incoming_protocol, self.incoming_host, self.incoming_port,
            self.incoming_security, self.ca_pem,
        )  # fmt: skip

    def smtp_server(self):
        kind = f"smtp-{self.smtp_auth}"
        return server_fingerprint(
            kind, self.smtp_host, self.smtp_port, self.smtp_security, self.ca_pem
        )

    def may_send_incoming_password(self):
        """Whether the incoming password may go to the incoming server as it is named now:
        typed since this object was loaded, or saved for exactly that server."""
        typed = getattr(self, "_incoming_password_typed", False)
        return typed or self.incoming_password_server == self.incoming_server()

    def may_send_smtp_password(self):
        """The same for what the outgoing server gets: the incoming password ("same"), or the
        outgoing one ("custom")."""
        if self.smtp_auth == SmtpAuth.NONE:
            return True
        attribute = "_incoming_password_typed" if self.smtp_auth == SmtpAuth.SAME else (
            "_smtp_password_typed")  # fmt: skip
        return getattr(self, attribute, False) or self.smtp_password_server == self.smtp_server()


class Identity(models.Model):
    """A name and address to send as, with its reply-to and signature; one mail account has one
    or more (the first made from the account's own name and address)."""

    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="identities")
    name = models.CharField(_("name"), max_length=200, blank=True)
    address = models.EmailField(_("email address"))
    reply_to = models.CharField(_("reply-to"), max_length=998, blank=True)
    signature_text = models.TextField(_("signature (plain text)"), blank=True)
    signature_html = models.TextField(_("signature (formatted)"), blank=True)
    is_default = models.BooleanField(_("default for this account"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account_id", "-is_default", "address", "id"]
        verbose_name = _("identity")
        verbose_name_plural = _("identities")

    def __str__(self):
        return f"{self.name} <{self.address}>" if self.name else self.address


class Theme(models.TextChoices):
    SYSTEM = "system", _("Follow the system")
    LIGHT = "light", _("Light")
    DARK = "dark", _("Dark")


class MarkRead(models.IntegerChoices):
    IMMEDIATELY = 0, _("As soon as it is opened")
    AFTER_3S = 3, _("After 3 seconds")
    AFTER_10S = 10, _("After 10 seconds")
    NEVER = -1, _("Never: I mark mail read myself")


LIST_WIDTH_MIN, LIST_WIDTH_MAX = 240, 2400  # CSS pixels; the screen narrows it further
UNDO_SEND_CHOICES = [
    (0, _("None: send at once")),
    (5, _("5 seconds")),
    (10, _("10 seconds")),
    (20, _("20 seconds")),
    (30, _("30 seconds")),
]


class Preferences(models.Model):
    """How one portal user likes the mail screens."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True
    )
    theme = models.CharField(_("theme"), max_length=6, choices=Theme.choices, default=Theme.SYSTEM)
    mark_read_after = models.IntegerField(
        _("mark a message read"), choices=MarkRead.choices, default=MarkRead.IMMEDIATELY
    )
    undo_send_seconds = models.IntegerField(
        _("time to undo a send"), choices=UNDO_SEND_CHOICES, default=10
    )
    compose_html = models.BooleanField(_("write formatted mail by default"), default=True)
    # off by default: the browser asks its own permission too, once the user turns it on
    notify_new_mail = models.BooleanField(
        _("show a desktop notification for new mail in the Inbox"), default=False
    )
    conversations = models.BooleanField(_("group messages into conversations"), default=True)

    # the width of the mail screen's message list in CSS pixels, as the user dragged it; None: the
    # screen's own default (templates/mailbox/mail.html, static/js/panes.js)
    list_width = models.PositiveSmallIntegerField(
        _("width of the message list"),
        null=True,
        blank=True,
        validators=[MinValueValidator(LIST_WIDTH_MIN), MaxValueValidator(LIST_WIDTH_MAX)],
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
