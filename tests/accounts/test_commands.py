"""Operators script users and accounts; passwords come from the environment, never argv."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from accounts.models import MailAccount
from tests.conftest import PASSWORDS

pytestmark = [pytest.mark.django_db]


def test_add_user_takes_the_password_from_the_environment(monkeypatch, django_user_model):
    monkeypatch.setenv("NEW_PW", "portal-pw-123")
    call_command("add_user", "carol", "--password-env", "NEW_PW")
    assert django_user_model.objects.get(username="carol").check_password("portal-pw-123")


def test_add_user_refuses_a_duplicate(alice, monkeypatch):
    monkeypatch.setenv("NEW_PW", "x")
    with pytest.raises(CommandError, match="exists already"):
        call_command("add_user", "alice", "--password-env", "NEW_PW")


def add_account(world, tmp_path, *extra, password=PASSWORDS["alice"], monkeypatch):
    ca = tmp_path / "ca.pem"
    ca.write_text(world.dovecot.ca_pem)
    monkeypatch.setenv("MAIL_PW", password)
    monkeypatch.setenv("USER_PW", "portal-pw-123")
    call_command(
        "add_mail_account", "alice", "--email", "alice@example.com",
        "--host", "localhost", "--port", str(world.dovecot.ports["imaps"]),
        "--password-env", "MAIL_PW", "--smtp-host", "localhost",
        "--smtp-port", str(world.smtp.ports["submission"]), "--ca-file", str(ca), *extra,
    )  # fmt: skip


@pytest.mark.servers
def test_add_mail_account_creates_the_user_and_tests_the_servers(
    mail_world, tmp_path, monkeypatch, django_user_model
):
    add_account(mail_world, tmp_path, "--create-user", "--user-password-env", "USER_PW",
                monkeypatch=monkeypatch)  # fmt: skip
    account = MailAccount.objects.get()
    assert account.user.username == "alice"
    assert account.user.check_password("portal-pw-123")
    assert account.incoming_password == PASSWORDS["alice"]


@pytest.mark.servers
def test_add_mail_account_saves_nothing_on_a_wrong_password(
    mail_world, tmp_path, alice, monkeypatch
):
    with pytest.raises(CommandError, match="refused the user name or password"):
        add_account(mail_world, tmp_path, password="wrong", monkeypatch=monkeypatch)
    assert not MailAccount.objects.exists()


def test_rotating_keys_re_encrypts_every_password(alice, settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.WEBMAIL_ENCRYPTION_KEYS = [old_key]
    account = MailAccount(user=alice, email="a@example.com", incoming_host="h", incoming_port=993,
                          incoming_username="a", smtp_host="h", smtp_port=587)  # fmt: skip
    account.incoming_password = "mail-secret"
    account.save()
    settings.WEBMAIL_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_encryption_keys")
    settings.WEBMAIL_ENCRYPTION_KEYS = [new_key]
    account.refresh_from_db()
    assert account.incoming_password == "mail-secret"


def test_ensure_admin_creates_one_administrator_once(settings, tmp_path, capsys, django_user_model):
    settings.VAR_DIR = tmp_path
    call_command("ensure_admin")
    first = capsys.readouterr().out
    password = (tmp_path / "initial-admin-password.txt").read_text().strip()
    assert password in first
    assert django_user_model.objects.get(username="admin").check_password(password)
    call_command("ensure_admin")
    assert password not in capsys.readouterr().out
    assert django_user_model.objects.filter(is_superuser=True).count() == 1
