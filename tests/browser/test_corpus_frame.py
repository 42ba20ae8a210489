"""Every public XSS payload (DOMPurify's 223 and the HTML5 Security Cheatsheet's 149, from
shared/corpus/xss) sent to Alice as an HTML message and opened in her browser on the real message
page: nothing the sender wrote runs, opens a dialog, or asks for anything from another origin.

What counts, and how it is seen:

- a script that runs: every frame gets hooks before its own scripts (Playwright's init script),
  and alert, confirm, prompt, print and document.write report back and set ``window.__pwned``;
  a dialog that still opens is caught too. The H5SC placeholders (``%js_alert%``...) are filled
  with H5SC's own values, so that its vectors really call alert.
- a script that tried to run and was stopped by the frame's sandbox: Chromium says so on the
  console. The sandbox is the second wall; the sanitizer must not have let the script through.
- markup that would run on a click or a hover: the frame's DOM as Chromium parsed it (mutation
  XSS shows here, not in the sanitizer's own parse) has no on* attribute, no javascript: URL and
  no script carrier.
- a request: every request *attempted* by any frame, the body frame's subresources included,
  is recorded when issued (Playwright's "request" event fires for loads that the CSP then
  blocks), so a blocked attempt still fails the test. Only the live server's origin may be
  asked, and the body frame may ask for nothing but its own document.

Each wall was taken down once to see the test fail: with the sanitizer bypassed, 265 payloads
are flagged (sandboxed scripts on the console, CSP-blocked requests, the DOM check) though none
runs; with the sandbox and the CSP gone as well, 42 run and call alert. With the sanitizer alone
(no sandbox, no CSP) none is flagged.
"""

import json
import re
from email.message import EmailMessage

import pytest
from django.urls import reverse
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from mailbox.models import Message
from mailbox.sync import run_account
from tests.corpus import CORPUS, require
from tests.mailbox.conftest import imap_account, mailbox_login, other_client  # noqa: F401
from tests.mailbox.test_sanitize import fill_h5sc

pytestmark = [pytest.mark.browser, pytest.mark.servers, pytest.mark.django_db(transaction=True)]
TABS = 4

HOOKS = """(() => {
  const report = (what) => { window.__pwned = true; window.__corpusReport(what, location.href); };
  for (const name of ["alert", "confirm", "prompt", "print"]) {
    window[name] = (...args) => report(`${name}(${args.join(",")})`);
  }
  Document.prototype.write = Document.prototype.writeln = (...args) => report(`write(${args})`);
})()"""

# What no element of the frame's body may be or have, as the browser parsed it. The getters come
# from the prototypes because markup clobbers properties (<form><input name=attributes>).
DOM_CHECK = """() => {
  const getter = (proto, name) => Object.getOwnPropertyDescriptor(proto, name).get;
  const body = getter(Document.prototype, "body").call(document);
  const localName = getter(Element.prototype, "localName");
  const namespace = getter(Element.prototype, "namespaceURI");
  const attributes = getter(Element.prototype, "attributes");
  const carriers = new Set(["script", "iframe", "frame", "frameset", "object", "embed", "applet",
    "form", "base", "meta", "link", "style", "svg", "math", "template"]);
  const urlAttributes = new Set(["href", "src", "action", "formaction", "background", "poster",
    "cite", "data", "srcset", "lowsrc", "dynsrc", "longdesc", "usemap", "xlink:href", "ping"]);
  const problems = [];
  for (const el of body ? Element.prototype.querySelectorAll.call(body, "*") : []) {
    const tag = localName.call(el);
    if (namespace.call(el) !== "http://www.w3.org/1999/xhtml" || carriers.has(tag)) {
      problems.push(`<${tag}> (${namespace.call(el)})`);
    }
    for (const attr of attributes.call(el)) {
      const value = attr.value.replace(/[\\x00-\\x20]/g, "").toLowerCase();
      if (/^on/i.test(attr.name)) problems.push(`${tag} ${attr.name}`);
      if (urlAttributes.has(attr.name) && /^(javascript|vbscript|livescript):/.test(value)) {
        problems.push(`${tag} ${attr.name}=${value.slice(0, 40)}`);
      }
      if (urlAttributes.has(attr.name) && value.startsWith("data:") && !(tag === "img"
          && attr.name === "src" && /^data:image\\/(png|gif|jpeg|webp);/.test(value))) {
        problems.push(`${tag} ${attr.name}=${value.slice(0, 40)}`);
      }
    }
  }
  return problems;
}"""


def corpus_payloads():
    """[(name, html)] for both corpora; the name (``h5sc-17``) is also the message's subject."""
    payloads = []
    for corpus, fill in [("dompurify", str), ("h5sc", fill_h5sc)]:
        path = require(CORPUS / "xss" / f"{corpus}.json")
        for index, item in enumerate(json.loads(path.read_text())):
            payloads.append((f"{corpus}-{index}", fill(item["payload"])))
    return payloads


def html_message(subject, html):
    message = EmailMessage()
    message["From"] = "Mallory <mallory@example.com>"
    message["To"] = "Alice <alice@example.com>"
    message["Subject"] = subject
    # base64, so that the payload reaches the server byte for byte (NULs, long lines, CRs)
    message.set_content(html, subtype="html", cte="base64")
    return message.as_bytes()


class Watch:
    """Everything the browser reports, filed under the payload whose message the page shows."""

    def __init__(self, context, origin):
        self.origin, self.reading, self.problems = origin, {}, {}
        context.expose_binding(
            "__corpusReport", lambda source, what, url: self.add(source["page"], what)
        )
        context.add_init_script(HOOKS)
        context.on("request", self.request)
        context.on("console", self.console)
        context.on("dialog", self.dialog)
        # Nothing leaves the machine even when the test fails: the attempt is already recorded.
        # (A pattern, not a predicate: only the requests it matches are intercepted.)
        context.route(re.compile(f"^(?!{re.escape(origin)}/)"), lambda route: route.abort())

    def add(self, page, problem):
        self.problems.setdefault(self.reading.get(page), []).append(problem)

    def request(self, request):
        page, frame_url = request.frame.page, request.frame.url
        if not request.url.startswith(self.origin + "/"):
            self.add(page, f"request {request.url[:120]}")
        elif frame_url.endswith("/body/") and request.url != frame_url:
            self.add(page, f"request from the body frame {request.url[:120]}")

    def console(self, message):
        if "Blocked script execution" in message.text or "Ignored call to" in message.text:
            self.add(message.page, f"console {message.text[:160]}")

    def dialog(self, dialog):
        self.add(dialog.page, f"dialog {dialog.type} {dialog.message}")
        dialog.dismiss()

    def check(self, page):
        """What the hooks set and what the body frame's DOM holds, once the page has loaded."""
        frames = [frame for frame in page.frames if frame.url.endswith("/body/")]
        if len(frames) != 1:
            self.add(page, f"{len(frames)} body frames")
        try:
            # Only our own documents: evaluate can hang in an error page, and a frame the
            # payload made is already a problem of the DOM check (its scripts report anyway).
            for frame in [page.main_frame, *frames]:
                if frame.evaluate("window.__pwned"):
                    self.add(page, f"__pwned in {frame.url}")
            for problem in frames[0].evaluate(DOM_CHECK) if frames else []:
                self.add(page, f"in the frame's DOM: {problem}")
        except PlaywrightError as error:  # a frame that navigated away or was torn down
            self.add(page, f"the frames could not be inspected: {error.message[:160]}")


@pytest.mark.timeout(300)  # 70-100 s on two busy cores: the default 120 s is too close
def test_no_xss_payload_runs_or_loads_anything_in_the_message_frame(
    logged_in_page,
    imap_account,  # noqa: F811
    other_client,  # noqa: F811
    live_server,
):
    """1. APPEND one message per payload (one each, so that no payload can hide another in a
       comment or a <textarea>), and sync once.
    2. Open them on the message page, TABS at a time: a page load is mostly waiting on the
       server, then on the frame, and the tabs wait together.
    3. Once a tab has loaded (its frame too), check its hooks and its frame's DOM."""
    payloads = corpus_payloads()
    for name, html in payloads:
        status, data = other_client.imap.append("INBOX", None, None, html_message(name, html))
        assert status == "OK", (name, data)
    assert run_account(imap_account.pk)
    pages = {
        subject: live_server.url + reverse("mailbox:message", args=[pk])
        for subject, pk in Message.objects.filter(folder__account=imap_account).values_list(
            "subject", "pk"
        )
    }
    assert len(pages) == len(payloads)

    context = logged_in_page.context
    watch = Watch(context, live_server.url)
    tabs = [logged_in_page] + [context.new_page() for _ in range(TABS - 1)]
    names = [name for name, _html in payloads]
    for start in range(0, len(names), TABS):
        batch = list(zip(tabs, names[start : start + TABS], strict=False))  # the last is short
        for tab, name in batch:
            watch.reading[tab] = name
            tab.evaluate("url => location.assign(url)", pages[name])  # returns at once
        for tab, name in batch:
            try:
                tab.wait_for_url(pages[name])  # at "load", which waits for the frame
            except PlaywrightTimeoutError:  # the payload took the page somewhere else
                watch.add(tab, f"the message page did not load, the tab is at {tab.url}")
                continue
            watch.check(tab)

    assert watch.problems == {}
