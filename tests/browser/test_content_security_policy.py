"""Alice uses the mail screen of the running webmail (daphne) in Chromium under its
Content-Security-Policy: the language and sort selects still submit, HTML mail still shows in its
frame, live updates still arrive over the WebSocket, and the browser reports no violation; an
inline handler, as an injection would add, is refused."""

from types import SimpleNamespace

import pytest

from mailbox import actions
from mailbox.models import Folder
from mailbox.sync import run_account
from tests.mailbox.conftest import imap_account, mailbox_login, other_client  # noqa: F401
from tests.mailbox.test_reading_views import HOSTILE_HTML, email

pytestmark = [pytest.mark.browser, pytest.mark.servers, pytest.mark.django_db(transaction=True)]

# Every violation in every document of the page, reported to the test before the page goes on.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportViolation(`${event.violatedDirective} ${event.blockedURI} at ${event.documentURI}`);
});
"""


@pytest.fixture
def inbox(imap_account, other_client):  # noqa: F811
    other_client.seed(6, seed=3, folders=["INBOX"])
    status, data = other_client.imap.append(
        "INBOX", None, None, email("Newsletter", html=HOSTILE_HTML)
    )
    assert status == "OK", data
    assert run_account(imap_account.pk)
    return Folder.objects.get(account=imap_account, name="INBOX")


@pytest.fixture
def watched_page(browser, daphne, alice):
    """Alice logged in to the running app; ``seen`` keeps every CSP violation, console error and
    WebSocket of the page."""
    context = browser.new_context(base_url=daphne.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    seen = SimpleNamespace(violations=[], errors=[], sockets=[])
    page.expose_function("reportViolation", lambda text: seen.violations.append(text))
    page.add_init_script(REPORT_VIOLATIONS)
    page.on("console", lambda message: message.type == "error" and seen.errors.append(message.text))
    page.on("websocket", lambda socket: seen.sockets.append(socket))
    page.goto("/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "alice-portal-pw")
    page.click("button[type=submit]")
    page.wait_for_url("**/accounts/")
    yield page, seen
    context.close()


def test_the_mail_screen_works_under_its_policy(watched_page, inbox, alice):
    page, seen = watched_page
    response = page.goto(f"/mail/folders/{inbox.pk}/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in [part.strip() for part in policy.split(";")]
    assert "'unsafe-inline'" not in policy

    # HTML mail shows in its sandboxed frame
    page.click("#message-list >> text=Newsletter")
    page.wait_for_url("**/mail/messages/*/")
    assert page.frame_locator("iframe.message-body").locator("b").inner_text() == "Alice"

    # live updates arrive over the page's WebSocket: a star set elsewhere shows in the list
    page.goto(f"/mail/folders/{inbox.pk}/")
    page.wait_for_function("() => document.querySelectorAll('li.row').length > 0")
    assert seen.sockets and seen.sockets[-1].url.endswith("/ws/live/")
    page.wait_for_timeout(500)  # the socket is open and subscribed
    newest = inbox.messages.order_by("-date", "-id").first()
    actions.do_set_flags(alice, [newest.pk], add=["\\Flagged"])
    page.wait_for_selector(f"li.row.flagged[data-message-id='{newest.pk}']")

    # the sort order and the language (in the footer of the other pages) submit when chosen
    page.select_option("#sort", "sender")
    page.wait_for_url("**/?sort=sender")
    page.goto("/accounts/preferences/")
    page.select_option("select[name=language]", "fr")
    page.wait_for_function("() => document.documentElement.lang === 'fr'")
    assert page.url.endswith("/accounts/preferences/")
    page.goto(f"/mail/folders/{inbox.pk}/?sort=sender")
    assert page.locator("#sort option:checked").inner_text() == "Expéditeur A–Z"

    assert seen.violations == [], seen.violations
    assert not [text for text in seen.errors if "Content Security Policy" in text], seen.errors


def test_an_injected_inline_handler_is_refused(watched_page, inbox):
    page, seen = watched_page
    page.goto(f"/mail/folders/{inbox.pk}/")
    ran = page.evaluate("""() => {
      const button = document.createElement("button");
      button.setAttribute("onclick", "window.injected = true");
      document.body.append(button);
      button.click();
      return window.injected === true;
    }""")  # fmt: skip
    assert not ran
    page.wait_for_function("() => true")  # the report is queued as a task
    page.wait_for_timeout(200)
    assert any(v.startswith("script-src") for v in seen.violations), seen.violations
