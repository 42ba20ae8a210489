from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .events import EVENT_TYPES, user_group


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """One socket per open tab; joins its user's group and forwards its events as JSON."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def dispatch(self, message):
        # Events are ids and counts only (see events.py): forwarded as they are.
        if message["type"] in EVENT_TYPES:
            await self.send_json(message)
        else:
            await super().dispatch(message)
