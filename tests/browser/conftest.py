import os
import shutil

import pytest

CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="package")
def browser():
    """One Chromium for the browser tests; closed when they are done, since Playwright's sync API
    keeps an event loop running in this thread, which asyncio.run() elsewhere would trip over.
    While it runs, the ORM calls that the tests make around it are synchronous and safe."""
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: apt-get install chromium (make test does)"
        )
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def logged_in_page(page, alice):
    page.goto("/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "alice-portal-pw")
    page.click("button[type=submit]")
    page.wait_for_url("**/accounts/")
    return page
