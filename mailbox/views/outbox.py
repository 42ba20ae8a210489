"""The Outbox: messages on their way out and those sent or failed lately, with Cancel (while
queued) and Retry (failed). Its list follows the live "outbox.state" events (static/js/live.js).

Each view looks the row up with the user's permission (another user's row is a 404), calls a
do_* action of mailbox.outbox, and redirects back with what happened.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from mailbox import outbox as actions


def _own_row(request, outbox_id):
    outbox = actions.get_outbox_for_user(request.user, outbox_id)
    if outbox is None:
        raise Http404
    return outbox


@login_required
def outbox_list(request):
    rows = actions.get_outbox_list_for_user(request.user).select_related("account")
    return render(request, "mailbox/outbox.html", {"rows": rows})


@login_required
@require_POST
def outbox_cancel(request, outbox_id):
    outbox = _own_row(request, outbox_id)
    if actions.do_cancel_send(request.user, outbox.pk) is False:
        messages.error(request, _("Too late to cancel: the message is already on its way."))
    else:
        messages.success(request, _("Sending was cancelled; the message is kept in Drafts."))
    return redirect("mailbox:outbox")


@login_required
@require_POST
def outbox_retry(request, outbox_id):
    outbox = _own_row(request, outbox_id)
    try:
        actions.do_retry_send(
            request.user, outbox.pk, confirmed=bool(request.POST.get("confirmed"))
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("The message will be sent again now."))
    return redirect("mailbox:outbox")
