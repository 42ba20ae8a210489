"""The folder page of an IMAP account, and the endpoint for actions on selected messages.

Each view looks up what it works on with the user's permission (another user's account, folder or
message is a 404, never a 403), calls a do_* action, and renders or redirects. What the server
says when it refuses becomes a message that says so, never a 500.
"""

import datetime
import re
from dataclasses import dataclass, field

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from kombu.exceptions import OperationalError

from accounts.connection import describe_problem
from accounts.models import MailAccount
from mailbox.protocols.base import ConnectionProblem
from mailbox.protocols.imap import ImapCommandError

from . import actions, tasks
from .forms import (
    MAX_IDS,
    FolderCreateForm,
    FolderRenameForm,
    FolderSubscribeForm,
    MessageActionForm,
)
from .models import Folder, Role

# Siblings are shown Inbox first, then these special-use folders, then the rest by name.
ROLE_ORDER = [Role.INBOX, Role.DRAFTS, Role.SENT, Role.ARCHIVE, Role.JUNK, Role.TRASH]
# What a person need not read in a refusal: "[ALREADYEXISTS] ", Dovecot's " (0.001 + 0.000 secs)."
SERVER_NOISE = re.compile(r"^\s*\[[^\]]*\]\s*|\s*\([\d.+ ]+secs?\)\.?\s*$")


# --- the folder tree ---------------------------------------------------------------------------


@dataclass
class FolderNode:
    folder: Folder
    children: list = field(default_factory=list)


def folder_tree(folders):
    """Nest folders by their delimiter. A folder whose parent is not listed stays at the top."""
    nodes = {folder.name: FolderNode(folder) for folder in folders}
    roots = []
    for node in nodes.values():
        parent = nodes.get(node.folder.parent_name)
        (parent.children if parent else roots).append(node)
    _sort_siblings(roots)
    return roots


def _sort_siblings(nodes):
    nodes.sort(key=_sibling_key)
    for node in nodes:
        _sort_siblings(node.children)


def _sibling_key(node):
    folder = node.folder
    role = Role.INBOX if folder.name.upper() == "INBOX" else folder.role
    rank = ROLE_ORDER.index(role) if role in ROLE_ORDER else len(ROLE_ORDER)
    return rank, folder.name.casefold(), folder.name


@login_required
def folder_list(request, account_id):
    account = actions.get_imap_account_for_user(request.user, account_id)
    folders = list(Folder.objects.filter(account=account))
    synced = account.synced_at
    context = {
        "account": account,
        "synced_just_now": synced and timezone.now() - synced < datetime.timedelta(minutes=1),
        "tree": folder_tree(folders),
        "create_form": FolderCreateForm(account=account),
    }
    return render(request, "mailbox/folders.html", context)


@login_required
@require_POST
def account_sync(request, account_id):
    account = actions.get_imap_account_for_user(request.user, account_id)
    try:
        tasks.sync_account.delay(account.pk)
    except OperationalError:  # the task queue (Redis) does not answer
        messages.error(request, _("The sync could not be started. Try again in a minute."))
    else:
        messages.success(
            request, _("%(email)s is being synced with its server.") % {"email": account.email}
        )
    return redirect("mailbox:folders", account.pk)


# --- changes to folders: made on the server at once, so the server may refuse ------------------


def _perform(request, account, action, success):
    """Call ``action``; say ``success``, or calmly what went wrong."""
    try:
        action()
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except ImapCommandError as refused:
        text = SERVER_NOISE.sub("", refused.text)[:300]
        messages.error(request, _("The server refused: %(text)s") % {"text": text})
    except ConnectionProblem as problem:
        text = describe_problem(problem, account.incoming_host, account.incoming_port)
        messages.error(request, _("The server could not be asked: %(text)s") % {"text": text})
    except (Folder.DoesNotExist, MailAccount.DoesNotExist, Http404):  # gone since shown
        messages.error(request, _("That folder no longer exists."))
    else:
        messages.success(request, success)


def _form_problem(request, form):
    """The first thing wrong with the form, said as "Name: This field is required."."""
    name, errors = next(iter(form.errors.items()))
    field = form.fields.get(name)
    messages.error(request, f"{field.label}: {errors[0]}" if field else errors[0])


@login_required
@require_POST
def folder_create(request, account_id):
    account = actions.get_imap_account_for_user(request.user, account_id)
    form = FolderCreateForm(request.POST, account=account)
    if not form.is_valid():
        _form_problem(request, form)
    else:
        name, parent = form.cleaned_data["name"], form.cleaned_data["parent"]
        _perform(
            request,
            account,
            lambda: actions.do_create_folder(request.user, account.pk, name, parent and parent.pk),
            _("The folder %(name)s was created.") % {"name": name.strip()},
        )
    return redirect("mailbox:folders", account.pk)


@login_required
@require_POST
def folder_rename(request, folder_id):
    folder = actions.get_folder_for_user(request.user, folder_id)
    form = FolderRenameForm(request.POST, folder=folder)
    if not form.is_valid():
        _form_problem(request, form)
    else:
        name = form.cleaned_data["name"]
        _perform(
            request,
            folder.account,
            lambda: actions.do_rename_folder(request.user, folder.pk, name),
            _("%(old)s is now called %(new)s.") % {"old": folder.leaf_name, "new": name.strip()},
        )
    return redirect("mailbox:folders", folder.account_id)


@login_required
@require_http_methods(["GET", "POST"])
def folder_delete(request, folder_id):
    folder = actions.get_folder_for_user(request.user, folder_id)
    if request.method == "POST":
        _perform(
            request,
            folder.account,
            lambda: actions.do_delete_folder(request.user, folder.pk),
            _("The folder %(name)s was deleted.") % {"name": folder.name},
        )
        return redirect("mailbox:folders", folder.account_id)
    return render(request, "mailbox/folder_delete.html", {"folder": folder})


@login_required
@require_POST
def folder_subscribe(request, folder_id):
    folder = actions.get_folder_for_user(request.user, folder_id)
    form = FolderSubscribeForm(request.POST)
    if not form.is_valid():
        _form_problem(request, form)
    else:
        subscribed = form.cleaned_data["subscribed"]
        done = _("You are subscribed to %(name)s.") if subscribed else (
            _("You are no longer subscribed to %(name)s."))  # fmt: skip
        _perform(
            request,
            folder.account,
            lambda: actions.do_subscribe_folder(request.user, folder.pk, subscribed),
            done % {"name": folder.name},
        )
    return redirect("mailbox:folders", folder.account_id)


# --- actions on selected messages (the reading screens call this) ------------------------------

FLAG_CHANGES = {
    "read": ({"\\Seen"}, set()),
    "unread": (set(), {"\\Seen"}),
    "flag": ({"\\Flagged"}, set()),
    "unflag": (set(), {"\\Flagged"}),
}
ROLE_ACTIONS = {"archive": Role.ARCHIVE, "junk": Role.JUNK}


@login_required
@require_POST
def message_action(request):
    """JSON: {"ok": true, "count": n}, or {"ok": false, "error": "..."} with a 4xx status.

    Ids that are not the user's are not found by the actions, so they change nothing."""
    form = MessageActionForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"ok": False, "error": form.first_error()}, status=400)
    data = form.cleaned_data
    try:
        if data["in_folder"]:
            count = _apply_to_folder(
                request.user, data["action"], data["in_folder"], data["folder"]
            )
        else:
            count = _apply(request.user, data["action"], data["ids"], data["folder"])
    except ValidationError as error:
        return JsonResponse({"ok": False, "error": " ".join(error.messages)}, status=400)
    except (Folder.DoesNotExist, Http404):
        return JsonResponse({"ok": False, "error": _("That folder does not exist.")}, status=404)
    return JsonResponse({"ok": True, "count": count})


def _apply_to_folder(user, action, source_id, folder_id):
    """The action on every message of a folder, MAX_IDS at a time (each its own change)."""
    source = actions.get_folder_for_user(user, source_id)
    ids = list(
        source.messages.filter(uid__isnull=False).order_by("id").values_list("id", flat=True)
    )
    return sum(
        _apply(user, action, ids[start : start + MAX_IDS], folder_id)
        for start in range(0, len(ids), MAX_IDS)
    )


def _apply(user, action, ids, folder_id):
    if action in FLAG_CHANGES:
        add, remove = FLAG_CHANGES[action]
        return actions.do_set_flags(user, ids, add=add, remove=remove)
    if action in ("move", "copy"):
        return actions.do_move_messages(user, ids, folder_id, copy=action == "copy")
    if action == "delete":
        return actions.do_delete_messages(user, ids)
    return actions.do_move_to_role(user, ids, ROLE_ACTIONS[action])
