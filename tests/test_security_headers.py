"""Every page of the running webmail is locked down by its Content-Security-Policy, and by HSTS
behind a TLS proxy; the message body frame and downloads keep their own, stricter policies.

Against a real daphne (tests/running_app.py), over real HTTP: Alice's pages, the admin's, pages
for nobody (the login page, a 404), and the responses that carry a hostile sender's bytes.
"""

import re
from html import unescape
from urllib.parse import urlencode

import pytest

from mailbox.models import Folder
from mailbox.views.download import PDF_CSP, SANDBOX
from mailbox.views.message import BODY_CSP, BODY_CSP_REMOTE
from tests.mailbox.conftest import deliver, imap_account, mailbox_login, other_client  # noqa: F401
from tests.mailbox.test_message_extras import PNG, mail, pdf, section_of
from tests.mailbox.test_reading_views import HOSTILE_HTML, email
from tests.running_app import Client, Daphne

pytestmark = [pytest.mark.servers, pytest.mark.django_db(transaction=True)]

PAGE_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'self'"],
    "form-action": ["'self'"],
}
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")
INLINE_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[^>]*\sstyle\s*=", re.I)


def directives(policy):
    parsed = {}
    for directive in filter(None, (part.strip() for part in policy.split(";"))):
        name, *values = directive.split()
        assert name not in parsed, f"{name} twice in {policy}"
        parsed[name] = values
    return parsed


def raw_get(client, path, headers=None):
    """(status, every Content-Security-Policy header, the headers, the body): a second policy
    header would only tighten the first, but none may be added to a response's own."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(client.base + path, headers=headers or {})
    try:
        response = client.opener.open(request, timeout=30)
    except urllib.error.HTTPError as error:
        response = error
    with response:
        body = response.read().decode(errors="replace")
        policies = response.headers.get_all("Content-Security-Policy") or []
        return response.status, policies, response.headers, body


def assert_page_is_locked_down(client, path, port, status=200, scheme="ws"):
    got, policies, _headers, body = raw_get(client, path)
    assert got == status, f"{path}: {got}"
    assert len(policies) == 1, f"{path}: {policies}"
    policy = directives(policies[0])
    for name, values in PAGE_POLICY.items():
        assert policy.get(name) == values, f"{path}: {name} is {policy.get(name)}"
    # the page's own WebSocket (static/js/live.js), spelled out for browsers older than CSP 3
    assert policy["connect-src"] == ["'self'", f"{scheme}://127.0.0.1:{port}"], path
    assert "'unsafe-inline'" not in policies[0] and "'unsafe-eval'" not in policies[0], path
    # and nothing on the page that such a policy would block
    assert not INLINE_SCRIPT.search(body), f"{path}: {INLINE_SCRIPT.search(body).group()}"
    assert not INLINE_HANDLER.search(body), f"{path}: {INLINE_HANDLER.search(body).group()}"
    assert not STYLE_ATTRIBUTE.search(body), f"{path}: {STYLE_ATTRIBUTE.search(body).group()}"
    return body


# responses with a policy of their own (the message frame, downloads), and the way out
OWN_POLICY_OR_LOGOUT = re.compile(r"/(body|cid|original|parts)/|^/logout/|^/static/")


def links(body):
    """The site's own pages that a page links to, as paths."""
    found = (unescape(href) for href in re.findall(r'<a [^>]*href="([^"]+)"', body))
    return {
        href for href in found if href.startswith("/") and not OWN_POLICY_OR_LOGOUT.search(href)
    }


@pytest.fixture
def alices_mail(imap_account, other_client, deliver):  # noqa: F811
    """Alice's account with a folder of her own, an HTML newsletter (an inline image, a tracker)
    and a message with a PNG and a PDF attached."""
    assert other_client.imap.create("Receipts")[0] == "OK"
    newsletter = deliver(email("Newsletter", html=HOSTILE_HTML))
    attachments = [(PNG, "image/png", "pixel.png"), (pdf(), "application/pdf", "plan.pdf")]
    plans = deliver(mail(subject="Plans", attachments=attachments))
    return imap_account, newsletter, plans


def test_every_page_alice_sees_has_the_policy(daphne, alices_mail):
    account, newsletter, plans = alices_mail
    inbox = Folder.objects.get(account=account, name="INBOX")
    receipts = Folder.objects.get(account=account, name="Receipts")
    client = Client(daphne.url)
    assert_page_is_locked_down(client, "/login/", daphne.port)
    assert_page_is_locked_down(client, "/mail/", daphne.port, status=302)  # to the login page
    assert client.login("alice", "alice-portal-pw")[0] == 302
    pages = [
        "/accounts/", "/accounts/add/", f"/accounts/{account.pk}/",
        f"/accounts/{account.pk}/delete/", "/accounts/preferences/", "/password/",
        "/password/done/", f"/mail/folders/{inbox.pk}/", f"/mail/folders/{inbox.pk}/?sort=sender",
        f"/mail/folders/{inbox.pk}/search/?" + urlencode({"q": "Plans", "in": "account"}),
        f"/mail/messages/{newsletter.pk}/", f"/mail/messages/{plans.pk}/",
        f"/mail/messages/{plans.pk}/?part=pane", f"/mail/messages/{plans.pk}/headers/",
        f"/mail/accounts/{account.pk}/folders/", f"/mail/folders/{receipts.pk}/delete/",
    ]  # fmt: skip
    linked = set()
    for path in pages:
        linked |= links(assert_page_is_locked_down(client, path, daphne.port))
    assert_page_is_locked_down(client, "/mail/messages/999999999/", daphne.port, status=404)
    # and every page those link to (pages added later, the two-factor settings ...)
    for path in sorted(linked - set(pages)):
        status = raw_get(client, path)[0]
        assert_page_is_locked_down(client, path, daphne.port, status=status)


def test_every_admin_page_has_the_policy(daphne, django_user_model, alice):
    django_user_model.objects.create_superuser("root", "root@example.com", "root-portal-pw")
    client = Client(daphne.url)
    assert client.login("root", "root-portal-pw")[0] == 302
    _status, _policies, _headers, index = raw_get(client, "/admin/")
    # every list and add page the index links to (models of other apps too)
    linked = sorted(set(re.findall(r'href="(/admin/\w+/\w+/(?:add/)?)"', index)))
    assert "/admin/accounts/mailaccount/add/" in linked and "/admin/auth/user/" in linked
    pages = ["/admin/", f"/admin/auth/user/{alice.pk}/change/", "/admin/password_change/"]
    for path in pages + linked:
        assert_page_is_locked_down(client, path, daphne.port)


def test_the_message_frame_and_downloads_keep_their_own_policy(daphne, alices_mail):
    _account, newsletter, plans = alices_mail
    client = Client(daphne.url)
    client.login("alice", "alice-portal-pw")
    own = {
        f"/mail/messages/{newsletter.pk}/body/": BODY_CSP,
        f"/mail/messages/{newsletter.pk}/body/?remote=1": BODY_CSP_REMOTE,
        f"/mail/messages/{newsletter.pk}/cid/logo@example.com/": "default-src 'none'; sandbox",
        f"/mail/messages/{plans.pk}/original/": SANDBOX,
        f"/mail/messages/{plans.pk}/parts/{section_of(plans, 'pixel.png')}/": SANDBOX,
        f"/mail/messages/{plans.pk}/parts/{section_of(plans, 'plan.pdf')}/": SANDBOX,
        f"/mail/messages/{plans.pk}/parts/{section_of(plans, 'pixel.png')}/preview/": SANDBOX,
        f"/mail/messages/{plans.pk}/parts/{section_of(plans, 'plan.pdf')}/preview/": PDF_CSP,
    }
    for path, policy in own.items():
        status, policies, _headers, _body = raw_get(client, path)
        assert status == 200, path
        assert policies == [policy], path
    # the frame still allows no script (nothing but 'none' by default), and shows the mail
    assert directives(BODY_CSP)["default-src"] == ["'none'"]
    body = raw_get(client, f"/mail/messages/{newsletter.pk}/body/")[3]
    assert "<b>Alice</b>" in body and "<script" not in body


def test_hsts_is_sent_behind_a_tls_proxy_only(daphne):
    forwarded = {"X-Forwarded-Proto": "https"}
    # plain HTTP, no proxy trusted: a forged X-Forwarded-Proto changes nothing
    headers = raw_get(Client(daphne.url), "/login/", forwarded)[2]
    assert headers.get("Strict-Transport-Security") is None

    behind = Daphne(WEBMAIL_BEHIND_TLS_PROXY="1")
    try:
        client = Client(behind.url)
        status, policies, headers, _body = raw_get(client, "/login/", forwarded)
        assert status == 200
        assert headers.get("Strict-Transport-Security") == "max-age=31536000"
        socket = f"wss://127.0.0.1:{behind.port}"  # the page's WebSocket, over TLS too
        assert directives(policies[0])["connect-src"] == ["'self'", socket]
        # the proxy's own plain-HTTP side (no X-Forwarded-Proto): browsers ignore HSTS there
        assert raw_get(client, "/login/")[2].get("Strict-Transport-Security") is None
    finally:
        behind.stop()

    chosen = Daphne(WEBMAIL_BEHIND_TLS_PROXY="1", SECURE_HSTS_SECONDS="600",
                    SECURE_HSTS_INCLUDE_SUBDOMAINS="1")  # fmt: skip
    try:
        headers = raw_get(Client(chosen.url), "/login/", forwarded)[2]
        assert headers.get("Strict-Transport-Security") == "max-age=600; includeSubDomains"
    finally:
        chosen.stop()
