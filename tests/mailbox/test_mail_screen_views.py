"""The mail screen's server side: every sort order pages through a folder by keyset without
skipping or repeating a message; search, preferences and remote content choices; and Bob should
have no access to any of Alice's screens."""

import base64
import datetime
import json
import random
import re

import pytest
from django.utils import timezone

from accounts.models import MailAccount, Preferences
from mailbox import fulltext, listing
from mailbox.models import Folder, Message, TrustedSender

pytestmark = pytest.mark.django_db

NAMES = ["Zoë Martin", "", "alice", "Ålesund Bank", "bob", "ZED", "émile", "日本の園芸クラブ"]


@pytest.fixture
def account(alice):
    account = MailAccount(
        user=alice, email="alice@example.com", incoming_host="imap.example.com",
        incoming_port=993, incoming_username="alice", smtp_host="smtp.example.com", smtp_port=465,
    )  # fmt: skip
    account.incoming_password = "secret"
    account.save()
    return account


@pytest.fixture
def inbox(account):
    """137 messages with ties in every sort key, so that only the id tells some of them apart."""
    folder = Folder.objects.create(account=account, name="INBOX", role="inbox", uidvalidity=7)
    pick = random.Random(3)
    start = timezone.now() - datetime.timedelta(days=400)
    Message.objects.bulk_create(
        Message(
            folder=folder, uidvalidity=7, uid=uid,
            date=start + datetime.timedelta(hours=pick.randrange(40)),
            internaldate=start, from_name=pick.choice(NAMES),
            from_address=f"{pick.choice('abcxyz')}@example.com",
            subject=pick.choice(["Re: plans", "plans", "Plans", "", "Ünïcode", "a" * 300]),
            size=pick.choice([100, 2000, 2000, 50_000]), seen=pick.random() < 0.5,
        )
        for uid in range(1, 138)
    )  # fmt: skip
    fulltext.get_index().index_headers_for_folder(folder.pk)  # as every path caching mail does
    return folder


def every_page(folder, sort):
    seen, cursor = [], None
    for _ in range(100):
        page = listing.message_page(folder, sort, cursor, size=10)
        seen += [m.pk for m in page.messages]
        cursor = page.next_cursor
        if cursor is None:
            return seen
    raise AssertionError("the pages never end")


@pytest.mark.parametrize("sort", listing.SORTS)
def test_every_sort_pages_through_the_whole_folder_in_order(inbox, sort):
    expected = [m.pk for m in listing.ordered(inbox.messages.all(), sort)]
    assert every_page(inbox, sort) == expected
    assert len(expected) == 137


def test_sender_order_is_by_the_name_shown_ignoring_case(inbox):
    shown = [
        (m.from_name or m.from_address).lower()
        for m in listing.ordered(inbox.messages.all(), "sender")
    ]
    assert shown == sorted(shown)


@pytest.mark.parametrize("cursor", ["garbage", "", "eyJ4IjoxfQ", "WyJzaXplIiwgIngiLCAxXQ"])
def test_a_broken_or_foreign_cursor_means_the_first_page(inbox, cursor):
    first = listing.message_page(inbox, "date")
    assert listing.message_page(inbox, "date", cursor).messages == first.messages


def doctored(*parts):
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("sort", "value", "pk"),
    [
        ("subject", "plans\0", 5), ("sender", "a\0b", 5), ("subject", "\ud800", 5),
        ("sender", "\udfff z", 5), ("subject", "plans", 2**63), ("subject", "plans", 2**70),
        ("subject", "plans", -1), ("subject", "plans", 0), ("subject", "plans", True),
        ("subject", "plans", "5"), ("subject", 7, 5), ("date", "2020-01-01T00:00:00", 5),
        ("date", "2020-01-01T00:00:00+00:00", -(2**70)), ("date_asc", None, 5),
        ("size", 10**30, 5), ("size_asc", -(10**30), 5), ("size", "2000", 5), ("size", 1.5, 5),
    ],
)  # fmt: skip
def test_a_doctored_cursor_means_the_first_page(alice_client, inbox, sort, value, pk):
    """A cursor is the browser's to send back: an id beyond 64 bits, text no column can hold
    (NUL answered 500 on PostgreSQL) or a key of the wrong kind is a broken cursor."""
    response = alice_client.get(f"/mail/folders/{inbox.pk}/",
                                {"sort": sort, "after": doctored(sort, value, pk), "part": "rows"})  # fmt: skip
    assert response.status_code == 200
    assert [m.pk for m in response.context["page"].messages] == every_page(inbox, sort)[:50]


def test_a_cursor_of_another_sort_is_not_reused(inbox):
    cursor = listing.message_page(inbox, "size", size=10).next_cursor
    assert listing.message_page(inbox, "date", cursor, size=10).messages == (
        listing.message_page(inbox, "date", size=10).messages
    )


def test_the_list_view_sorts_and_pages(alice_client, inbox):
    response = alice_client.get(f"/mail/folders/{inbox.pk}/?sort=size")
    assert response.status_code == 200
    page = response.context["page"]
    assert [m.pk for m in page.messages] == every_page(inbox, "size")[:50]
    more = alice_client.get(
        f"/mail/folders/{inbox.pk}/", {"sort": "size", "after": page.next_cursor, "part": "rows"}
    )
    assert [m.pk for m in more.context["page"].messages] == every_page(inbox, "size")[50:100]
    assert b"<html" not in more.content, "only the rows"


def test_an_unknown_sort_is_the_default(alice_client, inbox):
    response = alice_client.get(f"/mail/folders/{inbox.pk}/?sort=drop+table")
    assert response.context["sort"] == "date"


def test_mail_home_opens_the_first_inbox(alice_client, inbox):
    assert alice_client.get("/mail/").url == f"/mail/folders/{inbox.pk}/"
    assert alice_client.get("/").url == "/mail/"


def test_mail_home_without_accounts_is_the_accounts_page(alice_client):
    assert alice_client.get("/mail/").url == "/accounts/"


def test_search_in_cached_headers_needs_no_server(alice_client, inbox):
    """The account's server does not exist: header terms are answered from the cache."""
    response = alice_client.get(f"/mail/folders/{inbox.pk}/search/", {"q": "from:zoë is:unread"})
    assert response.status_code == 200
    found = response.context["page"].messages
    expected = inbox.messages.filter(from_name="Zoë Martin", seen=False)
    assert {m.pk for m in found} == set(expected.values_list("pk", flat=True)) and found


def test_search_for_text_with_the_server_down_says_so_calmly(alice_client, inbox):
    response = alice_client.get(f"/mail/folders/{inbox.pk}/search/", {"q": "plans"})
    assert response.status_code == 200
    assert response.context["search_problem"]
    assert b'id="search-problem"' in response.content


def test_an_empty_search_is_the_folder(alice_client, inbox):
    assert (
        alice_client.get(f"/mail/folders/{inbox.pk}/search/?q=").url == f"/mail/folders/{inbox.pk}/"
    )


def test_preferences_are_saved(alice_client, alice):
    response = alice_client.post(
        "/accounts/preferences/", {"theme": "dark", "mark_read_after": "-1"}
    )
    assert response.status_code == 302
    preferences = Preferences.objects.get(user=alice)
    assert (preferences.theme, preferences.mark_read_after) == ("dark", -1)
    assert b'data-theme="dark"' in alice_client.get("/accounts/preferences/").content


def test_desktop_notifications_are_off_until_alice_turns_them_on(alice_client, alice):
    assert b"data-notify" not in alice_client.get("/accounts/preferences/").content
    alice_client.post("/accounts/preferences/", {"theme": "system", "mark_read_after": "0",
                                                 "notify_new_mail": "on"})  # fmt: skip
    assert Preferences.objects.get(user=alice).notify_new_mail
    assert b'data-notify="1"' in alice_client.get("/accounts/preferences/").content


@pytest.mark.parametrize("sort", list(listing.SORTS))
def test_rows_asked_for_by_id_say_which_row_is_above_them(alice_client, inbox, sort):
    """What a page needs to put a new row in its place: the row above it in the list's order,
    ties in the sort key broken by id as the pages are."""
    order = every_page(inbox, sort)
    picked = random.Random(sort).sample(order, 12) + [order[0], order[-1]]
    response = alice_client.get(
        f"/mail/folders/{inbox.pk}/",
        {"part": "rows", "sort": sort, "ids": ",".join(map(str, picked))},
    )
    rows = re.findall(r'<li class="[^"]*" data-message-id="(\d+)" data-after="(\d*)"',
                      response.content.decode())  # fmt: skip
    assert [int(pk) for pk, _after in rows] == [pk for pk in order if pk in picked]
    for pk, after in rows:
        place = order.index(int(pk))
        assert after == ("" if place == 0 else str(order[place - 1])), (pk, place)


def test_rows_by_id_leave_out_other_folders_and_users(alice_client, inbox, account, bob):
    sent = Folder.objects.create(account=account, name="Sent", role="sent", uidvalidity=1)
    elsewhere = Message.objects.create(folder=sent, uidvalidity=1, uid=1, date=timezone.now(),
                                       internaldate=timezone.now(), subject="elsewhere")  # fmt: skip
    mine = inbox.messages.first()
    ids = f"{mine.pk},{elsewhere.pk},99999999999999999999,x,"
    response = alice_client.get(f"/mail/folders/{inbox.pk}/", {"part": "rows", "ids": ids})
    html = response.content.decode()
    assert re.findall(r'data-message-id="(\d+)"', html) == [str(mine.pk)]
    assert "<ul" not in html and "more" not in html  # rows only, for the page to place


def test_the_status_part_says_what_went_wrong_with_the_account(alice_client, inbox, account):
    url = f"/mail/folders/{inbox.pk}/"
    assert alice_client.get(url, {"part": "status"}).content.strip() == b""
    MailAccount.objects.filter(pk=account.pk).update(
        last_error="The server refused <the> password."
    )
    html = alice_client.get(url, {"part": "status"}).content.decode()
    assert html.strip() == (
        '<p class="account-error error" role="status">The server refused &lt;the&gt; password.</p>'
    )


def test_the_folder_tree_part_has_the_counts(alice_client, inbox):
    Folder.objects.filter(pk=inbox.pk).update(unread=12)
    html = alice_client.get(f"/mail/folders/{inbox.pk}/", {"part": "folders"}).content.decode()
    assert f'data-folder-id="{inbox.pk}"' in html and '<span class="badge"' in html
    assert ">12</span>" in html and "<html" not in html


def test_the_theme_toggle_rejects_unknown_themes(alice_client, alice):
    alice_client.post("/accounts/preferences/theme/", {"theme": "neon"})
    assert not Preferences.objects.filter(user=alice).exists()
    alice_client.post(
        "/accounts/preferences/theme/", {"theme": "light"}, HTTP_REFERER="https://evil.example/"
    )
    assert Preferences.objects.get(user=alice).theme == "light"


def test_the_theme_toggle_never_redirects_elsewhere(alice_client):
    response = alice_client.post(
        "/accounts/preferences/theme/", {"theme": "light"}, HTTP_REFERER="https://evil.example/"
    )
    assert response.url == "/"


def test_alice_forgets_a_trusted_sender(alice_client, alice, bob):
    mine = TrustedSender.objects.create(user=alice, address="news@example.com")
    bobs = TrustedSender.objects.create(user=bob, address="news@example.com")
    assert alice_client.post(f"/accounts/preferences/senders/{bobs.pk}/forget/").status_code == 404
    alice_client.post(f"/accounts/preferences/senders/{mine.pk}/forget/")
    assert list(TrustedSender.objects.all()) == [bobs]


def test_bob_has_no_access_to_alices_screens(client, bob, inbox):
    client.force_login(bob)
    message = inbox.messages.first()
    for url in [
        f"/mail/folders/{inbox.pk}/", f"/mail/folders/{inbox.pk}/?part=rows",
        f"/mail/folders/{inbox.pk}/?part=rows&ids={message.pk}",
        f"/mail/folders/{inbox.pk}/?part=folders", f"/mail/folders/{inbox.pk}/?part=status",
        f"/mail/folders/{inbox.pk}/search/?q=plans", f"/mail/accounts/{inbox.account_id}/",
        f"/mail/messages/{message.pk}/", f"/mail/messages/{message.pk}/?part=pane",
        f"/mail/messages/{message.pk}/headers/", f"/mail/messages/{message.pk}/original/",
    ]:  # fmt: skip
        assert client.get(url).status_code == 404, url
    assert client.post(f"/mail/messages/{message.pk}/trust-sender/").status_code == 404
    response = client.post("/mail/messages/action/", {"action": "read", "in_folder": inbox.pk})
    assert response.status_code == 404
    assert not TrustedSender.objects.exists()
    assert inbox.messages.filter(seen=True).count() < 137


def test_alice_marks_a_whole_folder_read(alice_client, inbox):
    response = alice_client.post(
        "/mail/messages/action/", {"action": "read", "in_folder": inbox.pk}
    )
    assert response.json() == {"ok": True, "count": 137}
    assert not inbox.messages.filter(seen=False).exists()


@pytest.mark.parametrize(
    ("delay", "marked", "attribute"),
    [(0, True, 'data-mark-read-after="0"'), (3, False, 'data-mark-read-after="3"'),
     (-1, False, None)],
)  # fmt: skip
def test_opening_marks_read_as_alice_prefers(alice_client, alice, inbox, delay, marked, attribute):
    Preferences.objects.create(user=alice, mark_read_after=delay)
    message = inbox.messages.filter(seen=False).first()
    page = alice_client.get(f"/mail/messages/{message.pk}/?part=pane").content.decode()
    message.refresh_from_db()
    assert message.seen is marked
    if attribute:
        assert attribute in page
    else:
        assert "data-mark-read-after" not in page


def test_special_use_folders_are_named_in_alices_language(account):
    from django.utils import translation

    from mailbox.templatetags.mail import folder_label

    sent = Folder.objects.create(account=account, name="Sent Items", role="sent", delimiter="/")
    nested = Folder.objects.create(account=account, name="Old/Trash", role="trash", delimiter="/")
    plain = Folder.objects.create(account=account, name="Receipts", delimiter="/")
    inbox = Folder.objects.create(account=account, name="INBOX", delimiter="/")
    with translation.override("fr"):
        assert [folder_label(f) for f in (sent, nested, plain, inbox)] == [
            "Envoyés", "Trash", "Receipts", "Boîte de réception"
        ]  # fmt: skip


def test_a_message_opened_as_a_page_counts_itself_read_in_the_title(alice_client, inbox):
    """The whole page of a message (a link, a notification's click, a reload) marks it read at
    once by default: the tab's title ("Inbox (N) – ...") and the tree agree on the count."""
    unread = inbox.messages.filter(seen=False).count()
    Folder.objects.filter(pk=inbox.pk).update(unread=unread)
    message = inbox.messages.filter(seen=False).first()
    page = alice_client.get(f"/mail/messages/{message.pk}/").content.decode()
    assert f'data-unread="{unread - 1}"' in page
