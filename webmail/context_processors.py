from django.utils.functional import SimpleLazyObject

from accounts.models import get_preferences


def theme(request):
    """The signed-in user's theme for <html data-theme>: system, light or dark.

    Looked up only when a template shows it: the partials the page's script asks for (the
    reading pane, the list's rows) have no <html>, and no query is spent on them."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"theme": "system"}
    return {"theme": SimpleLazyObject(lambda: get_preferences(user).theme)}
