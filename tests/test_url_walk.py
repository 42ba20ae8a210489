"""Every URL of the site, read from the URLconf as it is when the tests run, tried against the
running app (daphne, real HTTP, real Dovecot): a POST without its CSRF token is refused and
changes nothing; Bob, asking for any of Alice's objects, gets the very answer a missing id gets;
ids that name nothing are a 400 or a 404, never a 500; the live socket lets no one in without a
session and carries only the user's own events.

A new URL pattern fails test_every_url_pattern_has_an_entry until WALK says how to visit it.
"""

import base64
import datetime
import json
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from types import SimpleNamespace
from urllib.parse import quote, urlencode

import pytest
import redis
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter
from django.utils import timezone

from accounts.actions import do_save_identity
from accounts.identities import default_identity
from accounts.models import Identity
from mailbox import actions
from mailbox.contacts import do_note_contacts
from mailbox.events import send_event
from mailbox.models import Folder, OutboxMessage, OutboxState, Role, TrustedSender
from mailbox.routing import websocket_urlpatterns
from mailbox.sync.fetch import fetch_account
from mailbox.views.message import message_parts
from tests.mailbox.outbox_world import queue
from tests.mailbox.pop3_world import deliver, new_mailbox, pop3_account
from tests.running_app import Client
from webmail.converters import IdConverter

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.servers]

MISSING = 10**17 + 4321  # an id no row has: 18 digits, as the <id:> converter allows
BAD_IDS = ["9" * 19, str(2**63), str(2**64 + 5), "-1", "0", "abc", "", " ", "1.5", "0x1f", "1e3",
           "\x00", "-9223372036854775809", "9" * 400]  # fmt: skip
PASSWORDS = {"alice": "alice-portal-pw", "bob": "bob-portal-pw"}

# Django's admin is a block of its own: every view in it is staff-only (AdminSite.admin_view),
# its forms are Django's, its URLs take the models' ids through Django's own lookups. Our users
# are not staff; test_the_admin_is_for_staff_only checks that it turns them away.
EXCLUDED_BLOCKS = {"admin": "Django's staff-only admin: see test_the_admin_is_for_staff_only"}


# --- the table -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormId:
    """A form field that carries an object id: Bob sends Alice's id (``target``) and a missing
    one; Alice sends ids that name nothing, answered by a status in ``refused``."""

    field: str
    target: Callable  # (Alice's objects) -> an id of hers
    data: Callable  # (the sender's own objects, id) -> the form
    args: Callable = lambda own: {}  # (the sender's own objects) -> the URL's kwargs
    refused: frozenset = frozenset({400, 404})
    optional: bool = False  # an empty value means "none" (a folder at the top level)


@dataclass(frozen=True)
class Visit:
    """How to exercise one URL pattern, built from a user's objects (Alice's, unless said)."""

    args: Callable = lambda own: {}  # the pattern's kwargs
    get: bool = True  # GET is one of its methods
    query: dict = field(default_factory=dict)  # GET parameters
    post: Callable | None = None  # (own) -> a form that changes something; None: no POST
    form_ids: tuple = ()
    order: int = 0  # Alice's POSTs go in this order: the ones that remove things last


def account_form(own, **changes):
    return {"display_name": "Alice", "email": own.account.email, "incoming_protocol": "pop3",
            "incoming_host": "127.0.0.1", "incoming_security": "none",
            "incoming_port": own.account.incoming_port,
            "incoming_username": own.account.incoming_username, "smtp_host": "127.0.0.1",
            "smtp_security": "none", "smtp_port": own.account.smtp_port, "smtp_auth": "same",
            "pop3_retention": "keep", "pop3_keep_days": "14", "fetch_interval": "300",
            **changes}  # fmt: skip


def identity_form(**changes):
    return {"name": "Alice", "address": "alice@example.com", "reply_to": "",
            "signature_text": "", "signature_html": "", **changes}  # fmt: skip


NEW_PASSWORD = "a-new-portal-passphrase-42"
ACTION_IDS = (
    FormId("ids", lambda a: a.message.pk, lambda own, i: {"action": "flag", "ids": [i]}),
    FormId("folder", lambda a: a.projects.pk,
           lambda own, i: {"action": "move", "ids": [own.message.pk], "folder": i}),
    FormId("in_folder", lambda a: a.inbox.pk, lambda own, i: {"action": "read", "in_folder": i}),
)  # fmt: skip


# An undo names the messages a move put in a folder (JSON in one field: a non-number is a 400).
def undo_form(own, message_id):
    return {"moves": json.dumps([{"from": own.inbox.pk, "to": own.trash.pk, "ids": [message_id]}])}


UNDO_IDS = (FormId("moves", lambda a: a.message.pk, undo_form),)
# A folder form's problem is said on the folder page it returns to, like its other problems.
PARENT_ID = FormId("parent", lambda a: a.projects.pk, lambda own, i: {"name": "Loot", "parent": i},
                   args=lambda own: {"account_id": own.account.pk}, refused=frozenset({302}),
                   optional=True)  # fmt: skip


def compose_form(own, **changes):
    return {"identity": own.identity.pk, "to": "Zoë <zoe@example.org>", "subject": "Jam",
            "text": "Two jars.", "is_html": "0", **changes}  # fmt: skip


COMPOSE_IDS = (
    FormId("draft", lambda a: a.draft.pk, lambda own, i: compose_form(own, draft=i),
           optional=True),
    FormId("identity", lambda a: a.identity.pk, lambda own, i: compose_form(own, identity=i)),
    FormId("original", lambda a: a.message.pk,
           lambda own, i: compose_form(own, mode="edit_as_new", original=i)),
)  # fmt: skip

# fmt: off
WALK = {
    "home": Visit(),
    "healthz": Visit(),
    "favicon": Visit(),
    "login": Visit(post=lambda own: {"username": "alice", "password": PASSWORDS["alice"]}),
    "logout": Visit(get=False, post=lambda own: {}, order=9),
    "password_change": Visit(post=lambda own: {
        "old_password": PASSWORDS["alice"], "new_password1": NEW_PASSWORD,
        "new_password2": NEW_PASSWORD}, order=1),
    "password_change_done": Visit(),
    "set_language": Visit(get=False, post=lambda own: {"language": "fr", "next": "/"}, order=1),
    "accounts:list": Visit(),
    "accounts:add": Visit(post=lambda own: account_form(
        own, email="second@example.com", save_anyway="on", incoming_password="x")),
    "accounts:edit": Visit(args=lambda own: {"account_id": own.account.pk},
                           post=lambda own: account_form(own, display_name="Mallory")),
    "accounts:delete": Visit(args=lambda own: {"account_id": own.account.pk},
                             post=lambda own: {"delete_mail": "1"}, order=8),
    "accounts:identities": Visit(args=lambda own: {"account_id": own.account.pk}),
    "accounts:identity_add": Visit(args=lambda own: {"account_id": own.account.pk},
                                   post=lambda own: identity_form(address="alice@work.example")),
    "accounts:identity_edit": Visit(args=lambda own: {"identity_id": own.identity.pk},
                                    post=lambda own: identity_form(name="Alice B.")),
    "accounts:identity_default": Visit(get=False, post=lambda own: {},
                                       args=lambda own: {"identity_id": own.spare_identity.pk}),
    "accounts:identity_delete": Visit(args=lambda own: {"identity_id": own.spare_identity.pk},
                                      post=lambda own: {}, order=7),
    "accounts:preferences": Visit(post=lambda own: {"theme": "dark", "mark_read_after": "-1"}),
    "accounts:theme": Visit(get=False, post=lambda own: {"theme": "light"}),
    "accounts:list_width": Visit(get=False, post=lambda own: {"width": "600"}),
    "accounts:list_width_css": Visit(query={"w": "600"}),
    "accounts:forget_sender": Visit(get=False, args=lambda own: {"sender_id": own.sender.pk},
                                    post=lambda own: {}, order=5),
    # two-factor login (accounts/twofactor.py); Alice has it off, so most of these send her on
    "login_code": Visit(post=lambda own: {"code": "123456"}),
    "accounts:two_factor": Visit(),
    "accounts:two_factor_start": Visit(get=False, post=lambda own: {}, order=2),
    "accounts:two_factor_confirm": Visit(
        get=False, post=lambda own: {"code": "123456", "password": "x"}
    ),
    "accounts:recovery_codes": Visit(post=lambda own: {}),
    "accounts:two_factor_off": Visit(get=False, post=lambda own: {"password": PASSWORDS["alice"]}),
    # the compose screen (mailbox/views/compose.py)
    "mailbox:compose": Visit(query={"account": "1"}),
    "mailbox:compose_from": Visit(args=lambda own: {"mode": "edit_as_new",
                                                    "message_id": own.message.pk}),
    "mailbox:draft_save": Visit(get=False, post=lambda own: compose_form(own, draft=own.draft.pk),
                                form_ids=COMPOSE_IDS),
    "mailbox:draft_send": Visit(get=False, post=lambda own: compose_form(own)),
    "mailbox:compose_text": Visit(get=False, post=lambda own: {"html": "<p>Hi</p>"}),
    "mailbox:draft": Visit(args=lambda own: {"draft_id": own.draft.pk}),
    "mailbox:draft_attach": Visit(get=False, args=lambda own: {"draft_id": own.draft.pk},
                                  post=lambda own: {}),
    "mailbox:draft_attachment": Visit(args=lambda own: {"draft_id": own.draft.pk,
                                                        "attachment_id": own.attachment.pk}),
    "mailbox:draft_attachment_delete": Visit(
        get=False, args=lambda own: {"draft_id": own.draft.pk,
                                     "attachment_id": own.attachment.pk},
        post=lambda own: {}, order=5),
    "mailbox:draft_discard": Visit(get=False, args=lambda own: {"draft_id": own.draft.pk},
                                   post=lambda own: {}, order=6),
    "mailbox:send_undo": Visit(get=False, args=lambda own: {"outbox_id": own.outbox.pk},
                               post=lambda own: {}),
    "mailbox:home": Visit(),
    "mailbox:folders": Visit(args=lambda own: {"account_id": own.account.pk}),
    "mailbox:folder_create": Visit(get=False, args=lambda own: {"account_id": own.account.pk},
                                   post=lambda own: {"name": "Loot"}, form_ids=(PARENT_ID,)),
    "mailbox:account_sync": Visit(get=False, args=lambda own: {"account_id": own.account.pk},
                                  post=lambda own: {"next": "mail"}),
    "mailbox:folder_rename": Visit(get=False, args=lambda own: {"folder_id": own.projects.pk},
                                   post=lambda own: {"name": "Renamed"}),
    "mailbox:folder_delete": Visit(args=lambda own: {"folder_id": own.projects.pk},
                                   post=lambda own: {}, order=6),
    "mailbox:folder_subscribe": Visit(get=False, args=lambda own: {"folder_id": own.projects.pk},
                                      post=lambda own: {"subscribed": "0"}),
    "mailbox:folder_empty": Visit(args=lambda own: {"folder_id": own.trash.pk},
                                  post=lambda own: {}, order=5),
    "mailbox:account_inbox": Visit(args=lambda own: {"account_id": own.account.pk}),
    "mailbox:folder_messages": Visit(args=lambda own: {"folder_id": own.inbox.pk}),
    "mailbox:unified": Visit(args=lambda own: {"view": "inbox"}),
    "mailbox:search": Visit(args=lambda own: {"folder_id": own.inbox.pk},
                            query={"q": "garden", "in": "account"}),
    "mailbox:message": Visit(args=lambda own: {"message_id": own.rich.pk}, query={"part": "pane"}),
    "mailbox:message_body": Visit(args=lambda own: {"message_id": own.rich.pk}),
    "mailbox:message_cid": Visit(args=lambda own: {"message_id": own.rich.pk, "cid": own.cid}),
    "mailbox:trust_sender": Visit(get=False, args=lambda own: {"message_id": own.message.pk},
                                  post=lambda own: {"trusted": "1"}),
    "mailbox:message_action": Visit(get=False, post=lambda own: {
        "action": "delete", "ids": [own.message.pk]}, form_ids=ACTION_IDS),
    "mailbox:undo_moves": Visit(get=False, post=lambda own: undo_form(own, own.message.pk),
                                form_ids=UNDO_IDS),
    "mailbox:contacts": Visit(query={"q": "zo"}),
    "mailbox:part_download": Visit(args=lambda own: {"message_id": own.rich.pk,
                                                     "section": own.section}),
    "mailbox:message_original": Visit(args=lambda own: {"message_id": own.rich.pk}),
    "mailbox:message_headers": Visit(args=lambda own: {"message_id": own.rich.pk}),
    "mailbox:part_preview": Visit(args=lambda own: {"message_id": own.rich.pk,
                                                    "section": own.section}),
    "mailbox:outbox": Visit(),
    "mailbox:outbox_cancel": Visit(get=False, args=lambda own: {"outbox_id": own.queued.pk},
                                   post=lambda own: {}),
    "mailbox:outbox_retry": Visit(get=False, args=lambda own: {"outbox_id": own.failed.pk},
                                  post=lambda own: {"confirmed": "1"}),
}
# fmt: on
# The WebSocket routes (mailbox/routing.py), visited by the tests at the end of this file.
WEBSOCKETS = {"ws/live/"}


# --- reading the URLconf -------------------------------------------------------------------------


def url_patterns(patterns=None, namespace=""):
    """(name, pattern) of every URL pattern, through every include; a pattern without a name is
    listed by its route. The blocks of EXCLUDED_BLOCKS are left out whole."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace in EXCLUDED_BLOCKS:
                continue
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from url_patterns(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern):
            yield (f"{namespace}{entry.name}" if entry.name else str(entry.pattern)), entry


def id_kwargs(name):
    """The kwargs of a pattern that are object ids: <id:...>, <int:...>, or named so."""
    converters = dict(url_patterns())[name].pattern.converters
    return sorted(key for key, converter in converters.items()
                  if isinstance(converter, IdConverter | IntConverter) or key.endswith("_id"))  # fmt: skip


def path_of(name, own, **replace):
    kwargs = {**WALK[name].args(own), **replace}
    return reverse(name, kwargs=kwargs) if kwargs else reverse(name)


# --- the world: Alice's objects, Bob's, and what the database holds -------------------------------


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def rich_message():
    """HTML with an inline image (cid:) and an attached picture: every kind of part."""
    mail = EmailMessage()
    mail["From"] = "Zoë <zoe@example.org>"
    mail["To"] = "alice@example.com"
    mail["Subject"] = "Garden photos"
    mail["Message-ID"] = "<walk-rich@example.org>"
    mail.set_content("The garden, in pictures.\n")
    mail.add_alternative('<p>The garden <img src="cid:logo@example.org"></p>', subtype="html")
    mail.get_payload()[1].add_related(PNG, "image", "png", cid="<logo@example.org>")
    mail.add_attachment(PNG, maintype="image", subtype="png", filename="garden.png")
    return bytes(mail)


def mailbox_of(user, world, rich=False):
    login = new_mailbox(world)
    if rich:
        world.dovecot.deliver(login[0], rich_message())
    deliver(world, login, f"Garden plans of {user.username}", "Kumquat jam")
    account = pop3_account(user, world, login)
    fetch_account(account.pk)
    folders = Folder.objects.filter(account=account)
    own = SimpleNamespace(user=user, account=account, inbox=folders.get(role=Role.INBOX),
                          trash=folders.get(role=Role.TRASH))  # fmt: skip
    own.projects = actions.do_create_folder(user, account.pk, "Projects")
    own.message = own.inbox.messages.get(subject__startswith="Garden plans")
    kumquat = own.inbox.messages.get(subject="Kumquat jam")
    actions.do_move_messages(user, [kumquat.pk], own.trash.pk)  # something to empty
    actions.do_trust_sender(user, "zoe@example.org")
    own.sender = TrustedSender.objects.get(user=user)
    own.identity = default_identity(account)
    own.spare_identity = do_save_identity(
        user, Identity(account=account, name="Spare", address=f"spare.{account.email}")
    )
    do_note_contacts(user, [("Zoë", "zoe@example.org")])
    tomorrow = timezone.now() + datetime.timedelta(days=1)
    own.queued = queue(account, ["zoe@example.org"], when=tomorrow)
    own.failed = queue(account, ["zoe@example.org"], when=tomorrow)
    OutboxMessage.objects.filter(pk=own.failed.pk).update(state=OutboxState.FAILED, error="No.")
    if rich:
        own.rich = own.inbox.messages.get(subject="Garden photos")
        _text, _html, attachments, inline = message_parts(own.rich)
        own.section, own.cid = attachments[0].section, inline[0].content_id
    compose_objects(user, account, own)
    return own


def compose_objects(user, account, own):
    """A draft with an attachment, and a message waiting in the outbox (the compose screen)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from accounts.identities import default_identity
    from mailbox import drafts

    own.identity = default_identity(account)
    own.draft = drafts.do_save_draft(user, drafts.DraftFields(own.identity, subject="Jam"))
    (own.attachment,) = drafts.do_attach_files(user, own.draft, [SimpleUploadedFile("a.txt", b"a")])
    sending = drafts.DraftFields(own.identity, to="zoe@example.org", subject="Jam, sent")
    own.outbox = drafts.do_send_draft(user, drafts.do_save_draft(user, sending))


def distinct_ids():
    """Ids of thirteen digits, different from table to table: an id in a page is then told apart
    from every other number there (and from the ids of another table)."""
    if connection.vendor != "postgresql":
        pytest.skip("the ids are set through PostgreSQL's sequences")
    models = [model for label in ("accounts", "mailbox")
              for model in apps.get_app_config(label).get_models()
              if not model._meta.proxy and model._meta.pk.get_internal_type().endswith("AutoField")]  # fmt: skip
    with connection.cursor() as cursor:
        for step, model in enumerate(models, start=1):
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, %s), %s)",
                           [model._meta.db_table, model._meta.pk.column, step * 10**12])  # fmt: skip


@pytest.fixture
def world(alice, bob, mail_world):
    distinct_ids()
    return SimpleNamespace(alice=mailbox_of(alice, mail_world, rich=True),
                           bob=mailbox_of(bob, mail_world))  # fmt: skip


def signed_in(daphne, name):
    client = Client(daphne.url)
    assert client.login(name, PASSWORDS[name])[0] == 302
    return client


def snapshot():
    """Every row of every table but the sessions (last logins aside), and the task queue: a
    request that changes nothing leaves them the same."""
    rows = {}
    for model in apps.get_models():
        if model._meta.label != "sessions.Session":
            values = model.objects.order_by("pk").values()
            rows[model._meta.label] = [_comparable(row) for row in values]
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    rows["queued tasks"] = {key: broker.llen(key) for key in broker.scan_iter(_type="list")}
    return rows


def _comparable(row):
    row.pop("last_login", None)
    return {key: bytes(value) if isinstance(value, memoryview) else value
            for key, value in row.items()}  # fmt: skip


CSRF_TOKEN = re.compile(r'(name="csrfmiddlewaretoken" value=|csrf[-_]token["\']?[:=] ?)"[^"]*"')
NONCE = re.compile(r'nonce="[^"]*"')


def normalized(answer, *ids):
    """(status, content type, body) with the given ids, the CSRF tokens and the nonces (both
    new on each page) written the same way."""
    status, headers, body = answer
    for value in ids:
        body = re.sub(rf"(?<!\d){value}(?!\d)", "<id>", body)
    body = NONCE.sub('nonce=""', CSRF_TOKEN.sub(r'\1""', body))
    return status, headers.get("Content-Type"), body


# --- the tests -----------------------------------------------------------------------------------


def test_every_url_pattern_has_an_entry():
    names = [name for name, _pattern in url_patterns()]
    assert len(names) == len(set(names)), "two patterns share a name: give each its own"
    missing = sorted(set(names) - set(WALK))
    assert not missing, f"say in WALK how to visit these URL patterns: {missing}"
    stale = sorted(set(WALK) - set(names))
    assert not stale, f"these WALK entries name no URL pattern any more: {stale}"
    routes = {str(pattern.pattern) for pattern in websocket_urlpatterns}
    assert routes == WEBSOCKETS, "a WebSocket route needs its own test in this file"


def test_an_excluded_block_is_still_mounted():
    """The reason for leaving a block out must stay true: the block is there, as a block."""
    namespaces = {e.namespace for e in get_resolver().url_patterns if isinstance(e, URLResolver)}
    assert set(EXCLUDED_BLOCKS) <= namespaces


def test_posts_without_a_csrf_token_are_refused_and_change_nothing(daphne, world):
    alice = signed_in(daphne, "alice")
    before = snapshot()
    for name, visit in WALK.items():
        if visit.post is None:
            continue
        path = path_of(name, world.alice)
        status, _headers, body = alice.post(path, visit.post(world.alice), csrf=False)
        assert status == 403 and "CSRF" in body, (name, status)
        for form_id in visit.form_ids:
            data = form_id.data(world.alice, form_id.target(world.alice))
            url = reverse(name, kwargs=form_id.args(world.alice) or None)
            assert alice.post(url, data, csrf=False)[0] == 403, (name, form_id.field)
    assert snapshot() == before
    assert alice.get("/accounts/")[0] == 200, "and Alice is still signed in (logout refused)"


def test_bob_is_answered_as_if_alices_objects_did_not_exist(daphne, world):
    bob = signed_in(daphne, "bob")
    before = snapshot()
    compared = []
    for name, visit in WALK.items():
        ids = id_kwargs(name)
        if ids:
            compared.append(name)
            theirs = path_of(name, world.alice)
            nobodys = path_of(name, world.alice, **dict.fromkeys(ids, MISSING))
            alice_ids = [visit.args(world.alice)[key] for key in ids]
            query = "?" + urlencode(visit.query) if visit.query else ""
            if visit.get:
                assert normalized(bob.get(theirs + query), *alice_ids) == normalized(
                    bob.get(nobodys + query), MISSING
                ), name
            if visit.post is not None:
                data = visit.post(world.bob)
                assert normalized(bob.post(theirs, data), *alice_ids) == normalized(
                    bob.post(nobodys, data), MISSING
                ), name
        for form_id in visit.form_ids:
            compared.append(f"{name} {form_id.field}")
            path = reverse(name, kwargs=form_id.args(world.bob) or None)
            target = form_id.target(world.alice)
            theirs = _followed(bob, bob.post(path, form_id.data(world.bob, target)))
            nobodys = _followed(bob, bob.post(path, form_id.data(world.bob, MISSING)))
            assert normalized(theirs, target) == normalized(nobodys, MISSING), (name, form_id)
    assert snapshot() == before, "Bob changed nothing of Alice's"
    assert len(compared) >= 20


def _followed(client, answer):
    """The answer, and for a redirect also the page it leads to (where a form's problem shows)."""
    status, headers, body = answer
    if status in (301, 302, 303) and headers.get("Location", "").startswith("/"):
        body += "\n---\n" + client.get(headers["Location"])[2]
    return status, headers, body


def test_alice_reaches_every_entry(daphne, world):
    """The table is right: with her own ids and her token, every visit is answered, not refused
    or lost (so that Bob's 404s above say something)."""
    alice = signed_in(daphne, "alice")
    for name, visit in WALK.items():
        if visit.get:
            query = "?" + urlencode(visit.query) if visit.query else ""
            status = alice.get(path_of(name, world.alice) + query)[0]
            assert status < 400, (name, status)
    for name, visit in sorted(WALK.items(), key=lambda item: item[1].order):
        if visit.post is not None:
            status = alice.post(path_of(name, world.alice), visit.post(world.alice))[0]
            assert status < 400, (name, status)


def test_ids_that_name_nothing_are_refused_calmly(daphne, world):
    alice = signed_in(daphne, "alice")
    before = snapshot()
    for name, visit in WALK.items():
        for key in id_kwargs(name):
            path = path_of(name, world.alice, **{key: MISSING}).replace(
                str(MISSING), "{}")  # fmt: skip
            for bad in BAD_IDS:
                url = path.format(quote(bad, safe=""))
                if visit.get:
                    assert alice.get(url)[0] == 404, (name, bad)
                if visit.post is not None:
                    assert alice.post(url, visit.post(world.alice))[0] == 404, (name, bad)
        for form_id in visit.form_ids:
            path = reverse(name, kwargs=form_id.args(world.alice) or None)
            for bad in BAD_IDS:
                if form_id.optional and not bad.strip():
                    continue
                status = alice.post(path, form_id.data(world.alice, bad))[0]
                assert status in form_id.refused, (name, form_id.field, bad, status)
    assert snapshot() == before


def cursor(sort, value, pk):
    return base64.urlsafe_b64encode(json.dumps([sort, value, pk]).encode()).decode().rstrip("=")


DOCTORED = [("date", cursor("date", "2020-01-01T00:00:00+00:00", pk))
            for pk in (2**63, 2**64 + 5, -1, 0, 10**40)]  # fmt: skip
DOCTORED += [("subject", cursor("subject", "a\x00b", 5)), ("sender", cursor("sender", "\ud800", 5)),
             ("date", "x" * 5000), ("date", "!!"), ("size", cursor("size", 10**30, 5))]  # fmt: skip


@pytest.mark.parametrize("name", ["mailbox:folder_messages", "mailbox:message"])
def test_a_cursor_with_a_bad_id_or_key_is_the_first_page(daphne, world, name):
    """The list's ``after`` cursor carries a message id and a sort key back from the browser."""
    alice = signed_in(daphne, "alice")
    path = path_of(name, world.alice)
    for sort, after in DOCTORED:
        status, _headers, body = alice.get(f"{path}?{urlencode({'after': after, 'sort': sort})}")
        assert status == 200 and "Garden plans of alice" in body, (sort, after, status)


# --- the admin, a block of its own ---------------------------------------------------------------


def test_the_admin_is_for_staff_only(daphne, alice):
    client = signed_in(daphne, "alice")
    status, headers, _body = client.get("/admin/")
    assert status == 302 and headers["Location"].startswith("/admin/login/")
    status, headers, _body = client.get("/admin/auth/user/")
    assert status == 302 and headers["Location"].startswith("/admin/login/")
    assert client.post("/admin/login/", {"username": "alice"}, csrf=False)[0] == 403


# --- the live socket -----------------------------------------------------------------------------


class LiveSocket:
    """A WebSocket client of the fewest lines: the RFC 6455 handshake over a plain socket, then
    the server's text frames (unmasked, as a server sends them)."""

    def __init__(self, daphne, session=None, origin=None):
        self.sock = socket.create_connection(("127.0.0.1", daphne.port), timeout=10)
        host = f"127.0.0.1:{daphne.port}"
        lines = ["GET /ws/live/ HTTP/1.1", f"Host: {host}", "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Version: 13",
                 f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
                 f"Origin: {origin or 'http://' + host}"]  # fmt: skip
        if session:
            lines.append(f"Cookie: {settings.SESSION_COOKIE_NAME}={session}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                break
            head += chunk
        self.status = int(head.split(b" ", 2)[1]) if head else None

    def _exactly(self, count):
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def close_code(self, timeout):
        """The code of the server's next frame, which must be a close frame (RFC 6455 5.5.1)."""
        self.sock.settimeout(timeout)
        first, second = self._exactly(2)
        payload = self._exactly(second & 0x7F)
        assert first & 0x0F == 0x8, f"a close frame, not opcode {first & 0x0F}"
        return int.from_bytes(payload[:2], "big")

    def receive(self, timeout):
        """The next text frame as JSON, or None when nothing comes within ``timeout``."""
        self.sock.settimeout(timeout)
        try:
            first, second = self._exactly(2)
        except TimeoutError:
            return None
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(self._exactly(2), "big")
        elif length == 127:
            length = int.from_bytes(self._exactly(8), "big")
        payload = self._exactly(length)
        assert first & 0x0F == 0x1, f"a text frame, not opcode {first & 0x0F}"
        return json.loads(payload)

    def close(self):
        self.sock.close()


def test_the_live_socket_lets_no_one_in_without_a_session(daphne):
    """Accepted only to be closed at once with 4401 before any event (hello included): a
    browser sees that code and stops reconnecting (a refused handshake shows it only 1006)."""
    anonymous = LiveSocket(daphne)
    assert anonymous.status == 101
    assert anonymous.close_code(timeout=10) == 4401
    anonymous.close()
    forged = LiveSocket(daphne, session="not-a-session-key")
    assert forged.status == 101
    assert forged.close_code(timeout=10) == 4401
    forged.close()


def test_the_live_socket_refuses_another_sites_page(daphne, alice):
    """A page elsewhere, in Alice's browser, sends her cookie with its socket: it is refused."""
    client = signed_in(daphne, "alice")
    hijack = LiveSocket(daphne, client.cookie(settings.SESSION_COOKIE_NAME),
                        origin="https://evil.example")  # fmt: skip
    assert hijack.status == 403
    hijack.close()


def test_the_live_socket_refuses_a_page_on_another_port_of_the_same_host(daphne, alice):
    client = signed_in(daphne, "alice")
    elsewhere = LiveSocket(daphne, client.cookie(settings.SESSION_COOKIE_NAME),
                           origin="http://127.0.0.1:9")  # fmt: skip
    assert elsewhere.status == 403
    elsewhere.close()


def test_the_live_socket_carries_only_the_users_own_events(daphne, alice, bob):
    sessions = {name: signed_in(daphne, name).cookie(settings.SESSION_COOKIE_NAME)
                for name in ("alice", "bob")}  # fmt: skip
    sockets = {name: LiveSocket(daphne, session) for name, session in sessions.items()}
    assert {name: s.status for name, s in sockets.items()} == {"alice": 101, "bob": 101}
    for live in sockets.values():  # the consumers' first message: each has joined its group
        assert live.receive(timeout=10)["type"] == "live.hello"
    send_event([bob.pk], {"type": "folder.changed", "folder_id": 2})
    send_event([alice.pk], {"type": "folder.changed", "folder_id": 1})
    assert sockets["alice"].receive(timeout=10) == {"type": "folder.changed", "folder_id": 1}
    assert sockets["bob"].receive(timeout=10) == {"type": "folder.changed", "folder_id": 2}
    assert sockets["alice"].receive(timeout=0.5) is None
    assert sockets["bob"].receive(timeout=0.5) is None
    for live in sockets.values():
        live.close()
