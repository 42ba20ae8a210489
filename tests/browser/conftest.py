import os
import shutil
import threading
import time

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
    close_quietly(context)


def close_quietly(context, timeout=10.0):
    """Close a browser context only once nothing it started still runs on the live server: each
    page is left for about:blank first (its pagehide handlers, such as the compose page's last
    draft save by sendBeacon, go out now, not during the next test), the requests the browser
    still has open are waited for, and after the close so are the live server's request threads.
    A request still running while the test's database is flushed makes the flush fail and leaves
    the next test's rows in place. ``timeout``: seconds for each wait."""
    pending = set()
    context.on("request", lambda request: pending.add(request))
    context.on("requestfinished", lambda request: pending.discard(request))
    context.on("requestfailed", lambda request: pending.discard(request))
    for page in context.pages:
        try:
            page.goto("about:blank", timeout=timeout * 1000)
        except Exception:  # a page that cannot leave still gets closed below
            pass
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        context.pages[0].wait_for_timeout(50) if context.pages else time.sleep(0.05)
    context.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(
        "process_request_thread" in thread.name for thread in threading.enumerate()
    ):
        time.sleep(0.05)


@pytest.fixture
def logged_in_page(page, alice):
    page.goto("/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "alice-portal-pw")
    page.click("button[type=submit]")
    page.wait_for_url("**/accounts/")
    return page
