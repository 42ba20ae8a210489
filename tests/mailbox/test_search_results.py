"""Alice's search results: how many matched, every one of them reachable by "More results", one
message when nothing matches, and an operator with nothing after it refused, not read as
"everything". Real search: mail kept here (a POP3 account's folders) and the local index."""

import re

import pytest

from mailbox.search import SearchError, parse_query
from mailbox.sync import index as index_pass

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
