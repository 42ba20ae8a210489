"""Bob should have no access to Alice's accounts: not to see, not to change, not to learn of."""

import pytest

from accounts.models import MailAccount

pytestmark = pytest.mark.django_db


@pytest.fixture
def alices_account(alice):
    account = MailAccount(
        user=alice, email="alice@example.com", incoming_host="imap.example.org", incoming_port=993,
        incoming_username="alice", smtp_host="smtp.example.org", smtp_port=587,
    )  # fmt: skip
    account.incoming_password = "secret"
    account.save()
    return account


def test_bob_does_not_see_alices_accounts(client, bob, alices_account):
    client.force_login(bob)
    assert "alice@example.com" not in client.get("/accounts/").content.decode()


@pytest.mark.parametrize("path", ["/accounts/{id}/", "/accounts/{id}/delete/"])
def test_bob_gets_404_for_alices_account(client, bob, alices_account, path):
    client.force_login(bob)
    url = path.format(id=alices_account.pk)
    assert client.get(url).status_code == 404
    assert client.post(url, {"email": "bob@example.com"}).status_code == 404
    alices_account.refresh_from_db()
    assert alices_account.email == "alice@example.com"


def test_a_missing_account_is_the_same_404(client, bob):
    client.force_login(bob)
    assert client.get("/accounts/999999/").status_code == 404


def test_alice_removes_her_account(client, alice, alices_account):
    client.force_login(alice)
    assert client.post(f"/accounts/{alices_account.pk}/delete/").status_code == 302
    assert not MailAccount.objects.exists()
