"""Alice's split between the message list and the reading pane: saved by a small POST, for her
alone, refused when it is not a sensible width, and put in the mail page's first paint through a
stylesheet (the page's policy refuses inline styles)."""

import pytest
from django.urls import reverse

from accounts.models import LIST_WIDTH_MAX, LIST_WIDTH_MIN, Preferences, get_preferences

pytestmark = pytest.mark.django_db

URL = "/accounts/preferences/list-width/"


def saved_width(user):
    user.refresh_from_db()
    return get_preferences(user).list_width


def test_alice_saves_her_split(alice_client, alice):
    answer = alice_client.post(URL, {"width": "612"})
    assert answer.status_code == 200
    assert answer.json() == {"ok": True, "width": 612}
    assert saved_width(alice) == 612


def test_an_empty_width_goes_back_to_the_default(alice_client, alice):
    alice_client.post(URL, {"width": "612"})
    assert alice_client.post(URL, {"width": ""}).json() == {"ok": True, "width": None}
    assert saved_width(alice) is None


@pytest.mark.parametrize(
    "width",
    ["abc", "12.5", "-400", "0", str(LIST_WIDTH_MIN - 1), str(LIST_WIDTH_MAX + 1), "9" * 40, "٦٠٠"],
)
def test_a_width_that_makes_no_sense_is_refused(alice_client, alice, width):
    alice_client.post(URL, {"width": "612"})
    answer = alice_client.post(URL, {"width": width})
    assert answer.status_code == 400
    assert answer.json()["ok"] is False
    assert saved_width(alice) == 612, "the split she had stays"


def test_bob_changes_only_his_own_split(client, alice, bob):
    client.force_login(alice)
    client.post(URL, {"width": "612"})
    client.force_login(bob)
    assert client.post(URL, {"width": "300", "user": str(alice.pk)}).status_code == 200
    assert saved_width(alice) == 612
    assert saved_width(bob) == 300


def test_a_stranger_is_sent_to_log_in_and_nothing_is_saved(client, alice):
    answer = client.post(URL, {"width": "612"})
    assert answer.status_code == 302 and "/login/" in answer["Location"]
    assert not Preferences.objects.exists()


def test_the_split_is_a_post(alice_client):
    assert alice_client.get(URL).status_code == 405


def test_the_stylesheet_sets_the_width_and_is_kept_by_browsers(client):
    answer = client.get(reverse("accounts:list_width_css"), {"w": "612"})
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/css")
    assert answer.content.decode() == ":root { --list-width: 612px; }\n"
    assert "immutable" in answer["Cache-Control"]


@pytest.mark.parametrize("width", ["", "abc", "100", str(LIST_WIDTH_MAX + 1), "600;}body{x:y"])
def test_the_stylesheet_takes_only_a_width_in_range(client, width):
    assert client.get(reverse("accounts:list_width_css"), {"w": width}).status_code == 404
