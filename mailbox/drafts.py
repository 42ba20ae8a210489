"""Drafts: the compose screen's state saved as the user types, its copy in the Drafts folder, and
the draft's end once its message is sent. (Interface fixed first; filled in with the compose
screen.)"""

from django.db import transaction

from .models import Draft


@transaction.atomic
def do_delete_draft(draft: Draft) -> None:
    """The draft goes, with its attachments (and, once written, its copy in Drafts)."""
    Draft.objects.filter(pk=draft.pk).delete()
