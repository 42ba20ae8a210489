"""Alice's contacts, for the recipients' autocomplete: the people she wrote to (noted by the
outbox) and the senders of the messages she opened (noted by the message view, on a real
Dovecot message). Suggestions put a name's word or an address that starts with what she typed
first. Bob should have no access to Alice's contacts: the endpoint answers him with his own."""

import datetime
import threading
from email.message import EmailMessage

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mailbox.composing.fields import parse_address_field
from mailbox.contacts import (
    MAX_NAME_CHARS,
    OPENED_WEIGHT,
    SENT_WEIGHT,
    do_note_contacts,
    suggest_contacts,
)
from mailbox.models import Contact, Folder, Message, Role

pytestmark = pytest.mark.django_db


def contacts_of(user):
    return {c.address: (c.name, c.uses) for c in Contact.objects.filter(user=user)}


def add_contact(user, name, address, uses=1, days_ago=0):
    return Contact.objects.create(
        user=user, name=name, address=address, uses=uses,
        last_used=timezone.now() - datetime.timedelta(days=days_ago),
    )  # fmt: skip


# --- noting -------------------------------------------------------------------------------------


def test_noting_counts_uses_in_lower_case_and_keeps_a_known_name(alice):
    do_note_contacts(alice, [("Ann Smith", "Ann@Example.ORG"), ("", "bob@example.org")])
    do_note_contacts(alice, [("", "ann@example.org"), ("Bob B.", " BOB@example.org ")])
    do_note_contacts(alice, [("Ann", "ANN@example.org")], weight=OPENED_WEIGHT)
    assert contacts_of(alice) == {
        "ann@example.org": ("Ann", 2 * SENT_WEIGHT + OPENED_WEIGHT),
        "bob@example.org": ("Bob B.", 2 * SENT_WEIGHT),
    }


def test_the_composers_parsed_addresses_are_noted_as_they_are(alice):
    typed = parse_address_field("to", '"Doe, Jane" <Jane@Example.org>, kim@example.org')
    do_note_contacts(alice, typed)
    assert contacts_of(alice) == {
        "jane@example.org": ("Doe, Jane", SENT_WEIGHT), "kim@example.org": ("", SENT_WEIGHT)}  # fmt: skip


def test_what_is_not_an_address_is_skipped_and_names_are_bounded_and_one_line(alice):
    do_note_contacts(
        alice,
        [("Nobody", ""), ("Group", "undisclosed-recipients:;"), ("Spaces", "a b@example.org"),
         ("Long", "x" * 320 + "@example.org"), ("Nul", "a\x00@example.org"),
         ("Ann\r\nBcc: eve@evil.example\u2028\u202eX", "ann@example.org"),
         ("N" * 1000, "long.name@example.org")],
    )  # fmt: skip
    found = contacts_of(alice)
    assert set(found) == {"ann@example.org", "long.name@example.org"}
    assert found["ann@example.org"][0] == "Ann Bcc: eve@evil.example X"
    assert found["long.name@example.org"][0] == "N" * MAX_NAME_CHARS


def test_noting_many_addresses_takes_a_few_queries_not_one_each(
    alice, django_assert_max_num_queries
):
    people = [(f"Person {n}", f"p{n}@example.org") for n in range(60)]
    with django_assert_max_num_queries(4):  # find the known, a savepoint, one INSERT, release
        do_note_contacts(alice, people)
    assert len(contacts_of(alice)) == 60
    with django_assert_max_num_queries(2 + 60):  # one UPDATE per known contact
        do_note_contacts(alice, people)
    assert {uses for _name, uses in contacts_of(alice).values()} == {2 * SENT_WEIGHT}


@pytest.mark.django_db(transaction=True)
def test_two_requests_noting_a_new_address_at_once_both_count(alice):
    """The second request does not see the first's uncommitted row, so it inserts too and
    waits on the unique index; once the first commits, its insert fails and is retried as an
    update: both uses counted, no error, one row."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite does not let two writers in at once")
    inserted, release, errors = threading.Event(), threading.Event(), []

    def in_thread(work):
        try:
            work()
        except Exception as error:  # noqa: BLE001 (reported by the test below)
            errors.append(error)
        finally:
            connection.close()

    def first():
        with transaction.atomic():
            do_note_contacts(alice, [("Ann", "ann@example.org")])
            inserted.set()
            assert release.wait(30)

    one = threading.Thread(target=in_thread, args=(first,))
    one.start()
    assert inserted.wait(30)
    two = threading.Thread(
        target=in_thread, args=(lambda: do_note_contacts(alice, [("", "ann@example.org")]),)
    )
    two.start()
    wait_for_a_lock_wait()
    release.set()
    one.join(30)
    two.join(30)
    assert not errors
    assert contacts_of(alice) == {"ann@example.org": ("Ann", 2 * SENT_WEIGHT)}


def wait_for_a_lock_wait():
    """Until PostgreSQL shows the second request blocked on the first one's row."""
    for _attempt in range(3000):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        threading.Event().wait(0.01)
    pytest.fail("the second request never waited for the first")


# --- suggesting ---------------------------------------------------------------------------------


def test_a_word_or_address_that_starts_with_the_query_comes_before_one_that_contains_it(alice):
    add_contact(alice, "Joanna Berg", "jo@example.org", uses=100)  # "ann" inside a word
    add_contact(alice, "Bob Annandale", "bob@example.org", uses=5)  # a word starts with it
    add_contact(alice, "Ann Smith", "smith@example.org", uses=5, days_ago=3)  # the name does
    add_contact(alice, "", "annie@example.org", uses=2)  # the address does
    add_contact(alice, "Zed", "zed@example.org", uses=50)  # no match at all
    found = [c.address for c in suggest_contacts(alice, "ANN")]
    assert found == ["bob@example.org", "smith@example.org", "annie@example.org",
                     "jo@example.org"]  # fmt: skip


def test_an_empty_or_blank_query_suggests_nothing(alice):
    add_contact(alice, "Ann", "ann@example.org")
    assert suggest_contacts(alice, "") == []
    assert suggest_contacts(alice, "  \n ") == []


def test_suggestions_are_limited_and_only_the_users_own(alice, bob):
    for n in range(12):
        add_contact(alice, f"Ann {n}", f"ann{n}@example.org", uses=n)
    add_contact(bob, "Ann of Bob", "ann.bob@example.org", uses=1000)
    found = suggest_contacts(alice, "ann", limit=8)
    assert [c.address for c in found] == [f"ann{n}@example.org" for n in range(11, 3, -1)]
    assert [c.address for c in suggest_contacts(bob, "ann")] == ["ann.bob@example.org"]


def test_percent_and_underscore_are_plain_characters(alice):
    add_contact(alice, "Ann", "ann@example.org")
    add_contact(alice, "100% Ann", "pct@example.org")
    assert [c.address for c in suggest_contacts(alice, "%")] == ["pct@example.org"]
    assert suggest_contacts(alice, "_") == []


# --- the endpoint -------------------------------------------------------------------------------


def test_the_endpoint_answers_alices_contacts_as_json_never_cached(alice_client, alice, bob):
    add_contact(alice, "Ann Smith", "ann@example.org", uses=3)
    add_contact(alice, "Doe, Jane", "jane@example.org", uses=2)
    add_contact(alice, "", "annex@example.org", uses=1)
    add_contact(bob, "Ann of Bob", "ann.bob@example.org", uses=100)
    response = alice_client.get("/mail/contacts/", {"q": "an"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    assert response.json() == {
        "contacts": [
            {"name": "Ann Smith", "address": "ann@example.org",
             "label": "Ann Smith <ann@example.org>"},
            {"name": "", "address": "annex@example.org", "label": "annex@example.org"},
            {"name": "Doe, Jane", "address": "jane@example.org",
             "label": '"Doe, Jane" <jane@example.org>'},
        ]
    }  # fmt: skip


def test_the_endpoint_never_shows_alices_contacts_to_bob(client, alice, bob):
    add_contact(alice, "Ann Smith", "ann@example.org")
    client.force_login(bob)
    assert client.get("/mail/contacts/", {"q": "ann"}).json() == {"contacts": []}
    add_contact(bob, "Ann Other", "other@example.org")
    assert [c["address"] for c in client.get("/mail/contacts/?q=ann").json()["contacts"]] == [
        "other@example.org"
    ]


def test_the_endpoint_gives_at_most_eight_and_nothing_for_an_empty_query(alice_client, alice):
    for n in range(20):
        add_contact(alice, f"Ann {n}", f"ann{n}@example.org")
    assert len(alice_client.get("/mail/contacts/?q=ann").json()["contacts"]) == 8
    assert alice_client.get("/mail/contacts/?q=").json() == {"contacts": []}
    assert alice_client.get("/mail/contacts/").json() == {"contacts": []}


def test_the_endpoint_needs_a_login_and_a_get(alice_client):
    response = Client().get("/mail/contacts/?q=ann")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert alice_client.post("/mail/contacts/", {"q": "ann"}).status_code == 405


# --- opening a message notes its sender (a real message on the real Dovecot) --------------------


def mail_from(sender, subject="Hello"):
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "Alice <alice@example.com>"
    message["Subject"] = subject
    message.set_content("Hello Alice.\n")
    return bytes(message)


@pytest.mark.servers
def test_opening_a_message_notes_its_sender(as_alice, alice, deliver):
    message = deliver(mail_from("Mallory Q. <Mallory@Example.com>"))
    assert contacts_of(alice) == {}
    assert as_alice.get(f"/mail/messages/{message.pk}/").status_code == 200
    assert contacts_of(alice) == {"mallory@example.com": ("Mallory Q.", OPENED_WEIGHT)}
    found = as_alice.get("/mail/contacts/?q=mall").json()["contacts"]
    assert [c["label"] for c in found] == ["Mallory Q. <mallory@example.com>"]
    other = deliver(mail_from("Mallory Q. <mallory@example.com>", subject="Again"))
    assert as_alice.get(f"/mail/messages/{other.pk}/?part=pane").status_code == 200
    assert contacts_of(alice) == {"mallory@example.com": ("Mallory Q.", 2 * OPENED_WEIGHT)}


@pytest.mark.servers
def test_opening_a_message_again_writes_nothing(as_alice, alice, deliver):
    message = deliver(mail_from("Mallory Q. <mallory@example.com>"))
    assert as_alice.get(f"/mail/messages/{message.pk}/").status_code == 200
    noted = Contact.objects.get(user=alice)
    for query in ("", "?part=pane"):
        with CaptureQueriesContext(connection) as queries:
            assert as_alice.get(f"/mail/messages/{message.pk}/{query}").status_code == 200
        assert not [q for q in queries if "mailbox_contact" in q["sql"]]  # not even a look
    again = Contact.objects.get(user=alice)
    assert (again.uses, again.last_used) == (OPENED_WEIGHT, noted.last_used)


@pytest.mark.servers
def test_a_message_read_elsewhere_first_notes_nobody(as_alice, alice, deliver):
    message = deliver(mail_from("Mallory Q. <mallory@example.com>"))
    Message.objects.filter(pk=message.pk).update(seen=True)  # as a sync after her phone read it
    assert as_alice.get(f"/mail/messages/{message.pk}/").status_code == 200
    assert contacts_of(alice) == {}


@pytest.mark.servers
@pytest.mark.parametrize(
    "sender",
    ["Shop <noreply@shop.example>", "no-reply@bank.example", "MAILER-DAEMON@mx.example",
     "Do Not Reply <donotreply@city.example>", "no_reply+123@tickets.example",
     "postmaster@mx.example", "bounces+abc@lists.example"],
)  # fmt: skip
def test_opening_a_robots_message_notes_nobody(as_alice, alice, deliver, sender):
    message = deliver(mail_from(sender))
    assert as_alice.get(f"/mail/messages/{message.pk}/").status_code == 200
    assert contacts_of(alice) == {}


@pytest.mark.servers
def test_opening_her_own_message_or_junk_notes_nobody(as_alice, alice, deliver, imap_account):
    own = deliver(mail_from(f"Me <{imap_account.email.upper()}>"))
    assert as_alice.get(f"/mail/messages/{own.pk}/").status_code == 200
    spam = deliver(mail_from("Spammer <win@spam.example>"))
    Folder.objects.filter(pk=spam.folder_id).update(role=Role.JUNK)
    assert as_alice.get(f"/mail/messages/{spam.pk}/").status_code == 200
    assert contacts_of(alice) == {}


@pytest.mark.servers
def test_bob_opening_alices_message_notes_nothing(client, bob, alice, deliver):
    message = deliver(mail_from("Mallory <mallory@example.com>"))
    client.force_login(bob)
    assert client.get(f"/mail/messages/{message.pk}/").status_code == 404
    assert not Contact.objects.exists()
