from django.utils.functional import SimpleLazyObject

from accounts.models import get_preferences
from mailbox.events import current_seq


def theme(request):
    """The signed-in user's theme for <html data-theme>: system, light or dark; and whether
    their pages show desktop notifications of new mail (static/js/live.js).

    Looked up only when a template shows them: the partials the page's script asks for (the
    reading pane, the list's rows) have no <html>, and no query is spent on them."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"theme": "system"}
    preferences = SimpleLazyObject(lambda: get_preferences(user))
    return {
        "theme": SimpleLazyObject(lambda: preferences.theme),
        "notify_new_mail": SimpleLazyObject(lambda: preferences.notify_new_mail),
        # the mail screen's split (templates/mailbox/mail.html), None for the default
        "list_width": SimpleLazyObject(lambda: preferences.list_width),
    }


def live(request):
    """The signed-in user's event sequence number for <body data-live-seq> (static/js/live.js
    compares it with its socket's first message; mailbox/events.py): "" with Redis down. Lazy,
    like the theme: read only by pages, not by the partials their scripts fetch."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def seq():
        number = current_seq(user.pk)
        return "" if number is None else str(number)

    return {"live_seq": SimpleLazyObject(seq)}
