"""Alice writes a formatted message with an attachment in a real browser: the draft saves itself,
survives a reload, is sent, taken back with Undo, and sent again. The outbox's worker is not run
here: the queued row is what the browser's work is judged by."""

import email
import email.policy
from pathlib import Path

import pytest

from mailbox.models import Draft, Folder, OutboxMessage, Role
from mailbox.sync.fetch import fetch_account
from tests.browser.test_content_security_policy import watched_page  # noqa: F401 (a fixture)
from tests.mailbox.pop3_world import deliver, new_mailbox, pop3_account

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
pytestmark = [pytest.mark.browser, pytest.mark.servers, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def inbox(alice, mail_world):
    login = new_mailbox(mail_world)
    deliver(mail_world, login, "Seeds are here")
    account = pop3_account(alice, mail_world, login)
    fetch_account(account.pk)
    return Folder.objects.get(account=account, role=Role.INBOX)


def watch_csp(page):
    problems = []
    page.on("console", lambda message: problems.append(message.text)
            if "Content Security Policy" in message.text else None)  # fmt: skip
    return problems


def test_alice_writes_saves_reloads_sends_undoes_and_sends_again(logged_in_page, inbox):
    page = logged_in_page
    csp = watch_csp(page)
    page.goto(f"/mail/folders/{inbox.pk}/")
    page.click("#compose-button")
    page.wait_for_selector("#compose-editor:not([hidden])")
    page.wait_for_timeout(3000)  # longer than the save's wait after typing
    assert not Draft.objects.exists(), "opening the form saves nothing"
    page.fill("#compose-to", "Bob <bob@example.com>")
    page.fill("#compose-subject", "Garden party")
    page.click("#compose-editor")
    page.keyboard.type("Come to the garden party")
    page.keyboard.press("Shift+Home")
    page.click("#editor-toolbar [data-format=bold]")
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    page.keyboard.type("Bring a chair.")
    page.set_input_files("#compose-files", files=[
        {"name": "map.txt", "mimeType": "text/plain", "buffer": b"Turn left at the oak."},
    ])  # fmt: skip
    page.wait_for_selector("#compose-attachments li[data-attachment-id] >> text=map.txt")
    page.wait_for_selector("#saved-at >> text=/^Saved \\d/")
    draft = Draft.objects.get()
    page.wait_for_url(f"**/mail/drafts/{draft.pk}/")
    assert draft.attachments.get().filename == "map.txt"

    page.reload()  # the page's address is the draft's now: it comes back as it was left
    page.wait_for_selector("#compose-editor b")
    assert "garden party" in page.inner_text("#compose-editor b")
    assert "Bring a chair." in page.inner_text("#compose-editor")
    assert page.input_value("#compose-subject") == "Garden party"
    assert page.is_visible("#compose-attachments >> text=map.txt")
    draft.refresh_from_db()
    assert "<b>" in draft.html and "Bring a chair." in draft.text
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compose-draft.png"))

    page.click("#send-button")
    page.wait_for_selector("#sending-notice #undo-send")
    assert OutboxMessage.objects.count() == 1
    page.click("#undo-send")
    page.wait_for_url(f"**/mail/drafts/{draft.pk}/")
    assert OutboxMessage.objects.count() == 0
    page.wait_for_selector("#compose-editor b")
    assert page.is_visible("#compose-attachments >> text=map.txt")

    page.click("#send-button")
    page.wait_for_selector("#sending-notice")
    outbox = OutboxMessage.objects.get()
    assert (outbox.draft_id, outbox.recipients) == (draft.pk, ["bob@example.com"])
    message = email.message_from_bytes(bytes(outbox.raw), policy=email.policy.default)
    assert message["Subject"] == "Garden party"
    assert "<b>" in message.get_body(("html",)).get_content()
    assert "Bring a chair." in message.get_body(("plain",)).get_content()
    (attachment,) = message.iter_attachments()
    assert attachment.get_payload(decode=True) == b"Turn left at the oak."
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compose-sent.png"))
    assert csp == [], csp


def test_a_bad_address_is_shown_on_the_form_and_nothing_is_sent(logged_in_page, inbox):
    page = logged_in_page
    page.goto(f"/mail/compose/?account={inbox.account_id}")
    page.fill("#compose-to", "bob@@example")
    page.fill("#compose-subject", "Oops")
    page.click("#send-button")
    page.wait_for_selector("#compose-error:not([hidden])")
    assert "bob@@example" in page.inner_text("#compose-error")
    assert page.get_attribute("#compose-to", "aria-invalid") == "true"
    assert OutboxMessage.objects.count() == 0


def test_alice_replies_with_r_switches_to_plain_text_and_discards(logged_in_page, inbox):
    page = logged_in_page
    page.on("dialog", lambda dialog: dialog.accept())  # "Plain text loses...", "Discard...?"
    page.goto(f"/mail/folders/{inbox.pk}/")
    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_selector("#message .message-subject")
    page.keyboard.press("r")
    page.wait_for_selector("#compose-editor")
    assert page.input_value("#compose-subject") == "Re: Seeds are here"
    assert "zoe@example.org" in page.input_value("#compose-to")
    page.click("#compose-editor")
    page.keyboard.press("Control+Home")
    page.keyboard.type("Thanks, planting them today.")
    page.click("#toggle-format")
    page.wait_for_selector("#compose-text:not([hidden])")
    assert page.input_value("#compose-text").startswith("Thanks, planting them today.")
    assert "> Hello there." in page.input_value("#compose-text")
    page.wait_for_selector("#saved-at >> text=/^Saved \\d/")
    draft = Draft.objects.get()
    assert (draft.is_html, draft.mode, draft.in_reply_to != "") == (False, "reply", True)
    page.click("#discard-button")
    page.wait_for_url("**/mail/folders/*/")
    assert not Draft.objects.exists()


def test_on_a_wide_screen_a_reply_is_written_in_the_reading_pane(logged_in_page, inbox):
    page = logged_in_page
    csp = watch_csp(page)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"/mail/folders/{inbox.pk}/")
    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_selector("#message .message-subject")
    page.click("#reply")
    page.wait_for_selector("#reading-pane #compose-form #compose-editor")
    assert page.url.endswith(f"/mail/folders/{inbox.pk}/") or "/mail/messages/" in page.url
    assert page.is_visible("#message-list"), "the list stays in view"
    assert page.input_value("#compose-subject") == "Re: Seeds are here"
    page.click("#compose-editor")
    page.keyboard.press("Control+Home")
    page.keyboard.type("jjk typed in the pane")  # not the list's shortcuts
    page.wait_for_selector("#saved-at >> text=/^Saved \\d/")
    draft = Draft.objects.get()
    assert draft.text.startswith("jjk typed in the pane")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "compose-in-pane.png"))
    page.click("#send-button")
    page.wait_for_selector("#sending-notice")
    assert OutboxMessage.objects.get().draft_id == draft.pk
    assert csp == [], csp


def test_files_dropped_on_the_form_are_attached_and_no_subject_is_asked_about(
    logged_in_page, inbox
):
    page = logged_in_page
    asked = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.dismiss() if len(asked) == 1 else dialog.accept()

    page.on("dialog", answer)
    page.goto(f"/mail/compose/?account={inbox.account_id}")
    page.fill("#compose-to", "bob@example.com")
    dropped = page.evaluate_handle("""() => {
        const data = new DataTransfer();
        data.items.add(new File(["first"], "one.txt", { type: "text/plain" }));
        data.items.add(new File(["second"], "two.txt", { type: "text/plain" }));
        return data;
    }""")
    page.dispatch_event("#compose-form", "dragover", {"dataTransfer": dropped})
    page.dispatch_event("#compose-form", "drop", {"dataTransfer": dropped})
    page.wait_for_selector("#compose-attachments li[data-attachment-id] >> text=two.txt")
    assert sorted(Draft.objects.get().attachments.values_list("filename", flat=True)) == [
        "one.txt", "two.txt"]  # fmt: skip
    page.click("#send-button")  # no subject: asked, and "no" keeps the message here
    assert asked == ["Send without a subject?"]
    assert OutboxMessage.objects.count() == 0
    page.click("#send-button")  # asked again: "yes"
    page.wait_for_selector("#sending-notice")
    assert len(asked) == 2
    assert OutboxMessage.objects.get().subject == ""


def test_the_running_app_follows_the_message_as_it_goes(watched_page, inbox, alice):  # noqa: F811
    """Under daphne, with its WebSocket and its Content-Security-Policy: the editor and its
    toolbar cause no violation, and the "Sending…" notice follows the outbox's state events."""
    from mailbox.events import send_event

    page, seen = watched_page
    page.goto(f"/mail/compose/?account={inbox.account_id}")
    page.fill("#compose-to", "bob@example.com")
    page.fill("#compose-subject", "Live")
    page.click("#compose-editor")
    page.keyboard.type("Watch this ")
    for button in ("bold", "italic", "ul", "ol", "quote", "unquote"):
        page.click(f"#editor-toolbar [data-format={button}]")
    page.keyboard.type("go.")
    page.click("#send-button")
    page.wait_for_selector("#sending-notice #undo-send")
    assert seen.sockets and seen.sockets[-1].url.endswith("/ws/live/")
    page.wait_for_timeout(500)  # the socket is open and subscribed
    outbox = OutboxMessage.objects.get()
    send_event([alice.pk], {"type": "outbox.state", "outbox_id": outbox.pk, "state": "sending"})
    page.wait_for_selector("#sending-notice >> text=Sending…")
    assert page.is_hidden("#undo-send"), "too late to undo once it is on its way"
    send_event([alice.pk], {"type": "outbox.state", "outbox_id": outbox.pk, "state": "sent"})
    page.wait_for_selector("#sending-notice >> text=Message sent.")
    assert seen.violations == [], seen.violations


def test_recipients_are_suggested_and_picked_with_the_keyboard(logged_in_page, inbox):
    """The widget against the contacts endpoint's answer ({"contacts": [{name, address,
    label}]}), answered here: the endpoint itself is tested with the contacts."""
    import json

    page = logged_in_page
    asked = []

    def contacts(route):
        asked.append(route.request.url)
        people = [{"name": "Zoë Martin", "address": "zoe@example.org",
                   "label": "Zoë Martin <zoe@example.org>"},
                  {"name": "", "address": "zorro@example.net", "label": "zorro@example.net"}]  # fmt: skip
        route.fulfill(status=200, content_type="application/json",
                      body=json.dumps({"contacts": people}))  # fmt: skip

    page.route("**/mail/contacts/?q=*", contacts)
    page.goto(f"/mail/compose/?account={inbox.account_id}")
    page.fill("#compose-to", "bob@example.com, ")
    page.type("#compose-to", "zo")
    page.wait_for_selector("ul.suggestions:not([hidden]) >> text=zorro@example.net")
    assert asked[-1].endswith("?q=zo")
    assert page.get_attribute("#compose-to", "aria-expanded") == "true"
    page.keyboard.press("ArrowDown")
    chosen = page.get_attribute("#compose-to", "aria-activedescendant")
    assert page.inner_text(f"#{chosen}") == "zorro@example.net"
    page.keyboard.press("Enter")
    assert page.input_value("#compose-to") == "bob@example.com, zorro@example.net, "
    assert page.is_hidden("ul.suggestions")
    page.type("#compose-to", "zoe")
    page.wait_for_selector("ul.suggestions:not([hidden])")
    page.keyboard.press("Tab")
    assert page.input_value("#compose-to") == (
        "bob@example.com, zorro@example.net, Zoë Martin <zoe@example.org>, "
    )


@pytest.mark.parametrize("width", [900, 400])
def test_compose_stays_in_view_where_the_folders_make_room(logged_in_page, inbox, width):
    page = logged_in_page
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"/mail/folders/{inbox.pk}/")
    # on a phone the folders (and their Compose) are behind the "Folders" button: the list
    # floats Compose instead (tests/browser/test_phone_compose.py)
    assert page.is_visible("#compose-button") == (width > 760)
    assert page.is_hidden("#compose-fab") == (width > 760)
    page.click("#message-list li.row a.open")
    page.wait_for_selector("#message .message-subject")
    assert page.is_hidden("#compose-button"), "the folders made room for the message"
    page.click("#compose-fab")
    page.wait_for_url("**/mail/compose/?account=*")


def test_leaving_the_page_right_after_typing_loses_nothing(logged_in_page, inbox):
    """No time for the save after typing stops: the page's last request (a beacon) saves."""
    import time

    page = logged_in_page
    page.goto(f"/mail/compose/?account={inbox.account_id}")
    page.fill("#compose-to", "bob@example.com")
    page.click("#compose-editor")
    page.keyboard.type("The last words")
    page.goto("/accounts/")  # at once
    deadline = time.monotonic() + 10
    while not Draft.objects.filter(text__contains="The last words").exists():
        assert time.monotonic() < deadline, "the words were lost"
        time.sleep(0.1)
    assert Draft.objects.count() == 1


@pytest.mark.parametrize("formatted", [True, False])
def test_choosing_another_identity_changes_the_signature(logged_in_page, inbox, formatted):
    from accounts.identities import default_identity
    from accounts.models import Identity, Preferences

    Preferences.objects.update_or_create(user=inbox.account.user,
                                         defaults={"compose_html": formatted})  # fmt: skip
    home = default_identity(inbox.account)
    Identity.objects.filter(pk=home.pk).update(signature_text="Alice, at home")
    work = Identity.objects.create(account=inbox.account, name="Alice", address="alice@work.example",
                                   signature_text="Alice Liddell, Wonderland Ltd")  # fmt: skip
    page = logged_in_page
    page.goto(f"/mail/compose/?account={inbox.account_id}")
    body = "#compose-editor" if formatted else "#compose-text"
    page.wait_for_selector(f"{body}:not([hidden])")
    read = (lambda: page.inner_text(body)) if formatted else (lambda: page.input_value(body))
    assert "Alice, at home" in read()
    page.select_option("#compose-from", str(work.pk))
    assert "Wonderland Ltd" in read() and "at home" not in read()
    page.select_option("#compose-from", str(home.pk))
    assert "Alice, at home" in read() and "Wonderland" not in read()


# --- what a new user found (tests/mailbox/test_compose_fixes.py for the server's side) ----------


def start_draft(page, account_id, text="First words"):
    """A new message typed and saved once: its Draft row."""
    page.goto(f"/mail/compose/?account={account_id}")
    page.fill("#compose-to", "bob@example.com")
    page.fill("#compose-subject", "Two windows")
    page.click("#compose-editor")
    page.keyboard.type(text)
    page.wait_for_selector("#saved-at >> text=/^Saved \\d/")
    return Draft.objects.get()


def test_two_windows_on_one_draft_lose_no_text(watched_page, inbox):  # noqa: F811
    """The second window's save reaches the first as a live event: the first says so at once,
    keeps its own text on screen and saves nothing over the other's; its later save is refused
    by the server too (409), and "Keep my text" saves it over, on purpose."""
    page, seen = watched_page
    draft = start_draft(page, inbox.account_id, "Text of window one.")
    page.wait_for_timeout(500)  # the socket is open and subscribed
    other = page.context.new_page()
    other.goto(f"/mail/drafts/{draft.pk}/")
    other.click("#compose-editor")
    other.keyboard.press("End")
    other.keyboard.type(" Added in window two.")
    other.wait_for_selector("#saved-at >> text=/^Saved \\d/")
    page.wait_for_selector("#compose-stale:not([hidden])")
    assert "changed in another window" in page.inner_text("#compose-stale")
    page.click("#compose-editor")
    page.keyboard.press("End")
    page.keyboard.type(" More from one.")
    page.wait_for_timeout(3500)  # longer than the save's wait after typing: none is made
    draft.refresh_from_db()
    assert "Added in window two." in draft.text and "More from one" not in draft.text
    assert "More from one." in page.inner_text("#compose-editor"), "the text stays on screen"
    page.click("#stale-keep")
    page.wait_for_selector("#saved-at >> text=/^Saved \\d/")
    draft.refresh_from_db()
    assert "More from one." in draft.text
    assert seen.violations == [], seen.violations


def test_a_save_refused_as_stale_without_the_live_event_says_so(logged_in_page, inbox):
    """No WebSocket here (the test server has none): the server's 409 alone tells the page."""
    from mailbox.drafts import DraftFields, do_save_draft

    page = logged_in_page
    draft = start_draft(page, inbox.account_id, "Mine.")
    do_save_draft(draft.user, DraftFields(identity=draft.identity, to="bob@example.com",
                                          text="Theirs."), draft=draft)  # fmt: skip
    page.keyboard.type(" And more.")
    page.wait_for_selector("#compose-stale:not([hidden])")
    assert Draft.objects.get().text == "Theirs."
    assert "Mine. And more." in page.inner_text("#compose-editor")
    assert page.is_hidden("#compose-error")


def test_a_draft_gone_meanwhile_is_said_so_and_the_form_is_read_only(logged_in_page, inbox):
    """Sent or discarded elsewhere (or before Back): the save's 404 is an answer, not silence."""
    page = logged_in_page
    draft = start_draft(page, inbox.account_id)
    Draft.objects.filter(pk=draft.pk).delete()
    page.keyboard.type(" and more")
    page.wait_for_selector("#compose-gone:not([hidden])")
    assert "sent or discarded" in page.inner_text("#compose-gone")
    assert page.is_disabled("#compose-to") and page.is_disabled("#send-button")
    assert page.get_attribute("#compose-editor", "contenteditable") == "false"
    assert "did not answer" not in page.inner_text("body")


def test_enter_in_a_box_does_not_send_and_ctrl_enter_does(logged_in_page, inbox):
    page = logged_in_page
    page.goto(f"/mail/compose/?account={inbox.account_id}")
    assert "Ctrl+Enter" in page.get_attribute("#send-button", "title")
    page.fill("#compose-to", "bob@example.com")
    page.press("#compose-to", "Enter")
    page.fill("#compose-subject", "Enter")
    page.press("#compose-subject", "Enter")
    page.wait_for_timeout(1000)
    assert not OutboxMessage.objects.exists()
    assert "/mail/compose/" in page.url
    page.click("#compose-editor")
    page.keyboard.type("Sent with the keyboard.")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#sending-notice")
    assert b"Sent with the keyboard." in bytes(OutboxMessage.objects.get().raw)


def test_an_attachment_refused_stays_said_until_the_user_acts(logged_in_page, inbox, settings):
    settings.WEBMAIL_MAX_MESSAGE_BYTES = 100
    page = logged_in_page
    page.goto(f"/mail/compose/?account={inbox.account_id}")
    page.fill("#compose-to", "bob@example.com")
    page.set_input_files("#compose-files", files=[
        {"name": "holiday.jpg", "mimeType": "image/jpeg", "buffer": b"x" * 200},
    ])  # fmt: skip
    page.wait_for_selector("#attach-error:not([hidden])")
    text = page.inner_text("#attach-error")
    assert "“holiday.jpg”" in text and "100" in text
    page.click("#compose-editor")
    page.keyboard.type("Typing goes on.")
    page.wait_for_selector("#saved-at >> text=/^Saved \\d/")  # an autosave came and went
    assert page.is_visible("#attach-error")
    page.click("#attach-error-dismiss")
    assert page.is_hidden("#attach-error")


def test_pasted_html_runs_nothing_and_fetches_nothing(watched_page, inbox):  # noqa: F811
    page, seen = watched_page
    page.goto(f"/mail/compose/?account={inbox.account_id}")
    page.wait_for_selector("#compose-editor:not([hidden])")
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.click("#compose-editor")
    page.evaluate("""() => {
        const data = new DataTransfer();
        data.setData("text/html", '<p>Pasted <b>words</b><img src="x" onerror="window.pwned=1">'
          + '<img src="https://example.com/t.gif"><form><input name=a></form></p>');
        data.setData("text/plain", "Pasted words");
        document.getElementById("compose-editor").dispatchEvent(
          new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
    }""")
    page.wait_for_selector("#compose-editor >> text=words")
    page.wait_for_timeout(1000)
    assert page.evaluate("window.pwned") is None
    assert [url for url in requests if "/x" in url or "example.com" in url] == []
    html = page.inner_html("#compose-editor")
    assert "<img" not in html and "<input" not in html and "onerror" not in html
    assert seen.violations == [], seen.violations


def test_small_things_switch_suggestions_and_the_saved_time(logged_in_page, inbox):
    import json
    import re

    page = logged_in_page
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    page.route("**/mail/contacts/?q=*", lambda route: route.fulfill(
        status=200, content_type="application/json",
        body=json.dumps({"contacts": [{"name": "", "address": "zoe@example.org",
                                       "label": "zoe@example.org"}]})))  # fmt: skip
    page.goto(f"/mail/compose/?account={inbox.account_id}")
    page.wait_for_selector("#compose-editor:not([hidden])")
    page.evaluate(
        "() => { document.getElementById('compose-editor').innerHTML = '<div><br></div>'; }"
    )
    page.click("#toggle-format")  # nothing formatted to lose: no question
    page.wait_for_selector("#compose-text:not([hidden])")
    assert dialogs == []
    page.type("#compose-to", "zo")
    page.keyboard.press("Tab")  # away before the suggestions came
    page.wait_for_timeout(800)
    assert page.is_hidden("ul.suggestions")
    page.wait_for_selector("#saved-at >> text=/^Saved \\d/")
    saved = page.inner_text("#saved-at")
    assert re.fullmatch(r"Saved \d{1,2}:\d\d\s[AP]M", saved), saved  # the page's "en" clock
