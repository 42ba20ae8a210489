"""Folder names, flags, UID sets and search terms on their way to an IMAP server."""

import datetime

import pytest

from mailbox.protocols.base import ConnectionProblem, Problem
from mailbox.protocols.imap import names

RFC_EXAMPLE = ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-")


def test_the_rfc_example_encodes_and_decodes():
    unicode, encoded = RFC_EXAMPLE
    assert names.encode_mailbox_name(unicode) == encoded
    assert names.decode_mailbox_name(encoded) == unicode
    assert names.decode_mailbox_name(encoded.encode()) == unicode


@pytest.mark.parametrize(
    "name",
    ["Entwürfe", "Sent Items", 'Odd "name"', "Tom & Jerry", "&", "&-", "a\\b", "Reçus/2024",
     "🌱 Garden", "émoji 🎉 & ünïcode", "日本語", "~", "a&b&c", "x" * 300, "𝄞𝄞𝄞", ""],
)  # fmt: skip
def test_any_name_round_trips(name):
    encoded = names.encode_mailbox_name(name)
    assert encoded.isascii()
    assert names.decode_mailbox_name(encoded) == name


def test_an_ampersand_is_shifted_out():
    assert names.encode_mailbox_name("Tom & Jerry") == "Tom &- Jerry"
    assert names.encode_mailbox_name("Entwürfe & Co") == "Entw&APw-rfe &- Co"


def test_broken_modified_utf7_is_shown_as_sent():
    assert names.decode_mailbox_name("bad &%%%- name") == "bad &%%%- name"
    assert names.decode_mailbox_name("odd &A-") == "odd &A-"


def test_quoting_escapes_backslashes_and_quotes():
    assert names.quote('say "hi"') == b'"say \\"hi\\""'
    assert names.quote("a\\b") == b'"a\\\\b"'
    assert names.quote("") == b'""'


@pytest.mark.parametrize("bad", ["a\rb", "a\nb", "a\0b", "INBOX\r\nW1 DELETE INBOX"])
def test_line_breaks_and_nul_are_refused(bad):
    for encode in (names.quote, names.mailbox_arg):
        with pytest.raises(ConnectionProblem) as caught:
            encode(bad)
        assert caught.value.problem == Problem.BAD_INPUT
    with pytest.raises(ConnectionProblem):
        names.search_criteria(subject=bad)


def test_mailbox_arguments_are_encoded_and_quoted():
    assert names.mailbox_arg("INBOX") == b"INBOX"
    assert names.mailbox_arg("inbox") == b"INBOX"
    assert names.mailbox_arg('Odd "x" & Entwürfe') == b'"Odd \\"x\\" &- Entw&APw-rfe"'
    assert names.quote_mailbox("Projects/Garden") == '"Projects/Garden"'


def test_flags_must_be_atoms():
    assert names.flag_list(["\\Seen", "$Label1"]) == b"(\\Seen $Label1)"
    for bad in ["two words", "(x)", "a{1}", "ü", "", "\\Seen\r\n"]:
        with pytest.raises(ConnectionProblem):
            names.flag_list([bad])


def test_uid_sets_are_compact():
    assert names.uid_set([5, 1, 2, 3, 3, 7, 8, 10]) == b"1:3,5,7:8,10"
    assert names.uid_set([]) == b""


def test_uid_batches_keep_command_lines_short():
    scattered = list(range(1, 200_000, 2))  # no two adjacent: the longest possible set
    pieces = list(names.uid_batches(scattered, 50_000, max_length=7000))
    assert all(len(text) <= 7000 for text, _ in pieces)
    assert [uid for _, chunk in pieces for uid in chunk] == scattered
    assert list(names.uid_batches(range(1, 1001), 400)) == [
        (b"1:400", list(range(1, 401))),
        (b"401:800", list(range(401, 801))),
        (b"801:1000", list(range(801, 1001))),
    ]


def test_dates_for_search_and_append():
    assert names.imap_date(datetime.date(2024, 2, 1)) == "1-Feb-2024"
    moment = datetime.datetime(
        2024, 2, 1, 9, 5, 7, tzinfo=datetime.timezone(-datetime.timedelta(hours=7, minutes=30))
    )
    assert names.imap_datetime(moment) == b'"01-Feb-2024 09:05:07 -0730"'
    with pytest.raises(ValueError):
        names.imap_datetime(datetime.datetime(2024, 2, 1))


def test_ascii_search_terms_are_quoted():
    criteria = names.search_criteria(
        from_='bob "the" builder', since=datetime.date(2024, 1, 5), unseen=True
    )
    assert criteria.charset is None
    assert criteria.pieces == (
        b"FROM",
        b'"bob \\"the\\" builder"',
        b"SINCE",
        b"5-Jan-2024",
        b"UNSEEN",
    )


def test_non_ascii_search_terms_go_as_utf8_literals():
    criteria = names.search_criteria(subject="Grüße", flagged=False, header=("X-Tag", "ünï"))
    assert criteria.charset == "UTF-8"
    assert criteria.pieces == (
        b"SUBJECT", names.Literal("Grüße".encode()), b"UNFLAGGED",
        b"HEADER", b"X-Tag", names.Literal("ünï".encode()),
    )  # fmt: skip


def test_no_terms_means_all_and_unknown_terms_are_an_error():
    assert names.search_criteria().pieces == (b"ALL",)
    assert names.search_criteria(uids=[3, 1, 2]).pieces == (b"UID", b"1:3")
    with pytest.raises(TypeError):
        names.search_criteria(colour="red")
