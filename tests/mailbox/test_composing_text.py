"""The plain-text part of formatted mail (mailbox/composing/text.py), from HTML shaped as our
editor (Squire) writes it: a <div> per line, <div><br></div> for an empty line. Plain pytest."""

import pytest

from mailbox.composing.reply import add_signature_html, quote_html
from mailbox.composing.text import html_to_text


def test_editor_lines_are_lines_and_empty_ones_stay_single():
    html = (
        "<div>Hi Bob,<br></div><div><br></div><div>Lunch on Friday?<br></div>"
        "<div>At noon.</div><div><br></div><div><br></div><div>Alice</div>"
    )
    assert html_to_text(html) == "Hi Bob,\n\nLunch on Friday?\nAt noon.\n\nAlice"


def test_line_breaks_inside_a_block():
    assert html_to_text("<div>one<br>two<br><br>four</div><div>five</div>") == (
        "one\ntwo\n\nfour\nfive"
    )


def test_paragraphs_and_headings_are_set_apart_by_one_blank_line():
    html = "<h1>Plan</h1><p>First.</p><p>Second.</p><h2>Then</h2><div>no gap</div><div>here</div>"
    assert html_to_text(html) == "Plan\n\nFirst.\n\nSecond.\n\nThen\n\nno gap\nhere"


def test_emphasis_marks_hug_the_words():
    html = "<div><b>bold </b>and<i> italic</i>, <u>under</u><strong></strong> <em>x</em></div>"
    assert html_to_text(html) == "*bold* and /italic/, _under_ /x/"


def test_emphasis_across_a_line_break_is_closed_and_reopened():
    assert html_to_text("<div><b>one<br>two</b></div>") == "*one*\n*two*"


def test_lists_nested_and_numbered():
    html = (
        "<div>Agenda:</div>"
        "<ol><li>Budget</li><li>Travel<ul><li>trains</li><li>hotels<br>near the venue</li>"
        "</ul></li><li>Other</li></ol><div>Thanks</div>"
    )
    assert html_to_text(html) == (
        "Agenda:\n\n1. Budget\n2. Travel\n   - trains\n   - hotels\n     near the venue\n"
        "3. Other\n\nThanks"
    )


def test_list_items_holding_editor_blocks():
    html = "<ul><li><div>first<br></div></li><li><div>second</div><div>more</div></li></ul>"
    assert html_to_text(html) == "- first\n- second\n  more"


def test_ordered_lists_honour_start_and_value():
    html = '<ol start="7"><li>g</li><li value="10">j</li><li>k</li></ol>'
    assert html_to_text(html) == "7. g\n10. j\n11. k"


@pytest.mark.parametrize(
    ("html", "text"),
    [('<a href="https://example.org/plan">the plan</a>', "the plan <https://example.org/plan>"),
     ('<a href="https://example.org/">https://example.org/</a>', "https://example.org/"),
     ('<a href="https://example.org/">example.org</a>', "example.org"),
     ('<a href="mailto:bob@example.org">bob@example.org</a>', "bob@example.org"),
     ('<a href="mailto:bob@example.org?subject=Hi">write to Bob</a>', "write to Bob <bob@example.org>"),
     ('<a href="mailto:bob%40example.org"></a>', "bob@example.org"),
     ('<a href="https://x.org/"><b>bold link</b></a>', "*bold link* <https://x.org/>"),
     ('<a href="javascript:alert(1)">click</a>', "click"),
     ('<a href="#top">top</a>', "top"),
     ('<a>no target</a>', "no target"),
     ('see <a href="https://x.org/">a<br>b</a>.', "see a\nb <https://x.org/>.")],
)  # fmt: skip
def test_links_show_their_target_once(html, text):
    assert html_to_text(f"<div>{html}</div>") == text


def test_quotes_get_one_marker_per_level():
    html = (
        "<div>Yes.</div><div>On Monday, Bob wrote:</div>"
        '<blockquote type="cite"><div>Shall we?</div><div><br></div>'
        "<blockquote><div>Lunch?</div></blockquote><div>Say yes.</div></blockquote>"
        "<div>Alice</div>"
    )
    assert html_to_text(html) == (
        "Yes.\nOn Monday, Bob wrote:\n\n> Shall we?\n>\n> > Lunch?\n>\n> Say yes.\n\nAlice"
    )


def test_a_list_inside_a_quote():
    html = "<blockquote><ul><li>a</li><li>b</li></ul></blockquote>"
    assert html_to_text(html) == "> - a\n> - b"


def test_preformatted_text_keeps_its_spaces():
    html = "<div>Run:</div><pre>  make test\n\tthen   check\n</pre><div>done</div>"
    assert html_to_text(html) == "Run:\n\n  make test\n\tthen   check\n\ndone"


def test_entities_and_non_breaking_spaces():
    html = "<div>a&nbsp;&nbsp;&nbsp;b &amp; c &lt;d&gt; &eacute; &#128512;&nbsp;</div>"
    assert html_to_text(html) == "a   b & c <d> é 😀"


def test_spaces_collapse_as_a_browser_shows_them():
    html = "<div>\n   many    spaces\n  and <b> bold </b> words   </div>"
    assert html_to_text(html) == "many spaces and *bold* words"


def test_no_line_has_trailing_spaces_nor_two_blank_lines_in_a_row():
    html = (
        "<div>a   <br>   </div><p> </p><p>b&nbsp;</p><div><br></div><div><br></div><h3>c</h3>"
        "<blockquote><p>d</p><div><br></div><p>e</p></blockquote><pre>f   \n\n\n</pre>"
    )
    text = html_to_text(html)
    assert text == "a\n\nb\n\nc\n\n> d\n>\n> e\n\nf"
    assert all(line == line.rstrip() for line in text.split("\n"))


def test_tables_rules_and_quoted_code():
    html = (
        "<table><tr><th>Name</th><th>Qty</th></tr><tr><td>pears</td><td>3</td></tr></table>"
        "<hr><blockquote><pre>x = 1\n  y</pre></blockquote>"
    )
    assert html_to_text(html) == "Name Qty\npears 3\n\n----------\n\n> x = 1\n>   y"


def test_what_is_not_shown_is_not_written():
    html = (
        "<html><head><title>T</title><style>p{}</style></head><body>"
        "<script>alert(1)</script><div>shown</div><!-- comment --><template>no</template>"
        '<img src="cid:x" alt="[logo]"><img src="y.png"></body></html>'
    )
    assert html_to_text(html) == "shown\n[logo]"


def test_private_use_characters_in_the_text_cannot_fake_marks():
    assert html_to_text("<div>a\ue000b\ue001c</div>") == "abc"


def test_empty_and_blank_documents():
    assert html_to_text("") == ""
    assert html_to_text("<div><br></div><div><br></div>") == ""
    assert html_to_text("plain words") == "plain words"


def test_deep_nesting_does_not_exhaust_the_stack():
    depth = 5000
    text = html_to_text("<div>" * depth + "deep" + "</div>" * depth)
    assert text == "deep"
    quoted = html_to_text("<blockquote>" * 300 + "q" + "</blockquote>" * 300)
    assert quoted == "> " * 300 + "q"


def test_a_formatted_reply_reads_as_a_plain_one():
    html = add_signature_html(
        "<div>Sounds good.</div><div><br></div>"
        + quote_html("<div>Lunch at <b>noon</b>?</div>", "On 1 March, Bob <b@x.org> wrote:"),
        "<div>Alice</div>",
    )
    assert html_to_text(html) == (
        "Sounds good.\n\nOn 1 March, Bob <b@x.org> wrote:\n\n> Lunch at *noon*?\n\n-- \nAlice"
    )
