"""Unicode's explicit bidirectional formatting characters: text that lies about its order.

A subject "invoice", U+202E (right-to-left override), "gnp.exe" shows as "invoiceexe.png": the
override reverses what follows it. Mail headers, attachment names and a server's folder names are
written by strangers, so the screens drop these characters from every such text they show, and
isolate each field (``<bdi>`` or ``dir="auto"``) so that it cannot reorder its neighbours either.
Dropping loses nothing honest: within an isolated field the Unicode bidi algorithm orders Arabic
or Hebrew by itself, and the marks (LRM, RLM, ALM) that mail programs sprinkle into such text
would turn into clutter if they were shown as visible markers instead. What is left reads in its
real order ("invoicegnp.exe" ends in .exe). Download names replace them (views/download.py), and
folder names typed here refuse them (actions.check_folder_name).
"""

# the embeddings and overrides (U+202A-U+202E), the isolates (U+2066-U+2069), and the marks
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_DROPPED = dict.fromkeys(map(ord, BIDI_CONTROLS))


def drop_bidi_controls(text: str) -> str:
    """``text`` without any of BIDI_CONTROLS."""
    return text.translate(_DROPPED)
