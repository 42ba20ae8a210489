"""The theme switch, turned in the browser, keeps saying which theme is on and what comes next."""

import pytest

from accounts.models import get_preferences

pytestmark = pytest.mark.django_db(transaction=True)


def test_each_click_says_the_new_theme_and_the_next_one(logged_in_page, alice):
    page = logged_in_page
    toggle = page.locator("#theme-toggle")
    assert toggle.inner_text() == "Theme: Auto"
    assert "follows your system" in toggle.get_attribute("title")
    steps = [
        ("dark", "Theme: Dark", "The theme is dark. Click for the light theme."),
        ("light", "Theme: Light", "The theme is light. Click to follow your system’s setting again."),
        ("system", "Theme: Auto", "The theme follows your system’s light or dark setting. Click for the dark theme."),
    ]  # fmt: skip
    for theme, text, title in steps:
        toggle.click()
        page.wait_for_function(f"() => document.documentElement.dataset.theme === '{theme}'")
        assert toggle.inner_text() == text
        assert toggle.get_attribute("title") == title
        assert page.get_by_role("button", name=text).count() == 1  # its accessible name too
    assert get_preferences(alice).theme == "system"
