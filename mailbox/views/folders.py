"""The folder page of a mail account: its folders, made, renamed and deleted, and "check now".

An IMAP account's folders are the server's: each change is made there at once, so the server may
refuse it. A POP3 account's folders are kept here, and change at once.

Each view looks up what it works on with the user's permission (another user's account or folder
is a 404, never a 403), calls a do_* action, and renders or redirects. A refusal or a failure
becomes a message that says what happened (accounts.connection.describe_error), never a 500.
"""

import datetime
from dataclasses import dataclass, field

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from kombu.exceptions import OperationalError

from accounts.connection import describe_error
from accounts.models import MailAccount
from mailbox import actions
from mailbox.forms import FolderCreateForm, FolderRenameForm, FolderSubscribeForm
from mailbox.models import Folder, Role
from mailbox.parsing.bidi import drop_bidi_controls
from mailbox.protocols.base import ConnectionProblem
from mailbox.templatetags.mail import folder_label

# Siblings are shown Inbox first, then these special-use folders, then the rest by name.
ROLE_ORDER = [Role.INBOX, Role.DRAFTS, Role.SENT, Role.ARCHIVE, Role.JUNK, Role.TRASH]


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
    account = actions.get_account_for_user(request.user, account_id)
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
    """ "Check now": sync an IMAP account, fetch a POP3 one, in the background."""
    account = actions.get_account_for_user(request.user, account_id)
    try:
        actions.do_check_mail(request.user, account.pk)
    except OperationalError:  # the task queue (Redis) does not answer
        messages.error(request, _("Checking for mail could not start. Try again in a minute."))
    else:
        done = _("%(email)s is being checked for new mail.") if account.is_pop3 else _(
            "%(email)s is being synced with its server.")  # fmt: skip
        messages.success(request, done % {"email": account.email})
    back = {"accounts": ("accounts:list",), "mail": ("mailbox:account_inbox", account.pk)}
    return redirect(*back.get(request.POST.get("next"), ("mailbox:folders", account.pk)))


# --- changes to folders: on the server at once (IMAP, which may refuse), or here (POP3) --------


def _perform(request, account, action, success):
    """Call ``action``; say ``success``, or calmly what went wrong."""
    try:
        action()
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    except ConnectionProblem as problem:
        messages.error(request, describe_error(account, problem))
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
    account = actions.get_account_for_user(request.user, account_id)
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
            _("%(old)s is now called %(new)s.")
            % {"old": drop_bidi_controls(folder.leaf_name), "new": name.strip()},
        )
    return redirect("mailbox:folders", folder.account_id)


@login_required
@require_http_methods(["GET", "POST"])
def folder_delete(request, folder_id):
    folder = actions.get_folder_for_user(request.user, folder_id)
    try:  # before asking to confirm: a standard folder is refused whatever the answer
        actions.check_change_folder(folder, rename=False)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("mailbox:folders", folder.account_id)
    if request.method == "POST":
        _perform(
            request,
            folder.account,
            lambda: actions.do_delete_folder(request.user, folder.pk),
            _("The folder %(name)s was deleted.") % {"name": drop_bidi_controls(folder.name)},
        )
        return redirect("mailbox:folders", folder.account_id)
    below = Folder.objects.filter(
        account_id=folder.account_id, name__startswith=folder.name + (folder.delimiter or "/")
    )
    context = {"folder": folder, "subfolders": below.count(),
               "messages": folder.total + sum(below.values_list("total", flat=True))}  # fmt: skip
    return render(request, "mailbox/folder_delete.html", context)


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
            done % {"name": drop_bidi_controls(folder.name)},
        )
    return redirect("mailbox:folders", folder.account_id)


@login_required
@require_http_methods(["GET", "POST"])
def folder_empty(request, folder_id):
    """Empty Trash (or Junk): every message in it deleted for good, after a confirmation."""
    folder = actions.get_folder_for_user(request.user, folder_id)
    if folder.role not in (Role.TRASH, Role.JUNK):
        messages.error(request, _("Only Trash and Junk can be emptied."))
        return redirect("mailbox:folder_messages", folder.pk)
    if request.method == "POST":
        _perform(
            request,
            folder.account,
            lambda: actions.do_empty_folder(request.user, folder.pk),
            _("%(name)s is empty.") % {"name": folder_label(folder)},
        )
        return redirect("mailbox:folder_messages", folder.pk)
    return render(request, "mailbox/folder_empty.html", {"folder": folder})
