"""Portal users log in, log out and change their password."""

import pytest

pytestmark = pytest.mark.django_db


def test_alice_logs_in_and_lands_on_her_accounts(client, alice):
    response = client.post("/login/", {"username": "alice", "password": "alice-portal-pw"})
    assert response.status_code == 302
    assert client.get(response["Location"], follow=True).request["PATH_INFO"] == "/accounts/"


def test_a_wrong_password_does_not_log_in(client, alice):
    response = client.post("/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_alice_logs_out(alice_client):
    assert alice_client.post("/logout/").status_code == 302
    assert alice_client.get("/accounts/").status_code == 302  # back to the login page


def test_alice_changes_her_password(alice_client, alice):
    response = alice_client.post(
        "/password/",
        {
            "old_password": "alice-portal-pw",
            "new_password1": "a-much-better-passphrase",
            "new_password2": "a-much-better-passphrase",
        },
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("a-much-better-passphrase")


def test_a_wrong_old_password_changes_nothing(alice_client, alice):
    alice_client.post(
        "/password/",
        {"old_password": "wrong", "new_password1": "x-y-z-123456", "new_password2": "x-y-z-123456"},
    )
    alice.refresh_from_db()
    assert alice.check_password("alice-portal-pw")


def test_the_admin_is_for_staff_only(alice_client):
    assert alice_client.get("/admin/").status_code == 302
