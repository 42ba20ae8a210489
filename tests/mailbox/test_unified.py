"""One inbox for every account: Alice's Inboxes (IMAP and POP3) in one list, her unread and her
starred mail across folders, in every sort order, by keyset pages that cut the merged list where
they should; each row names its account; actions reach each message's own account. Bob sees
none of it."""

import datetime
import random

import pytest
from django.utils import timezone

from accounts.models import MailAccount
from mailbox import listing
from mailbox import listing_unified as unified
from mailbox.models import Folder, Message, PendingChange, Role
from mailbox.sync import local

pytestmark = pytest.mark.django_db

NAMES = ["Zoë Martin", "", "alice", "Ålesund Bank", "bob", "ZED", "émile", "日本の園芸クラブ"]


def account_of(user, email, protocol="imap"):
    """An account whose server is never asked (its mail is put in the cache by the test)."""
    account = MailAccount(
        user=user, email=email, incoming_protocol=protocol, incoming_host="imap.example.com",
        incoming_port=993, incoming_username=email, smtp_host="smtp.example.com", smtp_port=465,
    )  # fmt: skip
    account.incoming_password = "secret"
    account.save()
    return account


def fill(folder, count, seed, **flags):
    """``count`` messages with ties in every sort key, so that only the id tells some apart."""
    pick = random.Random(seed)
    start = timezone.now() - datetime.timedelta(days=400)
    Message.objects.bulk_create(
        Message(
            folder=folder, uidvalidity=folder.uidvalidity or 1, uid=uid,
            date=start + datetime.timedelta(hours=pick.randrange(40)), internaldate=start,
            from_name=pick.choice(NAMES), from_address=f"{pick.choice('abcxyz')}@example.com",
            subject=f"{folder.account.email} " + pick.choice(["Re: plans", "plans", "", "Ünï"]),
            size=pick.choice([100, 2000, 2000, 50_000]), seen=pick.random() < 0.5,
            flagged=pick.random() < 0.3, **flags,
        )
        for uid in range(1, count + 1)
    )  # fmt: skip
    return folder


def imap_folder(account, name, role="", count=0, seed=0):
    folder = Folder.objects.create(account=account, name=name, role=role, uidvalidity=7)
    return fill(folder, count, seed)


@pytest.fixture
def world(alice):
    """Alice: two IMAP accounts and a POP3 one, each with an Inbox of mail, and around them
    the folders Unread and Starred choose among."""
    work = account_of(alice, "alice@work.example")
    home = account_of(alice, "alice@home.example")
    pop = account_of(alice, "alice@pop.example", "pop3")
    folders = local.ensure_standard_folders(pop)
    fill(folders[Role.INBOX], 31, seed=3)
    fill(folders[Role.TRASH], 5, seed=9)
    return {
        "work": work, "home": home, "pop": pop,
        "inboxes": [imap_folder(work, "INBOX", Role.INBOX, 43, 1),
                    imap_folder(home, "INBOX", Role.INBOX, 29, 2), folders[Role.INBOX]],
        "work_sent": imap_folder(work, "Sent", Role.SENT, 11, 4),
        "work_trash": imap_folder(work, "Trash", Role.TRASH, 7, 5),
        "work_junk": imap_folder(work, "Junk", Role.JUNK, 6, 6),
        "work_archive": imap_folder(work, "Archive", Role.ARCHIVE, 17, 7),
        "home_projects": imap_folder(home, "Projects", "", 13, 8),
        "pop_archive": folders[Role.ARCHIVE],
    }  # fmt: skip


def expected(folders, sort, where=None):
    """The merged list as one query over every folder would order it."""
    rows = Message.objects.filter(folder__in=folders)
    rows = rows.filter(where) if where is not None else rows
    return list(listing.ordered(rows, sort).values_list("pk", flat=True))


def every_page(user, view, sort, size=7):
    seen, cursor = [], None
    for _ in range(200):
        page = unified.unified_page(user, view, sort, cursor, size=size)
        assert len(page.messages) <= size
        seen += [m.pk for m in page.messages]
        cursor = page.next_cursor
        if cursor is None:
            return seen
    raise AssertionError("the pages never end")


# --- the listing ------------------------------------------------------------------------------


@pytest.mark.parametrize("sort", listing.SORTS)
def test_all_inboxes_page_through_every_account_in_every_order(alice, world, sort):
    assert every_page(alice, "inbox", sort) == expected(world["inboxes"], sort)


def test_the_pop3_accounts_inbox_is_one_of_them(alice, world):
    pop_inbox = world["inboxes"][2]
    assert pop_inbox.account.is_pop3
    assert pop_inbox in unified.folders_for(alice, "inbox")
    shown = every_page(alice, "inbox", "date", size=50)
    assert set(pop_inbox.messages.values_list("pk", flat=True)) <= set(shown)


def test_a_cursor_cuts_the_merged_list_across_folders(alice, world):
    """A page after any row starts with the row after it, whichever folder either is in."""
    for sort in ("date", "sender_desc", "size_asc"):
        everything = expected(world["inboxes"], sort)
        for at in (0, 17, 50, len(everything) - 2):
            cursor = listing.encode_cursor(Message.objects.get(pk=everything[at]), sort)
            page = unified.unified_page(alice, "inbox", sort, cursor, size=5)
            assert [m.pk for m in page.messages] == everything[at + 1 : at + 6]


def test_a_folders_cursor_works_in_the_merged_list_and_a_broken_one_starts_over(alice, world):
    sort, inbox = "subject", world["inboxes"][0]
    first = listing.message_page(inbox, sort, size=3)
    page = unified.unified_page(alice, "inbox", sort, first.next_cursor, size=4)
    everything = expected(world["inboxes"], sort)
    at = everything.index(first.messages[-1].pk)
    assert [m.pk for m in page.messages] == everything[at + 1 : at + 5]
    for broken in ("nonsense", first.next_cursor + "x", "e" * 3000):
        page = unified.unified_page(alice, "inbox", sort, broken, size=4)
        assert [m.pk for m in page.messages] == everything[:4]


def test_each_row_knows_its_folder_and_account(alice, world):
    page = unified.unified_page(alice, "inbox", "date", size=200)
    for row in page.messages:
        assert row.folder.pk == row.folder_id
        assert row.folder.account.user_id == alice.pk


def test_unread_is_unread_mail_outside_trash_junk_sent_and_drafts(alice, world):
    chosen = {f.pk for f in unified.folders_for(alice, "unread")}
    inside = [*world["inboxes"], world["work_archive"], world["home_projects"],
              world["pop_archive"]]  # fmt: skip
    outside = [world["work_sent"], world["work_trash"], world["work_junk"]]
    assert {f.pk for f in inside} <= chosen
    assert not chosen & {f.pk for f in outside}
    shown = every_page(alice, "unread", "date")
    assert shown == expected(inside, "date", where=unified.VIEWS["unread"].where)
    assert not Message.objects.filter(pk__in=shown, seen=True).exists()


def test_starred_keeps_sent_but_not_trash_or_junk(alice, world):
    chosen = {f.pk for f in unified.folders_for(alice, "starred")}
    assert world["work_sent"].pk in chosen
    assert not chosen & {world["work_trash"].pk, world["work_junk"].pk}
    shown = every_page(alice, "starred", "sender")
    assert shown == expected([f for f in Folder.objects.filter(pk__in=chosen)], "sender",
                             where=unified.VIEWS["starred"].where)  # fmt: skip
    assert shown and not Message.objects.filter(pk__in=shown, flagged=False).exists()


def test_a_hidden_folder_is_not_in_unread(alice, world):
    hidden = world["home_projects"]
    hidden.subscribed = False
    hidden.save()
    assert hidden not in unified.folders_for(alice, "unread")


def test_bob_sees_none_of_alices_mail(alice, bob, world):
    for view in unified.VIEWS:
        assert unified.folders_for(bob, view) == []
        assert unified.unified_page(bob, view).messages == []
    alices = list(Message.objects.values_list("pk", flat=True)[:20])
    assert unified.rows_by_id(bob, "inbox", alices) == []


def test_rows_by_id_say_where_each_goes_in_the_merged_list(alice, world):
    for sort in ("date", "subject_desc"):
        everything = expected(world["inboxes"], sort)
        wanted = [everything[0], everything[9], everything[40]]
        rows = unified.rows_by_id(alice, "inbox", list(reversed(wanted)), sort)
        assert [row.pk for row in rows] == wanted
        assert [row.live_after for row in rows] == ["", everything[8], everything[39]]


def test_the_counts_are_the_folders_own(alice, world):
    for folder in Folder.objects.all():
        folder.unread = folder.messages.filter(seen=False).count()
        folder.save()
    counts = unified.counts(alice)
    assert (
        counts["inbox"] == Message.objects.filter(folder__in=world["inboxes"], seen=False).count()
    )
    unread_folders = unified.folders_for(alice, "unread")
    assert counts["unread"] == sum(f.messages.filter(seen=False).count() for f in unread_folders)
    assert unified.counts(alice) != {"inbox": 0, "unread": 0}


# --- the screen -------------------------------------------------------------------------------


def test_alice_sees_all_her_inboxes_each_row_naming_its_account(alice_client, world):
    response = alice_client.get("/mail/all/inbox/")
    assert response.status_code == 200
    page = response.content.decode()
    for name in ("work", "home", "pop"):
        assert f'<span class="in-account"><bdi>alice@{name}.example</bdi></span>' in page
    first = expected(world["inboxes"], "date")[: listing.PAGE_SIZE]
    assert [int(pk) for pk in _ids(page)] == first
    assert 'id="unified-links"' in page and 'aria-current="page"' in page
    assert 'data-folder-ids="' in page and 'rel="next"' in page


def test_the_next_page_comes_from_the_unified_list(alice_client, world):
    page = alice_client.get("/mail/all/inbox/", {"sort": "size"}).content.decode()
    more = page.split('<li class="more"><a href="')[1].split('"')[0].replace("&amp;", "&")
    assert more.startswith("/mail/all/inbox/?sort=size&after=")
    rows = alice_client.get(more + "&part=rows").content.decode()
    everything = expected(world["inboxes"], "size")
    assert [int(pk) for pk in _ids(rows)] == everything[listing.PAGE_SIZE : 2 * listing.PAGE_SIZE]


def test_unread_and_starred_name_the_folder_too(alice_client, world):
    page = alice_client.get("/mail/all/starred/").content.decode()
    assert '<span class="in-folder"><bdi>Sent</bdi></span>' in page
    assert alice_client.get("/mail/all/unread/").status_code == 200


def test_live_rows_of_the_unified_list(alice_client, world):
    everything = expected(world["inboxes"], "date")
    response = alice_client.get(
        "/mail/all/inbox/", {"part": "rows", "ids": f"{everything[3]},99999999999999999999,x"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-message-id="{everything[3]}" data-after="{everything[2]}"' in html
    assert "in-account" in html


def test_an_account_address_is_escaped_in_the_row(alice, alice_client, world):
    world["home"].email = 'x"<b>@example.org'
    world["home"].save()
    page = alice_client.get("/mail/all/inbox/", {"sort": "date"}).content.decode()
    assert "x&quot;&lt;b&gt;@example.org" in page and 'x"<b>' not in page


def test_the_links_show_all_inboxes_only_with_two_accounts(alice, alice_client, world):
    inbox = world["inboxes"][0]
    page = alice_client.get(f"/mail/folders/{inbox.pk}/").content.decode()
    assert 'data-unified="inbox"' in page and 'data-unified="unread"' in page
    assert "In all accounts" in page
    world["home"].delete()
    world["pop"].delete()
    page = alice_client.get(f"/mail/folders/{inbox.pk}/").content.decode()
    assert 'data-unified="inbox"' not in page
    assert 'data-unified="unread"' in page and 'data-unified="starred"' in page


def test_an_unknown_list_is_not_found_and_strangers_log_in_first(client, alice_client, world):
    assert alice_client.get("/mail/all/drafts/").status_code == 404
    client.logout()
    assert client.get("/mail/all/inbox/").status_code == 302


def test_bobs_unified_inbox_shows_none_of_alices(bob, client, world):
    account_of(bob, "bob@example.org")
    Folder.objects.create(account=MailAccount.objects.get(user=bob), name="INBOX", role="inbox")
    client.force_login(bob)
    page = client.get("/mail/all/inbox/").content.decode()
    assert "alice@" not in page and not _ids(page)
    alices = ",".join(str(pk) for pk in expected(world["inboxes"], "date")[:5])
    rows = client.get("/mail/all/inbox/", {"part": "rows", "ids": alices}).content.decode()
    assert not _ids(rows)


def test_archive_from_the_unified_list_goes_to_each_accounts_own_archive(alice_client, world):
    home_archive = imap_folder(world["home"], "Archive", Role.ARCHIVE)
    picked = [world["inboxes"][i].messages.order_by("uid").first() for i in range(3)]
    response = alice_client.post(
        "/mail/messages/action/", {"action": "archive", "ids": [m.pk for m in picked]}
    )
    answer = response.json()
    assert (answer["ok"], answer["count"]) == (True, 3)
    assert len(answer["undo"]) == 3  # one move back per account's Archive (the undo notice)
    assert not Message.objects.filter(pk__in=[m.pk for m in picked[:2]]).exists()
    work_move, home_move = (
        PendingChange.objects.get(account=world[name]) for name in ("work", "home")
    )
    assert work_move.target == world["work_archive"] and home_move.target == home_archive
    assert Message.objects.get(pk=picked[2].pk).folder == world["pop_archive"]  # kept here


def _ids(html):
    import re

    return re.findall(r'data-message-id="(\d+)"', html)


# --- search in all accounts ---------------------------------------------------------------------


def test_alice_searches_all_her_accounts_at_once(alice_client, world):
    inbox = world["inboxes"][0]
    response = alice_client.get(
        f"/mail/folders/{inbox.pk}/search/", {"q": "subject:plans", "in": "all"}
    )
    page = response.content.decode()
    shown = Message.objects.filter(pk__in=[int(pk) for pk in _ids(page)])
    assert {m.folder.account.email for m in shown} == {
        "alice@work.example", "alice@home.example", "alice@pop.example"}  # fmt: skip
    assert all("plans" in m.subject.lower() for m in shown)
    assert '<span class="in-account"><bdi>alice@pop.example</bdi>' in page
    assert '<option value="all" selected>' in page
    # in one account, as before: only its own
    page = alice_client.get(
        f"/mail/folders/{inbox.pk}/search/", {"q": "subject:plans", "in": "account"}
    ).content.decode()
    accounts = {m.folder.account_id for m in Message.objects.filter(pk__in=_ids(page))}
    assert accounts == {inbox.account_id} and "in-account" not in page


def test_in_name_searches_that_folder_of_each_account_that_has_one(alice, world):
    from mailbox import search

    result = search.search_messages(alice, everywhere=True, query="in:archive subject:plans")
    folders = {m.folder_id for m in result.messages}
    assert folders and folders <= {world["work_archive"].pk, world["pop_archive"].pk}
    with pytest.raises(search.SearchError):
        search.search_messages(alice, everywhere=True, query="in:nowhere plans")


def test_bobs_search_in_all_accounts_finds_none_of_alices(bob, client, world):
    from mailbox import search

    assert search.search_messages(bob, everywhere=True, query="subject:plans").messages == []
    account_of(bob, "bob@example.org")
    inbox = Folder.objects.create(
        account=MailAccount.objects.get(user=bob), name="INBOX", role="inbox"
    )
    client.force_login(bob)
    page = client.get(f"/mail/folders/{inbox.pk}/search/", {"q": "subject:plans", "in": "all"})
    assert page.status_code == 200 and not _ids(page.content.decode())
    alices = world["inboxes"][0]
    assert (
        client.get(f"/mail/folders/{alices.pk}/search/", {"q": "x", "in": "all"}).status_code == 404
    )


def test_the_links_come_again_with_fresh_counts(alice_client, world):
    inbox = world["inboxes"][1]
    inbox.unread = 12
    inbox.save()
    html = alice_client.get("/mail/all/inbox/", {"part": "links", "current": "unread"}).content
    html = html.decode()
    assert 'data-unified="unread" aria-current="page"' in html
    assert '<span class="badge"' in html and ">12</span>" in html
    assert 'data-src="/mail/all/inbox/?part=links"' in html


def test_before_any_folder_the_lists_lead_to_the_accounts_page(alice, alice_client):
    assert alice_client.get("/mail/all/unread/").url == "/accounts/"
    account_of(alice, "alice@new.example")  # not synced yet: no folder
    assert alice_client.get("/mail/all/inbox/").url == "/accounts/"
