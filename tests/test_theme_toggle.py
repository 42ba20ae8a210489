"""The top bar's theme switch says what it is, what the theme is now and what a click does."""

import re

import pytest

from accounts.actions import do_save_preferences

pytestmark = pytest.mark.django_db


def toggle_of(client):
    html = client.get("/accounts/").content.decode()
    button = re.search(r'<button[^>]*id="theme-toggle".*?</button>', html, re.S).group(0)
    title = re.search(r'\stitle="([^"]*)"', button).group(1)
    text = " ".join(re.sub(r"<[^>]+>", " ", button.split(">", 1)[1]).split())
    value = re.search(r'\svalue="([^"]*)"', button).group(1)
    return text, title, value


@pytest.mark.parametrize(
    ("theme", "text", "said", "next_theme"),
    [
        ("system", "Theme: Auto", "follows your system", "dark"),
        ("dark", "Theme: Dark", "The theme is dark. Click for the light theme.", "light"),
        ("light", "Theme: Light", "Click to follow your system", "system"),
    ],
)
def test_alice_reads_which_theme_she_has_and_what_a_click_does(
    alice_client, alice, theme, text, said, next_theme
):
    do_save_preferences(alice, theme=theme)
    label, title, value = toggle_of(alice_client)
    assert label == text
    assert said in title
    assert value == next_theme
