"""Alice reads a 640 px newsletter on her phone: the message frame fits it to its width, as
Gmail and Apple Mail do, without a script (the frame runs none): nothing is cut off on the right,
the text keeps a readable size; on a wide screen the newsletter keeps its own layout.

The frame's DOM is measured through Playwright's frame API; the page itself cannot read it (the
frame is sandboxed, of an opaque origin)."""

import struct
import zlib
from email.message import EmailMessage

import pytest

from tests.mailbox.conftest import deliver, imap_account, mailbox_login, other_client  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.servers, pytest.mark.django_db(transaction=True)]
PHONE_FRAME = 352  # CSS px: the message frame on a 390 px phone, as our phone layout makes it

# Inside the body frame: how wide the document is against its viewport, the smallest computed
# font size of any element that holds text, and the widths of the tables and images.
MEASURE = """() => {
  const scroller = document.scrollingElement;
  const texts = [...document.body.querySelectorAll("*")].filter(el =>
    [...el.childNodes].some(node => node.nodeType === 3 && node.textContent.trim()));
  const width = el => Math.round(el.getBoundingClientRect().width);
  return {
    scrollWidth: scroller.scrollWidth, clientWidth: scroller.clientWidth,
    smallestFont: Math.min(...texts.map(el => parseFloat(getComputedStyle(el).fontSize))),
    tables: [...document.querySelectorAll("table[width='640']")].map(width),
    images: [...document.images].map(width),
    overflowing: [...document.body.querySelectorAll("*")]
      .filter(el => el.getBoundingClientRect().right > scroller.clientWidth + 0.5)
      .map(el => el.outerHTML.slice(0, 80)),
  };
}"""


def png(width, height):
    """A plain orange PNG of that size (RFC 2083): real pixels, so that its aspect ratio counts."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = (b"\x00" + b"\xf0\x80\x20" * width) * height
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + (chunk(b"IEND", b""))
    )


def newsletter():
    """A 640 px newsletter as mass-mail tools make them: nested layout tables with width="640",
    fixed cell widths, images with width attributes (inline and remote), a div with a fixed
    width (!important) and min-width in its style, a nowrap cell, a long preformatted line."""
    articles = "".join(
        f'<tr><td width="200" valign="top"><img src="cid:photo@news.example" width="200"'
        f' height="150" alt="Foto {n}"></td><td width="416" style="padding:0 12px;font-size:14px">'
        f"Artikel {n}: Der Verein trifft sich am Samstag zum Aufraeumen des Gartens.</td></tr>"
        for n in range(3)
    )
    html = (
        '<html><body style="margin:0"><table width="100%" bgcolor="#eeeeee"><tr><td align="center">'
        '<table width="640" cellpadding="0" cellspacing="0" border="0" style="width:640px">'
        '<tr><td colspan="2"><img src="cid:banner@news.example" width="640" height="200"'
        ' alt="Banner"></td></tr>'
        '<tr><td colspan="2" width="640"><div style="width:640px !important;min-width:640px;font-size:16px">'
        "Liebe Mitglieder, hier ist der Newsletter fuer Dezember.</div></td></tr>"
        f"{articles}"
        '<tr><td colspan="2"><img src="https://cdn.news.example/footer.png" width="640"'
        ' height="80" alt="Fusszeile"></td></tr>'
        '<tr><td colspan="2" nowrap style="font-size:12px">Abmelden: https://news.example/ab?id='
        + "a"
        * 30
        + '</td></tr><tr><td colspan="2"><pre>Termine: 01.12. 05.12. 09.12. 13.12. 17.12.'
        " 21.12. 25.12. 29.12.</pre></td></tr></table></td></tr></table></body></html>"
    )
    message = EmailMessage()
    message["From"] = "Vereinsheim <news@news.example>"
    message["To"] = "Alice <alice@example.com>"
    message["Subject"] = "Newsletter Dezember"
    message.set_content("Newsletter Dezember (HTML)")
    message.add_alternative(html, subtype="html")
    related = message.get_payload()[1]
    related.add_related(png(640, 200), "image", "png", cid="<banner@news.example>")
    related.add_related(png(200, 150), "image", "png", cid="<photo@news.example>")
    return message.as_bytes()


def open_in_frame(page, message, frame_width):
    """The message page, its body frame set to ``frame_width`` CSS px, and what it measures."""
    page.goto(f"/mail/messages/{message.pk}/")
    frame_element = page.wait_for_selector("iframe.message-body")
    # the parent page sizes its frame (CSSOM, which its CSP allows), borders aside; the frame
    # reflows itself
    frame_element.evaluate(
        "(frame, width) => { frame.style.width = `${width + frame.offsetWidth - frame.clientWidth}px`; }",
        frame_width,
    )
    frame = frame_element.content_frame()
    frame.wait_for_load_state("load")
    assert frame.url.endswith("/body/")
    # the frame may live in another process: its new size reaches it a moment later
    frame.wait_for_function("width => innerWidth === width", arg=frame_width)
    return frame.evaluate(MEASURE)


def test_a_640px_newsletter_fits_a_phone_frame_and_stays_readable(logged_in_page, deliver):  # noqa: F811
    message = deliver(newsletter())
    logged_in_page.set_viewport_size({"width": 390, "height": 844})
    seen = open_in_frame(logged_in_page, message, PHONE_FRAME)
    assert seen["scrollWidth"] <= seen["clientWidth"], seen
    assert seen["overflowing"] == [], seen
    assert seen["smallestFont"] >= 12, seen
    assert seen["tables"] and all(width <= seen["clientWidth"] for width in seen["tables"]), seen
    assert len(seen["images"]) == 5 and max(seen["images"]) <= seen["clientWidth"], seen
    banner, *photos, _blocked_footer = seen["images"]
    assert banner >= seen["clientWidth"] - 40 and all(width >= 40 for width in photos), seen


def test_on_a_wide_screen_the_newsletter_keeps_its_own_width(logged_in_page, deliver):  # noqa: F811
    message = deliver(newsletter())
    logged_in_page.set_viewport_size({"width": 1400, "height": 900})
    seen = open_in_frame(logged_in_page, message, 900)
    assert seen["tables"] == [640], seen
    assert seen["images"][:4] == [640, 200, 200, 200], seen
    assert seen["scrollWidth"] <= seen["clientWidth"], seen
