"""Changes reach the owner's open browsers over the channel layer (Redis), and nobody else's."""

import asyncio

import pytest
from channels.testing import WebsocketCommunicator
from django.db import connections

from accounts.actions import do_save_mail_account
from accounts.models import MailAccount
from webmail.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def communicator(user):
    comm = WebsocketCommunicator(application, "/ws/live/", headers=[(b"origin", b"http://localhost"),
                                                                    (b"host", b"localhost")])  # fmt: skip
    comm.scope["user"] = user
    return comm


def new_account(user):
    account = MailAccount(user=user, email=f"{user.username}@example.com", incoming_host="h",
                          incoming_port=993, incoming_username="u", smtp_host="h", smtp_port=587)  # fmt: skip
    account.incoming_password = "pw"
    return do_save_mail_account(account)


def test_alice_hears_of_her_new_account_and_bob_does_not(alice, bob):
    async def scenario():
        alice_socket, bob_socket = communicator(alice), communicator(bob)
        assert (await alice_socket.connect())[0]
        assert (await bob_socket.connect())[0]
        from asgiref.sync import sync_to_async

        account = await sync_to_async(new_account)(alice)
        event = await alice_socket.receive_json_from(timeout=5)
        assert event == {"type": "account.changed", "account_id": account.pk, "created": True}
        assert await bob_socket.receive_nothing(timeout=0.5)
        await alice_socket.disconnect()
        await bob_socket.disconnect()
        await sync_to_async(connections.close_all)()  # the ORM's thread keeps its connection

    asyncio.run(scenario())


def test_anonymous_sockets_are_closed():
    from django.contrib.auth.models import AnonymousUser

    async def scenario():
        connected, code = await communicator(AnonymousUser()).connect()
        assert not connected
        assert code == 4401

    asyncio.run(scenario())
