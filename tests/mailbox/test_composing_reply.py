"""What a reply or a forward starts from (mailbox/composing/reply.py). Plain pytest."""

from datetime import datetime, timedelta, timezone

import pytest

from mailbox.composing.fields import LINE_BREAKS, Address
from mailbox.composing.reply import (
    add_signature_html,
    add_signature_text,
    attribution,
    forward_block_html,
    forward_block_text,
    forward_subject,
    quote_html,
    quote_plain,
    reply_recipients,
    reply_references,
    reply_subject,
)

ALICE = Address("Alice", "alice@example.com")
BOB = Address("Bob", "bob@example.org")
CAROL = Address("Carol", "carol@example.net")
DAN = Address("Dan", "dan@example.net")
LIST = Address("Team list", "team@lists.example.org")
OWN = {"Alice@Example.com", "alice.martin@work.example"}


@pytest.mark.parametrize(
    ("subject", "reply"),
    [("Lunch", "Re: Lunch"), ("Re: Lunch", "Re: Lunch"), ("Re: Re: Lunch", "Re: Lunch"),
     ("RE: Lunch", "Re: Lunch"), ("Aw: Lunch", "Re: Lunch"), ("Sv: Lunch", "Re: Lunch"),
     ("Re[2]: Lunch", "Re: Lunch"), ("Re: AW: re : Lunch", "Re: Lunch"),
     ("Fwd: Lunch", "Re: Fwd: Lunch"), ("", "Re: "), ("Regarding lunch", "Re: Regarding lunch"),
     ("Réunion", "Re: Réunion"), ("回复：会议", "Re: 会议"), ("  Lunch  ", "Re: Lunch")],
)  # fmt: skip
def test_a_reply_subject_has_one_re(subject, reply):
    assert reply_subject(subject) == reply


@pytest.mark.parametrize(
    ("subject", "forward"),
    [("Lunch", "Fwd: Lunch"), ("Fwd: Lunch", "Fwd: Lunch"), ("FW: Fwd: Lunch", "Fwd: Lunch"),
     ("WG: Lunch", "Fwd: Lunch"), ("TR: Lunch", "Fwd: Lunch"), ("Re: Lunch", "Fwd: Re: Lunch"),
     ("Fwd[3]: Lunch", "Fwd: Lunch"), ("Fwdx: Lunch", "Fwd: Fwdx: Lunch")],
)  # fmt: skip
def test_a_forward_subject_has_one_fwd(subject, forward):
    assert forward_subject(subject) == forward


def recipients(reply_all, *, from_=(BOB,), reply_to=(), to=(ALICE,), cc=()):
    new_to, new_cc = reply_recipients(
        from_=list(from_), reply_to=list(reply_to), to=list(to), cc=list(cc),
        own_addresses=OWN, reply_all=reply_all,
    )  # fmt: skip
    return [a.address for a in new_to], [a.address for a in new_cc]


def test_a_reply_goes_to_the_sender():
    assert recipients(False, to=[ALICE, CAROL], cc=[DAN]) == (["bob@example.org"], [])


def test_a_reply_honours_reply_to():
    assert recipients(False, reply_to=[LIST]) == (["team@lists.example.org"], [])
    assert recipients(True, reply_to=[LIST], to=[ALICE, CAROL]) == (
        ["team@lists.example.org", "carol@example.net"],
        [],
    )


def test_reply_all_keeps_to_and_cc_without_the_users_own_addresses():
    to = [Address("Me", "ALICE@example.com"), CAROL]
    cc = [Address("Me at work", "alice.martin@WORK.example"), DAN, Address("", "bob@EXAMPLE.org")]
    assert recipients(True, to=to, cc=cc) == (
        ["bob@example.org", "carol@example.net"],
        ["dan@example.net"],
    )


def test_each_address_comes_once_where_it_first_appears():
    to = [CAROL, Address("Carol again", "CAROL@example.net"), BOB]
    cc = [DAN, Address("", "dan@example.net"), Address("", "carol@example.net")]
    new_to, new_cc = reply_recipients(
        from_=[BOB], reply_to=[], to=to, cc=cc, own_addresses=OWN, reply_all=True
    )
    assert new_to == [BOB, CAROL]
    assert new_cc == [DAN]


def test_replying_to_my_own_sent_message_goes_to_its_recipients():
    assert recipients(False, from_=[ALICE], to=[CAROL, DAN]) == (
        ["carol@example.net", "dan@example.net"],
        [],
    )
    assert recipients(True, from_=[ALICE], to=[CAROL], cc=[DAN, ALICE]) == (
        ["carol@example.net"],
        ["dan@example.net"],
    )


def test_replying_to_a_note_to_myself_goes_to_me():
    assert recipients(True, from_=[ALICE], to=[ALICE]) == (["alice@example.com"], [])


def test_a_group_without_addresses_is_left_out():
    group = Address("undisclosed-recipients:;", "")
    assert recipients(True, to=[group, CAROL]) == (["bob@example.org", "carol@example.net"], [])


def test_a_reply_references_its_parent_after_the_parents_references():
    in_reply_to, references = reply_references(
        message_id="<3@x>", references=["<1@x>", "<2@x>"], in_reply_to="<2@x>"
    )
    assert in_reply_to == "<3@x>"
    assert references == ["<1@x>", "<2@x>", "<3@x>"]


def test_without_references_the_parents_in_reply_to_starts_the_chain():
    assert reply_references(message_id="<2@x>", references=[], in_reply_to="<1@x>") == (
        "<2@x>",
        ["<1@x>", "<2@x>"],
    )
    assert reply_references(message_id="<1@x>", references=[], in_reply_to="") == (
        "<1@x>",
        ["<1@x>"],
    )


def test_bare_ids_as_our_parser_gives_them_get_brackets():
    assert reply_references(message_id="3@x", references=["1@x", "2@x"], in_reply_to="") == (
        "<3@x>",
        ["<1@x>", "<2@x>", "<3@x>"],
    )


@pytest.mark.parametrize("char", sorted(LINE_BREAKS), ids=lambda c: f"U+{ord(c):04X}")
def test_ids_with_line_breaks_or_spaces_are_dropped(char):
    in_reply_to, references = reply_references(
        message_id=f"<3@x>{char}X-Evil: 1",
        references=["<1@x>", f"<2{char}@x>", "<a b@x>", "<<c@x>>"],
        in_reply_to="",
    )
    assert (in_reply_to, references) == ("", ["<1@x>"])


def test_references_that_are_all_bad_fall_back_to_in_reply_to():
    assert reply_references(message_id="<3@x>", references=["<a b>"], in_reply_to="<2@x>") == (
        "<3@x>",
        ["<2@x>", "<3@x>"],
    )


def test_long_references_keep_the_root_and_the_newest():
    ids = [f"<{n}@x>" for n in range(40)]
    in_reply_to, references = reply_references(
        message_id="<40@x>", references=ids, in_reply_to="<39@x>"
    )
    assert in_reply_to == "<40@x>"
    assert len(references) == 20
    assert references == ["<0@x>", *[f"<{n}@x>" for n in range(22, 41)]]


def test_the_attribution_names_the_date_and_sender():
    when = datetime(2026, 3, 1, 9, 5, tzinfo=timezone(timedelta(hours=1)))
    assert attribution(when, "Bob", "bob@example.org") == (
        "On 2026-03-01 09:05, Bob <bob@example.org> wrote:"
    )
    assert attribution(when, "", "bob@example.org", "Le {date}, {sender} a écrit :") == (
        "Le 2026-03-01 09:05, bob@example.org a écrit :"
    )
    assert attribution(None, "Bob", "") == "Bob wrote:"
    assert (
        attribution(when, "Bob\u2028Evil", "b@x.org")
        == "On 2026-03-01 09:05, Bob Evil <b@x.org> wrote:"
    )


def test_plain_quoting_prefixes_each_line():
    text = "Hi Alice,\n\n> did you see?\n>> older\nYes.\n"
    assert quote_plain(text, "Bob wrote:") == (
        "\n\nBob wrote:\n> Hi Alice,\n>\n>> did you see?\n>>> older\n> Yes.\n"
    )


def test_plain_quoting_reads_any_line_ending():
    assert quote_plain("a\r\nb\rc", "X:") == "\n\nX:\n> a\n> b\n> c\n"


def test_formatted_quoting_escapes_the_attribution_only():
    quoted = quote_html("<p>Hi <b>Alice</b></p>", "On 1 Mar, Bob <bob@example.org> wrote:")
    assert quoted == (
        "<p>On 1 Mar, Bob &lt;bob@example.org&gt; wrote:</p>"
        '<blockquote type="cite"><p>Hi <b>Alice</b></p></blockquote>'
    )


HEADERS = [
    ("From", "Bob <bob@example.org>"),
    ("Date", "1 Mar 2026"),
    ("Subject", "Plans & <ideas>"),
]


def test_an_inline_forward_in_plain_text_lists_the_headers():
    assert forward_block_text(headers=HEADERS, text="Hello.\n") == (
        "\n\n---------- Forwarded message ---------\n"
        "From: Bob <bob@example.org>\nDate: 1 Mar 2026\nSubject: Plans & <ideas>\n\nHello.\n"
    )
    assert forward_block_text(headers=[("Subject", "a\nb")], text="", heading="-- Fwd --") == (
        "\n\n-- Fwd --\nSubject: a b\n\n"
    )


def test_an_inline_forward_in_html_escapes_the_headers():
    assert forward_block_html(headers=HEADERS, html="<p>Hello.</p>") == (
        "<p>---------- Forwarded message ---------<br>From: Bob &lt;bob@example.org&gt;<br>"
        "Date: 1 Mar 2026<br>Subject: Plans &amp; &lt;ideas&gt;</p><p>Hello.</p>"
    )


def test_the_signature_follows_the_rfc_3676_separator():
    assert add_signature_text("Hi", "Bob\nexample.org") == "Hi\n\n-- \nBob\nexample.org"
    assert add_signature_text("Hi", "-- \nBob") == "Hi\n\n-- \nBob"
    assert add_signature_text("Hi", "") == "Hi"
    assert add_signature_text("Hi", " \n") == "Hi"
    assert add_signature_html("<p>Hi</p>", "<b>Bob</b>") == (
        '<p>Hi</p><div class="signature">-- <br><b>Bob</b></div>'
    )
    assert add_signature_html("<p>Hi</p>", "") == "<p>Hi</p>"
