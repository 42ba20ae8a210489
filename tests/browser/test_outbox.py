"""Alice watches her Outbox in Chromium (the running app, daphne): a message that waits, then is
sent by a worker elsewhere, changes state on the page without a reload; she cancels another one;
the page breaks no rule of its Content-Security-Policy."""

import datetime

import pytest
from django.utils import timezone

from mailbox.models import OutboxMessage
from mailbox.sync.outbox import send_message
from mailbox.testing.smtp_faults import FaultySmtp
from tests.browser.test_content_security_policy import watched_page  # noqa: F401
from tests.mailbox.outbox_world import new_login, queue, sending_account

pytestmark = [pytest.mark.browser, pytest.mark.servers, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def smtp():
    with FaultySmtp() as server:
        yield server


def test_the_outbox_follows_each_message_live(watched_page, alice, mail_world, smtp):  # noqa: F811
    page, seen = watched_page
    account = sending_account(alice, mail_world, new_login(mail_world), smtp_port=smtp.port,
                              security="none", server_saves_sent=True)  # fmt: skip
    later = timezone.now() + datetime.timedelta(days=1)  # no task: the test sends it itself
    going = queue(account, ["bob@example.org"], subject="Kumquat jam", when=later)
    kept = queue(account, ["bob@example.org"], subject="Second thoughts", when=later)
    page.goto("/mail/outbox/")
    row = page.locator(f"tr[data-outbox-id='{going.pk}']")
    assert "Queued: sends at" in row.inner_text()
    page.wait_for_timeout(500)  # the socket is open and subscribed

    OutboxMessage.objects.filter(pk=going.pk).update(send_at=timezone.now())
    send_message(going.pk)
    page.wait_for_selector(f"tr[data-outbox-id='{going.pk}'][data-state='sent']")
    assert len(smtp.deliveries) == 1

    page.click(f"tr[data-outbox-id='{kept.pk}'] button.cancel-send")
    page.wait_for_selector("text=Sending was cancelled")
    assert not OutboxMessage.objects.filter(pk=kept.pk).exists()
    assert seen.violations == [], seen.violations
