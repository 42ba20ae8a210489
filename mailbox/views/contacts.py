"""The recipients' autocomplete: the user's own contacts matching what they type, as JSON.

GET /mail/contacts/?q=<text> answers {"contacts": [{"name", "address", "label"}]}, at most
eight, best first (mailbox.contacts.suggest_contacts); ``label`` is what the To box shows and
takes back, "Name <address>" (the name quoted where RFC 5322 needs it) or the bare address. The
answer is about the user's correspondents, so no cache keeps it."""

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from mailbox.contacts import suggest_contacts
from mailbox.parsing.addresses import format_addresses

MAX_SUGGESTIONS = 8


@login_required
@require_GET
def contacts(request):
    found = suggest_contacts(request.user, request.GET.get("q", ""), limit=MAX_SUGGESTIONS)
    rows = [
        {
            "name": contact.name,
            "address": contact.address,
            "label": format_addresses([(contact.name, contact.address)], 1000),
        }
        for contact in found
    ]
    response = JsonResponse({"contacts": rows})
    response["Cache-Control"] = "no-store"
    return response
