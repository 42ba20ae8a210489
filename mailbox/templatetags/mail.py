"""Small filters for the mail screens."""

from django import template
from django.template.defaultfilters import date as format_date
from django.utils import timezone
from django.utils.translation import gettext as _

from mailbox.models import Role

register = template.Library()


@register.filter
def list_date(value, now=None):
    """A date as a mail list shows it: the time today, day and month this year, else the date.

    In the user's time zone (the one activated for the request)."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    today = timezone.localtime(now or timezone.now()).date()
    if local.date() == today:
        return format_date(local, "TIME_FORMAT")
    if local.year == today.year and local.date() <= today:
        return format_date(local, _("N j"))
    return format_date(local, "SHORT_DATE_FORMAT")


@register.filter
def folder_label(folder):
    """The Inbox as "Inbox" in the user's language, any other folder by its last name."""
    if folder.role == Role.INBOX or folder.name.upper() == "INBOX":
        return _("Inbox")
    return folder.leaf_name


@register.filter
def sender(message):
    return message.from_name or message.from_address or _("(unknown sender)")


@register.filter
def previewable(part):
    """Whether an attachment gets a Preview link (the preview view checks its bytes again)."""
    from mailbox.views_download import previewable as kind

    return kind(part) is not None
