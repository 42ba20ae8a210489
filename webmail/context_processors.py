from accounts.models import get_preferences


def theme(request):
    """The signed-in user's theme for <html data-theme>: system, light or dark."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"theme": "system"}
    return {"theme": get_preferences(user).theme}
