"""Alice, in a real browser, adds her IMAP account: a wrong password, an untrusted certificate,
and then the right settings."""

from pathlib import Path

import pytest

from accounts.models import MailAccount
from tests.conftest import PASSWORDS

pytestmark = [pytest.mark.browser, pytest.mark.servers, pytest.mark.django_db(transaction=True)]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def fill_form(page, world, password, ca_file=None):
    page.fill("#id_email", "alice@example.com")
    page.fill("#id_incoming_host", "localhost")
    page.select_option("#id_incoming_security", "tls")
    page.fill("#id_incoming_port", str(world.dovecot.ports["imaps"]))
    page.fill("#id_incoming_password", password)
    page.fill("#id_smtp_host", "localhost")
    page.select_option("#id_smtp_security", "starttls")
    page.fill("#id_smtp_port", str(world.smtp.ports["submission"]))
    if ca_file:
        page.set_input_files("#id_ca_file", str(ca_file))


def test_alice_adds_her_imap_account(logged_in_page, mail_world, tmp_path):
    page = logged_in_page
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(mail_world.dovecot.ca_pem)
    page.click("text=Add a mail account")

    fill_form(page, mail_world, "not-her-password", ca_file)
    page.click("button.primary")
    assert "refused the user name or password" in page.inner_text("#problem-incoming")
    assert page.is_visible("input[name=save_anyway]")

    assert page.is_checked("input[name=ca_kept]"), "the CA uploaded is kept for the next try"
    assert "stored for this account" not in page.inner_text("#advanced")
    page.uncheck("input[name=ca_kept]")
    fill_form(page, mail_world, PASSWORDS["alice"])  # no CA this time: the system's trust store
    page.click("button.primary")
    problem = page.inner_text("#problem-incoming")
    assert "TLS certificate" in problem and "unable to get local issuer certificate" in problem
    assert page.is_visible("#id_ca_file"), "Advanced is open, where the CA goes"
    assert not MailAccount.objects.exists()

    fill_form(page, mail_world, PASSWORDS["alice"], ca_file)
    page.click("button.primary")
    page.wait_for_url("**/accounts/")
    assert "alice@example.com is connected." in page.inner_text(".flash")
    assert "Connected" in page.inner_text("#account-list")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "accounts-list.png", full_page=True)
    assert MailAccount.objects.get().incoming_port == mail_world.dovecot.ports["imaps"]


def test_a_certificate_error_opens_advanced_and_the_kept_ca_is_used(logged_in_page, mail_world,
                                                                     tmp_path):  # fmt: skip
    page = logged_in_page
    page.goto("/accounts/add/")
    assert not page.is_visible("#id_ca_file"), "Advanced starts closed"
    fill_form(page, mail_world, PASSWORDS["alice"])
    page.click("button.primary")
    assert "TLS certificate" in page.inner_text("#problem-incoming")
    assert page.is_visible("#id_ca_file") and page.get_attribute("#advanced", "open") is not None
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(mail_world.dovecot.ca_pem)
    fill_form(page, mail_world, "not-her-password", ca_file)
    page.click("button.primary")
    assert "refused the user name or password" in page.inner_text("#problem-incoming")
    assert page.is_visible("#ca-kept") and page.is_checked("input[name=ca_kept]")
    fill_form(page, mail_world, PASSWORDS["alice"])  # the file input is empty again
    page.click("button.primary")
    page.wait_for_url("**/accounts/")
    assert MailAccount.objects.get().ca_pem == mail_world.dovecot.ca_pem


def test_ports_follow_the_security_choice(logged_in_page):
    page = logged_in_page
    page.goto("/accounts/add/")
    assert page.input_value("#id_incoming_port") == "993"
    page.check("input[name=incoming_protocol][value=pop3]")
    assert page.input_value("#id_incoming_port") == "995"
    page.select_option("#id_incoming_security", "starttls")
    assert page.input_value("#id_incoming_port") == "110"
    page.select_option("#id_smtp_security", "tls")
    assert page.input_value("#id_smtp_port") == "465"
    page.fill("#id_smtp_port", "2525")
    page.select_option("#id_smtp_security", "starttls")
    assert page.input_value("#id_smtp_port") == "2525"  # a port the user typed stays
    assert not page.is_visible("#id_smtp_username")
    page.select_option("#id_smtp_auth", "custom")
    assert page.is_visible("#id_smtp_username")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "account-form.png", full_page=True)


def test_the_login_page_refuses_a_wrong_password(page, alice):
    page.goto("/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "nope")
    page.click("button[type=submit]")
    assert "didn't match" in page.inner_text("[role=alert]")
