"""Alice, in a real browser, turns on two-factor login: she scans the QR code (here: reads the key
under it), confirms with a code, keeps her recovery codes, and from then on logs in in two steps."""

import base64
import time
from pathlib import Path

import pytest
from django_otp.oath import TOTP

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def app_code(secret, later=0):
    totp = TOTP(base64.b32decode(secret.replace(" ", "")), step=30, t0=0, digits=6)
    totp.time = time.time() + later
    return f"{totp.token():06d}"


def test_alice_turns_on_two_factor_login_and_logs_in_with_a_code(logged_in_page):
    page = logged_in_page
    page.goto("/accounts/preferences/")
    page.click("text=Set up two-factor login")
    page.click("#two-factor-start button")
    assert page.is_visible("svg.qr-code")
    secret = page.inner_text("#two-factor-secret")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "two-factor-setup.png", full_page=True)
    page.fill("#two-factor-confirm input[name=code]", app_code(secret))
    page.fill("#two-factor-confirm input[name=password]", "alice-portal-pw")
    page.click("#two-factor-confirm button")
    page.wait_for_url("**/two-factor/codes/")
    assert page.locator("ul.recovery-codes li").count() == 10
    page.screenshot(path=ARTIFACTS / "two-factor-recovery-codes.png", full_page=True)

    page.click("text=Log out")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "alice-portal-pw")
    page.click("button[type=submit]")
    page.wait_for_url("**/login/code/")
    page.fill("input[name=code]", app_code(secret, later=30))  # the app's next code
    page.click("button[type=submit]")
    page.wait_for_url("**/accounts/")
