"""The local search index (mailbox.fulltext): Alice's mail indexed here and searched here.

The same tests run on PostgreSQL (the suite's database) and on SQLite (the embedded mode):

    TEST_DATABASE_URL=sqlite:////tmp/index.sqlite3 pytest tests/mailbox/test_fulltext.py

Most use mail kept here (a POP3 account's local folders: no server needed to read it); the
last ones use Alice's IMAP account on the real Dovecot, where text not indexed yet is searched
on the server and a worker indexes it after a sync.
"""

import datetime
import email
import time
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

import pytest
from django.db import connection
from django.http import Http404

from accounts.models import MailAccount
from mailbox import actions, fulltext, search
from mailbox.models import BodyPart, Folder, Message, Role, SearchEntry
from mailbox.search import SearchError, parse_query, search_messages
from mailbox.sync import index as index_pass
from mailbox.sync import local, run_account, store

pytestmark = [pytest.mark.django_db]
UTC = datetime.UTC


def mail(subject, body="Hello.\n", *, sender="Zoë Martin <zoe@example.org>", day=(2024, 3, 1),
         to="Alice <alice@example.com>", cc=None, html=None, attach=None, forward=None):  # fmt: skip
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    if cc:
        message["Cc"] = cc
    message["Date"] = format_datetime(datetime.datetime(*day, 12, 0, tzinfo=UTC))
    message.set_content(body)
    if html:
        message.add_alternative(html, subtype="html")
    if attach:
        message.add_attachment(b"%PDF-1.4\n", maintype="application", subtype="pdf",
                               filename=attach)  # fmt: skip
    if forward:
        message.add_attachment(email.message_from_bytes(forward, policy=SMTP))
    return message.as_bytes(policy=SMTP)


def kept_account(user, email="alice@example.com"):
    account = MailAccount(user=user, email=email, incoming_protocol="pop3",
                          incoming_host="127.0.0.1", incoming_port=110,
                          incoming_username=email, smtp_host="127.0.0.1", smtp_port=25)  # fmt: skip
    account.incoming_password = "unused"
    account.save()
    local.ensure_standard_folders(account)
    return account


def inbox(account):
    return Folder.objects.get(account=account, role=Role.INBOX)


def keep(account, raw, *, role=Role.INBOX, seen=True):
    return local.keep_message(Folder.objects.get(account=account, role=role), raw, seen=seen)


def found(user, text, folder=None, **kwargs):
    """The subjects found, newest first: answered by the index alone (checked)."""
    where = {"folder_id": folder.pk} if folder else {}
    result = search_messages(user, query=text, **where, **kwargs)
    assert not result.from_server and result.progress is None, "the index answered alone"
    return [m.subject for m in result.messages]


@pytest.fixture
def account(alice):
    account = kept_account(alice)
    keep(account, mail("Garden plans", "Shall we plant tomatoes near the shed?\n",
                       cc="Carol Baker <carol@example.net>", attach="plan.pdf",
                       day=(2024, 3, 10)), seen=False)  # fmt: skip
    keep(account, mail("Invoice 42", "Please pay by Friday. The café opens at nine.\n",
                       sender="Bob Stone <bob@example.com>", day=(2024, 2, 1)))  # fmt: skip
    keep(account, mail("Weekly digest", "Plain part.\n",
                       html="<p>Tomatoes are <b>on sale</b> this week &amp; next.</p>",
                       sender="Newsletter <news@example.com>", to="list@example.com",
                       day=(2024, 1, 15)))  # fmt: skip
    inner = mail("Rhubarb recipe", "Cook the rhubarb slowly with kumquats.\n",
                 sender="Grandma <gran@example.net>")  # fmt: skip
    keep(account, mail("Fwd: a recipe", "See below.\n", forward=inner, day=(2023, 6, 1)),
         role=Role.ARCHIVE)  # fmt: skip
    Message.objects.filter(subject="Invoice 42").update(flagged=True)
    index_pass.index_account(account)
    return account


def test_headers_are_indexed_as_mail_arrives(alice):
    account = kept_account(alice)
    message = keep(account, mail("Quarterly report", "Numbers inside.\n"))
    entry = SearchEntry.objects.get(message=message)
    assert not entry.body_done, "the text waits for the background pass"
    assert found(alice, "subject:quarterly", inbox(account)) == ["Quarterly report"]
    assert [m.subject for m in search_messages(alice, query="quarterly report",
                                               folder_id=inbox(account).pk).messages] == [
        "Quarterly report"
    ]  # fmt: skip


def test_free_words_reach_subjects_names_addresses_and_bodies(alice, account):
    assert found(alice, "tomatoes", inbox(account)) == ["Garden plans", "Weekly digest"]
    assert found(alice, "friday", inbox(account)) == ["Invoice 42"]
    assert found(alice, "carol", inbox(account)) == ["Garden plans"]
    assert found(alice, "bob@example.com", inbox(account)) == ["Invoice 42"]
    assert found(alice, "plan.pdf", inbox(account)) == ["Garden plans"]


def test_html_is_searched_as_its_text_and_accents_do_not_matter(alice, account):
    assert found(alice, "sale", inbox(account)) == ["Weekly digest"]
    assert found(alice, "cafe", inbox(account)) == ["Invoice 42"]
    assert found(alice, "ZOE", inbox(account)) == ["Garden plans"]


def test_the_inside_of_a_forwarded_message_is_searched(alice, account):
    archive = Folder.objects.get(account=account, role=Role.ARCHIVE)
    assert found(alice, "kumquats", archive) == ["Fwd: a recipe"]
    assert found(alice, "grandma", archive) == ["Fwd: a recipe"]


def test_a_phrase_must_match_whole_and_in_order(alice, account):
    folder = inbox(account)
    assert found(alice, '"plant tomatoes"', folder) == ["Garden plans"]
    assert found(alice, '"tomatoes plant"', folder) == []


def test_the_last_word_typed_is_a_prefix(alice, account):
    assert found(alice, "tomat", inbox(account)) == ["Garden plans", "Weekly digest"]
    assert found(alice, "tomat shed", inbox(account)) == [], "only the last word"


def test_operators(alice, account):
    folder = inbox(account)
    assert found(alice, "from:bob", folder) == ["Invoice 42"]
    assert found(alice, "to:list@example.com", folder) == ["Weekly digest"]
    assert found(alice, "subject:invoice", folder) == ["Invoice 42"]
    assert found(alice, "has:attachment", folder) == ["Garden plans"]
    assert found(alice, "is:unread", folder) == ["Garden plans"]
    assert found(alice, "is:starred", folder) == ["Invoice 42"]
    assert found(alice, "after:2024-02-01 before:2024-03-01", folder) == ["Invoice 42"]
    assert found(alice, "from:news tomatoes", folder) == ["Weekly digest"]


def test_or_and_minus(alice, account):
    folder = inbox(account)
    assert found(alice, "friday OR shed", folder) == ["Garden plans", "Invoice 42"]
    assert found(alice, "tomatoes -shed", folder) == ["Weekly digest"]
    assert found(alice, 'tomatoes -"on sale"', folder) == ["Garden plans"]
    assert found(alice, "-tomatoes", folder) == ["Invoice 42"]
    assert parse_query("a OR").text == ("a", "OR")


def test_in_folder_and_across_the_account(alice, account):
    assert found(alice, "rhubarb", inbox(account)) == []
    assert found(alice, "rhubarb in:archive", inbox(account)) == ["Fwd: a recipe"]
    assert found(alice, "recipe in:all", inbox(account)) == ["Fwd: a recipe"]
    assert sorted(found(alice, "example", account_id=account.pk)) == [
        "Fwd: a recipe", "Garden plans", "Invoice 42", "Weekly digest",
    ]  # fmt: skip
    with pytest.raises(SearchError, match="no folder named"):
        search_messages(alice, query="x in:Nowhere", folder_id=inbox(account).pk)


def test_all_accounts_are_searched_one_by_one_and_bob_never_sees_alices_mail(alice, bob, account):
    bobs = kept_account(bob, "bob@example.com")
    keep(bobs, mail("Bob's tomatoes", "tomatoes again\n"))
    index_pass.index_account(bobs)
    assert found(bob, "tomatoes", account_id=bobs.pk) == ["Bob's tomatoes"]
    assert found(alice, "tomatoes", account_id=account.pk) == ["Garden plans", "Weekly digest"]
    with pytest.raises(Http404):
        search_messages(bob, query="tomatoes", account_id=account.pk)
    with pytest.raises(Http404):
        search_messages(bob, query="tomatoes", folder_id=inbox(account).pk)


def test_a_total_and_pages_through_every_result(alice):
    account = kept_account(alice)
    for n in range(230):
        keep(account, mail(f"Report {n:03}", "quarterly numbers\n",
                           day=(2024, 1, 1 + n % 28)))  # fmt: skip
    index_pass.index_account(account)
    seen = []
    for offset in range(0, 300, 100):
        result = search_messages(alice, query="quarterly", folder_id=inbox(account).pk,
                                 limit=100, offset=offset)  # fmt: skip
        assert result.total == 230
        assert result.truncated == (offset + 100 < 230)
        seen += [m.pk for m in result.messages]
    assert len(seen) == len(set(seen)) == 230


def test_past_exact_total_the_total_is_an_estimate_from_the_newest_matches(alice, monkeypatch):
    """Past EXACT_TOTAL matches (made 10 here) the total is estimated, as Gmail's "about N":
    the share of the folder's mail as new as the last match read, here one message in two
    over sixty days, so 11 matches in the newest 22 messages make about 30."""
    monkeypatch.setattr(search, "EXACT_TOTAL", 10)
    account = kept_account(alice)
    for n in range(60):
        keep(account, mail(f"Day {n:02}", "quince\n" if n % 2 == 0 else "plum\n",
                           day=(2024, 1 + n // 28, 1 + n % 28)))  # fmt: skip
    index_pass.index_account(account)
    folder = inbox(account)
    store.refresh_counts(folder)  # as a fetch does: the total the list shows
    first = search_messages(alice, query="quince", folder_id=folder.pk, limit=5)
    assert (first.total, first.estimated, first.truncated) == (30, True, True)
    assert [m.subject for m in first.messages] == ["Day 58", "Day 56", "Day 54", "Day 52",
                                                   "Day 50"]  # fmt: skip
    later = search_messages(alice, query="quince", folder_id=folder.pk, limit=5, offset=10)
    assert [m.subject for m in later.messages] == ["Day 38", "Day 36", "Day 34", "Day 32",
                                                   "Day 30"]  # fmt: skip
    assert (later.total, later.estimated) == (30, True)
    every = search_messages(alice, query="quince", folder_id=folder.pk, limit=100)
    assert (every.total, every.estimated, len(every.messages)) == (30, False, 30), "counted"


def test_an_estimated_total_is_rounded_and_never_below_what_was_seen(alice, monkeypatch):
    account = kept_account(alice)
    for n in range(51):
        keep(account, mail(f"Day {n:02}", "plum\n", day=(2024, 1 + n // 28, 1 + n % 28)))
    folders = [inbox(account)]
    store.refresh_counts(folders[0])  # as a fetch does: the total the list shows
    oldest = Message.objects.order_by("date").first()
    assert search._estimate(folders, (oldest.pk, oldest.date), 51) == 51
    newest = Message.objects.order_by("-date").first()
    assert search._estimate(folders, (newest.pk, newest.date), 1) == 51, "one in the newest"
    assert search._estimate(folders, (oldest.pk, oldest.date), 60) == 60, "never below"
    monkeypatch.setattr(Message.objects, "filter", lambda *a, **k: _OneNewer())
    for raw, rounded in ((94_713, 95_000), (1_234, 1_200), (12_345_678, 12_000_000)):
        folders[0].total = raw
        assert search._estimate(folders, (1, datetime.datetime.now(UTC)), 1) == rounded


class _OneNewer:
    """Stands in for the folders' messages: one of them as new as the last match."""

    def filter(self, *_args):
        return self

    def count(self):
        return 1


def test_a_moved_message_keeps_its_entry_and_a_copy_is_indexed(alice, account):
    garden = Message.objects.get(subject="Garden plans")
    archive = Folder.objects.get(account=account, role=Role.ARCHIVE)
    actions.do_move_messages(alice, [garden.pk], archive.pk)
    assert SearchEntry.objects.get(message=garden).body_done
    assert found(alice, "shed", archive) == ["Garden plans"]
    assert found(alice, "shed", inbox(account)) == []
    actions.do_move_messages(alice, [garden.pk], inbox(account).pk, copy=True)
    copy = Message.objects.get(folder=inbox(account), subject="Garden plans")
    assert SearchEntry.objects.filter(message=copy).exists()
    index_pass.index_account(account)
    assert found(alice, "shed", inbox(account)) == ["Garden plans"]


def test_deleted_mail_leaves_the_index(alice, account):
    doomed = list(Message.objects.filter(folder__account=account).values_list("pk", flat=True))
    local.delete_messages(doomed)
    assert not SearchEntry.objects.filter(message_id__in=doomed).exists()
    if connection.vendor == "sqlite":  # FTS5 has no cascade: the trigger's work
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM mailbox_fulltext")
            assert cursor.fetchone()[0] == 0
    assert found(alice, "example", account_id=account.pk) == []


HOSTILE = [
    '"', '""', '"unterminated', "NEAR(a b)", "a NEAR b", "*", "a*", "^a", "a:b", "(", ")",
    "()", "a AND", "OR", "OR OR", "NOT", "- -", "-", "'; DROP TABLE mailbox_message; --",
    "' OR 1=1 --", "a & b | !c <-> d", "\\", "%", "_", "{x}", "col:subject", "subject:(x",
    "ß", "日本", "\u200f", "!!!", "a''b", "'", "rowid=1", "mailbox_fulltext:*",
]  # fmt: skip


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_queries_never_error(alice, account, text):
    result = search_messages(alice, query=text, folder_id=inbox(account).pk)
    assert result.total == len(result.messages) >= 0
    assert Message.objects.filter(folder__account=account).count() == 4


def test_a_term_without_letters_or_digits_finds_nothing(alice, account):
    for text in ("!!!", '"*"', "subject:invoice ***", "(", "^"):
        assert found(alice, text, inbox(account)) == [], text
    assert found(alice, "friday -***", inbox(account)) == ["Invoice 42"]


def test_a_quoted_term_is_searched_literally(alice, account):
    keep(account, mail("Near the shed", "near the shed\n"))
    index_pass.index_account(account)
    assert found(alice, "near", inbox(account)) == ["Garden plans", "Near the shed"]
    assert found(alice, '"NEAR the"', inbox(account)) == ["Garden plans", "Near the shed"]
    assert found(alice, "NEAR(near shed)", inbox(account)) == [], "NEAR, ( and ) are words"


def test_the_body_bound_is_kept(alice, settings):
    settings.WEBMAIL_INDEX_BODY_BYTES = 100
    account = kept_account(alice)
    keep(account, mail("Long", "start " + "filler " * 40 + "faraway\n"))
    index_pass.index_account(account)
    assert found(alice, "start", inbox(account)) == ["Long"]
    assert found(alice, "faraway", inbox(account)) == []


def test_text_kept_out_leaves_the_server_search_in_charge(alice, settings):
    settings.WEBMAIL_INDEX_BODIES = False
    account = kept_account(alice)
    keep(account, mail("Names only", "a hidden word: zanzibar\n", attach="map.pdf"))
    index_pass.index_account(account)
    assert SearchEntry.objects.get().body_done
    named = search_messages(alice, query="map.pdf", folder_id=inbox(account).pk)
    assert [m.subject for m in named.messages] == ["Names only"] and not named.from_server
    result = search_messages(alice, query="zanzibar", folder_id=inbox(account).pk)
    assert [m.subject for m in result.messages] == ["Names only"]
    assert result.from_server == {result.messages[0].pk}, "found by the source's search"


def test_the_pass_resumes_newest_first(alice):
    account = kept_account(alice)
    for day in (1, 2, 3):
        keep(account, mail(f"Day {day}", "text\n", day=(2024, 5, day)))
    assert index_pass.index_account(account, limit=1) == 1
    done = SearchEntry.objects.filter(body_done=True).values_list("message__subject", flat=True)
    assert list(done) == ["Day 3"]
    assert index_pass.index_account(account) == 2
    assert index_pass.index_account(account) == 0, "a second run finds nothing to do"


def test_the_pass_takes_the_newest_across_folders_a_queue_at_a_time(alice, monkeypatch):
    """The queue is read QUEUE messages at a time and indexed BATCH at a time (made small
    here): every message is indexed once, newest first across the account's folders."""
    monkeypatch.setattr(index_pass, "QUEUE", 3)
    monkeypatch.setattr(index_pass, "BATCH", 2)
    account = kept_account(alice)
    for day in (1, 3, 5, 7):
        keep(account, mail(f"Inbox {day}", "text\n", day=(2024, 5, day)))
    for day in (2, 4, 6):
        keep(account, mail(f"Archive {day}", "text\n", day=(2024, 5, day)), role=Role.ARCHIVE)
    order = []
    engine = type(fulltext.get_index())
    index_bodies = engine.index_bodies
    monkeypatch.setattr(engine, "index_bodies", lambda self, rows: (
        order.extend(pk for pk, *_text in rows), index_bodies(self, rows)))  # fmt: skip
    assert index_pass.index_account(account, limit=5) == 5
    assert index_pass.index_account(account) == 2
    subjects = [Message.objects.get(pk=pk).subject for pk in order]
    assert subjects == ["Inbox 7", "Archive 6", "Inbox 5", "Archive 4", "Inbox 3",
                        "Archive 2", "Inbox 1"]  # fmt: skip
    assert not SearchEntry.objects.filter(body_done=False).exists()


# --- IMAP: the server searches what is not indexed yet; the worker indexes after a sync ----


@pytest.mark.servers
def test_text_not_indexed_yet_is_searched_on_the_server_and_marked(alice, imap_account,
                                                                    other_client):  # fmt: skip
    status, data = other_client.imap.append("INBOX", "", None, mail("Plain", "pomegranate\n"))
    assert status == "OK", data
    assert run_account(imap_account.pk)
    folder = Folder.objects.get(account=imap_account, name="INBOX")
    result = search_messages(alice, query="pomegranate", folder_id=folder.pk)
    assert [m.subject for m in result.messages] == ["Plain"]
    assert result.from_server == {result.messages[0].pk} and result.progress == (0, 1)
    index_pass.index_account(imap_account)
    assert found(alice, "pomegranate", folder) == ["Plain"]


@pytest.mark.servers
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="a worker needs a shared database")
def test_a_worker_indexes_the_text_after_a_sync(alice, imap_account, other_client, celery_worker):
    status, data = other_client.imap.append("INBOX", "", None, mail("Queued", "persimmon\n"))
    assert status == "OK", data
    from mailbox.tasks import sync_account

    sync_account.delay(imap_account.pk)
    deadline = time.monotonic() + 60
    while not SearchEntry.objects.filter(body_done=True, message__subject="Queued").exists():
        if time.monotonic() > deadline or celery_worker.poll() is not None:
            celery_worker.terminate()
            pytest.fail(f"no worker indexed: {celery_worker.communicate(timeout=10)[0][-3000:]}")
        time.sleep(0.2)
    folder = Folder.objects.get(account=imap_account, name="INBOX")
    assert found(alice, "persimmon", folder) == ["Queued"]


def test_the_query_shapes_stay_in_the_engines_words():
    clauses = [(fulltext.Term(fulltext.words('a"b NEAR(c)'), prefix=True),)]
    assert clauses[0][0].words == ("a", "b", "NEAR", "c")


def test_the_search_page_shows_the_total_and_pages_on(alice, as_alice):
    account = kept_account(alice)
    for n in range(120):
        keep(account, mail(f"Note {n:03}", "marmalade\n", day=(2024, 1, 1 + n % 28)))
    index_pass.index_account(account)
    url = f"/mail/folders/{inbox(account).pk}/search/"
    page = as_alice.get(url, {"q": "marmalade"}).content.decode()
    assert "120 messages match" in page
    assert page.count('class="row') == 100
    assert "after=" in page and "More results" in page
    rest = as_alice.get(url, {"q": "marmalade", "offset": "100", "part": "rows"}).content.decode()
    assert rest.count('class="row') == 20 and "More results" not in rest, "an offset still works"
    odd = as_alice.get(url, {"q": "marmalade", "offset": "many"}).content.decode()
    assert odd.count('class="row') == 100, "an offset that is not a number: the first page"


def test_the_search_page_says_about_when_the_total_is_estimated(alice, as_alice, monkeypatch):
    monkeypatch.setattr(search, "EXACT_TOTAL", 10)
    account = kept_account(alice)
    for n in range(120):
        keep(account, mail(f"Note {n:03}", "marmalade\n", day=(2024, 1 + n // 28, 1 + n % 28)))
    index_pass.index_account(account)
    store.refresh_counts(inbox(account))  # as a fetch does
    page = as_alice.get(f"/mail/folders/{inbox(account).pk}/search/", {"q": "marmalade"})
    text = page.content.decode()
    assert "About 120 messages match" in text and text.count('class="row') == 100


@pytest.mark.servers
def test_the_list_marks_what_the_server_found(alice, as_alice, imap_account, other_client):
    status, data = other_client.imap.append("INBOX", "", None, mail("Plain", "pomegranate\n"))
    assert status == "OK", data
    assert run_account(imap_account.pk)
    folder = Folder.objects.get(account=imap_account, name="INBOX")
    page = as_alice.get(f"/mail/folders/{folder.pk}/search/", {"q": "pomegranate"})
    text = page.content.decode()
    assert "Searched on the server" in text and "Text of 0 of 1 messages is indexed" in text
    index_pass.index_account(imap_account)
    text = as_alice.get(f"/mail/folders/{folder.pk}/search/", {"q": "pomegranate"}).content
    assert b"Searched on the server" not in text and b"Plain" in text


# --- IMAP: the pass reads a batch's bodies at once --------------------------------------------


@pytest.fixture
def fetches(monkeypatch):
    """The UID FETCH of bodies made: ("bulk", [uids]) per fetch_sections, ("one", section) per
    part read on its own."""
    from mailbox.protocols.imap.session import ImapSession

    made = []
    bulk, one, chunks = ImapSession.fetch_sections, ImapSession.fetch_part, ImapSession.iter_part

    def fetch_sections(session, uids, sections, **options):
        made.append(("bulk", list(uids)))
        return bulk(session, uids, sections, **options)

    def fetch_part(session, uid, section):
        made.append(("one", section))
        return one(session, uid, section)

    def iter_part(session, uid, section, **options):
        made.append(("one", section))
        return chunks(session, uid, section, **options)

    monkeypatch.setattr(ImapSession, "fetch_sections", fetch_sections)
    monkeypatch.setattr(ImapSession, "fetch_part", fetch_part)
    monkeypatch.setattr(ImapSession, "iter_part", iter_part)
    return made


def put_on_server(client, account, count):
    inner = mail("Rhubarb recipe", "Cook the rhubarb slowly with kumquats.\n")
    for n in range(count):
        raw = mail(f"Note {n}", f"quince{n}\n", day=(2024, 1, 1 + n),
                   html=f"<p>quince{n} <b>tart</b></p>" if n % 2 else None,
                   forward=inner if n == 0 else None)  # fmt: skip
        status, data = client.imap.append("INBOX", "", None, raw)
        assert status == "OK", data
    assert run_account(account.pk)
    return Folder.objects.get(account=account, name="INBOX")


@pytest.mark.servers
def test_the_pass_fetches_many_bodies_at_once_and_changes_nothing_on_the_server(
    alice, imap_account, other_client, fetches
):
    folder = put_on_server(other_client, imap_account, 6)
    flags = other_client.flags("INBOX")
    assert index_pass.index_account(imap_account) == 6
    assert found(alice, "quince3", folder) == ["Note 3"]
    assert found(alice, "tart", folder) == ["Note 5", "Note 3", "Note 1"]  # HTML ones
    assert found(alice, "kumquats", folder) == ["Note 0"]  # inside the forwarded message
    bulk = [uids for kind, uids in fetches if kind == "bulk"]
    every = sorted(m.uid for m in Message.objects.filter(folder=folder))
    assert sorted(uid for uids in bulk for uid in uids) == every  # each message once
    assert len(bulk) == 3  # one per shape of message (plain, HTML, with a forward)
    assert [kind for kind, _what in fetches if kind == "one"] == ["one"]  # the forward's header
    assert other_client.flags("INBOX") == flags  # nothing became \\Seen
    # old mail read once does not push out the cache: only the forward's small header is kept
    assert list(BodyPart.objects.values_list("section", flat=True)) == ["2.HEADER"]


@pytest.mark.servers
def test_the_pass_reads_the_body_cache_first(alice, imap_account, other_client, fetches):
    from mailbox.sync.prefetch import prefetch_account

    folder = put_on_server(other_client, imap_account, 4)
    prefetch_account(imap_account.pk)
    used = dict(BodyPart.objects.values_list("pk", "used_at"))
    fetches.clear()
    assert index_pass.index_account(imap_account) == 4
    assert found(alice, "quince2", folder) == ["Note 2"]
    assert [kind for kind, _what in fetches] == ["bulk", "one"]  # the forward's body and header
    kept = BodyPart.objects.exclude(section="2.HEADER")  # the forward's, cached on its read
    assert dict(kept.values_list("pk", "used_at")) == used  # not a reader's use


@pytest.mark.servers
def test_a_pass_cut_short_by_the_server_resumes(alice, imap_account, other_client, monkeypatch):
    from mailbox.protocols.base import ConnectionProblem, Problem
    from mailbox.sources.imap import ImapSource

    folder = put_on_server(other_client, imap_account, 5)
    monkeypatch.setattr(index_pass, "BATCH", 2)
    real = ImapSource.parts_in_bulk
    calls = []

    def failing_second(source, wanted):
        calls.append(len(wanted))
        if len(calls) == 2:
            raise ConnectionProblem(Problem.TIMEOUT, "the server went away")
        return real(source, wanted)

    monkeypatch.setattr(ImapSource, "parts_in_bulk", failing_second)
    assert index_pass.index_account(imap_account) == 2
    done = SearchEntry.objects.filter(body_done=True, message__folder=folder)
    assert set(done.values_list("message__subject", flat=True)) == {"Note 4", "Note 3"}
    assert index_pass.index_account(imap_account) == 3
    assert found(alice, "quince0", folder) == ["Note 0"]
    assert index_pass.index_account(imap_account) == 0
