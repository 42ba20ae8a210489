"""The plain-text part of formatted mail: what our editor (Squire) writes, as text a reader of
plain mail would expect. One HTML5 parse (Lexbor, through selectolax, as mailbox/sanitize.py),
then one walk over the tree, without recursion (deep nesting cannot exhaust the stack).

What becomes what:

- blocks (div, p, li, h1-h6 ...) are lines; <br> ends a line, and a line with only a <br>
  (Squire's empty line, ``<div><br></div>``) is an empty line; a <br> ending a block adds none
  (browsers show none). A blank line stands only where the HTML shows a gap: around p, headings,
  lists (not nested ones), blockquote, pre, tables; never two in a row.
- lists: "- item", "1. item" (<ol start>, <li value> honoured), nested lists and the following
  lines of an item indented under the item's text.
- blockquote: "> " per level before every line, ">" alone on its blank lines.
- links: "text <url>"; just the text when the text is the url; mailto: shows the address.
- b/strong as *bold*, i/em as /italic/, u as _underline_ (Thunderbird's convention), around the
  words only; pre keeps its spaces and line breaks; &nbsp; is a space; no trailing spaces but
  the one of the signature separator "-- ".
"""

import re
from urllib.parse import unquote

from selectolax.lexbor import LexborHTMLParser

# fmt: off
_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "center", "dd", "details", "dialog", "dir",
    "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3",
    "h4", "h5", "h6", "header", "hgroup", "hr", "li", "main", "menu", "nav", "ol", "p", "pre",
    "section", "summary", "table", "caption", "thead", "tbody", "tfoot", "tr", "ul",
})
# blocks that browsers show with a margin: a blank line before and after them
_MARGINS = frozenset({
    "blockquote", "dl", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "p", "pre", "table",
})
_LISTS = frozenset({"ul", "ol", "menu", "dir"})
_SKIP = frozenset({
    "head", "title", "script", "style", "template", "noscript", "iframe", "object", "embed",
    "svg", "math", "select", "textarea", "audio", "video", "canvas",
})
# fmt: on
_MARK_CHARS = {"b": "*", "strong": "*", "i": "/", "em": "/", "u": "_"}
# private-use characters stand for the marks while a line is built
_OPEN = {"*": "\ue000", "/": "\ue002", "_": "\ue004"}
_CLOSE = {"*": "\ue001", "/": "\ue003", "_": "\ue005"}
_SENTINELS = re.compile("[\ue000-\ue005]")
_COLLAPSIBLE = re.compile(r"[ \t\n\r\f]+")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:", re.IGNORECASE)
_HIDDEN_SCHEMES = ("javascript:", "vbscript:", "data:", "cid:")


class _Quote:
    first = rest = "> "


class _Item:
    """A list item: its marker before its first line, spaces as wide before the next ones."""

    def __init__(self, marker: str):
        self.first = marker
        self.rest = " " * len(marker)


class _List:
    def __init__(self, ordered: bool, start: int):
        self.ordered = ordered
        self.number = start


class _Renderer:
    def __init__(self):
        self.lines: list[str] = []
        self.context: list[_Quote | _Item] = []  # what prefixes each line, outermost first
        self.lists: list[_List] = []
        self.buffer: list[str] = []  # the current line's pieces
        self.marks: list[str] = []  # open *, /, _ marks
        self.pending_blank: int | None = None  # the context depth of a blank line to come
        self.pre = 0
        self.flushes = 0  # lines ended so far: a link knows whether its text is on one line

    # --- lines ---------------------------------------------------------------------------------

    def prefix(self, depth: int | None = None, consume: bool = True) -> str:
        parts = []
        for entry in self.context[:depth]:
            if isinstance(entry, _Item) and consume and entry.first != entry.rest:
                parts.append(entry.first)
                entry.first = entry.rest
            else:
                parts.append(entry.rest)
        return "".join(parts)

    def emit(self, text: str) -> None:
        if self.pending_blank is not None and self.lines:
            depth = min(self.pending_blank, len(self.context))
            blank = self.prefix(depth, consume=False).rstrip()
            if self.lines[-1] not in ("", blank):
                self.lines.append(blank)
        self.pending_blank = None
        line = (self.prefix() + text).rstrip()
        if text.strip(" \xa0") == "--" and text.lstrip(" \xa0") != "--":
            line += " "  # the signature separator keeps its space (RFC 3676 section 4.3)
        if not (self.lines and self.lines[-1] == line and not line.strip("> ")):
            self.lines.append(line)  # (a blank line repeated is left out)

    def blank(self) -> None:
        """A blank line before whatever comes next (none at the start or the end)."""
        depth = len(self.context)
        self.pending_blank = depth if self.pending_blank is None else min(depth, self.pending_blank)

    def flush(self, force: bool = False) -> None:
        """End the current line: written when it has content, or when ``force`` (a <br>)."""
        text = "".join(self.buffer)
        if force or _SENTINELS.sub("", text).strip(" "):
            self.emit(_marked(text + "".join(_CLOSE[m] for m in reversed(self.marks))))
        self.buffer = [_OPEN[mark] for mark in self.marks]
        self.flushes += 1

    def visible_end(self) -> str:
        """The last character of the current line, marks aside ("" at its start)."""
        for piece in reversed(self.buffer):
            piece = _SENTINELS.sub("", piece)
            if piece:
                return piece[-1]
        return ""

    # --- nodes ---------------------------------------------------------------------------------

    def text(self, text: str) -> None:
        text = _SENTINELS.sub("", text)
        if self.pre:
            first, *others = text.split("\n")
            self.buffer.append(first)
            for line in others:
                self.flush(force=True)
                self.buffer.append(line)
            return
        text = _COLLAPSIBLE.sub(" ", text)
        if self.visible_end() in ("", " "):
            text = text.lstrip(" ")
        if text:
            self.buffer.append(text)

    def enter(self, node, tag: str):
        """Open ``node``; what it returns is handed to leave()."""
        if tag in _BLOCKS:
            self.flush()
            if tag in _MARGINS or (tag in _LISTS and not self.lists):
                self.blank()
        if tag == "br":
            self.flush(force=True)
        elif tag == "hr":
            self.emit("-" * 10)
        elif tag == "blockquote":
            self.context.append(_Quote())
        elif tag in _LISTS:
            self.lists.append(_List(tag == "ol", _number(node, "start", 1)))
        elif tag == "li":
            self.context.append(_Item(self.marker(node)))
        elif tag == "pre":
            self.pre += 1
        elif tag in _MARK_CHARS and _MARK_CHARS[tag] not in self.marks:
            self.marks.append(_MARK_CHARS[tag])
            self.buffer.append(_OPEN[_MARK_CHARS[tag]])
            return _MARK_CHARS[tag]
        elif tag in ("td", "th") and self.visible_end() not in ("", " "):
            self.buffer.append(" ")
        elif tag == "img":
            self.text(_attribute(node, "alt"))
        elif tag == "a":
            return (_attribute(node, "href").strip(), len(self.buffer), self.flushes)
        return None

    def leave(self, tag: str, state) -> None:
        if tag == "a" and state is not None:
            self.link(*state)
        elif tag in _MARK_CHARS and state is not None:
            self.marks.remove(state)
            self.buffer.append(_CLOSE[state])
        if tag not in _BLOCKS:
            return
        self.flush()
        if tag in ("blockquote", "li"):
            self.context.pop()
        elif tag in _LISTS:
            self.lists.pop()
        elif tag == "pre":
            self.pre -= 1
        if tag in _MARGINS or (tag in _LISTS and not self.lists):
            self.blank()

    def marker(self, node) -> str:
        if not self.lists or not self.lists[-1].ordered:
            return "- "
        current = self.lists[-1]
        current.number = _number(node, "value", current.number)
        current.number += 1
        return f"{current.number - 1}. "

    def link(self, href: str, start: int, flushes: int) -> None:
        shown = _shown_url(href)
        if not shown:
            return
        same_line = flushes == self.flushes
        words = _SENTINELS.sub("", "".join(self.buffer[start:])).strip() if same_line else ""
        if same_line and _same_url(words, shown):
            return
        if same_line and not words:
            self.text(shown)
            return
        self.buffer.append(f" <{shown}>" if self.visible_end() not in ("", " ") else f"<{shown}>")


def _marked(line: str) -> str:
    """A line's marks as characters, around words only: "*bold *" is "*bold* ", and marks
    around nothing go."""
    for mark, opening in _OPEN.items():
        closing = _CLOSE[mark]
        line = re.sub(f"{opening}(\\s+)", f"\\1{opening}", line)
        line = re.sub(f"(\\s+){closing}", f"{closing}\\1", line)
        previous = None
        while previous != line:
            previous = line
            line = line.replace(opening + closing, "")
        line = line.replace(opening, mark).replace(closing, mark)
    return line.replace("\xa0", " ")


def _attribute(node, name: str) -> str:
    return node.attributes.get(name) or ""


def _number(node, name: str, default: int) -> int:
    value = _attribute(node, name).strip()
    return int(value) if value.isdigit() and len(value) < 10 else default


def _shown_url(href: str) -> str:
    """What a link's target looks like in text: the address of a mailto:, the URL of a web
    link, nothing for a link into the page or a script."""
    if not _SCHEME.match(href) or href.lower().startswith(_HIDDEN_SCHEMES):
        return ""
    if href.lower().startswith("mailto:"):
        return unquote(href[7:].partition("?")[0])
    return href


def _same_url(words: str, url: str) -> bool:
    def bare(text):
        text = text.strip().lower()
        text = re.sub(r"^(?:https?://|mailto:)", "", text)
        return text.removeprefix("www.").rstrip("/")

    return bare(words) == bare(url)


def _children(node):
    child = node.child
    while child is not None:
        yield child
        child = child.next


def html_to_text(html: str) -> str:
    """The plain text of ``html`` (a fragment or a document), lines joined by "\\n", without
    blank lines at either end. See the module's docstring for what becomes what."""
    body = LexborHTMLParser(html).body
    if body is None:
        return ""
    renderer = _Renderer()
    stack: list[tuple] = [(False, child, None) for child in reversed(list(_children(body)))]
    while stack:
        leaving, node, state = stack.pop()
        tag = node.tag
        if leaving:
            renderer.leave(tag, state)
        elif tag == "-text":
            renderer.text(node.text_content or "")
        elif not tag.startswith("-") and tag not in _SKIP:
            state = renderer.enter(node, tag)
            stack.append((True, node, state))
            stack.extend((False, child, None) for child in reversed(list(_children(node))))
    renderer.flush()
    lines = renderer.lines
    while lines and not lines[-1]:
        lines.pop()
    start = next((index for index, line in enumerate(lines) if line), len(lines))
    return "\n".join(lines[start:])
