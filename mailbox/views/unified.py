"""The lists across the user's accounts: All inboxes, Unread and Starred (mailbox.listing_unified).

The mail screen of a folder (templates/mailbox/mail.html, with ``unified`` set), with the same
parts for the page's scripts: ``?part=rows`` (a page of the list), ``?part=rows&ids=1,2`` (those
rows, for live updates), ``?part=folders`` and ``?part=status`` (of the account whose folder tree
the pane shows: the user's first, as mail_home picks it), and ``?part=links`` (the links to
these lists with their counts, shown on every mail page). Actions post to message_action, as
from a folder: each one finds every message's own account (archive goes to its Archive).
"""

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from accounts.models import MailAccount
from mailbox import listing
from mailbox import listing_unified as unified
from mailbox.models import Folder, Role

from .mail import LIVE_ROWS, screen_context

TITLES = {"inbox": _("All inboxes"), "unread": _("Unread"), "starred": _("Starred")}


@dataclass(frozen=True)
class Unified:
    """What the screen shows of a list across accounts (the template's ``unified``)."""

    view: str  # a key of listing_unified.VIEWS
    label: str
    url: str
    unread: int
    folder_ids: str  # the folders whose events the list follows: "id:unread id:unread ..."
    counted: bool  # the title counts unread mail (not for Starred)


def links(user, accounts):
    """The links above the folder tree, each (view, label, url, unread count or 0): All inboxes
    with two accounts or more (with one, it is that account's Inbox), Unread and Starred with
    one or more. One query (the counts)."""
    if not accounts:
        return []
    counts = unified.counts(user)
    shown = ["inbox"] if len(accounts) > 1 else []
    return [
        (view, TITLES[view], reverse("mailbox:unified", args=[view]), counts.get(view, 0))
        for view in [*shown, "unread", "starred"]
    ]


def _anchor(user):
    """The folder whose account's tree the pane shows: the Inbox of the user's first account
    (by address) that has one, else the first folder; None before any account has a folder.
    One query, in the usual case."""
    folders = Folder.objects.filter(account__user=user).select_related("account")
    folders = folders.order_by("account__email", "account_id", "name")
    return folders.filter(role=Role.INBOX).first() or folders.first()


@login_required
@require_GET
def unified_list(request, view):
    if view not in unified.VIEWS:
        raise Http404
    part = request.GET.get("part")
    if part == "links":  # their counts, for live.js (``current``: the one to mark)
        return _links(request)
    anchor = _anchor(request.user)
    if anchor is None:
        return redirect("accounts:list")
    folders = unified.folders_for(request.user, view)
    sort = listing.clean_sort(request.GET.get("sort"))
    if part == "rows" and "ids" in request.GET:
        return _rows_by_id(request, view, sort, folders)
    if part == "status":
        return render(request, "mailbox/_account_status.html", {"account": anchor.account})
    if part == "folders":
        context = screen_context(request, anchor)
        context.update(nodes=context["tree"], current=None)
        return render(request, "mailbox/_mail_folders.html", context)
    page = unified.unified_page(request.user, view, sort, request.GET.get("after"), folders=folders)
    context = {
        "page": page, "sort": sort, "first_page": not request.GET.get("after"),
        "unified": _describe(view, folders), "show_accounts": True,
        "whole_account": view != "inbox",  # Unread and Starred name each row's folder too
    }  # fmt: skip
    if part == "rows":
        return render(request, "mailbox/_message_rows.html", {"folder": anchor, **context})
    context.update(screen_context(request, anchor))
    return render(request, "mailbox/mail.html", context)


def _links(request):
    accounts = list(MailAccount.objects.filter(user=request.user))
    current = {"view": request.GET.get("current")}
    context = {"unified_links": links(request.user, accounts), "unified": current}
    return render(request, "mailbox/_unified_links.html", context)


def _describe(view, folders):
    counted = view != "starred"
    return Unified(
        view=view, label=str(TITLES[view]), url=reverse("mailbox:unified", args=[view]),
        unread=sum(folder.unread for folder in folders) if counted else 0, counted=counted,
        folder_ids=" ".join(f"{folder.pk}:{folder.unread}" for folder in folders),
    )  # fmt: skip


def _rows_by_id(request, view, sort, folders):
    """As mail._rows_by_id, across the view's folders: rows it asked for and did not get are
    gone from the list."""
    raw = request.GET["ids"].split(",")[:LIVE_ROWS]
    ids = [int(i) for i in raw if i.isascii() and i.isdigit() and len(i) < 20]
    ids = [i for i in ids if i <= listing.MAX_ID]
    rows = unified.rows_by_id(request.user, view, ids, sort, folders=folders)
    return render(
        request, "mailbox/_unified_live_rows.html", {"rows": rows, "whole_account": view != "inbox"}
    )
