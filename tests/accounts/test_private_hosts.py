"""Alice cannot point the webmail at a machine on its own network by spelling a private or
loopback IPv4 address as IPv6 (NAT64, 6to4, IPv4-compatible): the running app refuses it as it
refuses the IPv4 address itself, before connecting anywhere, even with "save anyway"."""

import pytest

from accounts.models import MailAccount
from tests.running_app import Client, Daphne

pytestmark = pytest.mark.django_db(transaction=True)

SENTENCE = "This server is on a private, loopback or link-local address"


@pytest.fixture
def strict_app(transactional_db):
    """The webmail as an operator runs it: private hosts not allowed (the suite allows them)."""
    server = Daphne(WEBMAIL_ALLOW_PRIVATE_HOSTS="0")
    yield server
    server.stop()


def account_data(host):
    return {
        "email": "alice@example.com", "incoming_protocol": "imap", "incoming_host": host,
        "incoming_security": "none", "incoming_port": "143", "incoming_password": "pw",
        "smtp_host": host, "smtp_security": "none", "smtp_port": "25", "smtp_auth": "same",
        "save_anyway": "on",
    }  # fmt: skip


@pytest.mark.parametrize("host", ["::127.0.0.1", "[64:ff9b::7f00:1]", "64:ff9b::169.254.169.254",
                                  "2002:7f00:1::", "2002:c0a8:101::1", "64:ff9b:1::a00:1",
                                  "::ffff:127.0.0.1"])  # fmt: skip
def test_an_ipv6_spelling_of_a_private_address_is_refused(strict_app, alice, host):
    client = Client(strict_app.url)
    assert client.login("alice", "alice-portal-pw")[0] == 302
    status, _headers, page = client.post("/accounts/add/", account_data(host))
    assert status == 200
    assert page.count(SENTENCE) == 2  # the incoming and the outgoing server
    assert not MailAccount.objects.exists()
