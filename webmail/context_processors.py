from accounts.models import get_preferences


def theme(request):
    """The signed-in user's theme for <html data-theme>: system, light or dark; and whether
    their pages show desktop notifications of new mail (static/js/live.js)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"theme": "system"}
    preferences = get_preferences(user)
    return {"theme": preferences.theme, "notify_new_mail": preferences.notify_new_mail}
