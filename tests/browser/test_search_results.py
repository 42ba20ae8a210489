"""Alice searches in a real browser: the summary says how many matched and stays true as more
results load while she scrolls; "select all" stays on the results, never the whole folder; a
search that finds nothing says so once, with nothing to select."""

import re

import pytest

from mailbox.sync import index as index_pass
from tests.mailbox.test_fulltext import inbox, keep, kept_account, mail

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def notes(alice):
    account = kept_account(alice)
    for n in range(130):
        keep(account, mail(f"Note {n:03}", "marmalade\n", day=(2024, 1 + n // 28, 1 + n % 28)))
    keep(account, mail("Shopping", "bread\n"))
    index_pass.index_account(account)
    return account


def summary(page):
    return " ".join(page.inner_text("#search-summary").split())


def test_the_total_stays_true_as_more_results_load(logged_in_page, notes):
    page = logged_in_page
    page.goto(f"/mail/folders/{inbox(notes).pk}/search/?q=marmalade")
    assert summary(page).startswith("130 messages match “marmalade”.")
    assert page.locator("li.row").count() == 100
    page.check("#select-all")
    assert not page.is_visible("#select-all-folder"), "not the folder's 131 messages"
    page.uncheck("#select-all")
    keep(notes, mail("Note late", "marmalade\n", day=(2025, 1, 1)))  # arrives meanwhile
    index_pass.index_account(notes)
    page.locator("li.row").last.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelectorAll('li.row').length === 130")
    assert summary(page).startswith("131 messages match “marmalade”."), "as of the last page"
    assert page.locator("[data-search-summary]").count() == 0
    subjects = page.locator("li.row .subject").all_inner_texts()
    assert len(set(subjects)) == 130 and "Note late" not in subjects


def test_nothing_found_is_said_once_with_nothing_to_select(logged_in_page, notes):
    page = logged_in_page
    page.goto(f"/mail/folders/{inbox(notes).pk}/search/?q=kumquat")
    assert summary(page).startswith("No message matches “kumquat”.")
    assert page.get_by_text(re.compile("No message matches")).count() == 1
    assert not page.is_visible("#select-all")
    assert page.locator("li.row").count() == 0


def test_a_bare_from_is_explained(logged_in_page, notes):
    page = logged_in_page
    page.goto(f"/mail/folders/{inbox(notes).pk}/search/?q=from%3A")
    assert "from: needs a word or address after it" in page.inner_text("#search-problem")
    assert page.locator("li.row").count() == 0 and not page.is_visible("#select-all")
