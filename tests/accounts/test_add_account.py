"""Alice adds her mail accounts; saving tests the servers for real."""

import pytest
from django.db import connection

from accounts.models import MailAccount
from tests.conftest import PASSWORDS, account_form_data

pytestmark = [pytest.mark.django_db, pytest.mark.servers]
ADD = "/accounts/add/"


def post(client, world, ca_upload, **overrides):
    data = account_form_data(world, **overrides)
    if ca_upload is not None:
        data["ca_file"] = ca_upload()
    return client.post(ADD, {k: v for k, v in data.items() if v is not None})


def test_it_adds_an_imap_account(alice_client, alice, mail_world, ca_upload):
    response = post(alice_client, mail_world, ca_upload)
    assert response.status_code == 302
    account = MailAccount.objects.get(user=alice)
    assert account.incoming_protocol == "imap"
    assert account.incoming_password == PASSWORDS["alice"]
    assert account.ca_pem == mail_world.dovecot.ca_pem
    assert account.last_error == ""


def test_the_password_is_encrypted_at_rest(alice_client, mail_world, ca_upload):
    post(alice_client, mail_world, ca_upload)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_mailaccount")
        row = " ".join(str(value) for value in cursor.fetchone())
    assert PASSWORDS["alice"] not in row


def test_the_password_never_reaches_the_session(alice_client, mail_world, ca_upload):
    post(alice_client, mail_world, ca_upload, incoming_password="wrong-password-xyz")
    session = alice_client.session
    assert not any("wrong-password-xyz" in str(value) for value in session.values())


def test_it_adds_a_pop3_account(alice_client, alice, mail_world, ca_upload):
    response = post(
        alice_client, mail_world, ca_upload, incoming_protocol="pop3",
        incoming_port=mail_world.dovecot.ports["pop3"], incoming_security="starttls",
    )  # fmt: skip
    assert response.status_code == 302
    assert MailAccount.objects.get(user=alice).incoming_protocol == "pop3"


def test_a_wrong_password_saves_nothing_and_says_why(alice_client, mail_world, ca_upload):
    response = post(alice_client, mail_world, ca_upload, incoming_password="wrong")
    assert response.status_code == 422
    assert "refused the user name or password" in response.content.decode()
    assert not MailAccount.objects.exists()


def test_save_anyway_keeps_the_account_and_its_error(alice_client, mail_world, ca_upload):
    response = post(
        alice_client, mail_world, ca_upload, incoming_password="wrong", save_anyway="on"
    )
    assert response.status_code == 302
    account = MailAccount.objects.get()
    assert "refused the user name or password" in account.last_error


def test_an_unknown_certificate_authority_is_explained(alice_client, mail_world):
    response = post(alice_client, mail_world, None)
    assert response.status_code == 422
    text = response.content.decode()
    assert "TLS certificate" in text and "local issuer" in text
    assert not MailAccount.objects.exists()


def test_a_dead_server_is_explained(alice_client, mail_world, ca_upload):
    from mailbox.testing.servers import free_port

    response = post(alice_client, mail_world, ca_upload, incoming_port=free_port(),
                    incoming_security="none")  # fmt: skip
    assert "refused the connection" in response.content.decode()
    assert not MailAccount.objects.exists()


def test_a_missing_starttls_is_explained(alice_client, mail_world, ca_upload):
    response = post(alice_client, mail_world, ca_upload, smtp_port=mail_world.smtp.ports["plain"])
    assert "does not offer STARTTLS" in response.content.decode()
    assert not MailAccount.objects.exists()


def test_smtp_with_its_own_credentials(alice_client, mail_world, ca_upload):
    response = post(
        alice_client, mail_world, ca_upload, smtp_auth="custom",
        smtp_username="bob@example.com", smtp_password="wrong",
    )  # fmt: skip
    assert "refused the user name or password" in response.content.decode()
    response = post(
        alice_client, mail_world, ca_upload, smtp_auth="custom",
        smtp_username="bob@example.com", smtp_password=PASSWORDS["bob"],
    )  # fmt: skip
    assert response.status_code == 302
    assert MailAccount.objects.get().smtp_password == PASSWORDS["bob"]


def test_ports_default_from_the_security(alice_client, mail_world, ca_upload, settings):
    settings.WEBMAIL_CONNECT_TIMEOUT = 1
    post(alice_client, mail_world, ca_upload, incoming_port="", smtp_port="", save_anyway="on")
    account = MailAccount.objects.get()
    assert (account.incoming_port, account.smtp_port) == (993, 587)


def test_private_hosts_are_refused_unless_the_operator_allows(
    alice_client, mail_world, ca_upload, settings
):
    settings.WEBMAIL_ALLOW_PRIVATE_HOSTS = False
    response = post(alice_client, mail_world, ca_upload, save_anyway="on")
    assert "private, loopback or link-local" in response.content.decode()
    assert not MailAccount.objects.exists()


@pytest.mark.parametrize("field", ["incoming_username", "incoming_password", "display_name"])
def test_line_breaks_are_refused(alice_client, mail_world, ca_upload, field):
    response = post(alice_client, mail_world, ca_upload, **{field: "x\r\nA1 LOGOUT"})
    assert response.status_code == 200
    assert "Line breaks" in response.content.decode()
    assert not MailAccount.objects.exists()


def test_a_ca_file_that_is_not_pem_is_refused(alice_client, mail_world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = account_form_data(mail_world)
    data["ca_file"] = SimpleUploadedFile("ca.pem", b"\x89PNG not a certificate")
    response = alice_client.post(ADD, data)
    assert "not a PEM certificate" in response.content.decode()
    assert not MailAccount.objects.exists()


def test_an_oversized_ca_file_is_refused(alice_client, mail_world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = account_form_data(mail_world)
    data["ca_file"] = SimpleUploadedFile("ca.pem", b"A" * 100_000)
    response = alice_client.post(ADD, data)
    assert "a few kilobytes at most" in response.content.decode()


def test_editing_keeps_the_password_when_left_empty(alice_client, mail_world, ca_upload):
    post(alice_client, mail_world, ca_upload)
    account = MailAccount.objects.get()
    data = account_form_data(mail_world, incoming_password="", display_name="Alice A.")
    response = alice_client.post(f"/accounts/{account.pk}/", data)
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.display_name == "Alice A."
    assert account.incoming_password == PASSWORDS["alice"]


def test_the_form_explains_imap_and_pop3(alice_client):
    text = alice_client.get(ADD).content.decode()
    assert "keeps your mail on the server" in text
    assert "downloads your mail here" in text


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(ADD)
    assert response.status_code == 302 and "/login/" in response["Location"]
