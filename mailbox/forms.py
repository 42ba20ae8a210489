"""Forms for the folder page and the message action endpoint. They check the shape of the input;
the do_* actions check the meaning (a folder name on one line, flags, the same account)."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .models import Folder, Role
from .parsing.bidi import drop_bidi_controls

MAX_IDS = 5000  # one bulk action: a selection of messages, never the whole mailbox at once
MAX_ID = 2**63 - 1  # our ids are 64-bit: anything larger names nothing (and overflows SQL)


class FolderCreateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    parent = forms.ModelChoiceField(
        label=_("Inside"), queryset=Folder.objects.none(), required=False,
        empty_label=_("(top level)"),
    )  # fmt: skip

    def __init__(self, *args, account, **kwargs):
        super().__init__(*args, **kwargs)
        # only this account's folders: a parent elsewhere would make a folder in the wrong tree
        self.fields["parent"].queryset = Folder.objects.filter(account=account)
        self.fields["parent"].label_from_instance = folder_path


class FolderRenameForm(forms.Form):
    name = forms.CharField(label=_("New name"), max_length=200)

    def __init__(self, *args, folder, **kwargs):
        super().__init__(*args, **kwargs)
        self.folder = folder

    def clean_name(self):
        """Refuse a name taken by a sibling here, where it can be said calmly: the server
        would refuse it too, and the cache cannot hold two folders with one name."""
        leaf = self.cleaned_data["name"]
        parent = self.folder.parent_name
        name = leaf if parent is None else f"{parent}{self.folder.delimiter}{leaf}"
        taken = Folder.objects.filter(account_id=self.folder.account_id, name=name)
        if taken.exclude(pk=self.folder.pk).exists():
            raise ValidationError(_("There is already a folder named %(name)s.") % {"name": leaf})
        return leaf


class FolderSubscribeForm(forms.Form):
    subscribed = forms.TypedChoiceField(
        choices=[("1", _("Subscribe")), ("0", _("Unsubscribe"))], coerce=lambda v: v == "1"
    )


class IdsField(forms.Field):
    """Repeated ``ids`` values: our message ids, as integers, at most MAX_IDS of them."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        values = value or []
        if len(values) > MAX_IDS:
            raise ValidationError(_("Choose at most %(max)d messages at once.") % {"max": MAX_IDS})
        values = [str(v).strip() for v in values]
        # ASCII digits only (int() would also read "٣٤" as 34), within our 64-bit ids
        if not all(v.isascii() and v.isdigit() and 0 < int(v) <= MAX_ID for v in values):
            raise ValidationError(_("Message ids are numbers."))
        ids = [int(v) for v in values]
        return ids


class MessageActionForm(forms.Form):
    ACTIONS = ("read", "unread", "flag", "unflag", "move", "copy", "delete", "archive", "junk")

    ids = IdsField(required=False)
    # "Select all in this folder": every message of this folder, however many.
    in_folder = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    action = forms.ChoiceField(choices=[(a, a) for a in ACTIONS])
    folder = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("ids") and not cleaned.get("in_folder") and "ids" not in self.errors:
            raise ValidationError(_("Choose at least one message."))
        if cleaned.get("action") in ("move", "copy") and not cleaned.get("folder"):
            raise ValidationError(_("Choose the folder to put the messages in."))
        return cleaned

    def first_error(self):
        for errors in self.errors.values():
            return errors[0]
        return ""


def folder_path(folder):
    """How a folder is named in a list: its full path, with the Inbox as "Inbox"."""
    if folder.role == Role.INBOX:
        return str(Role.INBOX.label)
    name = drop_bidi_controls(folder.name)  # a server's name may lie about its order
    return " / ".join(name.split(folder.delimiter)) if folder.delimiter else name
