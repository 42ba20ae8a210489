"""Changes reach the owner's open browsers over the channel layer (Redis), and nobody else's.

Every socket here goes through the real ASGI application (webmail/asgi.py: the Origin check,
the session login, the routing) with the session cookie a logged-in browser has; nothing sets
the scope's user by hand.
"""

import asyncio
import re

import pytest
import redis
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections
from django.test import Client

from accounts.actions import do_delete_mail_account, do_save_mail_account, do_save_preferences
from accounts.models import MailAccount
from mailbox.events import EVENT_TYPES, send_event
from webmail.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

HOST = "localhost"
OWN_ORIGIN = f"http://{HOST}"


def session_cookie(username, password):
    """The session cookie of a browser that logged in through the login page."""
    client = Client()
    response = client.post("/login/", {"username": username, "password": password})
    assert response.status_code == 302, "the login failed"
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def socket(cookie=None, origin=OWN_ORIGIN, host=HOST):
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    return WebsocketCommunicator(application, "/ws/live/", headers=headers)


def run(scenario):
    async def and_close():
        try:
            await scenario()
        finally:
            await sync_to_async(connections.close_all)()  # the ORM's thread keeps its connection

    asyncio.run(and_close())


@pytest.fixture
def alice_cookie(alice):
    return session_cookie("alice", "alice-portal-pw")


@pytest.fixture
def bob_cookie(bob):
    return session_cookie("bob", "bob-portal-pw")


def new_account(user):
    account = MailAccount(user=user, email=f"{user.username}@example.com", incoming_host="h",
                          incoming_port=993, incoming_username="u", smtp_host="h", smtp_port=587)  # fmt: skip
    account.incoming_password = "pw"
    return do_save_mail_account(account)


async def connected(cookie):
    """An open socket, past its first message (``communicator.hello``: the ``live.hello``)."""
    communicator = socket(cookie)
    accepted, code = await communicator.connect()
    assert accepted, f"refused with {code}"
    communicator.hello = await communicator.receive_json_from(timeout=5)
    assert communicator.hello["type"] == "live.hello", communicator.hello
    return communicator


async def refused(communicator):
    """The close code of a socket that never joins a group: refused at the handshake (a foreign
    Origin), or accepted only to be closed at once with the reason (not logged in), which a
    browser sees (it sees only 1006 for a refused handshake)."""
    accepted, code = await communicator.connect()
    if accepted:
        closed = await communicator.receive_output()
        assert closed["type"] == "websocket.close", closed
        code = closed.get("code")
    return code


def test_alice_listens_with_the_session_of_her_login(alice_cookie):
    async def scenario():
        alice = await connected(alice_cookie)
        await alice.disconnect()

    run(scenario)


def test_a_socket_without_a_session_is_refused(alice):
    async def scenario():
        assert await refused(socket()) == 4401
        assert await refused(socket("not-a-session-key")) == 4401

    run(scenario)


def test_a_session_that_logged_out_is_refused(alice):
    client = Client()
    client.post("/login/", {"username": "alice", "password": "alice-portal-pw"})
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    client.post("/logout/")

    async def scenario():
        assert await refused(socket(cookie)) == 4401

    run(scenario)


def test_a_session_not_verified_by_a_code_is_refused_once_two_factor_is_on(alice, alice_cookie):
    from tests.accounts.test_login_security import turn_on_two_factor

    _device, codes = turn_on_two_factor(alice)  # after this session logged in with the password

    async def scenario():
        assert await refused(socket(alice_cookie)) == 4401

    run(scenario)
    client = Client()
    client.post("/login/", {"username": "alice", "password": "alice-portal-pw"})
    assert client.post("/login/code/", {"code": codes[0]}).status_code == 302
    verified = client.cookies[settings.SESSION_COOKIE_NAME].value

    async def with_the_code():
        alice = await connected(verified)
        await alice.disconnect()

    run(with_the_code)


@pytest.mark.parametrize(
    "origin, host",
    [
        ("http://evil.example", HOST),  # another site's page
        ("http://localhost:8001", "localhost:8000"),  # another port of the same host
        ("https://localhost.evil.example", HOST),
        ("null", HOST),  # a sandboxed frame or a file
        (None, HOST),  # no Origin at all: not a browser's page of ours
    ],
)
def test_a_socket_from_another_origin_is_refused(alice_cookie, origin, host):
    async def scenario():
        assert await refused(socket(alice_cookie, origin=origin, host=host)) == 4403

    run(scenario)


def test_bob_never_receives_alices_events_of_any_type(alice, bob, alice_cookie, bob_cookie):
    async def scenario():
        alice_socket, bob_socket = await connected(alice_cookie), await connected(bob_cookie)
        for kind in sorted(EVENT_TYPES):
            await sync_to_async(send_event)([alice.pk], {"type": kind, "account_id": 7})
            assert await alice_socket.receive_json_from(timeout=5) == {
                "type": kind,
                "account_id": 7,
            }
            await sync_to_async(send_event)([bob.pk], {"type": kind, "account_id": 8})
            assert await bob_socket.receive_json_from(timeout=5) == {"type": kind, "account_id": 8}
        assert await alice_socket.receive_nothing(timeout=0.5)
        assert await bob_socket.receive_nothing(timeout=0.1)
        await alice_socket.disconnect()
        await bob_socket.disconnect()

    run(scenario)


def test_every_tab_of_alice_hears_her_events(alice, alice_cookie):
    async def scenario():
        tabs = [await connected(alice_cookie) for _ in range(3)]
        await sync_to_async(send_event)([alice.pk], {"type": "folder.changed", "folder_id": 3})
        for tab in tabs:
            assert (await tab.receive_json_from(timeout=5))["folder_id"] == 3
            await tab.disconnect()

    run(scenario)


def test_alices_own_changes_reach_her_and_not_bob(alice, bob, alice_cookie, bob_cookie):
    """The actions' own events, sent after commit, to the owner's group."""

    async def scenario():
        alice_socket, bob_socket = await connected(alice_cookie), await connected(bob_cookie)
        account = await sync_to_async(new_account)(alice)
        event = await alice_socket.receive_json_from(timeout=5)
        assert (event["type"], event["account_id"]) == ("account.changed", account.pk)

        await sync_to_async(do_save_preferences)(alice, theme="dark")
        event = await alice_socket.receive_json_from(timeout=5)
        assert event["type"] == "preferences.changed"

        account_id = account.pk
        await sync_to_async(do_delete_mail_account)(account)
        event = await alice_socket.receive_json_from(timeout=5)
        assert (event["type"], event["account_id"]) == ("account.deleted", account_id)

        assert await bob_socket.receive_nothing(timeout=0.5)
        await alice_socket.disconnect()
        await bob_socket.disconnect()

    run(scenario)


def test_a_closed_tab_leaves_its_users_group(alice, alice_cookie):
    """A socket gone must not leave its channel in the group (Redis would keep sending to it)."""
    from channels.layers import get_channel_layer

    from mailbox.events import user_group

    async def scenario():
        tab = await connected(alice_cookie)
        layer = get_channel_layer()
        group_key = layer._group_key(user_group(alice.pk))
        async with layer.connection(layer.consistent_hash(user_group(alice.pk))) as redis:
            assert await redis.zcard(group_key) == 1
            await tab.disconnect()
            assert await redis.zcard(group_key) == 0

    run(scenario)


def page_seq(username, password):
    """The ``data-live-seq`` of a page the user opens (their account list)."""
    client = Client()
    client.post("/login/", {"username": username, "password": password})
    html = client.get("/accounts/").content.decode()
    return int(re.search(r'data-live-seq="(\d+)"', html).group(1))


def test_the_first_message_carries_the_number_of_events_alice_was_sent(
    alice, bob, alice_cookie, bob_cookie
):
    """A page compares it with its own: a difference says that events went out while it
    loaded, before its socket joined (static/js/live.js catches up then)."""
    seq = page_seq("alice", "alice-portal-pw")
    bob_seq = page_seq("bob", "bob-portal-pw")

    async def scenario():
        alice_socket = await connected(alice_cookie)
        assert alice_socket.hello == {"type": "live.hello", "seq": seq}
        await sync_to_async(send_event)([alice.pk], {"type": "folder.changed", "folder_id": 3})
        await sync_to_async(send_event)([alice.pk], {"type": "folder.changed", "folder_id": 4})
        assert (await alice_socket.receive_json_from(timeout=5))["type"] == "folder.changed"
        assert (await alice_socket.receive_json_from(timeout=5))["type"] == "folder.changed"
        # the hello went to that socket alone, never to her other tabs nor to Bob
        assert await alice_socket.receive_nothing(timeout=0.2)
        second_tab = await connected(alice_cookie)
        assert second_tab.hello == {"type": "live.hello", "seq": seq + 2}
        assert await alice_socket.receive_nothing(timeout=0.2)
        bob_socket = await connected(bob_cookie)
        assert bob_socket.hello == {"type": "live.hello", "seq": bob_seq}
        for tab in (alice_socket, second_tab, bob_socket):
            await tab.disconnect()

    run(scenario)
    assert page_seq("alice", "alice-portal-pw") == seq + 2
    assert page_seq("bob", "bob-portal-pw") == bob_seq


def test_with_redis_down_pages_have_no_number_and_sockets_say_none(alice, alice_cookie):
    from mailbox import events

    broken = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)  # nobody there
    saved = events._redis.get("client")
    events._redis["client"] = broken
    try:
        client = Client()
        client.post("/login/", {"username": "alice", "password": "alice-portal-pw"})
        response = client.get("/accounts/")
        assert response.status_code == 200
        assert b"data-live-url" in response.content and b"data-live-seq" not in response.content

        async def scenario():
            alice_socket = await connected(alice_cookie)
            assert alice_socket.hello == {"type": "live.hello", "seq": None}
            await alice_socket.disconnect()

        run(scenario)
    finally:
        events._redis.pop("client")
        if saved is not None:
            events._redis["client"] = saved
