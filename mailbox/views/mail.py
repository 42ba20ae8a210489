"""The mail screen: folder tree, message list and (mailbox.views.message) the reading pane.

One page serves all three panes. Without JavaScript every link is a full page; with it, mail.js
fetches just the part that changes (``?part=rows`` for more of the list, ``?part=pane`` for the
reading pane) from the same views, with the same permission checks. Actions on selected messages
come back here as JSON.

Nothing here depends on the protocol: IMAP sync and POP3 fetch fill the same tables.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.models import MailAccount, get_preferences
from mailbox import actions, conversations, listing
from mailbox import search as search_module
from mailbox.forms import MAX_ID, MAX_IDS, MessageActionForm
from mailbox.models import Folder, Role

from .folders import folder_tree
from .undo import action_notice

# --- the screen ---------------------------------------------------------------------------------


@login_required
@require_GET
def mail_home(request):
    """The Inbox of the user's first account that has one; the accounts page before that."""
    inbox = (
        Folder.objects.filter(account__user=request.user, role=Role.INBOX)
        .order_by("account_id")
        .first()
    )
    if inbox is None:
        return redirect("accounts:list")
    return redirect("mailbox:folder_messages", inbox.pk)


def screen_context(request, folder):
    """What the three panes need around the list: accounts, the folder tree, preferences."""
    from .unified import links  # (views.unified imports this module)

    account = folder.account
    folders = list(Folder.objects.filter(account=account).exclude(subscribed=False, role=""))
    accounts = list(MailAccount.objects.filter(user=request.user).order_by("email"))
    return {
        "folder": folder,
        "account": account,
        "accounts": accounts,
        "unified_links": links(request.user, accounts),
        "tree": folder_tree(folders),
        "move_targets": [f for f in folders if f.selectable and f.pk != folder.pk],
        "preferences": get_preferences(request.user),
        "sorts": listing.SORTS,
    }


def list_context(request, folder):
    sort = listing.clean_sort(request.GET.get("sort"))
    if threaded(request, sort):
        page = conversations.conversation_page(folder, request.GET.get("after"))
    else:
        page = listing.message_page(folder, sort, request.GET.get("after"))
    return {"page": page, "sort": sort, "first_page": not request.GET.get("after")}


def threaded(request, sort):
    """Whether the list shows conversations: the user's choice, in the date order only."""
    return sort == conversations.SORT and get_preferences(request.user).conversations


@login_required
@require_GET
def account_inbox(request, account_id):
    """An account's Inbox (its first folder, for an account that has no Inbox yet)."""
    account = get_object_or_404(MailAccount, pk=account_id, user=request.user)
    folders = Folder.objects.filter(account=account)
    folder = folders.filter(role=Role.INBOX).first() or folders.order_by("name").first()
    if folder is None:
        messages.info(request, _("%(email)s has no folders yet.") % {"email": account.email})
        return redirect("accounts:list")
    return redirect("mailbox:folder_messages", folder.pk)


@login_required
@require_GET
def folder_messages(request, folder_id):
    """The mail screen on a folder; its parts for the page's scripts: ``?part=rows`` (a page of
    the list), ``?part=rows&ids=1,2`` (those rows, for live updates), ``?part=folders`` (the
    tree with its counts), ``?part=status`` (the account's sync error, if any)."""
    folder = actions.get_folder_for_user(request.user, folder_id)
    part = request.GET.get("part")
    if part == "rows" and "ids" in request.GET:
        return _rows_by_id(request, folder)
    if part == "status":
        return render(request, "mailbox/_account_status.html", {"account": folder.account})
    if part == "folders":
        context = screen_context(request, folder)
        context.update(nodes=context["tree"], current=folder)
        return render(request, "mailbox/_mail_folders.html", context)
    context = list_context(request, folder)
    if part == "rows":
        return render(request, "mailbox/_message_rows.html", {"folder": folder, **context})
    context.update(screen_context(request, folder))
    return render(request, "mailbox/mail.html", context)


LIVE_ROWS = 500  # rows asked for by id at once (mailbox.events.MAX_LISTED)


def _rows_by_id(request, folder):
    """The rows of these messages of ``folder`` that are still in it, in the list's order
    (``sort``), each with ``data-after``: the id of the row above it ("" at the top), so that
    a page puts a new row in its place (one step of the sort's index each). Unknown ids, and
    those of other folders' or other users' messages, are left out: a page takes a row it
    asked for and did not get as gone."""
    ids = [int(i) for i in request.GET["ids"].split(",")[:LIVE_ROWS] if i.isascii() and i.isdigit()]
    sort = listing.clean_sort(request.GET.get("sort"))
    ids = [i for i in ids if i <= MAX_ID]
    if threaded(request, sort):
        rows = conversations.rows_for_ids(folder, ids)
        return render(request, "mailbox/_live_rows.html", {"rows": rows, "folder": folder})
    rows = list(listing.ordered(folder.messages.filter(pk__in=ids), sort))
    for row in rows:
        row.live_after = listing.previous_id(folder, sort, row) or ""
    return render(request, "mailbox/_live_rows.html", {"rows": rows, "folder": folder})


@login_required
@require_GET
def search(request, folder_id):
    """Search results in the list pane: this folder, or (``in=account``) the whole account, or
    (``in=all``) every account of the user, each row naming its account."""
    folder = actions.get_folder_for_user(request.user, folder_id)
    text = request.GET.get("q", "").strip()
    if not text:
        return redirect("mailbox:folder_messages", folder.pk)
    scope = request.GET.get("in") if request.GET.get("in") in ("account", "all") else "folder"
    context = {"query": text, "scope": scope, "first_page": True, "sort": listing.DEFAULT_SORT,
               "total": 0}  # fmt: skip
    try:
        query = search_module.parse_query(text)
    except search_module.SearchError as error:
        context.update(page=listing.Page([], listing.DEFAULT_SORT, None), search_problem=str(error),
                       search_failed=True)  # fmt: skip
    else:
        everywhere = scope == "all" and query.scope != "folder"  # in:folder: this one
        whole = query.scope == "all" or (query.scope is None and scope == "account")
        where = {"account_id": folder.account_id} if whole else {"folder_id": folder.pk}
        where = {"everywhere": True} if everywhere else where
        offset, after = _offset(request.GET.get("offset")), request.GET.get("after")
        try:
            result = search_module.search_messages(
                request.user, query=query, offset=offset, after=after, limit=SEARCH_PAGE, **where
            )
        except search_module.SearchError as error:  # in:name of no folder
            result = search_module.SearchResult([], False, str(error), False, whole)
            context["search_failed"] = True
        context.update(
            page=listing.Page(result.messages, listing.DEFAULT_SORT, None),
            search_problem=" ".join([*_search_notes(result), *query.notes]),
            whole_account=whole or everywhere,
            show_accounts=everywhere,
            total=result.total,
            total_estimated=result.estimated,
            first_page=offset == 0 and not after,
            next_cursor=result.next_cursor,
        )
    if request.GET.get("part") == "rows":  # with the summary, for the page to update its own
        context.update(folder=folder, rows_part=True)
        return render(request, "mailbox/_message_rows.html", context)
    context.update(screen_context(request, folder))
    return render(request, "mailbox/mail.html", context)


SEARCH_PAGE = 100


def _offset(value):
    """The ``offset`` of a results page: a number, else the first page."""
    try:
        return max(0, min(int(value or 0), 10**7))
    except ValueError:
        return 0


def _search_notes(result):
    notes = [result.problem] if result.problem else []
    if result.progress is not None:
        indexed, total = result.progress
        notes.append(
            _(
                "Text of %(indexed)d of %(total)d messages is indexed here; the rest was "
                "searched on the mail server, and what only it found is marked so."
            )
            % {"indexed": indexed, "total": total}
        )
    return notes


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
    """JSON: {"ok": true, "count": n}, with "notice" and "undo" (views.undo) after a move, or
    {"ok": false, "error": "..."} with a 4xx status.

    Ids that are not the user's are not found by the actions, so they change nothing."""
    form = MessageActionForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"ok": False, "error": form.first_error()}, status=400)
    data, log = form.cleaned_data, actions.MoveLog()
    try:
        if data["in_folder"]:
            count = _apply_to_folder(
                request.user, data["action"], data["in_folder"], data["folder"], log
            )
        else:
            count = _apply(request.user, data["action"], data["ids"], data["folder"], log)
    except ValidationError as error:
        return JsonResponse({"ok": False, "error": " ".join(error.messages)}, status=400)
    except (Folder.DoesNotExist, Http404):
        return JsonResponse({"ok": False, "error": _("That folder does not exist.")}, status=404)
    notice = action_notice(data["action"], count, log, data["folder"], user=request.user)
    return JsonResponse({"ok": True, "count": count, **notice})


def _apply_to_folder(user, action, source_id, folder_id, log=None):
    """The action on every message of a folder, MAX_IDS at a time (each its own change)."""
    source = actions.get_folder_for_user(user, source_id)
    ids = list(
        source.messages.filter(uid__isnull=False).order_by("id").values_list("id", flat=True)
    )
    return sum(
        _apply(user, action, ids[start : start + MAX_IDS], folder_id, log)
        for start in range(0, len(ids), MAX_IDS)
    )


def _apply(user, action, ids, folder_id, log=None):
    """``log`` (an actions.MoveLog) records the moves, for their undo."""
    if action in FLAG_CHANGES:
        add, remove = FLAG_CHANGES[action]
        return actions.do_set_flags(user, ids, add=add, remove=remove)
    if action == "copy":
        return actions.do_move_messages(user, ids, folder_id, copy=True)
    if action == "move":
        return actions.do_move_messages(user, ids, folder_id, log=log)
    if action == "delete":
        return actions.do_delete_messages(user, ids, log=log)
    return actions.do_move_to_role(user, ids, ROLE_ACTIONS[action], log=log)
