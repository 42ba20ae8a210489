"""The people a user wrote to or heard from, for the recipients' autocomplete: collected from
the mail the user sends (weight 3) and the senders of the messages the user opens (weight 1)."""

from django.db.models import F, Q
from django.utils import timezone

from .models import Contact

SENT_WEIGHT = 3
OPENED_WEIGHT = 1


def do_note_contacts(user, mailboxes, weight=SENT_WEIGHT):
    """Count one use of each (name, address) pair; a known address keeps its name unless a new,
    non-empty one is given. Addresses are matched in lower case."""
    now = timezone.now()
    for name, address in mailboxes:
        address = address.strip().lower()
        if not address or "@" not in address:
            continue
        updated = Contact.objects.filter(user=user, address=address).update(
            uses=F("uses") + weight, last_used=now, **({"name": name[:200]} if name else {})
        )
        if not updated:
            Contact.objects.get_or_create(
                user=user,
                address=address,
                defaults={"name": name[:200], "uses": weight, "last_used": now},
            )


def suggest_contacts(user, query, limit=8):
    """Up to ``limit`` contacts whose name or address contains ``query``, best known first."""
    query = query.strip()
    if not query:
        return []
    return list(
        Contact.objects.filter(user=user)
        .filter(Q(address__icontains=query) | Q(name__icontains=query))
        .order_by("-uses", "-last_used")[:limit]
    )
