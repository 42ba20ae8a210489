"""Alice's search results: how many matched, every one of them reachable by "More results", one
message when nothing matches, and an operator with nothing after it refused, not read as
"everything". Real search: mail kept here (a POP3 account's folders) and the local index."""

import re

import pytest

from mailbox import actions, search
from mailbox.models import Folder, Message, Role
from mailbox.search import SearchError, parse_query
from mailbox.sync import index as index_pass
from mailbox.sync import run_account, store

from .test_fulltext import inbox, keep, kept_account, mail

pytestmark = [pytest.mark.django_db]


# --- an operator with nothing after it -----------------------------------------------------------


@pytest.mark.parametrize(
    "typed, operator",
    [("from:", "from:"), ("garden from:", "from:"), ('from:""', "from:"), ("FROM:  ", "from:"),
     ("to:", "to:"), ('to:"  "', "to:"), ("from: zoe", "from:")],
)  # fmt: skip
def test_a_bare_from_or_to_is_an_error_not_everything(typed, operator):
    with pytest.raises(SearchError) as error:
        parse_query(typed)
    assert str(error.value) == (
        f"{operator} needs a word or address after it, as in {operator}zoe@example.org."
    )


@pytest.mark.parametrize("typed", ["subject:", 'subject:""', "invoice subject: "])
def test_a_bare_subject_is_an_error(typed):
    with pytest.raises(SearchError, match="subject: needs a word after it"):
        parse_query(typed)


def test_operators_with_a_value_and_quoted_text_are_still_fine():
    assert parse_query("from:zoe").senders == ("zoe",)
    assert parse_query('"from:"').text == ("from:",), "quoted, it is text"
    assert parse_query("Re: garden").text == ("Re:", "garden"), "not an operator"


def test_the_search_page_says_what_is_wrong_with_a_bare_from(alice, as_alice):
    account = kept_account(alice)
    keep(account, mail("Garden plans", "from the shed\n"))
    index_pass.index_account(account)
    page = as_alice.get(f"/mail/folders/{inbox(account).pk}/search/", {"q": "from:"})
    text = page.content.decode()
    assert "from: needs a word or address after it" in text
    assert 'class="row' not in text and "message matches" not in text and "No message" not in text


# --- nothing matches --------------------------------------------------------------------------


def test_an_empty_result_says_so_once_and_offers_no_select_all(alice, as_alice):
    account = kept_account(alice)
    keep(account, mail("Garden plans", "tomatoes\n"))
    index_pass.index_account(account)
    url = f"/mail/folders/{inbox(account).pk}/search/"
    text = as_alice.get(url, {"q": "kumquat"}).content.decode()
    assert text.count("No message matches") == 1
    assert "No message matches “kumquat”." in text
    assert re.search(r'<input type="checkbox" id="select-all"[^>]* hidden>', text)
    assert 'class="row' not in text and "message matches" not in text.replace("No message", "")
    found = as_alice.get(url, {"q": "tomatoes"}).content.decode()
    assert "1 message matches “tomatoes”." in found and "No message matches" not in found
    assert re.search(r'<input type="checkbox" id="select-all"[^>]*label="[^"]*">', found)


# --- every match, page after page ---------------------------------------------------------------

MORE = re.compile(r'<a href="([^"]*)" rel="next" data-more>More results</a>')


def rows_of(text):
    return [int(pk) for pk in re.findall(r'<li class="row[^"]*"[^>]*data-message-id="(\d+)"', text)]


def summary_of(text):
    match = re.search(r'id="search-summary"[^>]*>\s*(.*?)\s*<a ', text, re.S)
    return match.group(1) if match else None


@pytest.fixture
def many(alice):
    """Alice's 240 notes about marmalade (and 20 about something else), over two months,
    several on the same day and hour, so that the order by date alone has ties."""
    account = kept_account(alice)
    for n in range(260):
        body = "marmalade\n" if n % 13 else "quince\n"
        keep(account, mail(f"Note {n:03}", body, day=(2024, 1 + n // 130, 1 + n % 28)))
    index_pass.index_account(account)
    return account


def test_more_results_pages_through_every_match_once(alice, as_alice, many):
    url = f"/mail/folders/{inbox(many).pk}/search/"
    first = as_alice.get(url, {"q": "marmalade"}).content.decode()
    assert summary_of(first) == "240 messages match “marmalade”."
    seen = rows_of(first)
    link = MORE.search(first).group(1).replace("&amp;", "&")
    pages = 1
    while link:
        page = as_alice.get(link + "&part=rows").content.decode()
        assert summary_of_rows(page) == "240 messages match “marmalade”."
        seen += rows_of(page)
        pages += 1
        found = MORE.search(page)
        link = found.group(1).replace("&amp;", "&") if found else None
        assert pages < 10, "the pages end"
    assert pages == 3 and len(seen) == len(set(seen)) == 240
    matching = Message.objects.filter(folder__account=many).exclude(subject__in=[
        f"Note {n:03}" for n in range(0, 260, 13)])  # fmt: skip
    assert set(seen) == set(matching.values_list("pk", flat=True))
    assert seen == list(matching.order_by("-date", "-id").values_list("pk", flat=True))


def follow(client, text):
    """The rows of the next "More results" page (as the page's script asks for them), and
    that page's text; (None, []) at the end."""
    found = MORE.search(text)
    if not found:
        return None, []
    page = client.get(found.group(1).replace("&amp;", "&") + "&part=rows").content.decode()
    return page, rows_of(page)


def test_mail_archived_or_arriving_between_pages_shifts_nothing(alice, as_alice, many):
    """Alice archives ten results of the first page, and a new note arrives, before she asks for
    more: the next pages start where the first ended, with no row twice and none skipped."""
    url = f"/mail/folders/{inbox(many).pk}/search/"
    text = as_alice.get(url, {"q": "marmalade"}).content.decode()
    seen = rows_of(text)
    actions.do_move_to_role(alice, seen[:10], Role.ARCHIVE)
    keep(many, mail("Note new", "marmalade\n", day=(2024, 6, 1)))
    index_pass.index_account(many)
    last = text
    while text:
        text, more = follow(as_alice, text)
        seen += more
        last = text or last
    assert len(seen) == len(set(seen)) == 240, "none twice, none skipped"
    assert summary_of_rows(last) == "231 messages match “marmalade”.", "the total as of now"


def summary_of_rows(text):
    match = re.search(r"data-search-summary>\s*(.*?)\s*<a ", text, re.S)
    return match.group(1) if match else None


def test_an_estimated_total_is_the_same_on_every_page(alice, as_alice, many, monkeypatch):
    monkeypatch.setattr(search, "EXACT_TOTAL", 150)
    store.refresh_counts(inbox(many))  # as a fetch does: the total the list shows
    url = f"/mail/folders/{inbox(many).pk}/search/"
    text = as_alice.get(url, {"q": "marmalade"}).content.decode()
    said = summary_of(text)
    assert re.fullmatch(r"About \d+ messages match “marmalade”\.", said)
    seen = rows_of(text)
    while text:
        text, more = follow(as_alice, text)
        seen += more
        assert text is None or summary_of_rows(text) == said
    assert len(seen) == len(set(seen)) == 240


def test_the_page_without_script_shows_the_total_too(alice, as_alice, many):
    url = f"/mail/folders/{inbox(many).pk}/search/"
    first = as_alice.get(url, {"q": "marmalade"}).content.decode()
    link = MORE.search(first).group(1).replace("&amp;", "&")
    second = as_alice.get(link).content.decode()
    assert summary_of(second) == "240 messages match “marmalade”."
    assert len(rows_of(second)) == 100 and not set(rows_of(second)) & set(rows_of(first))
    assert "data-search-summary" not in second, "only the script's part carries a copy"


def test_a_cursor_that_is_not_one_gives_the_first_page(alice, as_alice, many):
    url = f"/mail/folders/{inbox(many).pk}/search/"
    first = rows_of(as_alice.get(url, {"q": "marmalade"}).content.decode())
    for bad in ["x", "eyJ9", "W10", "W1siZGF0ZSIsIjIwMjQiLDFdXQ", "%00" * 3, "9" * 3000]:
        odd = as_alice.get(url, {"q": "marmalade", "after": bad, "part": "rows"})
        assert odd.status_code == 200 and rows_of(odd.content.decode()) == first


@pytest.mark.servers
def test_text_not_indexed_yet_pages_to_the_end_on_the_server(alice, as_alice, imap_account,
                                                              other_client):  # fmt: skip
    """Alice's 230 notes are on her IMAP server, cached but not indexed yet: the server's search
    answers, and More results still reaches every one, once; half of them get indexed between
    two pages (the worker catching up) and nothing moves."""
    for n in range(230):
        raw = mail(f"Note {n:03}", "pomegranate\n", day=(2024, 1 + n // 28, 1 + n % 28))
        status, data = other_client.imap.append("INBOX", "", None, raw)
        assert status == "OK", data
    assert run_account(imap_account.pk)
    folder = Folder.objects.get(account=imap_account, name="INBOX")
    url = f"/mail/folders/{folder.pk}/search/"
    text = as_alice.get(url, {"q": "pomegranate"}).content.decode()
    assert summary_of(text) == "230 messages match “pomegranate”."
    assert "Searched on the server" in text
    seen = rows_of(text)
    index_pass.index_account(imap_account, limit=100)
    while text:
        text, more = follow(as_alice, text)
        seen += more
    assert len(seen) == len(set(seen)) == 230
    assert seen == list(folder.messages.order_by("-date", "-id").values_list("pk", flat=True))
