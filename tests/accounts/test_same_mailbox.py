"""Alice cannot add the same mailbox twice (the same user name on the same incoming server and
port), nor edit one account into a copy of another: the form says which account she already has.
Bob may add a mailbox Alice has too (he must know its password), and learns nothing of hers."""

import pytest

from accounts.models import MailAccount
from tests.conftest import PASSWORDS, account_form_data

pytestmark = [pytest.mark.django_db, pytest.mark.servers]
ADD = "/accounts/add/"


def add(client, world, ca_upload, name="alice", **overrides):
    data = account_form_data(world, name, **overrides)
    data["ca_file"] = ca_upload()
    return client.post(ADD, data)


def already(email, username, host, port):
    return (
        f"You already have this mailbox as {email}: the same user name ({username}) on the same "
        f"server ({host}, port {port}). Edit that account instead."
    )


def test_alice_cannot_add_her_mailbox_twice(alice_client, alice, mail_world, ca_upload):
    assert add(alice_client, mail_world, ca_upload).status_code == 302
    port = mail_world.dovecot.ports["imaps"]
    response = add(alice_client, mail_world, ca_upload, email="alice.again@example.com")
    assert response.status_code == 200  # refused before any connection test
    assert already("alice@example.com", "alice@example.com", "localhost", port) in (
        response.content.decode().replace("&#x27;", "'")
    )
    assert MailAccount.objects.filter(user=alice).count() == 1


def test_the_host_case_a_final_dot_and_the_user_name_case_do_not_hide_a_copy(
    alice_client, alice, mail_world, ca_upload
):
    add(alice_client, mail_world, ca_upload)
    response = add(alice_client, mail_world, ca_upload, incoming_host="LOCALHOST.",
                   incoming_username="Alice@Example.com")  # fmt: skip
    assert "You already have this mailbox as alice@example.com" in response.content.decode()
    assert MailAccount.objects.filter(user=alice).count() == 1


def test_another_port_is_another_account(alice_client, alice, mail_world, ca_upload):
    add(alice_client, mail_world, ca_upload)
    response = add(
        alice_client, mail_world, ca_upload, incoming_protocol="pop3",
        incoming_port=mail_world.dovecot.ports["pop3"], incoming_security="starttls",
    )  # fmt: skip
    assert response.status_code == 302
    assert MailAccount.objects.filter(user=alice).count() == 2


def test_alice_cannot_edit_an_account_into_a_copy_of_another(
    alice_client, alice, mail_world, ca_upload
):
    add(alice_client, mail_world, ca_upload)
    assert add(alice_client, mail_world, ca_upload, name="bob").status_code == 302
    bobs = MailAccount.objects.get(user=alice, incoming_username="bob@example.com")
    data = account_form_data(mail_world, "bob", incoming_username="alice@example.com",
                             incoming_password=PASSWORDS["alice"])  # fmt: skip
    response = alice_client.post(f"/accounts/{bobs.pk}/", data)
    assert response.status_code == 200
    assert "You already have this mailbox as alice@example.com" in response.content.decode()
    bobs.refresh_from_db()
    assert bobs.incoming_username == "bob@example.com"
    # saving an account unchanged is not a copy of itself
    data = account_form_data(mail_world, "bob", incoming_password="")
    assert alice_client.post(f"/accounts/{bobs.pk}/", data).status_code == 302


def test_bob_may_add_a_mailbox_alice_has_and_learns_nothing_of_her(
    client, alice_client, bob, mail_world, ca_upload
):
    add(alice_client, mail_world, ca_upload)
    client.force_login(bob)
    response = add(client, mail_world, ca_upload, display_name="Bob")
    assert response.status_code == 302, "Alice's account is not Bob's"
    assert MailAccount.objects.filter(user=bob).count() == 1
