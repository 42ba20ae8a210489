"""Alice sends as several identities of her account: she adds, edits, deletes them and picks the
default on the account's identities page. What goes into a header (name, address, reply-to) is
one line and a real address, or refused with a message naming the field; the formatted
signature is sanitized. An account always has exactly one default, and never loses its last
identity. Bob should have no access to Alice's identities: each of their URLs is a 404 for him."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.http import Http404

from accounts import actions
from accounts.forms import IdentityForm
from accounts.identities import default_identity, get_identity_for_user, identities_for_user
from accounts.models import Identity, MailAccount
from mailbox.composing.fields import LINE_BREAKS
from tests.mailbox.test_contacts import wait_for_a_lock_wait

pytestmark = pytest.mark.django_db


def make_account(user, email, name="Alice Liddell"):
    account = MailAccount(
        user=user, display_name=name, email=email, incoming_host="imap.example.org",
        incoming_port=993, incoming_username=email, smtp_host="smtp.example.org", smtp_port=587,
    )  # fmt: skip
    account.incoming_password = "secret"
    account.save()
    return account


@pytest.fixture
def account(alice):
    return make_account(alice, "alice@example.com")


@pytest.fixture
def events(monkeypatch):
    """The events sent to browsers once a transaction commits, as [(user ids, event)] (the
    tests run the commit callbacks with django_capture_on_commit_callbacks)."""
    sent = []
    monkeypatch.setattr("mailbox.events.send_event", lambda ids, event: sent.append((ids, event)))
    return sent


def form_data(**changes):
    return {"name": "Alice at work", "address": "alice@work.example", "reply_to": "",
            "signature_text": "", "signature_html": "", **changes}  # fmt: skip


def add_identity(user, account, **changes):
    form = IdentityForm(form_data(**changes), instance=Identity(account=account))
    assert form.is_valid(), form.errors
    return actions.do_save_identity(user, form.save(commit=False))


# --- the default, made from the account --------------------------------------------------------


def test_the_first_default_is_made_from_the_accounts_name_and_address(account):
    identity = default_identity(account)
    assert (identity.name, identity.address, identity.is_default) == (
        "Alice Liddell", "alice@example.com", True)  # fmt: skip
    assert default_identity(account).pk == identity.pk
    assert Identity.objects.filter(account=account).count() == 1


def test_identities_for_user_lists_every_account_default_first(alice, bob, account):
    other = make_account(alice, "alice@home.example")
    work = add_identity(alice, account, address="a@work.example")
    make_account(bob, "bob@example.com")
    listed = identities_for_user(alice)
    assert [(i.account_id, i.address) for i in listed] == [
        (account.pk, "alice@example.com"), (account.pk, work.address),
        (other.pk, "alice@home.example"),
    ]  # fmt: skip
    assert get_identity_for_user(alice, work.pk) == work
    assert get_identity_for_user(bob, work.pk) is None
    assert get_identity_for_user(alice, "not a number") is None


# --- the page and its forms ---------------------------------------------------------------------


def test_alice_reaches_the_identities_from_the_account_list_and_its_edit_page(
    alice_client, account
):
    url = f"/accounts/{account.pk}/identities/"
    assert url in alice_client.get("/accounts/").content.decode()
    assert url in alice_client.get(f"/accounts/{account.pk}/").content.decode()
    page = alice_client.get(url).content.decode()
    assert "alice@example.com" in page and "Default" in page


def test_alice_adds_edits_and_sees_an_identity(
    alice_client, alice, account, events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            f"/accounts/{account.pk}/identities/add/",
            form_data(reply_to="Team <team@work.example>,  boss@work.example",
                      signature_text="Alice\n-- \nAt work"),
        )  # fmt: skip
    assert response.status_code == 302
    added = Identity.objects.get(address="alice@work.example")
    assert added.reply_to == "Team <team@work.example>, boss@work.example"
    assert added.signature_text == "Alice\n-- \nAt work"
    assert not added.is_default, "the account's own identity stays the default"
    assert Identity.objects.get(account=account, is_default=True).address == "alice@example.com"
    assert ([alice.pk], {"type": "account.changed", "account_id": account.pk,
                         "created": False}) in events  # fmt: skip

    response = alice_client.post(f"/accounts/identities/{added.pk}/", form_data(name="Dr Alice"))
    assert response.status_code == 302
    added.refresh_from_db()
    assert added.name == "Dr Alice"
    page = alice_client.get(f"/accounts/{account.pk}/identities/").content.decode()
    assert "Dr Alice" in page and f"/accounts/identities/{added.pk}/delete/" in page


@pytest.mark.parametrize("field", ["name", "address", "reply_to"])
@pytest.mark.parametrize("character", sorted(LINE_BREAKS), ids=lambda c: f"U+{ord(c):04X}")
def test_a_line_break_in_a_header_field_is_refused_naming_the_field(
    alice_client, account, field, character
):
    value = {"name": "Alice", "address": "alice@work.example", "reply_to": "a@work.example"}[field]
    for bad in (value[:3] + character + value[3:], value + character, character + value):
        response = alice_client.post(
            f"/accounts/{account.pk}/identities/add/", form_data(**{field: bad})
        )
        assert response.status_code == 200
        errors = response.context["form"].errors
        assert list(errors) == [field], errors
        label = {"name": "name", "address": "email address", "reply_to": "reply-to"}[field]
        assert errors[field] == [f"The {label} cannot contain a line break or a NUL character."]
        assert "cannot contain a line break" in response.content.decode()
    assert not Identity.objects.filter(account=account).exists()


def test_line_breaks_are_fine_in_the_plain_signature(alice, account):
    identity = add_identity(alice, account, signature_text="Alice\r\nLine 2\u2028Line 3\n\n")
    assert identity.signature_text == "Alice\nLine 2\u2028Line 3"


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("address", "alice", "“alice” is not an email address"),
        ("address", "alice@localhost", "“alice@localhost” is not an email address"),
        ("address", "", "This field is required."),
        ("address", "josé@example.org", "non-ASCII letters before the @"),
        ("reply_to", "ok@work.example, nobody", "“nobody” in the reply-to is not an email"),
        ("reply_to", "Ann <ann@>", "in the reply-to is not an email address"),
    ],
)
def test_bad_addresses_are_refused_and_nothing_is_saved(
    alice_client, account, field, value, message
):
    response = alice_client.post(
        f"/accounts/{account.pk}/identities/add/", form_data(**{field: value})
    )
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not Identity.objects.filter(account=account).exists()


def test_an_international_domain_is_kept_as_smtp_will_be_given_it(alice, account):
    identity = add_identity(alice, account, address="jurgen@bücher.example")
    assert identity.address == "jurgen@xn--bcher-kva.example"


def test_the_formatted_signature_is_sanitized_on_save(alice, account):
    identity = add_identity(
        alice,
        account,
        signature_html='<p onclick="steal()">Alice <b>L.</b></p><script>alert(1)</script>'
        '<a href="javascript:alert(2)">x</a><a href="https://alice.example/">site</a>'
        '<img src="https://alice.example/logo.png" alt="logo"><form><input name="pw"></form>',
    )
    html = Identity.objects.get(pk=identity.pk).signature_html
    assert "<p>Alice <b>L.</b></p>" in html
    for gone in ("onclick", "<script", "alert(1)", "javascript:", "<form", "<input"):
        assert gone not in html
    assert 'href="https://alice.example/"' in html
    assert 'src="https://alice.example/logo.png"' in html, "no remote blocking for our own mail"


def test_the_signature_fields_are_textareas(alice_client, account):
    page = alice_client.get(f"/accounts/{account.pk}/identities/add/").content.decode()
    assert '<textarea name="signature_text"' in page
    assert '<textarea name="signature_html"' in page


# --- one default, never none --------------------------------------------------------------------


def test_making_one_default_unsets_the_other(
    alice_client, alice, account, events, django_capture_on_commit_callbacks
):
    first = default_identity(account)
    second = add_identity(alice, account)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(f"/accounts/identities/{second.pk}/default/")
    assert response.status_code == 302
    assert list(
        Identity.objects.filter(account=account, is_default=True).values_list("pk", flat=True)
    ) == [second.pk]
    first.refresh_from_db()
    assert not first.is_default
    assert default_identity(account).pk == second.pk
    assert events == [(
        [alice.pk], {"type": "account.changed", "account_id": account.pk, "created": False})]  # fmt: skip


def test_saving_an_identity_does_not_change_which_is_default(alice, account):
    default_identity(account)
    second = add_identity(alice, account)
    second.is_default = True  # as a crafted form might try
    actions.do_save_identity(alice, second)
    assert Identity.objects.filter(account=account, is_default=True).count() == 1
    assert not Identity.objects.get(pk=second.pk).is_default


@pytest.mark.parametrize("field", ["name", "address", "reply_to"])
def test_the_action_refuses_a_line_break_from_any_caller(alice, account, field):
    identity = Identity(account=account, name="Alice", address="a@work.example")
    setattr(identity, field, getattr(identity, field) + "\r\nBcc: eve@evil.example")
    with pytest.raises(ValidationError) as refused:
        actions.do_save_identity(alice, identity)
    assert list(refused.value.message_dict) == [field]
    assert not Identity.objects.exists()


def one_after_the_other(first, second):
    """``first`` in a transaction that holds its locks until ``second``, in another thread, is
    seen waiting for them (PostgreSQL); then both finish. Errors in either are raised."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite does not let two writers in at once")
    done_first, release, errors = threading.Event(), threading.Event(), []

    def run(work):
        try:
            work()
        except Exception as error:  # noqa: BLE001 (raised below)
            errors.append(error)
        finally:
            connection.close()

    def hold():
        with transaction.atomic():
            first()
            done_first.set()
            assert release.wait(30)

    threads = [threading.Thread(target=run, args=(hold,))]
    threads[0].start()
    assert done_first.wait(30)
    threads.append(threading.Thread(target=run, args=(second,)))
    threads[1].start()
    wait_for_a_lock_wait()
    release.set()
    for thread in threads:
        thread.join(30)
    assert not errors, errors


@pytest.mark.django_db(transaction=True)
def test_two_first_asks_at_once_make_one_default(account):
    one_after_the_other(lambda: default_identity(account), lambda: default_identity(account))
    assert list(Identity.objects.values_list("address", "is_default")) == [
        ("alice@example.com", True)
    ]


@pytest.mark.django_db(transaction=True)
def test_two_make_defaults_at_once_leave_one_default(alice, account):
    first = default_identity(account)
    second = add_identity(alice, account)
    one_after_the_other(
        lambda: actions.do_make_identity_default(alice, second.pk),
        lambda: actions.do_make_identity_default(alice, first.pk),
    )
    assert list(Identity.objects.filter(is_default=True).values_list("pk", flat=True)) == [first.pk]


def test_the_last_identity_cannot_be_deleted(alice_client, alice, account):
    only = default_identity(account)
    response = alice_client.post(f"/accounts/identities/{only.pk}/delete/")
    assert response.status_code == 400
    assert "only identity of this account" in response.content.decode()
    assert Identity.objects.filter(pk=only.pk, is_default=True).exists()
    with pytest.raises(ValidationError):
        actions.do_delete_identity(alice, only.pk)


def test_deleting_the_default_makes_the_oldest_other_the_default(alice_client, alice, account):
    first = default_identity(account)
    second = add_identity(alice, account, address="b@work.example")
    third = add_identity(alice, account, address="a@work.example")
    assert alice_client.get(f"/accounts/identities/{first.pk}/delete/").status_code == 200
    assert alice_client.post(f"/accounts/identities/{first.pk}/delete/").status_code == 302
    assert not Identity.objects.filter(pk=first.pk).exists()
    assert [i.pk for i in Identity.objects.filter(account=account, is_default=True)] == [second.pk]
    actions.do_delete_identity(alice, third.pk)
    assert Identity.objects.get(account=account).pk == second.pk


# --- Bob ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/accounts/{account}/identities/", "/accounts/{account}/identities/add/",
     "/accounts/identities/{identity}/", "/accounts/identities/{identity}/delete/",
     "/accounts/identities/{identity}/default/"],
)  # fmt: skip
def test_bob_gets_404_for_alices_identities(client, alice, bob, account, path):
    identity = default_identity(account)
    second = add_identity(alice, account)
    client.force_login(bob)
    for target in (identity, second):
        url = path.format(account=account.pk, identity=target.pk)
        if not url.endswith("/default/"):
            assert client.get(url).status_code == 404
        if url.endswith("/identities/"):
            continue  # a page that only shows
        assert (
            client.post(url, form_data(name="Mallory", address="bob@example.com")).status_code
            == 404
        )
    assert sorted(Identity.objects.values_list("name", "address", "is_default")) == [
        ("Alice Liddell", "alice@example.com", True), ("Alice at work", "alice@work.example", False)
    ]  # fmt: skip


def test_bobs_actions_on_alices_identities_are_404(alice, bob, account):
    identity = default_identity(account)
    for action in (actions.do_make_identity_default, actions.do_delete_identity):
        with pytest.raises(Http404):
            action(bob, identity.pk)
    identity.name = "Mallory"
    with pytest.raises(Http404):
        actions.do_save_identity(bob, identity)
    assert Identity.objects.get(pk=identity.pk).name == "Alice Liddell"
