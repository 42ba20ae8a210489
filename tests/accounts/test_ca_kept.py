"""Alice adds an account whose server has its own CA. When the connection test fails, nothing is
saved, and the form says so truthfully: the CA she uploaded is kept in the page for the next try
(checked again when it comes back, since the browser sends it), not "stored for this account";
and when the failure is about the certificate, the Advanced section (where the CA goes) is open."""

import html
import re

import pytest

from accounts.models import MailAccount
from tests.conftest import PASSWORDS, account_form_data

pytestmark = [pytest.mark.django_db, pytest.mark.servers]
ADD = "/accounts/add/"
STORED = "A CA certificate is stored for this account."


def kept_pem(text):
    """The PEM the page carries to the next try, or None."""
    match = re.search(r'<input type="checkbox" name="ca_kept" value="([^"]*)" checked>', text)
    return html.unescape(match.group(1)) if match else None


def advanced_is_open(text):
    return re.search(r'<details id="advanced"( open)?>', text).group(1) == " open"


def test_a_failed_try_keeps_the_uploaded_ca_for_the_next_one(
    alice_client, alice, mail_world, ca_upload
):
    data = account_form_data(mail_world, incoming_password="not-her-password")
    response = alice_client.post(ADD, {**data, "ca_file": ca_upload()})
    text = response.content.decode()
    assert response.status_code == 422 and "nothing was saved" in text
    assert STORED not in text
    assert "Use the CA certificate uploaded at the last try" in text
    assert kept_pem(text) == mail_world.dovecot.ca_pem
    assert advanced_is_open(text)

    # no file this time; the browser sends the kept text's line breaks as CRLF
    again = account_form_data(mail_world, ca_kept=kept_pem(text).replace("\n", "\r\n"))
    assert alice_client.post(ADD, again).status_code == 302
    account = MailAccount.objects.get(user=alice)
    assert account.ca_pem == mail_world.dovecot.ca_pem
    assert account.incoming_password == PASSWORDS["alice"]


def test_without_the_kept_ca_the_certificate_is_not_trusted(alice_client, mail_world, ca_upload):
    data = account_form_data(mail_world, incoming_password="not-her-password")
    alice_client.post(ADD, {**data, "ca_file": ca_upload()})
    response = alice_client.post(ADD, account_form_data(mail_world))  # she unticked it
    assert "TLS certificate" in response.content.decode()
    assert not MailAccount.objects.exists()


def test_a_certificate_error_opens_advanced_and_another_error_does_not(alice_client, mail_world):
    text = alice_client.post(ADD, account_form_data(mail_world)).content.decode()
    assert "TLS certificate" in text and advanced_is_open(text)
    assert STORED not in text and kept_pem(text) is None
    from mailbox.testing.servers import free_port

    closed = account_form_data(mail_world, incoming_port=free_port(), incoming_security="none",
                               smtp_port=mail_world.smtp.ports["plain"], smtp_security="none")  # fmt: skip
    text = alice_client.post(ADD, closed).content.decode()
    assert "refused the connection" in text and not advanced_is_open(text)


@pytest.mark.parametrize(
    "kept, error",
    [
        ("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
         "This is not a PEM certificate"),
        ("Zoë's certificate", "This is not a PEM certificate"),
        ("A" * 70_000, "a few kilobytes at most"),
    ],
)  # fmt: skip
def test_a_kept_ca_is_checked_again_as_it_comes_back(alice_client, mail_world, kept, error):
    response = alice_client.post(ADD, account_form_data(mail_world, ca_kept=kept))
    text = response.content.decode()
    assert response.status_code == 200 and error in text
    assert kept_pem(text) is None and not MailAccount.objects.exists()


def test_editing_says_stored_only_for_the_saved_ca(alice_client, alice, mail_world, ca_upload):
    alice_client.post(ADD, {**account_form_data(mail_world), "ca_file": ca_upload()})
    account = MailAccount.objects.get(user=alice)
    page = alice_client.get(f"/accounts/{account.pk}/").content.decode()
    assert STORED in page and kept_pem(page) is None
    MailAccount.objects.filter(pk=account.pk).update(ca_pem="")
    data = account_form_data(mail_world, incoming_password="not-her-password")
    text = alice_client.post(f"/accounts/{account.pk}/", {**data, "ca_file": ca_upload()})
    text = text.content.decode()
    assert STORED not in text and kept_pem(text) == mail_world.dovecot.ca_pem
    account.refresh_from_db()
    assert account.ca_pem == ""
