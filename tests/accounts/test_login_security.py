"""Logins resist guessing: passwords are throttled per user name and address (django-axes), and
two-factor login (django-otp) asks for a code after the password. Tried against the running app:
daphne serving the webmail, a browser-like client posting its forms."""

import base64
import re
import time
from http.cookiejar import DefaultCookiePolicy

import pytest
from django.test import RequestFactory, override_settings
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.actions import do_begin_two_factor, do_turn_on_two_factor
from accounts.throttling import client_address
from tests.running_app import Client, Daphne

pytestmark = pytest.mark.django_db(transaction=True)

ALICE = ("alice", "alice-portal-pw")


def locked_out(response):
    status, _headers, body = response
    return status == 429 and "Try again in 15 minutes" in body


def logged_in(client):
    return client.get("/accounts/")[0] == 200


def code_for(key, at=None):
    """The code an authenticator app shows for this secret (bytes) at this time."""
    totp = TOTP(key, step=30, t0=0, digits=6)
    totp.time = time.time() if at is None else at
    return f"{totp.token():06d}"


def turn_on_two_factor(user):
    """Two-factor login as Preferences leaves it: a confirmed app and ten recovery codes."""
    device = do_begin_two_factor(user)
    return device, do_turn_on_two_factor(user, device)


def login_page_for(client, username, password):
    """The login page answered to a wrong password, with what differs between any two answers
    (the CSRF token, the user name typed) taken out."""
    status, _headers, body = client.login(username, password)
    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", body)
    return status, body.replace(f'value="{username}"', 'value=""')


# Throttling


def test_thirty_wrong_passwords_lock_alice_out_and_then_hers_does_not_log_in(daphne, alice):
    client = Client(daphne.url)
    answers = [client.login("alice", f"guess-{n}") for n in range(30)]
    assert [status for status, _h, _b in answers[:4]] == [200] * 4  # "didn't match"
    assert all(locked_out(answer) for answer in answers[4:])  # the 5th failure locks
    assert answers[4][1]["Retry-After"] == "900"
    right = client.login(*ALICE)
    assert locked_out(right)
    assert not logged_in(client)
    assert client.get("/accounts/")[1]["Location"].startswith("/login/")


def test_the_lockout_says_how_long_to_wait_in_french_too(daphne, alice):
    client, french = Client(daphne.url), {"Accept-Language": "fr"}
    client.get("/login/", headers=french)
    for n in range(5):
        data = {"username": "alice", "password": f"essai-{n}"}
        status, _headers, body = client.post("/login/", data, headers=french)
    assert status == 429 and "Réessayez dans 15 minutes" in body


def test_an_unknown_user_gets_the_same_answers_as_a_wrong_password(daphne, alice):
    known, unknown = Client(daphne.url), Client(daphne.url)
    for n in range(7):
        assert login_page_for(known, "alice", f"guess-{n}") == login_page_for(
            unknown, "nobody", f"guess-{n}"
        )
    assert locked_out(known.login("alice", "again")) and locked_out(unknown.login("nobody", "x"))


def test_the_admin_login_locks_out_too(daphne, django_user_model):
    django_user_model.objects.create_superuser("root", "root@example.com", "root-portal-pw")
    client = Client(daphne.url)
    client.get("/admin/login/")
    form = {"username": "root", "next": "/admin/"}
    answers = [client.post("/admin/login/", {**form, "password": f"g{n}"}) for n in range(30)]
    assert [status for status, _h, _b in answers[:4]] == [200] * 4
    assert all(locked_out(answer) for answer in answers[4:])
    assert locked_out(client.post("/admin/login/", {**form, "password": "root-portal-pw"}))
    assert client.get("/admin/")[1]["Location"].startswith("/admin/login/")


def test_a_lockout_holds_for_that_name_from_that_address_only(daphne, alice, bob):
    client = Client(daphne.url)
    for n in range(5):
        client.login("alice", f"guess-{n}")
    assert locked_out(client.login(*ALICE))
    bob_client = Client(daphne.url)  # Bob, at the same address, logs in as usual
    assert bob_client.login("bob", "bob-portal-pw")[0] == 302 and logged_in(bob_client)


def test_one_address_trying_many_names_is_locked_out(transactional_db, alice):
    server = Daphne(WEBMAIL_LOGIN_ADDRESS_FAILURE_LIMIT="8")
    try:
        client = Client(server.url)
        answers = [client.login(f"user{n}", "Winter2024!") for n in range(8)]
        assert [status for status, _h, _b in answers[:7]] == [200] * 7
        assert locked_out(answers[7])
        assert locked_out(Client(server.url).login(*ALICE))  # the whole address waits
    finally:
        server.stop()


def test_without_the_proxy_a_forwarded_for_header_changes_nothing(daphne, alice):
    client = Client(daphne.url)
    client.get("/login/")
    for n in range(6):  # each try claims another address; the last one with her password
        data = {"username": "alice", "password": f"guess-{n}" if n < 5 else ALICE[1]}
        answer = client.post("/login/", data, headers={"X-Forwarded-For": f"198.51.100.{n}"})
    assert locked_out(answer) and not logged_in(client)


class _SecureCookiesOverHttp(DefaultCookiePolicy):
    """The TLS proxy's part: the browser sends its secure-only cookies (they reach daphne over
    plain HTTP from the proxy)."""

    def return_ok_secure(self, cookie, request):
        return True


def test_behind_the_proxy_the_address_is_the_one_the_proxy_appended(transactional_db, alice):
    server = Daphne(WEBMAIL_BEHIND_TLS_PROXY="1")
    try:

        def through_proxy(client, password, forwarded_for):
            headers = {
                "X-Forwarded-Proto": "https",
                "X-Forwarded-For": forwarded_for,
                "Referer": f"https://127.0.0.1:{server.port}/",
            }
            client.get("/login/", headers=headers)
            data = {"username": "alice", "password": password}
            return client.post("/login/", data, headers=headers)

        attacker, neighbour = Client(server.url), Client(server.url)
        for client in (attacker, neighbour):
            client.jar.set_policy(_SecureCookiesOverHttp())
        for n in range(5):
            through_proxy(attacker, f"guess-{n}", "203.0.113.5")
        # an address the attacker makes up comes before the proxy's own, which still counts
        assert locked_out(through_proxy(attacker, ALICE[1], "198.51.100.1, 203.0.113.5"))
        # Alice, from another address behind the same proxy, is not locked out
        assert through_proxy(neighbour, ALICE[1], "203.0.113.6")[0] == 302
    finally:
        server.stop()


def test_the_client_address_is_remote_addr_unless_behind_the_proxy():
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_address(request) == "10.0.0.2"
    with override_settings(WEBMAIL_BEHIND_TLS_PROXY=True):
        assert client_address(request) == "1.2.3.4"
        request.META["HTTP_X_FORWARDED_FOR"] = "9.9.9.9, 2001:db8:1:2:aaaa::7"
        assert client_address(request) == "2001:db8:1:2::"  # an IPv6 client counts as its /64
        request.META["HTTP_X_FORWARDED_FOR"] = "::ffff:192.0.2.7"
        assert client_address(request) == "192.0.2.7"
        request.META["HTTP_X_FORWARDED_FOR"] = "not an address"
        assert client_address(request) == "10.0.0.2"


# Two-factor login


def test_alice_turns_two_factor_login_on_from_her_preferences(daphne, alice):
    client = Client(daphne.url)
    assert client.login(*ALICE)[0] == 302
    assert "/accounts/preferences/two-factor/" in client.get("/accounts/preferences/")[2]
    assert client.post("/accounts/preferences/two-factor/start/")[0] == 302
    status, headers, page = client.get("/accounts/preferences/two-factor/")
    assert status == 200
    svg = re.search(r"<svg.*?</svg>", page, re.S).group(0)  # the QR code, drawn by the server
    assert "<path" in svg and "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert not re.search(r"<script(?![^>]*\ssrc=)|\son[a-z]+=", page)  # no inline script
    secret = re.search(r'id="two-factor-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    key = base64.b32decode(secret)
    assert TOTPDevice.objects.get(user=alice).bin_key == key

    no_password = client.post(
        "/accounts/preferences/two-factor/confirm/", {"code": code_for(key)}
    )  # a borrowed session alone: refused
    assert no_password[0] == 400 and not TOTPDevice.objects.get(user=alice).confirmed
    wrong = client.post("/accounts/preferences/two-factor/confirm/",
                        {"code": "000000", "password": "alice-portal-pw"})  # fmt: skip
    assert wrong[0] == 400 and "not right" in wrong[2]
    assert not TOTPDevice.objects.get(user=alice).confirmed
    time.sleep(1.1)  # a wrong code's wait
    confirmed = client.post("/accounts/preferences/two-factor/confirm/",
                            {"code": code_for(key), "password": "alice-portal-pw"})  # fmt: skip
    assert confirmed[1]["Location"] == "/accounts/preferences/two-factor/codes/"
    codes = re.findall(
        r"<li><code>([a-z2-7]{8})</code></li>", client.get(confirmed[1]["Location"])[2]
    )
    assert len(codes) == 10 and sorted(codes) == sorted(
        StaticDevice.objects.get(user=alice).token_set.values_list("token", flat=True)
    )

    client.post("/logout/")
    assert client.login(*ALICE)[1]["Location"] == "/login/code/"
    assert not logged_in(client)
    later = code_for(key, time.time() + 30)  # the app's next code (the first one is used up)
    assert client.post("/login/code/", {"code": later})[0] == 302 and logged_in(client)


def test_login_asks_for_the_code_and_does_not_log_in_before_it_is_right(daphne, alice):
    device, _codes = turn_on_two_factor(alice)
    client = Client(daphne.url)
    status, headers, _body = client.login(*ALICE)
    assert (status, headers["Location"]) == (302, "/login/code/")
    assert "authenticator app" in client.get("/login/code/")[2]
    assert client.get("/accounts/")[1]["Location"].startswith("/login/")  # not logged in
    assert client.get("/admin/")[1]["Location"].startswith("/admin/login/")
    status, _headers, body = client.post("/login/code/", {"code": "123456"})
    assert status == 200 and "not right" in body and not logged_in(client)
    time.sleep(1.1)  # a wrong code's wait
    assert client.post("/login/code/", {"code": code_for(device.bin_key)})[0] == 302
    assert logged_in(client)


def test_wrong_codes_make_the_next_try_wait(daphne, alice):
    device, _codes = turn_on_two_factor(alice)
    client = Client(daphne.url)
    client.login(*ALICE)
    for wait in (1.1, 2.1):  # each wrong code doubles the wait: 1, 2, 4 ... seconds
        assert "not right" in client.post("/login/code/", {"code": "000000"})[2]
        time.sleep(wait)
    client.post("/login/code/", {"code": "000000"})  # the third: 4 seconds
    status, _headers, body = client.post("/login/code/", {"code": code_for(device.bin_key)})
    assert status == 200 and "Try again in" in body and not logged_in(client)
    time.sleep(4.1)
    assert client.post("/login/code/", {"code": code_for(device.bin_key)})[0] == 302


def test_a_recovery_code_logs_in_once(daphne, alice):
    _device, codes = turn_on_two_factor(alice)
    client = Client(daphne.url)
    client.login(*ALICE)
    spaced = f"{codes[3][:4]} {codes[3][4:].upper()}"  # as someone copies it from paper
    assert client.post("/login/code/", {"code": spaced})[0] == 302 and logged_in(client)
    client.post("/logout/")
    client.login(*ALICE)
    status, _headers, body = client.post("/login/code/", {"code": codes[3]})
    assert status == 200 and "not right" in body and not logged_in(client)
    time.sleep(1.1)  # a wrong code's wait
    assert client.post("/login/code/", {"code": codes[4]})[0] == 302


def test_turning_two_factor_login_off_asks_the_password_again(daphne, alice):
    device, _codes = turn_on_two_factor(alice)
    client = Client(daphne.url)
    client.login(*ALICE)
    client.post("/login/code/", {"code": code_for(device.bin_key)})
    off = "/accounts/preferences/two-factor/off/"
    status, _headers, body = client.post(off, {"password": "nope"})
    assert status == 400 and "not your password" in body
    assert TOTPDevice.objects.filter(user=alice).exists()
    client.post(off, {"password": ALICE[1]})
    assert not TOTPDevice.objects.filter(user=alice).exists()
    assert not StaticDevice.objects.filter(user=alice).exists()
    client.post("/logout/")
    assert client.login(*ALICE)[0] == 302 and logged_in(client)  # the password alone again


def test_new_recovery_codes_replace_the_old_ones(daphne, alice):
    device, old = turn_on_two_factor(alice)
    client = Client(daphne.url)
    client.login(*ALICE)
    client.post("/login/code/", {"code": code_for(device.bin_key)})
    client.post("/accounts/preferences/two-factor/codes/")
    page = client.get("/accounts/preferences/two-factor/codes/")[2]
    new = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", page)
    assert len(new) == 10 and not set(new) & set(old)
    client.post("/logout/")
    client.login(*ALICE)
    assert "not right" in client.post("/login/code/", {"code": old[0]})[2]
    time.sleep(1.1)  # a wrong code's wait
    assert client.post("/login/code/", {"code": new[0]})[0] == 302


def test_an_operator_can_require_two_factor_login(transactional_db, alice):
    server = Daphne(WEBMAIL_REQUIRE_2FA="1")
    try:
        client = Client(server.url)
        assert client.login(*ALICE)[0] == 302
        setup = "/accounts/preferences/two-factor/"
        for path in ("/", "/accounts/", "/mail/", "/accounts/preferences/", "/admin/"):
            assert client.get(path)[1].get("Location") == setup, path
        assert client.post("/accounts/preferences/", {"theme": "dark"})[1]["Location"] == setup
        assert "requires two-factor login" in client.get(setup)[2]
        client.post("/accounts/preferences/two-factor/start/")
        key = TOTPDevice.objects.get(user=alice).bin_key
        client.post("/accounts/preferences/two-factor/confirm/",
                    {"code": code_for(key), "password": "alice-portal-pw"})  # fmt: skip
        assert logged_in(client)
    finally:
        server.stop()


def test_the_admin_asks_for_the_code_of_an_admin_with_two_factor_login(daphne, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "root-pw-1")
    device, _codes = turn_on_two_factor(root)
    django_user_model.objects.create_superuser("ops", "ops@example.com", "ops-pw-1")
    client = Client(daphne.url)
    client.get("/admin/login/")
    form = {"username": "root", "password": "root-pw-1", "next": "/admin/"}
    status, _headers, body = client.post("/admin/login/", form)
    assert status == 200 and "Type the code" in body
    assert client.get("/admin/")[0] == 302
    assert client.post("/admin/login/", {**form, "otp_token": "000000"})[0] == 200
    time.sleep(1.1)  # the wrong code's wait
    answer = client.post("/admin/login/", {**form, "otp_token": code_for(device.bin_key)})
    assert answer[1]["Location"] == "/admin/"
    assert client.get("/admin/")[0] == 200
    other = Client(daphne.url)  # an admin without two-factor login: the password, as before
    other.get("/admin/login/")
    other.post("/admin/login/", {"username": "ops", "password": "ops-pw-1", "next": "/admin/"})
    assert other.get("/admin/")[0] == 200


# What a borrowed session cannot do


def test_the_old_password_of_a_password_change_is_throttled_like_a_login(daphne, alice):
    client = Client(daphne.url)
    client.login(*ALICE)
    answers = []
    for n in range(6):
        data = {"old_password": f"guess-{n}", "new_password1": "n3w-Passw0rd!x",
                "new_password2": "n3w-Passw0rd!x"}  # fmt: skip
        answers.append(client.post("/password/", data)[0])
    assert answers[:4] == [200] * 4 and 429 in answers[4:]  # locked, as at the login page
    fresh = Client(daphne.url)
    assert locked_out(fresh.login(*ALICE))  # from that address, the name is locked


def test_a_session_from_before_two_factor_login_must_log_in_again(daphne, alice):
    old = Client(daphne.url)
    assert old.login(*ALICE)[0] == 302 and logged_in(old)
    turn_on_two_factor(alice)  # from another device
    status, headers, _body = old.get("/accounts/preferences/two-factor/codes/")
    assert status == 302 and headers["Location"].startswith("/login/")
    assert not logged_in(old)


def test_the_live_socket_needs_the_code_too(alice):
    from django.contrib.sessions.backends.db import SessionStore
    from django_otp import DEVICE_ID_SESSION_KEY

    from mailbox.consumers import _may_listen

    assert _may_listen(alice, SessionStore())  # no two-factor login: the password is enough
    device, _codes = turn_on_two_factor(alice)
    unverified = SessionStore()
    assert not _may_listen(alice, unverified)
    verified = SessionStore()
    verified[DEVICE_ID_SESSION_KEY] = device.persistent_id
    assert _may_listen(alice, verified)
    with override_settings(WEBMAIL_REQUIRE_2FA=True):
        from django.contrib.auth import get_user_model

        bob = get_user_model().objects.create_user("bob", "bob@example.com", "bob-portal-pw")
        assert not _may_listen(bob, SessionStore())  # required, and not set up yet
