"""The people a user wrote to or heard from, for the recipients' autocomplete: collected from
the mail the user sends (weight 3) and the senders of the messages the user opens (weight 1).

A contact is keyed by its address in lower case (unique per user). Names and addresses come from
headers strangers wrote, so both are bounded and cleaned of control characters before they are
kept: a name offered back to the compose screen must never carry a line break into a header."""

import re

from django.db import IntegrityError, transaction
from django.db.models import Case, F, IntegerField, Q, Value, When
from django.utils import timezone

from accounts.models import Identity, MailAccount

from .models import Contact, Role
from .parsing.bidi import drop_bidi_controls

SENT_WEIGHT = 3
OPENED_WEIGHT = 1
MAX_NAME_CHARS = 200  # Contact.name
MAX_ADDRESS_CHARS = 320  # Contact.address; RFC 5321: 64 for the local part, 255 for the domain
MAX_PER_CALL = 500  # mailboxes noted at once; the rest of a giant list is not worth a query
MAX_QUERY_CHARS = 100

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_ADDRESS = re.compile(r"[^\s@]+@[^\s@]+\Z")
# Senders nobody writes back to (Fastmail leaves these out of its automatic contacts too):
# noreply@, no-reply@, do-not-reply@, mailer-daemon@, postmaster@, bounces@, with +tags.
_AUTOMATED = re.compile(
    r"(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer[-_.]?daemon|postmaster|bounces?)"
    r"(?:[-+._][^@]*)?@",
    re.IGNORECASE,
)


def clean_name(name: str) -> str:
    """A display name as kept: one line, no bidi controls, spaces squeezed, bounded."""
    name = _CONTROL.sub(" ", drop_bidi_controls(name or ""))
    return " ".join(name.split())[:MAX_NAME_CHARS]


def clean_address(address: str) -> str | None:
    """An address as kept (lower case), or None for what is not one (no ``@``, blanks or
    control characters inside, too long)."""
    address = (address or "").strip().lower()
    if len(address) > MAX_ADDRESS_CHARS or _CONTROL.search(address):
        return None
    return address if _ADDRESS.match(address) else None


def is_automated(address: str) -> bool:
    """Whether the address is a robot's (noreply@, mailer-daemon@ ...): never a contact when
    only read from."""
    return _AUTOMATED.match(address) is not None


def _wanted(mailboxes) -> dict[str, str]:
    """{address: name} of the (name, address) pairs (or objects with ``name`` and ``address``,
    as mailbox.composing.fields.Address), cleaned; the last non-empty name of an address wins.
    At most MAX_PER_CALL addresses."""
    wanted: dict[str, str] = {}
    for mailbox in mailboxes:
        name, address = (mailbox.name, mailbox.address) if hasattr(mailbox, "address") else mailbox
        address = clean_address(address)
        if address is None:
            continue
        if address not in wanted and len(wanted) >= MAX_PER_CALL:
            break
        wanted[address] = clean_name(name) or wanted.get(address, "")
    return wanted


def do_note_contacts(user, mailboxes, weight=SENT_WEIGHT):
    """Count one use (of ``weight``) of each (name, address) pair of ``mailboxes``.

    1. The known addresses are found in one query and each gets one UPDATE (uses + weight, now);
       a known address keeps its name unless a new, non-empty one is given.
    2. The others are inserted in one bulk INSERT.
    3. Should another request have inserted one of them meanwhile (the unique constraint on
       user and address), each is inserted on its own, and one found there is updated instead.
    Addresses are matched in lower case; what is not an address is skipped."""
    wanted = _wanted(mailboxes)
    if not wanted:
        return
    now = timezone.now()
    known = set(
        Contact.objects.filter(user=user, address__in=list(wanted)).values_list(
            "address", flat=True
        )
    )
    for address in known:
        _count_use(user, address, wanted[address], weight, now)
    new = [address for address in wanted if address not in known]
    if new:
        _add(user, {address: wanted[address] for address in new}, weight, now)


def _count_use(user, address, name, weight, now):
    changes = {"uses": F("uses") + weight, "last_used": now, **({"name": name} if name else {})}
    return Contact.objects.filter(user=user, address=address).update(**changes)


def _add(user, names, weight, now):
    rows = [
        Contact(user=user, address=address, name=name, uses=weight, last_used=now)
        for address, name in names.items()
    ]
    try:
        with transaction.atomic():
            Contact.objects.bulk_create(rows)
    except IntegrityError:  # a concurrent call noted some of them first: one at a time, then
        for address, name in names.items():
            _add_one(user, address, name, weight, now)


def _add_one(user, address, name, weight, now):
    try:
        with transaction.atomic():
            Contact.objects.create(
                user=user, address=address, name=name, uses=weight, last_used=now
            )
    except IntegrityError:
        _count_use(user, address, name, weight, now)


def own_addresses(user) -> set[str]:
    """The user's own addresses, lower case: those of their accounts and identities."""
    accounts = MailAccount.objects.filter(user=user).values_list("email", flat=True)
    identities = Identity.objects.filter(account__user=user).values_list("address", flat=True)
    return {address.lower() for address in [*accounts, *identities]}


def do_note_opened_sender(user, message):
    """The sender of a message the user opened, noted with OPENED_WEIGHT; unless it is the
    user's own address, a robot (is_automated), or the message sits in Junk.

    The message view calls it on the first open only (the message was unread until then):
    reading it again, or a message already read elsewhere, counts nothing and costs nothing."""
    address = clean_address(message.from_address)
    if address is None or is_automated(address) or message.folder.role == Role.JUNK:
        return
    if address in own_addresses(user):
        return
    do_note_contacts(user, [(message.from_name, address)], weight=OPENED_WEIGHT)


def suggest_contacts(user, query, limit=8):
    """Up to ``limit`` of the user's contacts whose name or address contains ``query`` (any
    case); nothing for an empty query.

    The order: first those where it starts the address or one of the name's words, then those
    where it is found elsewhere; within each, the most used, then the most recently used."""
    query = " ".join(_CONTROL.sub(" ", query or "").split())[:MAX_QUERY_CHARS]
    if not query:
        return []
    prefix = (
        Q(address__istartswith=query)
        | Q(name__istartswith=query)
        | Q(name__icontains=" " + query)
        | Q(name__icontains="-" + query)
    )
    rank = Case(When(prefix, then=Value(0)), default=Value(1), output_field=IntegerField())
    return list(
        Contact.objects.filter(user=user)
        .filter(Q(address__icontains=query) | Q(name__icontains=query))
        .annotate(rank=rank)
        .order_by("rank", "-uses", "-last_used", "address")[:limit]
    )
