"""HTTP and WebSocket entry point, served by daphne (`make run`, the `web` compose service)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webmail.settings")
os.environ["WEBMAIL_ASGI"] = "1"  # read by the settings: no persistent database connections
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from mailbox.routing import websocket_urlpatterns  # noqa: E402


class SameOriginValidator:
    """A socket opened by a page of this very site only: its Origin names the host and port the
    socket was opened to. (AllowedHostsOriginValidator compares host names only, so a page served
    on another port of the same host, another site's, would get the user's events.)"""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        origin = headers.get(b"origin", b"").decode("latin-1")
        host = headers.get(b"host", b"").decode("latin-1")
        if not host or origin.partition("://")[2].rstrip("/") != host:
            await send({"type": "websocket.close", "code": 4403})
            return None
        return await self.application(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(
            AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)
