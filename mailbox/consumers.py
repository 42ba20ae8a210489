from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from .events import EVENT_TYPES, current_seq, user_group


def _may_listen(user, session):
    """A logged-in user whose session passed two-factor login where it applies (as the HTTP
    views require: accounts.middleware)."""
    from accounts.otp import session_is_verified, two_factor_is_on

    if not user.is_authenticated:
        return False
    if two_factor_is_on(user):
        return session_is_verified(user, session)
    return not settings.WEBMAIL_REQUIRE_2FA


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """One socket per open tab; joins its user's group and forwards its events as JSON."""

    async def connect(self):
        user = self.scope.get("user")
        allowed = user is not None and await sync_to_async(_may_listen)(
            user, self.scope.get("session")
        )
        if not allowed:
            # Accepted only to be closed with a reason: a socket closed before the handshake is
            # an HTTP 403, which a browser reports as code 1006 (the network) and retries forever.
            await self.accept()
            await self.close(code=4401)
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        # Read after joining the group: an event counted later reaches this socket; one counted
        # earlier may not have, and the page compares this number with its own (events.py).
        seq = await sync_to_async(current_seq, thread_sensitive=False)(user.pk)
        await self.send_json({"type": "live.hello", "seq": seq})

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def dispatch(self, message):
        # Events are ids and counts only (see events.py): forwarded as they are.
        if message["type"] in EVENT_TYPES:
            await self.send_json(message)
        else:
            await super().dispatch(message)
