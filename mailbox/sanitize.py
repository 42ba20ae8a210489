"""Hostile HTML and plain text mail made safe to show. Pure functions over strings, no Django.

sanitize_html() runs in two passes over one HTML5 parse (Lexbor, a C implementation of the WHATWG
algorithm browsers use, so what we check is what they will see):

1. Our own pass over the tree: drop script carriers *with their content* (bleach with strip=True
   would keep the text of a <script> or <style>), drop SVG and MathML whole, decide every URL
   (links, images, cid: parts, remote loads; relative ones resolved against the document's
   <base href>, as a browser would, before the <base> goes) and filter inline CSS.
2. bleach's allow-list of tags, attributes, protocols and CSS properties (its sanitizer filter and
   CSSSanitizer) over the tokens of that same tree, as a second, independent line of defence.

The tree is parsed once: bleach.clean() would parse again with html5lib, in pure Python, which costs
4-5 times the budget of a 200 KB newsletter (100 ms). Only the serializer's escaping of every text
and attribute value stands between the tree and the browser, and it is html5lib's own.

text_to_html() renders text/plain bodies: escaped first, then links, quotes and format=flowed.
"""

import functools
import html
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.etree import ElementTree

import tinycss2
from bleach.css_sanitizer import CSSSanitizer
from bleach.html5lib_shim import HTMLSerializer, getTreeWalker
from bleach.sanitizer import BleachSanitizerFilter
from selectolax.lexbor import LexborHTMLParser

# Bound the work one message can cost us (house style rule 7). Past this the rest is cut off; the
# HTML5 parser closes whatever the cut leaves open.
MAX_HTML_CHARS = 1_000_000
# HTML5 tree building slows down with the square of the nesting depth (Lexbor: 100,000 levels take
# ~25 s; html5lib: 20,000 levels ~50 s).
# Start tags past this depth are dropped before parsing; their text stays.
MAX_NESTING = 600
# A fixed width past this (CSS px) is reported as this: wider than any screen.
MAX_FIXED_WIDTH = 10_000
_TAG = re.compile(r"<(/?)([A-Za-z][^\s/>]*)[^>]*>")
_NOT_NESTING = frozenset(
    # void elements, and those that close themselves when the next one opens
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
        "p",
        "li",
        "dt",
        "dd",
        "tr",
        "td",
        "th",
        "option",
        "thead",
        "tbody",
        "tfoot",
        "colgroup",
        "rb",
        "rt",
        "rp",
        "optgroup",
    ]
)

# Removed with everything inside. The raw-text elements (script, style, xmp, iframe, noembed,
# noframes, noscript, textarea, title, plaintext) must all go: their content is not escaped on
# serialization, which is what mutation XSS feeds on.
DROP_WITH_CONTENT = frozenset(
    {
        "script", "style", "noscript", "template", "iframe", "object", "embed", "applet", "frame",
        "frameset", "noframes", "noembed", "form", "input", "button", "select", "textarea",
        "option", "optgroup", "datalist", "keygen", "output", "base", "meta", "link", "title",
        "head", "audio", "video", "source", "track", "canvas", "portal", "dialog", "slot",
        "param", "image", "isindex", "bgsound", "svg", "math", "map", "area",
    }
)  # fmt: skip

# Raw-text elements whose text is still mail content: shown as preformatted text instead.
RENAME_TO_PRE = frozenset({"xmp", "plaintext", "listing"})

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "acronym", "address", "article", "aside", "b", "bdi", "bdo", "big",
        "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup", "dd", "del",
        "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "font", "footer", "h1",
        "h2", "h3", "h4", "h5", "h6", "header", "hr", "i", "img", "ins", "kbd", "li", "main",
        "mark", "nav", "ol", "p", "pre", "q", "rp", "rt", "ruby", "s", "samp", "section", "small",
        "span", "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th",
        "thead", "time", "tr", "tt", "u", "ul", "var", "wbr",
    }
)  # fmt: skip

_COMMON = ["align", "valign", "dir", "lang", "title", "style", "class", "width", "height"]
_CELL = [*_COMMON, "bgcolor", "background", "colspan", "rowspan", "nowrap", "scope", "abbr"]
ALLOWED_ATTRIBUTES = {
    "*": _COMMON,
    "a": [*_COMMON, "href", "target", "rel"],
    "img": [*_COMMON, "src", "alt", "border", "hspace", "vspace"],
    "font": [*_COMMON, "color", "face", "size"],
    "table": [*_COMMON, "bgcolor", "background", "border", "cellpadding", "cellspacing", "summary",
              "frame", "rules"],
    "tr": [*_COMMON, "bgcolor", "background"],
    "td": _CELL,
    "th": _CELL,
    "col": [*_COMMON, "span"],
    "colgroup": [*_COMMON, "span"],
    "div": [*_COMMON, "bgcolor", "background"],
    "hr": [*_COMMON, "noshade", "size", "color"],
    "ol": [*_COMMON, "start", "type", "reversed"],
    "ul": [*_COMMON, "type"],
    "li": [*_COMMON, "value", "type"],
    "blockquote": [*_COMMON, "cite"],
    "q": [*_COMMON, "cite"],
    "del": [*_COMMON, "cite", "datetime"],
    "ins": [*_COMMON, "cite", "datetime"],
    "time": [*_COMMON, "datetime"],
    "details": [*_COMMON, "open"],
}  # fmt: skip

# Our own rewritten cid: URLs are relative (or whatever cid_url returns); bleach lets relative
# URLs through, and we have already removed every other kind.
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto", "data"})

CSS_PROPERTIES = frozenset(
    {
        "background", "background-color", "background-image", "background-position",
        "background-repeat", "background-size", "border", "border-bottom", "border-bottom-color",
        "border-bottom-left-radius", "border-bottom-right-radius", "border-bottom-style",
        "border-bottom-width", "border-collapse", "border-color", "border-left",
        "border-left-color", "border-left-style", "border-left-width", "border-radius",
        "border-right", "border-right-color", "border-right-style", "border-right-width",
        "border-spacing", "border-style", "border-top", "border-top-color",
        "border-top-left-radius", "border-top-right-radius", "border-top-style",
        "border-top-width", "border-width", "bottom", "box-sizing", "caption-side", "clear",
        "color", "direction", "display", "empty-cells", "float", "font", "font-family",
        "font-size", "font-style", "font-variant", "font-weight", "height", "left",
        "letter-spacing", "line-height", "list-style", "list-style-position", "list-style-type",
        "margin", "margin-bottom", "margin-left", "margin-right", "margin-top", "max-height",
        "max-width", "min-height", "min-width", "opacity", "overflow", "overflow-wrap",
        "overflow-x", "overflow-y", "padding", "padding-bottom", "padding-left", "padding-right",
        "padding-top", "position", "right", "table-layout", "text-align", "text-decoration",
        "text-indent", "text-transform", "top", "unicode-bidi", "vertical-align", "visibility",
        "white-space", "width", "word-break", "word-spacing", "word-wrap",
    }
)  # fmt: skip
CSS_FUNCTIONS = frozenset(
    {
        "rgb", "rgba", "hsl", "hsla", "calc", "min", "max", "clamp", "linear-gradient",
        "radial-gradient", "repeating-linear-gradient", "repeating-radial-gradient",
    }
)  # fmt: skip
CSS_POSITIONS = frozenset({"static", "relative"})
# The properties the message frame overrides (with !important) to fit wide mail to a narrow
# screen. An inline !important would beat that, so it is dropped from them; it changes nothing
# else, since the mail's own style sheets are gone and inline styles beat its attributes anyway.
REFLOWED_PROPERTIES = frozenset({"width", "min-width", "max-width", "height", "white-space"})
# Checked, as a second line, on each declaration once comments are gone and escapes decoded.
CSS_FORBIDDEN = ("url(", "expression", "@import", "behavior", "-moz-binding", "javascript:",
                 "vbscript:", "image-set", "\\")  # fmt: skip


# A style with none of these has no string, function, comment, block or escape: its semicolons
# can only separate declarations, so it can be split on them and each declaration sanitized alone.
_SIMPLE_STYLE = re.compile(r"[^\"'()\\/{}\[\]@<>]*")


def _simple_declarations(style: str) -> list[str] | None:
    """The declarations of a simple style (see _SIMPLE_STYLE), or None for any other."""
    if not _SIMPLE_STYLE.fullmatch(style):
        return None
    return [part for part in style.split(";") if part.strip()]


class _MemoizedCSSSanitizer(CSSSanitizer):
    """bleach's CSSSanitizer, remembering its answers, declaration by declaration where the style
    is simple: a newsletter repeats the same few declarations hundreds of times, in styles that
    may each differ a little, and tinycss2 is most of the time sanitizing one takes."""

    def sanitize_css(self, style):
        parts = _simple_declarations(style)
        if parts is None or len(parts) < 2:
            return self._sanitize_whole(style)
        return " ".join(kept for kept in map(self._sanitize_whole, parts) if kept)

    @functools.lru_cache(maxsize=8192)  # noqa: B019 (one module-level instance, lives forever)
    def _sanitize_whole(self, style):
        return super().sanitize_css(style)


_CSS_SANITIZER = _MemoizedCSSSanitizer(allowed_css_properties=CSS_PROPERTIES)


class _TreeSanitizerFilter(BleachSanitizerFilter):
    """bleach's allow-list over the tokens of a parsed tree rather than of its own tokenizer.

    Its tokenizer leaves character references undecoded, so it turns each one in a text into an
    entity token to keep the serializer from escaping it again. Our text comes decoded from the
    tree: ``&amp;lt;`` in the mail is the text ``&lt;``, and must be escaped as such."""

    def sanitize_characters(self, token):
        return token


_CID_PLACEHOLDER = "\x00cid\x00"

# Browsers drop leading and trailing C0 controls and spaces from URLs and ASCII tab and newline
# anywhere in them; we do the same, then accept only these shapes.
_URL_STRIP = "".join(chr(c) for c in range(0x21))
_URL_TAB_NEWLINE = re.compile(r"[\t\n\r]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LINK_URL = re.compile(r"(?:https?://[^/\\?#\s]|mailto:[^\s])", re.IGNORECASE)
_REMOTE_URL = re.compile(r"(?:https?:)?//", re.IGNORECASE)
_WEB_URL = re.compile(r"https?://[^/\\?#\s]", re.IGNORECASE)
# A URL that names its scheme is absolute; any other is relative (RFC 3986 section 4.2).
_HAS_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:", re.IGNORECASE)
_DATA_IMAGE = re.compile(r"data:image/(?:png|gif|jpeg|webp);base64,[a-z0-9+/=\s]*", re.IGNORECASE)

# Attributes that load something; all but src and background are dropped always.
_LOADING_ATTRIBUTES = ("src", "background", "srcset", "poster", "lowsrc", "dynsrc")


@dataclass(frozen=True)
class SanitizedHtml:
    """html: the safe markup; blocked_remote: how many remote loads were left out; cids: the
    Content-IDs it shows; width: the widest fixed width its markup asks for (a width attribute,
    or a width or min-width in px or pt), in CSS px, 0 when none: what the frame must be at
    least to show the mail as laid out, reflowed below that."""

    html: str
    blocked_remote: int = 0
    cids: frozenset[str] = field(default_factory=frozenset)
    width: int = 0


@dataclass
class _Pass:
    """What the tree pass needs and learns about one message."""

    cid_url: Callable[[str], str | None] | None
    allow_remote: bool
    base: str | None = None  # the document's <base href>, absolute http(s), or None
    blocked_remote: int = 0
    width: float = 0
    cids: set[str] = field(default_factory=set)


def _flatten_deep_nesting(html_text):
    """Drop start tags nested deeper than MAX_NESTING (an approximate, linear count)."""
    depth = 0

    def visit(match):
        nonlocal depth
        name = match.group(2).lower()
        if name in _NOT_NESTING or match.group(0).endswith("/>"):
            return match.group(0)
        if match.group(1):
            depth = max(0, depth - 1)
            return match.group(0)
        depth += 1
        return match.group(0) if depth <= MAX_NESTING else ""

    if html_text.count("<") <= MAX_NESTING:
        return html_text  # cannot be that deep: skip the scan
    return _TAG.sub(visit, html_text)


def sanitize_html(
    html_text: str,
    *,
    cid_url: Callable[[str], str | None] | None = None,
    allow_remote: bool = False,
) -> SanitizedHtml:
    """Safe HTML for the message frame, with what was blocked and which inline parts it shows.

    cid_url maps a Content-ID (no ``cid:``, no ``<>``) to one of our URLs, or None.
    """
    document = LexborHTMLParser(_flatten_deep_nesting(html_text[:MAX_HTML_CHARS]))
    state = _Pass(cid_url=cid_url, allow_remote=allow_remote, base=_base_url(document))
    body = _parse_body(document)
    if body is None:  # a <frameset> document: nothing of it is shown
        return SanitizedHtml("")
    _clean_tree(body, state)
    tokens = _TreeSanitizerFilter(
        source=getTreeWalker("etree")(body),
        allowed_tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        allowed_protocols=ALLOWED_PROTOCOLS,
        strip_disallowed_tags=True,
        strip_html_comments=True,
        css_sanitizer=_CSS_SANITIZER,
    )
    serialized = HTMLSerializer(
        quote_attr_values="always", escape_lt_in_attrs=True, omit_optional_tags=False
    ).render(tokens)
    width = min(round(state.width), MAX_FIXED_WIDTH)
    return SanitizedHtml(serialized, state.blocked_remote, frozenset(state.cids), width)


def _base_url(document: LexborHTMLParser) -> str | None:
    """The URL the document's relative links resolve against: the href of its first <base>
    element that has one (HTML's "frozen base URL", as browsers take it), or None.

    Our frame's own URL is no base for the sender's links, so a base that is itself relative
    (nothing to resolve it against) counts for nothing, and so does one that is not http(s)
    (``javascript:``, ``data:``: browsers ignore those as a base too)."""
    for node in document.css("base[href]"):
        if _in_foreign_content(node):
            continue  # an SVG or MathML <base> is no HTML base element
        url = _normalize_url(node.attributes.get("href") or "")
        return url if url and _WEB_URL.match(url) else None
    return None


def _in_foreign_content(node) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.tag in ("svg", "math"):
            return True
        parent = parent.parent
    return False


def _parse_body(document: LexborHTMLParser) -> ElementTree.Element | None:
    """The document's <body> as an ElementTree <div> (keeping the body's bgcolor, background and
    style); None when the document has no body (a frameset).

    Comments are left out; elements keep their children, text and tails. Built without recursion:
    mail can nest deeply."""
    document_body = document.body
    if document_body is None or document_body.tag != "body":
        return None
    top = ElementTree.Element("div", _attributes(document_body))
    stack = [(document_body, top)]
    while stack:
        node, element = stack.pop()
        last = None
        child = node.child
        while child is not None:
            tag = child.tag
            if tag == "-text":
                text = child.text_content
                if last is None:
                    element.text = (element.text or "") + text
                else:
                    last.tail = (last.tail or "") + text
            elif tag and tag[0] not in "-!_":  # not a comment or a doctype
                last = ElementTree.SubElement(element, tag.lower(), _attributes(child))
                stack.append((child, last))
            child = child.next
    return top


def _attributes(node) -> dict[str, str]:
    return {name.lower(): value or "" for name, value in node.attributes.items()}


def _clean_tree(top: ElementTree.Element, state: _Pass) -> None:
    """Walk the tree without recursion (mail can nest deeply), pruning and fixing as we go."""
    stack = [top]
    _clean_attributes(top, state)
    while stack:
        element = stack.pop()
        kept: list[ElementTree.Element] = []
        for child in element:
            tag = child.tag
            # Comments, processing instructions and foreign (SVG, MathML) elements are
            # namespaced or not strings; they go whole, as do script carriers.
            if not isinstance(tag, str) or tag.startswith("{") or tag.lower() in DROP_WITH_CONTENT:
                _keep_tail(element, kept, child.tail)
                continue
            if tag in RENAME_TO_PRE:
                child.tag = "pre"
                child.attrib.clear()
            _clean_attributes(child, state)
            kept.append(child)
            stack.append(child)
        element[:] = kept


def _keep_tail(parent: ElementTree.Element, kept: list, tail: str | None) -> None:
    if not tail:
        return
    if kept:
        kept[-1].tail = (kept[-1].tail or "") + tail
    else:
        parent.text = (parent.text or "") + tail


def _clean_attributes(element: ElementTree.Element, state: _Pass) -> None:
    attrib = element.attrib
    for name in _LOADING_ATTRIBUTES:
        if name in attrib:
            value = attrib.pop(name)
            if name in ("src", "background"):
                url = _image_url(value, state)
                if url is not None and (name == "background" or element.tag == "img"):
                    attrib[name] = url
            elif _loads_remote(value, state.base):
                state.blocked_remote += 1
    if "style" in attrib:
        style = _filter_style(attrib.pop("style"), state)
        if style:
            attrib["style"] = style
    if "width" in attrib or "style" in attrib:
        state.width = max(state.width, _fixed_width(attrib))
    if element.tag == "a":
        for name in ("target", "rel"):
            attrib.pop(name, None)
        href = _link_url(attrib.pop("href"), state.base) if "href" in attrib else None
        if href:
            attrib.update(href=href, target="_blank", rel="noopener noreferrer")
    if "cite" in attrib:
        cite = _link_url(attrib.pop("cite"), state.base)
        if cite:
            attrib["cite"] = cite


_WIDTH_ATTRIBUTE = re.compile(r"\s*(\d{1,6}(?:\.\d*)?)\s*(?:px)?\s*", re.IGNORECASE)
_STYLE_WIDTH = re.compile(
    r"(?:^|;)\s*(?:min-)?width:\s*(\d{1,6}(?:\.\d*)?)(px|pt)\b", re.IGNORECASE
)
_PX_PER_UNIT = {"px": 1.0, "pt": 4 / 3}


def _fixed_width(attrib: dict[str, str]) -> float:
    """The widest fixed width an element asks for, in CSS px (0: none or relative)."""
    found = _WIDTH_ATTRIBUTE.fullmatch(attrib.get("width", ""))
    widest = float(found[1]) if found else 0.0
    for number, unit in _STYLE_WIDTH.findall(attrib.get("style", "")):
        widest = max(widest, float(number) * _PX_PER_UNIT[unit.lower()])
    return widest


def _loads_remote(value: str, base: str | None) -> bool:
    """Whether an attribute we drop anyway (srcset, poster...) would have loaded something
    remote: counted so that the reader is told what was blocked."""
    if _REMOTE_URL.search(value):
        return True
    # srcset: "a.png 1x, b.png 2x"; one relative candidate under a web base is remote
    candidates = (_normalize_url(c.split()[0]) for c in value.split(",") if c.split())
    return base is not None and any(c and _is_relative(c) for c in candidates)


def _normalize_url(value: str) -> str | None:
    value = _URL_TAB_NEWLINE.sub("", value.strip(_URL_STRIP))
    return None if _CONTROL.search(value) else value


def _resolve(url: str, base: str | None) -> str:
    """A relative URL resolved against the document's base (RFC 3986 section 5, with the
    backslash read as a slash the way browsers read it in http(s) URLs); an absolute one, or
    any URL in a document without a base, as it is."""
    if base is None or _HAS_SCHEME.match(url):
        return url
    return urllib.parse.urljoin(base, url.replace("\\", "/"))


def _link_url(value: str, base: str | None = None) -> str | None:
    """The href to keep, resolved against the base: http, https or mailto only, anything else
    removed."""
    url = _normalize_url(value)
    if url is not None:
        url = _resolve(url, base)
    if url and _LINK_URL.match(url):
        return url
    return None


def _image_url(value: str, state: _Pass) -> str | None:
    """The src to keep for an image: our cid URL, an allowed remote URL or a raster data: URL."""
    url = _normalize_url(value)
    if not url:
        return None
    if url[:4].lower() == "cid:":
        return _cid_target(url[4:], state)
    url = _resolve(url, state.base)
    if _REMOTE_URL.match(url):
        if state.allow_remote:
            return "https:" + url if url.startswith("//") else url
        state.blocked_remote += 1
        return None
    if _DATA_IMAGE.fullmatch(url):
        return re.sub(r"\s", "", url)
    return None


def _cid_target(cid: str, state: _Pass) -> str | None:
    """RFC 2392: a cid: URL is the Content-ID, URL-encoded, without its angle brackets."""
    cid = urllib.parse.unquote(cid).strip().strip("<>")
    if not cid:
        return None
    state.cids.add(cid)
    return state.cid_url(cid) if state.cid_url else None


def _filter_style(value: str, state: _Pass) -> str:
    parts = _simple_declarations(value)
    if parts is None or len(parts) < 2:
        declarations, remote, relative = _parse_style(value)
    else:  # each declaration from the memo: styles differ, their declarations mostly do not
        parsed = [_parse_style(part) for part in parts]
        declarations = tuple(kept for found, _remote, _relative in parsed for kept in found)
        remote = sum(count for _found, count, _relative in parsed)
        relative = sum(count for _found, _remote, count in parsed)
    # a relative url() would load from the <base>'s site: as remote as any
    state.blocked_remote += remote + (relative if state.base else 0)
    kept = []
    for text, cid in declarations:
        if cid is not None:
            url = _cid_target(cid, state)
            if not url:
                continue
            text = text.replace(_CID_PLACEHOLDER, _css_url(url))
        kept.append(text)
    return "; ".join(kept)


# One declaration of nothing but a name and words, numbers, colours and lengths ("padding: 0 8px",
# "color: #333", "font-weight: bold !important"): no function, string, escape, comment or URL can
# hide in it, so it needs no CSS parser. Anything else goes through tinycss2.
_PLAIN_DECLARATION = re.compile(
    r"\s*([a-zA-Z-]+)\s*:\s*([a-zA-Z0-9#.%, +-]*[a-zA-Z0-9#.%])\s*(!\s*important)?\s*"
)


@functools.lru_cache(maxsize=8192)  # newsletters repeat the same few styles hundreds of times
def _parse_style(value: str) -> tuple[tuple[tuple[str, str | None], ...], int, int]:
    """The declarations we keep, each with the cid it shows (if any), and the remote and the
    relative URLs dropped.

    A declaration is kept only if its property is allowed, every function in it is harmless, its
    only URL is a cid: one (left as a placeholder for the caller's cid_url), and its text, with
    comments removed and escapes decoded, holds nothing of CSS_FORBIDDEN.
    """
    plain = _PLAIN_DECLARATION.fullmatch(value)
    if plain:
        name, text, important = plain[1].lower(), " ".join(plain[2].split()), plain[3]
        if name not in CSS_PROPERTIES or _css_forbidden(text):
            return (), 0, 0
        if name == "position" and text.lower() not in CSS_POSITIONS:
            return (), 0, 0
        important = important and name not in REFLOWED_PROPERTIES
        return ((f"{name}: {text}{' !important' if important else ''}", None),), 0, 0
    kept = []
    remote = relative = 0
    for declaration in tinycss2.parse_blocks_contents(value, skip_comments=True):
        if declaration.type != "declaration":
            continue
        name = declaration.lower_name
        if name not in CSS_PROPERTIES:
            continue
        tokens = [t for t in declaration.value if t.type not in ("whitespace", "comment")]
        if name == "position" and not (
            len(tokens) == 1
            and tokens[0].type == "ident"
            and tokens[0].lower_value in CSS_POSITIONS
        ):
            continue
        parts: list[str] = []
        cid, urls = _serialize_value(declaration.value, parts)
        if urls:
            remote += sum(1 for url in urls if _REMOTE_URL.match(url.strip()))
            relative += sum(1 for url in urls if _is_relative(url.strip()))
            if cid is None:
                continue
        text = "".join(parts).strip()
        if not text or _css_forbidden(text):
            continue
        important = declaration.important and name not in REFLOWED_PROPERTIES
        important = " !important" if important else ""
        kept.append((f"{name}: {text}{important}", cid))
    return tuple(kept), remote, relative


def _is_relative(url: str) -> bool:
    return bool(url) and not _HAS_SCHEME.match(url) and not _REMOTE_URL.match(url)


def _serialize_value(tokens: list, parts: list[str]) -> tuple[str | None, list[str]]:
    """Append the value's text to parts; return its cid (if its one URL is cid:) and all URLs.

    A declaration whose URLs are not exactly one cid: URL at the top level, or that calls a
    function not in CSS_FUNCTIONS, is reported with urls but no cid, or with a marker, so that the
    caller drops it.
    """
    urls: list[str] = []
    cid = None
    for token in tokens:
        url = _css_url_of(token)
        if url is not None:
            urls.append(url)
            if url.strip()[:4].lower() == "cid:" and len(urls) == 1:
                cid = url.strip()[4:]
                parts.append(_CID_PLACEHOLDER)
            else:
                cid = None
            continue
        if token.type == "function":
            if token.lower_name not in CSS_FUNCTIONS or _has_url(token.arguments):
                parts.append("url(")  # forbidden marker: the caller drops the declaration
                continue
        elif token.type in ("() block", "[] block", "{} block") and _has_url(token.content):
            parts.append("url(")
            continue
        parts.append(token.serialize())
    if len(urls) > 1:
        cid = None
    return cid, urls


def _css_url_of(token) -> str | None:
    if token.type == "url":
        return token.value
    if token.type == "function" and token.lower_name == "url":
        strings = [t.value for t in token.arguments if t.type == "string"]
        return strings[0] if strings else ""
    return None


def _has_url(tokens: list) -> bool:
    """Whether a url() or url("…") hides anywhere inside these tokens."""
    stack = list(tokens)
    while stack:
        token = stack.pop()
        if token.type == "url" or (token.type == "function" and token.lower_name == "url"):
            return True
        stack.extend(getattr(token, "arguments", None) or getattr(token, "content", None) or [])
    return False


_CSS_COMMENT = re.compile(r"/\*.*?(?:\*/|$)", re.DOTALL)
_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\r\n\f]?|(.))", re.DOTALL)


def _decode_css_escape(match: re.Match) -> str:
    if match.group(1):
        code = int(match.group(1), 16)
        return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
    return match.group(2)


def _css_forbidden(text: str) -> bool:
    if "\\" in text:  # anything still escaped after tinycss2 has decoded it is suspicious
        return True
    decoded = _CSS_ESCAPE.sub(_decode_css_escape, _CSS_COMMENT.sub("", text))
    squeezed = re.sub(r"\s+", "", decoded).lower()
    return any(marker in squeezed for marker in CSS_FORBIDDEN)


def _css_url(url: str) -> str:
    """url("…") for one of our own URLs, quoted so that it cannot end the string early."""
    escaped = re.sub(r'["\\\n\r\f]', lambda m: f"\\{ord(m.group()):x} ", url)
    return f'url("{escaped}")'


# --- text/plain ---------------------------------------------------------------------------------

_TEXT_LINK = re.compile(r"\b(?:https?://|mailto:)[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING_PUNCTUATION = ".,;:!?)]}'\""
_QUOTE_PREFIX = re.compile(r"^((?:>[ \t]?)+)")


def text_to_html(text: str, flowed: bool = False, delsp: bool = False) -> str:
    """A text/plain body as HTML: escaped, links clickable, quoted lines folded into blockquotes.

    flowed and delsp are the format=flowed and delsp=yes parameters of the part's Content-Type
    (RFC 3676): soft line breaks are joined, space-stuffing removed.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = _unflow(text, delsp) if flowed else [_quote_depth(line) for line in text.split("\n")]
    # line breaks kept by the stylesheet's .plain-text: the pages' CSP allows no style attribute
    out = ['<div class="plain-text">']
    depth = 0
    previous_was_text = False
    for line_depth, line in lines:
        if line_depth != depth:
            out.append("</blockquote>" * (depth - line_depth))
            out.append('<blockquote class="quote">' * (line_depth - depth))
            depth = line_depth
            previous_was_text = False
        if previous_was_text:
            out.append("\n")
        out.append(_linkify(line))
        previous_was_text = True
    out.append("</blockquote>" * depth)
    out.append("</div>")
    return "".join(out)


def _quote_depth(line: str) -> tuple[int, str]:
    """How many ">" start the line, and the line without them (and one space after each)."""
    match = _QUOTE_PREFIX.match(line)
    if not match:
        return 0, line
    return match.group(1).count(">"), line[match.end() :]


def _unflow(text: str, delsp: bool) -> list[tuple[int, str]]:
    """RFC 3676 section 4: join soft-broken lines (ending in a space) of the same quote depth."""
    lines: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for raw in text.split("\n"):
        depth = len(raw) - len(raw.lstrip(">"))
        line = raw[depth:]
        if line.startswith(" "):  # space-stuffing (4.4), or the space after the quote marks
            line = line[1:]
        if pending is not None and pending[0] == depth:
            line = pending[1] + line
        elif pending is not None:
            lines.append(pending)
        pending = None
        if line.endswith(" ") and line != "-- ":  # a soft break; the signature separator is not
            pending = (depth, line[:-1] if delsp else line)
        else:
            lines.append((depth, line))
    if pending is not None:
        lines.append(pending)
    return lines


def _linkify(line: str) -> str:
    out = []
    position = 0
    for match in _TEXT_LINK.finditer(line):
        url = match.group()
        while url and url[-1] in _TRAILING_PUNCTUATION:
            if url[-1] == ")" and url.count("(") >= url.count(")"):
                break  # the closing parenthesis of a URL like …/Foo_(bar)
            url = url[:-1]
        end = match.start() + len(url)
        if _LINK_URL.match(url):
            out.append(html.escape(line[position : match.start()], quote=False))
            href = html.escape(url)
            out.append(f'<a href="{href}" target="_blank" rel="noopener noreferrer">{href}</a>')
            position = end
    out.append(html.escape(line[position:], quote=False))
    return "".join(out)
