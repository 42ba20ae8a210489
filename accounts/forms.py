import re
import socket
import ssl

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.forms import PasswordChangeForm
from django.core.validators import ProhibitNullCharactersValidator
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from mailbox.composing.fields import LINE_BREAKS, BadField, ascii_address, parse_address_field
from mailbox.protocols.base import FORBIDDEN_CHARACTERS, Security, is_public_address

from .models import DEFAULT_PORTS, Identity, MailAccount, Preferences, Protocol, Retention, SmtpAuth

HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$"
    r"|^\[?[0-9a-f:.]+\]?$",
    re.IGNORECASE,
)


POP3_FIELDS = ("pop3_retention", "pop3_keep_days", "fetch_interval")
_SERVER_FIELDS = (
    "incoming_protocol", "incoming_host", "incoming_port", "incoming_security", "smtp_host",
    "smtp_port", "smtp_security", "smtp_auth",
)  # fmt: skip


def clean_host(value):
    value = value.strip()
    if not HOSTNAME.match(value):
        raise forms.ValidationError(_("Enter a server name such as imap.example.org."))
    value = value.strip("[]")
    if not settings.WEBMAIL_ALLOW_PRIVATE_HOSTS and _only_private_addresses(value):
        raise forms.ValidationError(
            _(
                "This server is on a private, loopback or link-local address, which this webmail "
                "does not connect to. Ask your operator if your mail server is on the local "
                "network."
            )
        )
    return value


def _only_private_addresses(host):
    """True when the host resolves, and only to non-public addresses (the connect re-checks)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False  # the connection check reports an unknown host in its own words
    return not any(is_public_address(info[4][0]) for info in infos)


def checked_pem(raw):
    """``raw`` bytes as the PEM text of one or more certificates that TLS can load; a
    ValidationError otherwise (bound the size first: the parser reads all of it)."""
    try:
        pem = raw.decode("ascii")
        ssl.create_default_context(cadata=pem)
    except (UnicodeDecodeError, ssl.SSLError, ValueError) as exc:
        raise forms.ValidationError(
            _("This is not a PEM certificate (-----BEGIN CERTIFICATE-----).")
        ) from exc
    return pem


def no_line_breaks(value):
    if not FORBIDDEN_CHARACTERS.isdisjoint(value):
        raise forms.ValidationError(_("Line breaks and NUL characters are not allowed."))


class MailAccountForm(forms.ModelForm):
    incoming_password = forms.CharField(
        label=_("password"),
        strip=False,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        validators=[no_line_breaks],
    )
    smtp_password = forms.CharField(
        label=_("password"),
        strip=False,
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        validators=[no_line_breaks],
    )
    ca_file = forms.FileField(
        label=_("CA certificate file (PEM)"),
        required=False,
        help_text=_("Only for a server whose certificate is signed by its own authority."),
    )
    save_anyway = forms.BooleanField(
        label=_("Save anyway, without a working connection"), required=False
    )

    class Meta:
        model = MailAccount
        fields = [
            "display_name",
            "email",
            "incoming_protocol",
            "incoming_host",
            "incoming_security",
            "incoming_port",
            "incoming_username",
            "smtp_host",
            "smtp_security",
            "smtp_port",
            "smtp_auth",
            "smtp_username",
            "pop3_retention",
            "pop3_keep_days",
            "fetch_interval",
        ]
        widgets = {"incoming_protocol": forms.RadioSelect, "pop3_retention": forms.RadioSelect}
        help_texts = {
            "incoming_username": _("Often your full email address."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["incoming_port"].required = False
        self.fields["smtp_port"].required = False
        self.fields["incoming_username"].required = False
        for name in ("incoming_username", "smtp_username", "display_name"):
            self.fields[name].validators.append(no_line_breaks)
        for name in POP3_FIELDS:  # only POP3 accounts use them: their defaults otherwise
            self.fields[name].required = False
        for name in ("incoming_port", "smtp_port"):  # one sentence for every impossible port
            self.fields[name].error_messages["min_value"] = _("A port is a number from 1 to 65535.")
        self.fields["pop3_keep_days"].error_messages["min_value"] = _(
            "Enter a number of days from 1 to 3650."
        )
        if self.instance.pk:
            keep = _("Leave empty to keep the current password.")
            self.fields["incoming_password"].help_text = keep
            self.fields["smtp_password"].help_text = keep

    def clean_incoming_host(self):
        return clean_host(self.cleaned_data["incoming_host"])

    def clean_smtp_host(self):
        return clean_host(self.cleaned_data["smtp_host"])

    def clean_ca_file(self):
        upload = self.cleaned_data.get("ca_file")
        if not upload:
            return None
        if upload.size > settings.WEBMAIL_MAX_CA_FILE_BYTES:
            raise forms.ValidationError(_("A CA certificate file is a few kilobytes at most."))
        return checked_pem(upload.read())

    @property
    def ca_to_keep(self):
        """The PEM text of the CA uploaded at this try (or kept from an earlier one), checked:
        the page carries it to the next try, as a browser cannot send a file again. "" if none."""
        return (getattr(self, "cleaned_data", None) or {}).get("ca_file") or ""

    def _take_kept_ca(self, data):
        """A CA kept from an earlier try (``ca_kept``, text the browser sends back, so untrusted:
        bounded and checked again like an upload) serves unless a new file replaces it."""
        kept = self.data.get("ca_kept")
        if not kept or data.get("ca_file") or "ca_file" in self.errors:
            return
        if len(kept) > settings.WEBMAIL_MAX_CA_FILE_BYTES:
            self.add_error("ca_file", _("A CA certificate file is a few kilobytes at most."))
            return
        try:
            # a form sends its line breaks as CRLF: the PEM is stored as it was uploaded
            data["ca_file"] = checked_pem(kept.replace("\r\n", "\n").encode("utf-8", "replace"))
        except forms.ValidationError as error:
            self.add_error("ca_file", error)

    def clean(self):
        data = super().clean()
        self._take_kept_ca(data)
        self._default_port("incoming_port", data.get("incoming_protocol"), "incoming_security")
        self._default_port("smtp_port", "smtp", "smtp_security")
        for name in ("incoming_port", "smtp_port"):
            port = data.get(name)
            if port is not None and not 0 < port < 65536:
                self.add_error(name, _("A port is a number from 1 to 65535."))
        if not data.get("incoming_username") and data.get("email"):
            data["incoming_username"] = data["email"]
        for name in POP3_FIELDS:
            if data.get(name) in (None, ""):
                data[name] = getattr(self.instance, name)
        if not self.instance.incoming_password_encrypted and not data.get("incoming_password"):
            self.add_error("incoming_password", _("Enter the password of this mail account."))
        if data.get("smtp_auth") == SmtpAuth.CUSTOM:
            if not data.get("smtp_username"):
                self.add_error("smtp_username", _("Enter the user name for the outgoing server."))
            if not data.get("smtp_password") and not self.instance.smtp_password_encrypted:
                self.add_error("smtp_password", _("Enter the password for the outgoing server."))
        keep_days = data.get("pop3_keep_days")
        if data.get("pop3_retention") == Retention.DAYS and not (keep_days and keep_days <= 3650):
            self.add_error("pop3_keep_days", _("Enter a number of days from 1 to 3650."))
        if self.instance.pk and not self.errors:
            self._keep_pop3_mail(data)
            self._require_password_for_new_servers(data)
        self._refuse_the_same_mailbox_twice(data)
        return data

    def _refuse_the_same_mailbox_twice(self, data):
        """One account per mailbox and user: the same user name on the same incoming server
        (host, any case, with or without its final dot; port) would fetch the same mail twice
        (and, by POP3 with deletion, race the other copy for it)."""
        host = (data.get("incoming_host") or "").rstrip(".").lower()
        port, username = data.get("incoming_port"), data.get("incoming_username")
        if not (host and port and username) or self.instance.user_id is None:
            return
        same = MailAccount.objects.filter(
            Q(incoming_host__iexact=host) | Q(incoming_host__iexact=host + "."),
            user_id=self.instance.user_id, incoming_port=port, incoming_username__iexact=username,
        ).exclude(pk=self.instance.pk).first()  # fmt: skip
        if same is not None:
            said = _(
                "You already have this mailbox as %(email)s: the same user name (%(username)s) "
                "on the same server (%(host)s, port %(port)d). Edit that account instead."
            )
            self.add_error(None, said % {"email": same.email, "username": username, "host": host,
                                         "port": port})  # fmt: skip

    def _keep_pop3_mail(self, data):
        """Mail a POP3 account downloaded lives only here: it cannot become an IMAP account."""
        from mailbox.models import Message

        saved = MailAccount.objects.get(pk=self.instance.pk)
        if (
            saved.incoming_protocol != Protocol.POP3
            or data.get("incoming_protocol") == saved.incoming_protocol
        ):
            return
        kept = Message.objects.filter(folder__account=saved).count()
        if kept:
            self.add_error("incoming_protocol", ngettext(
                "This account keeps %(count)d message downloaded by POP3, which would be lost. "
                "To read this mailbox by IMAP, add it as another account.",
                "This account keeps %(count)d messages downloaded by POP3, which would be lost. "
                "To read this mailbox by IMAP, add it as another account.", kept,
            ) % {"count": kept})  # fmt: skip

    def _require_password_for_new_servers(self, data):
        """A saved password goes only to the server it was typed for: a changed host, port,
        security or protocol needs it typed again (else anyone holding a session could send it
        to a server of their choosing by the connection test alone)."""
        saved = MailAccount.objects.get(pk=self.instance.pk)
        candidate = MailAccount(**{name: data.get(name) for name in _SERVER_FIELDS})
        candidate.ca_pem = data.get("ca_file") or saved.ca_pem  # a new CA is a new server too
        candidate.incoming_password_server = saved.incoming_password_server
        candidate.smtp_password_server = saved.smtp_password_server
        if data.get("incoming_password"):
            candidate.incoming_password = data["incoming_password"]
        if data.get("smtp_password"):
            candidate.smtp_password = data["smtp_password"]
        again = _("type the password again. A saved password is only ever sent to the server it "
                  "was typed for.")  # fmt: skip
        if not candidate.may_send_incoming_password():
            self.add_error("incoming_password", _("You changed the incoming server (or the CA "
                           "trusted for it): %(again)s") % {"again": again})  # fmt: skip
        elif not candidate.may_send_smtp_password():
            field = "incoming_password" if data.get("smtp_auth") == SmtpAuth.SAME else (
                "smtp_password")  # fmt: skip
            changed = _("You changed the outgoing server, or how it logs in, and it would use "
                        "this password: %(again)s")  # fmt: skip
            self.add_error(field, changed % {"again": again})

    def _default_port(self, field, protocol, security_field):
        data = self.cleaned_data
        if data.get(field) is None and protocol and data.get(security_field):
            data[field] = DEFAULT_PORTS[protocol][Security(data[security_field])]

    def save(self, commit=True):
        account = super().save(commit=False)
        data = self.cleaned_data
        account.incoming_port = data["incoming_port"]
        account.smtp_port = data["smtp_port"]
        account.incoming_username = data["incoming_username"]
        if data.get("incoming_password"):
            account.incoming_password = data["incoming_password"]
        if data.get("smtp_auth") != SmtpAuth.CUSTOM:
            account.smtp_username = ""
            account.smtp_password = ""
        elif data.get("smtp_password"):
            account.smtp_password = data["smtp_password"]
        if data.get("ca_file"):
            account.ca_pem = data["ca_file"]
        if commit:
            account.save()
        return account


PROTOCOL_EXPLANATIONS = {
    Protocol.IMAP: _("IMAP keeps your mail on the server and in sync across all your devices."),
    Protocol.POP3: _("POP3 downloads your mail here and can remove it from the server."),
}

RETENTION_EXPLANATIONS = {
    Retention.DELETE: _(
        "Uses the least space on the server and leaves no copy there, but other devices and "
        "programs will not see the mail once this webmail has it."
    ),
    Retention.DAYS: _(
        "A phone or another program can still download new mail for that many days; after "
        "that the server's copy goes, saving space there."
    ),
    Retention.KEEP: _(
        "Every device can still download everything, but the server keeps a copy of all your "
        "mail, which uses space there and may fill your quota."
    ),
}


class ThrottledPasswordChangeForm(PasswordChangeForm):
    """Django's password change, whose old password is checked through authenticate(): a
    borrowed session's guesses count towards the login lockout (django-axes) like the login
    page's, instead of being answered without limit."""

    def __init__(self, user, *args, request=None, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.request = request

    def clean_old_password(self):
        old = self.cleaned_data["old_password"]
        checked = authenticate(self.request, username=self.user.get_username(), password=old)
        if checked is None or checked.pk != self.user.pk:
            raise forms.ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return old


class PreferencesForm(forms.ModelForm):
    class Meta:
        model = Preferences
        fields = ["theme", "mark_read_after", "notify_new_mail", "conversations"]
        widgets = {"theme": forms.RadioSelect, "mark_read_after": forms.RadioSelect}


# --- identities ----------------------------------------------------------------------------------

MAX_SIGNATURE_CHARS = 20_000


class OneLineField(forms.CharField):
    """A value that goes into a header we write (RFC 5322 2.2: one line, folded only by us):
    any line break Python knows, or a NUL, is refused with a message naming the field, before
    anything strips it away silently. Only spaces and tabs around the value are dropped."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, strip=False, **kwargs)
        # a NUL gets this field's own message (to_python), not Django's nameless one
        self.validators = [
            v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)
        ]

    def to_python(self, value):
        value = super().to_python(value)
        if not LINE_BREAKS.isdisjoint(value):
            raise forms.ValidationError(
                _("The %(field)s cannot contain a line break or a NUL character."),
                code="line_break",
                params={"field": self.label},
            )
        return value.strip(" \t")


class IdentityForm(forms.ModelForm):
    """Name, address, reply-to and signatures of one identity (the account is the page's)."""

    name = OneLineField(
        label=_("name"),
        max_length=200,
        required=False,
        help_text=_("As your correspondents see it, such as Ann Smith."),
    )
    address = OneLineField(label=_("email address"), max_length=254)
    reply_to = OneLineField(label=_("reply-to"), max_length=998, required=False,
                            help_text=_("Where replies go, if not to the address above: one or "
                                        "more addresses, separated by commas."))  # fmt: skip
    signature_text = forms.CharField(
        label=_("signature (plain text)"), required=False, max_length=MAX_SIGNATURE_CHARS,
        strip=False, widget=forms.Textarea(attrs={"rows": 4}),
    )  # fmt: skip
    signature_html = forms.CharField(
        label=_("signature (formatted)"), required=False, max_length=MAX_SIGNATURE_CHARS,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("HTML; anything unsafe (scripts, forms, event handlers) is removed on save."),
    )  # fmt: skip

    class Meta:
        model = Identity
        fields = ["name", "address", "reply_to", "signature_text", "signature_html"]

    def clean_address(self):
        value = self.cleaned_data["address"]
        try:  # as SMTP will be given it: a non-ASCII domain in IDNA, an ASCII local part
            return ascii_address("address", value)
        except BadField as exc:
            if "non-ASCII" in exc.reason:
                raise forms.ValidationError(
                    _("Mail cannot be sent from an address with accents or other non-ASCII "
                      "letters before the @."), code="invalid",
                ) from None  # fmt: skip
            raise forms.ValidationError(
                _("“%(value)s” is not an email address (it looks like name@example.org)."),
                code="invalid", params={"value": value},
            ) from None  # fmt: skip

    def clean_reply_to(self):
        """The reply-to addresses, written back in one standard form ("Ann <a@b.org>, c@d.org")."""
        value = self.cleaned_data["reply_to"]
        try:
            addresses = parse_address_field("reply_to", value)
        except BadField as error:
            raise forms.ValidationError(
                _("“%(value)s” in the reply-to is not an email address."),
                code="invalid", params={"value": error.value},
            ) from None  # fmt: skip
        written = ", ".join(str(address) for address in addresses)
        if len(written) > 998:
            raise forms.ValidationError(_("The reply-to is too long: 998 characters at most."))
        return written

    def clean_signature_text(self):
        return self.cleaned_data["signature_text"].replace("\r\n", "\n").rstrip()
