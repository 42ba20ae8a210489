import datetime

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Sum
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mailbox.actions import do_trust_sender
from mailbox.models import Message, TrustedSender
from mailbox.protocols.base import Problem

from .actions import (
    do_delete_identity,
    do_delete_mail_account,
    do_make_identity_default,
    do_save_identity,
    do_save_mail_account,
    do_save_preferences,
)
from .connection import check_mail_account, describe_check
from .forms import (
    PROTOCOL_EXPLANATIONS,
    RETENTION_EXPLANATIONS,
    IdentityForm,
    MailAccountForm,
    PreferencesForm,
    ThrottledPasswordChangeForm,
)
from .identities import default_identity, get_identity_for_user
from .models import (
    DEFAULT_PORTS,
    LIST_WIDTH_MAX,
    LIST_WIDTH_MIN,
    Identity,
    MailAccount,
    Theme,
    get_preferences,
)
from .otp import two_factor_is_on


def get_account_for_user(user, account_id):
    """The user's own account, or 404: never confirm that another user's account exists."""
    return get_object_or_404(MailAccount, pk=account_id, user=user)


@login_required
def account_list(request):
    """The user's accounts, with their state; for POP3 ones, the mail kept here."""
    accounts = list(MailAccount.objects.filter(user=request.user))
    kept = (
        Message.objects.filter(folder__account__user=request.user)
        .exclude(raw_name="")
        .values("folder__account_id")
        .annotate(count=Count("id"), size=Sum("size"))
    )
    by_account = {row["folder__account_id"]: row for row in kept}
    recently = timezone.now() - datetime.timedelta(minutes=1)
    for account in accounts:
        account.kept = by_account.get(account.pk, {"count": 0, "size": 0})
        account.checked_just_now = account.synced_at and account.synced_at > recently
    return render(request, "accounts/list.html", {"accounts": accounts})


@sensitive_post_parameters("incoming_password", "smtp_password")
@login_required
@require_http_methods(["GET", "POST"])
def account_add(request):
    return _account_form(request, MailAccount(user=request.user))


@sensitive_post_parameters("incoming_password", "smtp_password")
@login_required
@require_http_methods(["GET", "POST"])
def account_edit(request, account_id):
    return _account_form(request, get_account_for_user(request.user, account_id))


def _account_form(request, account):
    """Saving tests both servers for real; nothing is saved on failure unless the user insists."""
    problems, certificate_problem, ca_stored = None, False, bool(account.pk and account.ca_pem)
    form = MailAccountForm(request.POST or None, request.FILES or None, instance=account)
    if request.method == "POST" and form.is_valid():
        candidate = form.save(commit=False)
        result = check_mail_account(candidate)
        problems = describe_check(candidate, result)
        certificate_problem = any(
            problem is not None and problem.problem == Problem.TLS_CERTIFICATE
            for problem in result.values()
        )
        failed = [text for text in problems.values() if text]
        if not failed or form.cleaned_data["save_anyway"]:
            do_save_mail_account(candidate, last_error=" ".join(failed))
            if failed:
                messages.warning(request, _("Saved, but the connection does not work yet."))
            else:
                messages.success(request, _("%(email)s is connected.") % {"email": candidate.email})
            return redirect("accounts:list")
    return render(
        request,
        "accounts/form.html",
        {
            "form": form,
            "account": account,
            "problems": problems,
            "certificate_problem": certificate_problem,  # "Advanced" opens on the CA's field
            "ca_stored": ca_stored,  # saved before this try (not one uploaded at this try)
            "explanations": PROTOCOL_EXPLANATIONS,
            "retention_explanations": RETENTION_EXPLANATIONS,
            "default_ports": DEFAULT_PORTS,
        },
        status=422 if problems else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def account_delete(request, account_id):
    """Remove an account. A POP3 account's downloaded mail lives only here (the server may have
    removed its copies): removing it needs an explicit "delete that mail too"."""
    account = get_account_for_user(request.user, account_id)
    kept = Message.objects.filter(folder__account=account).exclude(raw_name="")
    kept = kept.aggregate(count=Count("id"), size=Sum("size"))
    needs_consent = account.is_pop3 and kept["count"]
    refused = request.method == "POST" and needs_consent and not request.POST.get("delete_mail")
    if request.method == "POST" and not refused:
        do_delete_mail_account(account)
        messages.success(request, _("%(email)s was removed.") % {"email": account.email})
        return redirect("accounts:list")
    context = {"account": account, "kept": kept, "needs_consent": needs_consent,
               "refused": refused}  # fmt: skip
    return render(request, "accounts/delete.html", context, status=400 if refused else 200)


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request):
    """Theme, when opened mail is marked read, and the senders whose remote content shows."""
    current = get_preferences(request.user)
    form = PreferencesForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        do_save_preferences(request.user, **form.cleaned_data)
        messages.success(request, _("Your preferences are saved."))
        return redirect("accounts:preferences")
    senders = TrustedSender.objects.filter(user=request.user).order_by("address")
    context = {"form": form, "senders": senders, "two_factor_on": two_factor_is_on(request.user)}
    return render(request, "accounts/preferences.html", context)


@login_required
@require_POST
def theme(request):
    """The theme toggle of the top bar: system, then dark, then light."""
    choice = request.POST.get("theme")
    if choice in Theme.values:
        do_save_preferences(request.user, theme=choice)
    if request.headers.get("X-Requested-With") == "fetch":
        return JsonResponse({"ok": True, "theme": get_preferences(request.user).theme})
    back = request.headers.get("Referer", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
        back = "/"
    return redirect(back)


@login_required
@require_POST
def list_width(request):
    """Where the user dragged the split between the message list and the reading pane.

    POST ``width``: CSS pixels, an integer from LIST_WIDTH_MIN to LIST_WIDTH_MAX, or empty for the
    screen's default. Answers JSON ``{"ok": true, "width": n}``, or 400 with ``ok`` false for
    anything else. Only ever the requesting user's own preferences."""
    raw = request.POST.get("width", "").strip()
    width = _list_width(raw)
    if raw and width is None:
        return JsonResponse({"ok": False, "error": _("That is not a width in pixels.")}, status=400)
    do_save_preferences(request.user, list_width=width)
    return JsonResponse({"ok": True, "width": width})


@require_GET
def list_width_css(request):
    """The stylesheet that sets the message list's width before the first paint. The page's
    Content-Security-Policy refuses style attributes and inline styles, so mail.html links this
    one. ``w``: CSS pixels, in range, else 404. It depends on nothing but its URL, so browsers
    keep it for good."""
    width = _list_width(request.GET.get("w", ""))
    if width is None:
        raise Http404
    response = HttpResponse(f":root {{ --list-width: {width}px; }}\n", content_type="text/css")
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


def _list_width(raw):
    """``raw`` as a list width in pixels: ASCII digits within the limits, else None."""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 5):
        return None
    width = int(raw)
    return width if LIST_WIDTH_MIN <= width <= LIST_WIDTH_MAX else None


@login_required
@require_POST
def forget_sender(request, sender_id):
    sender = get_object_or_404(TrustedSender, pk=sender_id, user=request.user)
    do_trust_sender(request.user, sender.address, trusted=False)
    messages.success(request, _("Remote content from %(address)s is blocked again.") % {
        "address": sender.address})  # fmt: skip
    return redirect("accounts:preferences")


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's, with the old password checked like a login (throttled)."""

    form_class = ThrottledPasswordChangeForm
    success_url = "/password/done/"

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}


# --- identities: the names and addresses each account sends as -----------------------------------


def _identity_or_404(user, identity_id):
    identity = get_identity_for_user(user, identity_id)
    if identity is None:
        raise Http404("no such identity")
    return identity


@login_required
@require_GET
def identity_list(request, account_id):
    """An account's identities, its default first (made from the account the first time)."""
    account = get_account_for_user(request.user, account_id)
    default_identity(account)
    identities = account.identities.order_by("-is_default", "address", "name", "id")
    return render(
        request, "accounts/identities.html", {"account": account, "identities": identities}
    )


@login_required
@require_http_methods(["GET", "POST"])
def identity_add(request, account_id):
    account = get_account_for_user(request.user, account_id)
    return _identity_form(request, Identity(account=account))


@login_required
@require_http_methods(["GET", "POST"])
def identity_edit(request, identity_id):
    return _identity_form(request, _identity_or_404(request.user, identity_id))


def _identity_form(request, identity):
    form = IdentityForm(request.POST or None, instance=identity)
    if request.method == "POST" and form.is_valid():
        saved = do_save_identity(request.user, form.save(commit=False))
        messages.success(request, _("%(identity)s is saved.") % {"identity": saved})
        return redirect("accounts:identities", saved.account_id)
    context = {"form": form, "identity": identity, "account": identity.account}
    return render(request, "accounts/identity_form.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def identity_delete(request, identity_id):
    """Remove an identity after a confirmation; an account's last one stays (said why)."""
    identity = _identity_or_404(request.user, identity_id)
    problem = None
    if request.method == "POST":
        try:
            do_delete_identity(request.user, identity.pk)
        except ValidationError as error:
            problem = error.messages[0]
        else:
            messages.success(request, _("%(identity)s was removed.") % {"identity": identity})
            return redirect("accounts:identities", identity.account_id)
    context = {"identity": identity, "account": identity.account, "problem": problem}
    return render(request, "accounts/identity_delete.html", context, status=400 if problem else 200)


@login_required
@require_POST
def identity_default(request, identity_id):
    identity = do_make_identity_default(request.user, identity_id)
    messages.success(request, _("%(identity)s is now the default.") % {"identity": identity})
    return redirect("accounts:identities", identity.account_id)
