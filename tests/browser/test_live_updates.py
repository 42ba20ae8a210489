"""Alice's open pages follow every change in place, end to end: the webmail served by daphne
(HTTP and WebSocket), a real Celery worker, the IDLE watcher and the fixture Dovecot, in Chromium.

Mail delivered over SMTP shows in her open Inbox without a reload; a star set in one page shows
in a second one and on the server (as a second IMAP client sees it); a message moved away by
that other client leaves the list; "Mark unread" on an open message stays unread, on the page
and on the server; the tab's title and the counts follow. Nothing here calls a task by hand:
web changes reach Dovecot through the queue and the worker, and new mail through the watcher.
"""

import os
import re
import signal
import smtplib
import subprocess
import sys
from email.message import EmailMessage

import pytest

from accounts.models import MailAccount, Preferences
from mailbox.events import current_seq
from mailbox.models import Folder
from mailbox.sync import run_account
from tests.browser.conftest import close_quietly
from tests.mailbox.conftest import imap_account, mailbox_login, other_client  # noqa: F401
from tests.running_app import ROOT, process_env, wait_until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.servers,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def inbox(imap_account, other_client):  # noqa: F811
    """Six messages in Alice's Inbox (some read), an Archive, all in the cache."""
    other_client.seed(6, seed=3, folders=["INBOX"])
    status, data = other_client.imap.create("Archive")
    assert status == "OK", data
    assert run_account(imap_account.pk)
    return Folder.objects.get(account=imap_account, name="INBOX")


@pytest.fixture
def watcher(inbox):
    """The IDLE watcher (manage.py watch_imap), as deployed: it queues an Inbox sync on news."""
    command = [sys.executable, "manage.py", "watch_imap", "--refresh", "1"]
    process = subprocess.Popen(command, cwd=ROOT, env=process_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    yield process
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def running(daphne, celery_worker, watcher):
    return daphne


@pytest.fixture
def open_page(browser, running, alice):
    """``open_page(path)``: a new tab of Alice's, logged in (one browser context: one session),
    on ``path``, its socket connected."""
    context = browser.new_context(base_url=running.url)
    context.add_init_script(FAKE_NOTIFICATIONS)
    logged_in = []

    def open_page(path):
        page = context.new_page()
        page.set_default_timeout(20_000)
        if not logged_in:
            page.goto("/login/")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "alice-portal-pw")
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/login/" not in url)
            logged_in.append(True)
        page.goto(path)
        page.wait_for_function("() => document.body.dataset.live === 'connected'")
        page.evaluate("() => { window.notReloaded = true; }")  # gone if the page ever reloads
        return page

    yield open_page
    close_quietly(context)


# Desktop notifications, recorded: the page's own code runs, the desktop shows nothing.
FAKE_NOTIFICATIONS = """
window.shownNotes = [];
window.Notification = class {
  constructor(title, options) { this.title = title; Object.assign(this, options); window.shownNotes.push(this); }
  close() {}
  static requestPermission() { return Promise.resolve("granted"); }
};
window.Notification.permission = "granted";
"""


def deliver(mail_world, to, subject, sender="Carol Example <carol@example.org>"):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content("Hello Alice.")
    with smtplib.SMTP("127.0.0.1", mail_world.smtp.ports["plain"], timeout=30) as smtp:
        smtp.send_message(message)


def fetched_by(page):
    """The URLs ``page`` asks for from now on."""
    urls = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def only_parts(urls):
    """Whether every URL is a part of the mail screen that no event may do more than (rows by
    id, the folder tree, the counts of the lists across accounts): no message view (which would
    mark it read), no whole page."""
    return all(
        re.search(r"/mail/folders/\d+/\?part=(rows&sort=\w+&ids=[\d,]+|folders)$", url)
        or re.search(r"/mail/all/inbox/\?part=links(&current=\w+)?$", url)
        for url in urls
    )


def events_asked(urls):
    """``urls`` without the page's own actions (a click on a star posts one)."""
    return [url for url in urls if not url.endswith("/mail/messages/action/")]


def shown_notes(*pages):
    script = "() => window.shownNotes.map((note) => [note.title, note.body])"
    return [note for page in pages for note in page.evaluate(script)]


def row(page, message_id):
    return page.locator(f"li.row[data-message-id='{message_id}']")


def title_is(page, text):
    page.wait_for_function("(text) => document.title === text", arg=text)


def test_new_mail_shows_in_the_open_inbox_in_its_place(open_page, inbox, mail_world):
    page = open_page(f"/mail/folders/{inbox.pk}/")
    unread = inbox.unread
    title_is(page, f"Inbox ({unread})")
    rows_before = page.locator("li.row").count()
    # Alice has picked the second row and moved her cursor to the third
    second, third = page.locator("li.row").nth(1), page.locator("li.row").nth(2)
    second.locator(".pick").check()
    for _ in range(3):  # the first press puts the cursor on the first row
        page.keyboard.press("j")
    picked_id = second.get_attribute("data-message-id")
    cursor_id = third.get_attribute("data-message-id")
    assert page.locator("li.row.cursor").get_attribute("data-message-id") == cursor_id

    asked = fetched_by(page)
    deliver(mail_world, inbox.account.email, "Lunch on Friday?")
    newest = page.locator("li.row").first
    newest.locator("text=Lunch on Friday?").wait_for()
    assert newest.get_attribute("class").split().count("unread") == 1
    assert "Carol Example" in newest.locator(".sender").inner_text()
    assert page.locator("li.row").count() == rows_before + 1
    title_is(page, f"Inbox ({unread + 1})")
    badge = page.locator(f"li.mail-folder[data-folder-id='{inbox.pk}'] .badge")
    assert badge.inner_text() == str(unread + 1), [
        (m.subject, m.seen, m.uid) for m in inbox.messages.all()
    ]
    # the page was not reloaded, and what Alice had picked and pointed at is as it was
    assert page.evaluate("() => window.notReloaded === true")
    assert row(page, picked_id).locator(".pick").is_checked()
    assert page.locator("li.row.cursor").get_attribute("data-message-id") == cursor_id
    assert page.locator("li.row.selected").count() == 1
    assert asked and only_parts(asked), asked


def test_a_star_set_in_one_page_shows_in_another_and_on_the_server(open_page, inbox, other_client):  # noqa: F811
    first = open_page(f"/mail/folders/{inbox.pk}/")
    second = open_page(f"/mail/folders/{inbox.pk}/")
    message = inbox.messages.filter(flagged=False).order_by("-date", "-id").first()
    asked = fetched_by(second)
    first.click(f"li.row[data-message-id='{message.pk}'] button.star")
    second.wait_for_selector(f"li.row.flagged[data-message-id='{message.pk}']")
    assert (
        second.locator(f"li.row[data-message-id='{message.pk}'] .star[aria-pressed=true]").count()
        == 1
    )

    def starred_on_server():
        return "\\Flagged" in other_client.flags("INBOX")[message.uid]

    assert wait_until(starred_on_server, timeout=30)  # through the queue and the worker
    # and back: unstarred in the second page, gone from the first and from the server
    second.click(f"li.row[data-message-id='{message.pk}'] button.star")
    first.wait_for_selector(f"li.row[data-message-id='{message.pk}']:not(.flagged)")
    assert wait_until(lambda: not starred_on_server(), timeout=30)
    assert first.evaluate("() => window.notReloaded === true")
    assert only_parts(events_asked(asked)), asked


def test_a_message_moved_by_another_client_leaves_the_list(open_page, inbox, other_client):  # noqa: F811
    page = open_page(f"/mail/folders/{inbox.pk}/")
    message = inbox.messages.filter(seen=False).order_by("-date", "-id").first()
    unread = inbox.unread
    row(page, message.pk).wait_for()
    other_client.move("INBOX", [message.uid], "Archive")  # Alice's phone files it
    row(page, message.pk).wait_for(state="detached")
    title_is(page, f"Inbox ({unread - 1})" if unread > 1 else "Inbox")
    assert page.evaluate("() => window.notReloaded === true")


def test_mark_unread_on_an_open_message_stays_unread(open_page, inbox, other_client):  # noqa: F811
    message = inbox.messages.filter(seen=False).order_by("-date", "-id").first()
    unread = inbox.unread
    page = open_page(f"/mail/folders/{inbox.pk}/")
    page.click(f"li.row[data-message-id='{message.pk}'] a.open")
    page.wait_for_selector(f"#message[data-message-id='{message.pk}']")
    subject = message.subject
    title_is(page, f"Inbox ({unread - 1}) – {subject}" if unread > 1 else f"Inbox – {subject}")

    def seen_on_server():
        return "\\Seen" in other_client.flags("INBOX")[message.uid]

    assert wait_until(seen_on_server, timeout=30)  # opening it marked it read, there too
    asked = fetched_by(page)
    page.keyboard.press("Shift+U")
    title_is(page, f"Inbox ({unread}) – {subject}")
    assert wait_until(lambda: not seen_on_server(), timeout=30)
    # Every event of that change (its flags, the counts, the push's resync) has come and gone
    # when the server has it; the row and the open message are still unread.
    page.wait_for_timeout(1500)
    assert "unread" in row(page, message.pk).get_attribute("class").split()
    assert not seen_on_server()
    assert page.title() == f"Inbox ({unread}) – {subject}"
    assert page.locator(f"#message[data-message-id='{message.pk}']").count() == 1
    assert only_parts(events_asked(asked)), asked  # nothing opened the message again


def test_after_a_reconnect_the_page_fetches_what_it_shows(open_page, inbox, other_client):  # noqa: F811
    page = open_page(f"/mail/folders/{inbox.pk}/")
    message = inbox.messages.filter(flagged=False).order_by("-date", "-id").first()
    gone = inbox.messages.order_by("date", "id").first()
    unread = inbox.unread
    # the page hears nothing for a while (as when a laptop sleeps) ...
    page.evaluate("() => { window.webmailSocket.onmessage = null; }")
    other_client.store("INBOX", [message.uid], "+FLAGS", "(\\Flagged)")
    other_client.expunge("INBOX", [gone.uid])

    def cache_has_it():  # the watcher's sync, through the worker
        return inbox.messages.filter(pk=message.pk, flagged=True).exists() and not (
            inbox.messages.filter(pk=gone.pk).exists()
        )

    assert wait_until(cache_has_it, timeout=30)
    page.wait_for_timeout(500)
    assert row(page, message.pk).get_attribute("class").split().count("flagged") == 0
    # ... then its socket drops and comes back: the rows shown and the counts are fetched again
    page.evaluate("() => window.webmailSocket.close()")
    page.wait_for_function("() => document.body.dataset.live === 'reconnected'")
    page.wait_for_selector(f"li.row.flagged[data-message-id='{message.pk}']")
    row(page, gone.pk).wait_for(state="detached")
    expected = unread - (0 if gone.seen else 1)
    title_is(page, f"Inbox ({expected})" if expected else "Inbox")
    assert page.evaluate("() => window.notReloaded === true")


# The page's socket, held back until the test lets it go: as on a slow network, or a page that
# reloads after a POST while the change it asked for is announced (issue 13's "Check now").
HOLD_SOCKET = """
const RealWebSocket = window.WebSocket;
let letGo;
const held = new Promise((resolve) => { letGo = resolve; });
window.releaseSocket = () => letGo();
window.WebSocket = function (url) {
  const socket = { close() { if (real) real.close(); } };
  let real = null;
  held.then(() => {
    real = new RealWebSocket(url);
    for (const name of ["onopen", "onmessage", "onclose"]) {
      real[name] = (event) => { if (socket[name]) socket[name](event); };
    }
  });
  return socket;
};
"""


def test_mail_that_came_while_the_page_loaded_shows_once_its_socket_joins(
    open_page, inbox, mail_world, alice
):
    page = open_page(f"/mail/folders/{inbox.pk}/")
    page.add_init_script(HOLD_SOCKET)
    page.reload()
    seq = int(page.evaluate("() => document.body.dataset.liveSeq"))
    page.evaluate("() => { window.notReloaded = true; }")
    deliver(mail_world, inbox.account.email, "Sent while the page loaded")

    def announced():  # the watcher's sync, through the worker, sent its events to nobody
        return (
            current_seq(alice.pk) > seq
            and inbox.messages.filter(subject="Sent while the page loaded").exists()
        )

    assert wait_until(announced, timeout=30)
    page.wait_for_timeout(300)
    assert page.locator("text=Sent while the page loaded").count() == 0
    page.evaluate("() => window.releaseSocket()")
    page.wait_for_function("() => document.body.dataset.live === 'connected'")
    page.locator("li.row").first.locator("text=Sent while the page loaded").wait_for()
    assert page.evaluate("() => document.body.dataset.liveCaughtUp")  # not a late event: the hello
    assert page.evaluate("() => window.notReloaded === true")


def error_of(account):
    return MailAccount.objects.values_list("last_error", flat=True).get(pk=account.pk)


def test_a_sync_error_shows_under_the_folders_and_goes_when_it_is_over(open_page, inbox):
    page = open_page(f"/mail/folders/{inbox.pk}/")
    account = inbox.account
    password = account.incoming_password
    account.incoming_password = "not-the-password"
    account.save(update_fields=["incoming_password_encrypted"])  # not last_error
    # as the worker's next sync would, with the page open (the worker may be syncing too: a
    # sync it started before the change still has the old password)
    assert wait_until(lambda: run_account(account.pk) and error_of(account), timeout=30)
    page.wait_for_selector("#account-status .account-error")
    account.incoming_password = password
    account.save(update_fields=["incoming_password_encrypted"])  # not last_error
    assert wait_until(lambda: run_account(account.pk) and not error_of(account), timeout=30)
    page.wait_for_selector("#account-status .account-error", state="detached")
    assert page.evaluate("() => window.notReloaded === true")


def test_new_inbox_mail_makes_one_desktop_notification(open_page, inbox, mail_world, alice):
    settings = open_page("/accounts/preferences/")
    settings.check("#id_notify_new_mail")
    settings.click("#preferences-form button[type=submit]")
    settings.wait_for_selector("ul.flash")
    assert Preferences.objects.get(user=alice).notify_new_mail
    other = open_page("/accounts/")  # two tabs, neither on the Inbox: one notification
    deliver(mail_world, inbox.account.email, "Tickets for Saturday")
    assert wait_until(lambda: shown_notes(settings, other), timeout=30)
    settings.wait_for_timeout(1000)  # the other tab had its chance too
    assert shown_notes(settings, other) == [["Carol Example", "Tickets for Saturday"]]
    # a click on it opens the message
    noted = settings if shown_notes(settings) else other
    noted.evaluate("() => window.shownNotes[0].onclick()")
    noted.wait_for_url("**/mail/messages/*/")
    assert noted.locator("#message .message-subject").inner_text() == "Tickets for Saturday"


def test_notifications_are_off_until_alice_turns_them_on(open_page, inbox, mail_world):
    page = open_page("/accounts/")
    listing = open_page(f"/mail/folders/{inbox.pk}/")
    deliver(mail_world, inbox.account.email, "Quiet please")
    listing.locator("li.row >> text=Quiet please").wait_for()
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.shownNotes.length") == 0


def test_no_notification_for_mail_already_read_in_another_tab(open_page, inbox, mail_world):
    Preferences.objects.update_or_create(
        user=inbox.account.user, defaults={"notify_new_mail": True}
    )
    elsewhere = open_page("/accounts/")
    held = []
    # the tab that would notify asks for the new row; its answer waits until Alice has read it
    elsewhere.route("**/mail/folders/*/?part=rows&ids=*", lambda route: held.append(route))
    reading = open_page(f"/mail/folders/{inbox.pk}/")
    reading.evaluate("() => { window.Notification.permission = 'default'; }")  # not this one
    deliver(mail_world, inbox.account.email, "Read me first")
    reading.locator("li.row a.open >> text=Read me first").click()
    reading.wait_for_selector("#message .message-subject >> text=Read me first")
    assert wait_until(lambda: held or elsewhere.evaluate("() => 0"), timeout=30)
    assert wait_until(lambda: not inbox.messages.filter(seen=False, subject="Read me first"))
    held[0].continue_()
    elsewhere.wait_for_timeout(1000)
    assert shown_notes(elsewhere, reading) == []


def test_no_notification_for_mail_alice_moves_into_her_inbox(open_page, inbox, mail_world, alice):
    Preferences.objects.update_or_create(user=alice, defaults={"notify_new_mail": True})
    elsewhere = open_page("/accounts/")
    listing = open_page(f"/mail/folders/{inbox.pk}/")
    message = inbox.messages.filter(seen=False).order_by("-date", "-id").first()
    # she files an unread message in the Archive, then thinks better of it and moves it back
    row(listing, message.pk).locator(".pick").check()
    listing.keyboard.press("e")
    archive = Folder.objects.get(account=inbox.account, name="Archive")
    assert wait_until(lambda: archive.messages.filter(uid__isnull=False).exists(), timeout=30)
    listing.close()  # (a tab showing the Inbox would take every new message as seen)
    filed = open_page(f"/mail/folders/{archive.pk}/")
    filed.locator("li.row .pick").first.check()
    filed.select_option("#move-to", str(inbox.pk))
    back = inbox.messages.filter(subject=message.subject, uid__isnull=False)
    assert wait_until(back.exists, timeout=30)  # the server has it: every event of it is out
    # then new mail comes: the one notification is for it
    deliver(mail_world, inbox.account.email, "Tickets for Sunday")
    assert wait_until(lambda: shown_notes(elsewhere, filed), timeout=30)
    elsewhere.wait_for_timeout(1000)  # the other tab had its chance too
    assert shown_notes(elsewhere, filed) == [["Carol Example", "Tickets for Sunday"]]


def test_a_page_whose_session_logged_out_stops_reconnecting(open_page, inbox):
    page = open_page(f"/mail/folders/{inbox.pk}/")
    other = open_page("/accounts/")
    other.click("form[action$='/logout/'] button")
    other.wait_for_url("**/login/**")
    # every socket the page opens from now on tells how it closed; its own is cut
    page.evaluate("""() => {
      window.closeCodes = [];
      const Real = window.WebSocket;
      window.WebSocket = class extends Real {
        constructor(...args) {
          super(...args);
          this.addEventListener("close", (event) => window.closeCodes.push(event.code));
        }
      };
      window.webmailSocket.close();
    }""")
    # it tries again and is told why it may not listen (4401, which a browser sees only after a
    # handshake: a refused handshake is 1006, like a network failure, and retried for ever)
    page.wait_for_function("() => window.closeCodes.length > 0")
    assert page.evaluate("() => window.closeCodes") == [4401]
    assert page.evaluate("() => document.body.dataset.live") == "closed"
