"""Small filters for the mail screens, and the message list's rows.

Every text a stranger wrote (subjects, names, addresses, attachment and folder names) is shown
without bidi controls (``bidi_safe``; mailbox/parsing/bidi.py says why they are dropped) and in an
element of its own that isolates it (``<bdi>``, or ``dir="auto"`` where no element fits inside).
"""

from html import escape

from django import template
from django.template.defaultfilters import date as format_date
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from mailbox.models import Role
from mailbox.parsing.addresses import parse_addresses
from mailbox.parsing.bidi import drop_bidi_controls

register = template.Library()


@register.filter(is_safe=True)
def bidi_safe(text):
    """Hostile text as shown: without bidi controls, which would let it lie about its order."""
    return drop_bidi_controls(text) if isinstance(text, str) else text


@register.filter
def list_date(value, now=None):
    """A date as a mail list shows it, in one style per language: the time today ("2:05 p.m.",
    "14:05"), the day and month this year ("November 29", "29 novembre"), the numeric short date
    before ("06/14/2025", "14/06/2025"). Django's formats of the active language (TIME_FORMAT,
    MONTH_DAY_FORMAT, SHORT_DATE_FORMAT: every locale has them), in the user's time zone (the one
    activated for the request). A date ahead of ``now`` (a wrong clock) gets the full date."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    today = timezone.localtime(now or timezone.now()).date()
    if local.date() == today:
        return date_format(local, "TIME_FORMAT")
    if local.year == today.year and local.date() < today:
        return date_format(local, "MONTH_DAY_FORMAT")
    return date_format(local, "SHORT_DATE_FORMAT")


SPECIAL_USE_LABELS = (Role.INBOX, Role.DRAFTS, Role.SENT, Role.ARCHIVE, Role.JUNK, Role.TRASH)


@register.filter
def folder_label(folder):
    """A special-use folder by its role in the user's language ("Sent" whether the server
    calls it Sent, Sent Items or Envoyés, as Thunderbird does); any other by its last name."""
    if folder.name.upper() == "INBOX":
        return _("Inbox")
    if folder.role in SPECIAL_USE_LABELS and folder.parent_name is None:
        return Role(folder.role).label
    return drop_bidi_controls(folder.leaf_name)


@register.filter
def sender(message):
    name = drop_bidi_controls(message.from_name) or drop_bidi_controls(message.from_address)
    return name or _("(unknown sender)")


@register.filter
def forwarded(message):
    """Whether the message carries the ``$Forwarded`` keyword (IMAP keywords are matched without
    regard to case, RFC 3501 2.3.2; the name is the one RFC 5788 registers)."""
    return "$forwarded" in message.keywords.lower().split()


@register.filter
def previewable(part):
    """Whether an attachment gets a Preview link (the preview view checks its bytes again)."""
    from mailbox.views.download import previewable as kind

    return kind(part) is not None


CLIP_ICON = mark_safe(
    '<svg class="icon" viewBox="0 0 24 24" width="14" height="14" aria-hidden="true" '
    'focusable="false" fill="none" stroke="currentColor" stroke-width="2" '
    'stroke-linecap="round" stroke-linejoin="round"><path d="M21.44 11.05l-9.19 9.19a6 6 0 0 1'
    '-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48"/></svg>'
)


# Folders of the user's own mail, whose rows show the recipients rather than the sender (which
# would be the user on every row). Sorting "by sender" there still sorts by the From field: the
# sort key is a column the database computes and indexes (Message.sender_key).
RECIPIENT_ROLES = frozenset({Role.SENT, Role.DRAFTS})
MAX_RECIPIENTS_SHOWN = 10


@register.filter
def recipients(message):
    """The To names of a message the user wrote ("Ann, bob@example.org"), its Cc ones when it
    has no To; each name, or the address when it has none, without bidi controls."""
    mailboxes = parse_addresses(message.to) or parse_addresses(message.cc)
    return [
        drop_bidi_controls(name.removesuffix(":;") if not address else name) or address
        for name, address in mailboxes[:MAX_RECIPIENTS_SHOWN]
    ]


def _recipients_html(message, words):
    """The row's "To: Ann, Bob": each name in a <bdi> of its own, since they may differ in
    direction."""
    names = recipients(message)
    if not names:
        # neither To nor Cc: the message went to Bcc only, or (a draft) to no one yet. The cache
        # keeps no Bcc and the list fetches nothing more, so the words say only what is known.
        return words["no_recipients"]
    shown = ", ".join(f"<bdi>{escape(name)}</bdi>" for name in names)
    return words["to"] % {"names": shown}


@register.simple_tag
def message_rows(messages, current=None, whole_account=False, folder=None, accounts=False):
    """The list's rows, rendered in Python: 50 rows through the template engine cost about
    15 ms of the list's 50 ms budget, a few milliseconds this way. Every value of the message
    goes through escape() and bidi_safe, and sits in a <bdi>; the words are translated once per
    list. In Sent and Drafts (``folder``'s role, or each row's own folder's when the list spans
    the whole account) a row shows its recipients where others show the sender. ``accounts``: the
    list spans the user's accounts (mailbox.listing_unified), each row names its own."""
    words = {
        key: escape(text)
        for key, text in (
            ("select", _("Select")), ("starred", _("Starred")), ("not_starred", _("Not starred")),
            ("star", _("Star")), ("no_subject", _("(no subject)")), ("clip", _("Has attachments")),
            ("unread", _("Unread")), ("no_recipients", _("(no visible recipients)")),
            ("answered", _("Replied")), ("forwarded", _("Forwarded")),
            ("from_server", _("Searched on the server")),
            ("me", _("me")), ("in_thread", _("Messages in this conversation")),
        )
    }  # fmt: skip
    # the names are put in after escaping, each in its own <bdi>
    words["to"] = escape(_("To: %(names)s"), quote=False)
    url = reverse("mailbox:message", args=[0])[: -len("0/")]  # /mail/messages/
    now = timezone.now()
    current_id = getattr(current, "pk", None)
    role = getattr(folder, "role", None)
    rows = (_row(row, current_id, whole_account, words, url, now, role, accounts)
            for row in messages)  # fmt: skip
    return mark_safe("".join(rows))  # noqa: S308 (every piece is escaped in _row)


def _row(row, current_id, whole_account, words, url, now, role=None, accounts=False):
    confirmed = row.uid is not None
    conversation = getattr(row, "conversation", None)  # mailbox.conversations: a whole row
    unread, flagged = _row_marks(row, conversation)
    classes = "row"
    classes += " unread" if unread else ""
    classes += " flagged" if flagged else ""
    classes += " current" if row.pk == current_id else ""
    classes += "" if confirmed else " pending"
    classes += " answered" if row.answered else ""
    classes += " forwarded" if forwarded(row) else ""
    off = "" if confirmed else " disabled"
    marks = ""
    if row.has_attachments:
        marks += (f'<span class="clip" title="{words["clip"]}">{CLIP_ICON}'
                  f'<span class="visually-hidden">{words["clip"]}</span></span>')  # fmt: skip
    marks += _reply_marks(row, words)
    if unread:
        marks += f'<span class="visually-hidden">{words["unread"]}</span>'
    if getattr(row, "from_server", False):  # a search hit not from the local index (search.py)
        marks += f'<span class="from-server">{words["from_server"]}</span>'
    folder = ""
    if whole_account:
        folder = f'<span class="in-folder"><bdi>{escape(folder_label(row.folder))}</bdi></span>'
    account = ""
    if accounts:  # the account's address (the user's own words, escaped all the same), and
        # its folder when the list spans folders: after the sender, on its line (rows of one
        # height, as in a folder)
        label = _shown(row.folder.account.email)
        account, folder = f'<span class="in-account"><bdi>{label}</bdi>{folder}</span>', ""
    draggable = ' draggable="true"' if confirmed else ""
    # every row has its preview line, empty when there is no text yet, so rows are of one height
    preview = f'<span class="preview"><bdi>{_shown(row.preview or "")}</bdi></span>'
    subject = f"<bdi>{_shown(row.subject)}</bdi>" if row.subject else words["no_subject"]
    full_date = escape(format_date(timezone.localtime(row.date), "DATETIME_FORMAT"))
    if (row.folder.role if whole_account else role) in RECIPIENT_ROLES:
        who = _recipients_html(row, words)
    else:
        who = f"<bdi>{escape(sender(row))}</bdi>"
    if conversation is not None and conversation.count > 1:  # alone: as a message's row
        who = _participants_html(conversation, words) or who
    inner = (
        f'<span class="sender">{who}{account}</span>{folder}'
        f'<span class="subject">{subject}</span>{preview}<span class="marks">{marks}</span>'
        f'<time class="date" datetime="{row.date.isoformat()}" title="{full_date}">'
        f"{escape(list_date(row.date, now))}</time>"
    )
    opener = (f'<a class="open" href="{url}{row.pk}/">{inner}</a>' if confirmed
              else f'<span class="open">{inner}</span>')  # fmt: skip
    after = getattr(row, "live_after", None)  # rows fetched for a live update: their place
    after = "" if after is None else f' data-after="{after}"'
    if conversation is not None:  # what the row's actions act on: its messages in the folder
        ids = ",".join(str(pk) for pk in conversation.ids)
        after += f' data-thread="{row.thread or ""}" data-ids="{ids}"'
    return (
        f'<li class="{classes}" data-message-id="{row.pk}"{after}{draggable}>'
        f'<input type="checkbox" class="pick" value="{row.pk}" aria-label="{words["select"]}"{off}>'
        f'<button type="button" class="star" data-action="{"unflag" if flagged else "flag"}" '
        f'aria-pressed="{"true" if flagged else "false"}" '
        f'title="{words["starred"] if flagged else words["not_starred"]}"{off}>'
        f'<span aria-hidden="true">★</span><span class="visually-hidden">{words["star"]}</span>'
        f"</button>{opener}</li>\n"
    )


def _row_marks(row, conversation):
    """(unread, starred) of a row: of its conversation's messages in the folder, if it is one."""
    if conversation is None:
        return not row.seen, row.flagged
    return conversation.unread, conversation.flagged


def _participants_html(conversation, words):
    """ "Bob, Carol, me (3)": the senders, oldest first, each in a <bdi>; "" when the user is
    the only one (a row in Sent then names the recipients, as before)."""
    people = conversation.people[:MAX_PEOPLE_SHOWN]
    if not any(people):
        return ""
    names = [f"<bdi>{_shown(person)}</bdi>" if person else words["me"] for person in people]
    count = conversation.count
    shown = ", ".join(names) + ("…" if len(conversation.people) > MAX_PEOPLE_SHOWN else "")
    if count > 1:
        shown += f' <span class="thread-count" title="{words["in_thread"]}">{count}</span>'
    return shown


MAX_PEOPLE_SHOWN = 3


def _reply_marks(row, words):
    """↩ when the user replied, ↪ when they forwarded (Thunderbird's marks): the arrow for the
    eye, the word for screen readers and as a tooltip."""
    marks = ""
    for on, name, arrow in ((row.answered, "answered", "↩"), (forwarded(row), "forwarded", "↪")):
        if on:
            marks += (f'<span class="reply-mark {name}" title="{words[name]}">'
                      f'<span aria-hidden="true">{arrow}</span>'
                      f'<span class="visually-hidden">{words[name]}</span></span>')  # fmt: skip
    return marks


def _shown(text):
    return escape(drop_bidi_controls(text))
