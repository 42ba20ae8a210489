"""A stored mail password goes only to the server it was typed for.

Mallory borrows Alice's open session. He edits her account, points the incoming (or outgoing)
server at a listener of his, leaves the password empty and presses "Test and save": the
connection test must not log in there with Alice's stored password. The listener records every
byte it receives, so each test shows what would have leaked."""

import socket
import threading

import pytest

from accounts.models import MailAccount
from mailbox.sync import run_account
from tests.conftest import PASSWORDS, account_form_data

pytestmark = [pytest.mark.django_db, pytest.mark.servers]
GREETINGS = {"imap": b"* OK ready\r\n", "pop3": b"+OK ready\r\n", "smtp": b"220 ready ESMTP\r\n"}


class Listener:
    """Mallory's server: greets like ``protocol``, says OK to everything, records all it hears."""

    def __init__(self, protocol):
        self.protocol = protocol
        self.greeting = GREETINGS[protocol]
        self.received = bytearray()
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn):
        with conn:
            conn.settimeout(5)
            conn.sendall(self.greeting)
            try:
                while data := conn.recv(4096):
                    self.received += data
                    conn.sendall(self._reply(data))
            except OSError:
                pass

    def _reply(self, line):
        if self.protocol == "pop3":
            return b"+OK\r\n"
        if self.protocol == "smtp":
            return b"250 OK\r\n"
        tag = line.split(b" ", 1)[0]
        if b"CAPABILITY" in line.upper():
            return b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK done\r\n"
        return tag + b" OK done\r\n"

    def close(self):
        self.sock.close()


@pytest.fixture
def listener():
    made = []

    def make(protocol):
        made.append(Listener(protocol))
        return made[-1]

    yield make
    for one in made:
        one.close()


@pytest.fixture
def account(alice_client, alice, mail_world, ca_upload):
    data = account_form_data(mail_world)
    data["ca_file"] = ca_upload()
    assert alice_client.post("/accounts/add/", data).status_code == 302
    return MailAccount.objects.get(user=alice)


def edit(client, world, account, **changes):
    data = account_form_data(world, incoming_password="", **changes)
    return client.post(f"/accounts/{account.pk}/", data)


@pytest.mark.parametrize("save_anyway", [None, "on"])
def test_a_new_incoming_host_needs_the_password_typed_again(
    alice_client, mail_world, account, listener, save_anyway
):
    mallory = listener("imap")
    extra = {"save_anyway": save_anyway} if save_anyway else {}
    response = edit(alice_client, mail_world, account, incoming_host="127.0.0.1",
                    incoming_port=mallory.port, incoming_security="none", **extra)  # fmt: skip
    assert response.status_code == 200
    assert (
        "You changed the incoming server (or the CA trusted for it): type the password again"
        in (response.content.decode())
    )
    assert mallory.connections == 0 and mallory.received == b""
    account.refresh_from_db()
    assert account.incoming_host == "localhost"  # nothing saved


@pytest.mark.parametrize("field", ["incoming_port", "incoming_security", "incoming_protocol"])
def test_a_new_port_security_or_protocol_needs_it_too(alice_client, mail_world, account, field):
    change = {"incoming_port": mail_world.dovecot.ports["imap"], "incoming_security": "none",
              "incoming_protocol": "pop3"}[field]  # fmt: skip
    response = edit(alice_client, mail_world, account, **{field: change})
    assert response.status_code == 200
    assert "type the password again" in response.content.decode()


def test_a_new_ca_needs_the_password_typed_again(alice_client, mail_world, account):
    """Another CA could vouch for another server under the same name."""
    from mailbox.testing.servers import make_certificates

    other_ca, _cert, _key = make_certificates(mail_world.dovecot.state / "other-ca")
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = account_form_data(mail_world, incoming_password="", save_anyway="on")
    data["ca_file"] = SimpleUploadedFile("ca.pem", other_ca.encode())
    response = alice_client.post(f"/accounts/{account.pk}/", data)
    assert response.status_code == 200 and "type the password again" in response.content.decode()
    account.refresh_from_db()
    assert account.ca_pem == mail_world.dovecot.ca_pem  # nothing saved


def test_an_outgoing_server_using_the_same_password_needs_it_typed_again(
    alice_client, mail_world, account, listener
):
    mallory = listener("smtp")
    response = edit(alice_client, mail_world, account, smtp_host="127.0.0.1",
                    smtp_port=mallory.port, smtp_security="none")  # fmt: skip
    assert response.status_code == 200
    assert "You changed the outgoing server" in response.content.decode()
    assert mallory.connections == 0


def test_an_outgoing_server_that_never_had_the_password_does_not_get_it(
    alice_client, alice, mail_world, ca_upload
):
    """Alice's SMTP server logged in without a password; logging in with her incoming one
    there is a new destination for it."""
    data = account_form_data(mail_world, smtp_auth="none")
    data["ca_file"] = ca_upload()
    assert alice_client.post("/accounts/add/", data).status_code == 302
    account = MailAccount.objects.get(user=alice)
    response = edit(alice_client, mail_world, account, smtp_auth="same")
    assert "You changed the outgoing server" in response.content.decode()


def test_typing_the_password_again_sends_it_there(alice_client, mail_world, account, listener):
    """The same edit with the password typed: the test does reach the new host, so the tests
    above would see a leak if the form let one through."""
    mallory = listener("imap")
    data = account_form_data(mail_world, incoming_host="127.0.0.1", incoming_port=mallory.port,
                             incoming_security="none", incoming_password="typed-now")  # fmt: skip
    alice_client.post(f"/accounts/{account.pk}/", data)
    assert b"typed-now" in bytes(mallory.received)
    assert PASSWORDS["alice"].encode() not in bytes(mallory.received)


def test_other_changes_keep_the_saved_password(alice_client, mail_world, account):
    response = edit(alice_client, mail_world, account, display_name="Alice A.")
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.display_name == "Alice A."
    assert account.may_send_incoming_password() and account.may_send_smtp_password()


def test_a_host_changed_behind_the_form_gets_no_password(account, listener):
    """An administrator (or anything else) changes the host without the password: the sync
    refuses to send the stored password there and says what to do."""
    mallory = listener("imap")
    MailAccount.objects.filter(pk=account.pk).update(
        incoming_host="127.0.0.1", incoming_port=mallory.port, incoming_security="none"
    )
    assert run_account(account.pk)
    account.refresh_from_db()
    assert "type the password again" in account.last_error
    assert mallory.connections == 0


@pytest.mark.django_db(transaction=True)
def test_the_running_app_keeps_the_password_from_a_new_host(daphne, alice, mail_world, listener):
    """The same attack through daphne, as Mallory would make it with a borrowed session."""
    from tests.running_app import Client

    account = MailAccount(user=alice, email="alice@example.com", incoming_host="localhost",
                          incoming_port=mail_world.dovecot.ports["imaps"], incoming_security="tls",
                          incoming_username="alice@example.com", smtp_host="localhost",
                          smtp_port=mail_world.smtp.ports["submission"], smtp_security="starttls",
                          ca_pem=mail_world.dovecot.ca_pem)  # fmt: skip
    account.incoming_password = PASSWORDS["alice"]
    account.save()
    mallory = listener("imap")
    client = Client(daphne.url)
    assert client.login("alice", "alice-portal-pw")[0] == 302
    data = account_form_data(mail_world, incoming_password="", incoming_host="127.0.0.1",
                             incoming_port=mallory.port, incoming_security="none",
                             save_anyway="on")  # fmt: skip
    status, _headers, body = client.post(f"/accounts/{account.pk}/", data)
    assert status == 200 and "type the password again" in body
    assert mallory.connections == 0 and mallory.received == b""
    account.refresh_from_db()
    assert account.incoming_host == "localhost"
