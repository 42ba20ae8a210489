"""Reading IMAP responses byte for byte, including the awkward ones servers really send."""

import datetime
import io

import pytest

from mailbox.protocols.imap import parser

HEADER_KEY = b"BODY[HEADER.FIELDS (DATE FROM)]"
UTC = datetime.UTC


def reader(data):
    return io.BufferedReader(io.BytesIO(data), buffer_size=16)  # small: reads cross its edge


def responses(data):
    file = reader(data)
    out = []
    while True:
        try:
            out.append(parser.read_response(file))
        except EOFError:
            return out


# --- reading ------------------------------------------------------------------------------------


def test_lines_are_read_without_their_crlf():
    assert responses(b"* 3 EXISTS\r\nW1 OK done\r\n") == [b"* 3 EXISTS", b"W1 OK done"]


def test_literals_are_read_by_length_and_the_line_goes_on():
    data = (
        b"* 1 FETCH (BODY[1] {11}\r\nhello)\r\n{x} UID 7 BODY[2] {3}\r\n\r\n\r)\r\n* 2 EXISTS\r\n"
    )
    assert responses(data) == [
        b"* 1 FETCH (BODY[1] {11}\r\nhello)\r\n{x} UID 7 BODY[2] {3}\r\n\r\n\r)",
        b"* 2 EXISTS",
    ]


def test_a_brace_at_the_end_that_is_no_literal_ends_the_line():
    assert responses(b"* OK [ALERT] odd {text}\r\n") == [b"* OK [ALERT] odd {text}"]


def test_a_closed_connection_inside_a_literal_is_noticed():
    with pytest.raises(EOFError):
        parser.read_response(reader(b"* 1 FETCH (BODY[] {100}\r\nshort"))


def test_a_line_without_crlf_is_an_error():
    with pytest.raises(parser.ParseError):
        parser.read_response(reader(b"* 1 EXISTS"))


# --- FETCH --------------------------------------------------------------------------------------

BODYSTRUCTURE = (
    b'(("text" "plain" ("charset" "utf-8" "name" "a \\"quoted\\" (paren) name") NIL NIL "7bit" 10 1'
    b' NIL NIL NIL NIL)("application" "pdf" ("name" "x)y(.pdf") NIL "{5}" "base64" 20 NIL'
    b' ("attachment" ("filename" "x)y(.pdf")) NIL NIL) "mixed" ("boundary" "==(b)==") NIL NIL NIL)'
)
HEADER = b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nFrom: Zo\xc3\xab <z@example.org>\r\n\r\n"


def meta_response(seq, uid, structure=BODYSTRUCTURE, header=HEADER, flags=b"\\Seen \\Recent"):
    return (
        b'* %d FETCH (UID %d FLAGS (%s) RFC822.SIZE 1234 INTERNALDATE " 7-Jul-2024 02:44:25 -0700"'
        b" MODSEQ (99) BODYSTRUCTURE %s BODY[HEADER.FIELDS (DATE FROM)] {%d}\r\n%s)"
        % (seq, uid, flags, structure, len(header), header)
    )


def test_a_meta_response_is_parsed_in_one_go():
    uid, flags, size, date, modseq, header, structure = parser.parse_meta(
        meta_response(1, 42), HEADER_KEY
    )
    assert (uid, flags, size, modseq, header, structure) == (
        42, ("\\Seen",), 1234, 99, HEADER, BODYSTRUCTURE,
    )  # fmt: skip
    tz = datetime.timezone(-datetime.timedelta(hours=7))
    assert date == datetime.datetime(2024, 7, 7, 2, 44, 25, tzinfo=tz)


def test_items_in_another_order_give_the_same_meta():
    raw = (
        b"* 1 FETCH (BODY[HEADER.FIELDS (DATE FROM)] {%d}\r\n%s BODYSTRUCTURE %s MODSEQ (99)"
        b' INTERNALDATE " 7-Jul-2024 02:44:25 -0700" RFC822.SIZE 1234 FLAGS (\\Seen) UID 42)'
        % (len(HEADER), HEADER, BODYSTRUCTURE)
    )
    assert parser.parse_meta(raw, HEADER_KEY) == parser.parse_meta(meta_response(1, 42), HEADER_KEY)


def test_a_literal_inside_the_bodystructure_is_stepped_over():
    structure = b'("text" "plain" ("name" {9}\r\nit\'s ) (x) NIL NIL "7bit" 3 1 NIL NIL NIL NIL)'
    fields = parser.parse_meta(meta_response(1, 5, structure), HEADER_KEY)
    assert fields[6] == structure
    assert fields[5] == HEADER


def test_a_nil_header_and_an_empty_flag_list():
    raw = (
        b'* 1 FETCH (UID 5 FLAGS () RFC822.SIZE 0 INTERNALDATE "01-Jan-2024 00:00:00 +0000"'
        b' BODYSTRUCTURE ("text" "plain" NIL NIL NIL "7bit" 0 0) BODY[HEADER.FIELDS (DATE FROM)] NIL)'
    )
    fields = parser.parse_meta(raw, HEADER_KEY)
    assert fields[:2] == (5, ())
    assert fields[4:6] == (None, b"")


def test_a_deeply_nested_bodystructure_takes_the_slow_path_correctly():
    structure = b"(" * 40 + b'"text" "plain"' + b")" * 40
    fields = parser.parse_meta(meta_response(1, 5, structure), HEADER_KEY)
    assert fields[6] == structure


def test_a_flag_change_is_not_a_meta_response():
    raw = b"* 3 FETCH (UID 9 MODSEQ (120) FLAGS (\\Seen $Label1))"
    assert parser.parse_meta(raw, HEADER_KEY) is None
    assert parser.parse_fetch(raw) == (
        3, {b"UID": 9, b"MODSEQ": 120, b"FLAGS": ("\\Seen", "$Label1")}
    )  # fmt: skip


def test_unsolicited_fetches_between_requested_ones_are_told_apart():
    data = b"\r\n".join(
        [meta_response(1, 10), b"* 7 FETCH (FLAGS (\\Deleted) UID 70)", meta_response(2, 11), b""]
    )
    parsed = [parser.parse_meta(raw, HEADER_KEY) for raw in responses(data)]
    assert [p[0] if p else None for p in parsed] == [10, None, 11]


def test_sections_partials_quoted_and_nil_values():
    raw = (
        b'* 4 FETCH (UID 8 BODY[2]<0> {4}\r\nabcd BODY[1.MIME] "Content-Type: \\"x\\"" BODY[3] NIL'
        b' ENVELOPE ("date" "subj (x)" NIL NIL NIL NIL NIL NIL NIL "<id>") X-GM-THRID 123)'
    )
    seq, items = parser.parse_fetch(raw)
    assert seq == 4
    assert items == {
        b"UID": 8,
        b"BODY[2]<0>": b"abcd",
        b"BODY[1.MIME]": b'Content-Type: "x"',
        b"BODY[3]": None,
        b"ENVELOPE": b'("date" "subj (x)" NIL NIL NIL NIL NIL NIL NIL "<id>")',
        b"X-GM-THRID": 123,
    }


def test_internaldates_parse_with_any_offset():
    assert parser.parse_internaldate(b"31-Dec-1999 23:59:59 +0530") == datetime.datetime(
        1999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    )
    assert parser.parse_internaldate(b"1-Feb-2024 01:02:03 +0000") == datetime.datetime(
        2024, 2, 1, 1, 2, 3, tzinfo=UTC
    )
    for bad in (b"31-Foo-1999 23:59:59 +0530", b"30-Feb-2024 01:02:03 +0000", b"yesterday"):
        with pytest.raises(parser.ParseError):
            parser.parse_internaldate(bad)


# --- other responses ----------------------------------------------------------------------------


def test_tagged_and_untagged_responses_and_codes():
    assert parser.parse_tagged(b"W7 OK [APPENDUID 38505 3955] APPEND completed") == (
        b"W7", "OK", b"[APPENDUID 38505 3955] APPEND completed",
    )  # fmt: skip
    assert parser.parse_tagged(b"W8 no [TRYCREATE] no such mailbox")[1] == "NO"
    assert parser.parse_untagged(b"* 23 EXISTS") == (23, "EXISTS", b"")
    assert parser.parse_untagged(b"* OK [UIDVALIDITY 3857529045] UIDs valid") == (
        None, "OK", b"[UIDVALIDITY 3857529045] UIDs valid",
    )  # fmt: skip
    assert parser.parse_code(b"[UIDNEXT 4392] Predicted") == ("UIDNEXT", b"4392", b"Predicted")
    assert parser.parse_code(b"[READ-ONLY] ok") == ("READ-ONLY", None, b"ok")
    assert parser.parse_code(b"[NOMODSEQ] Sorry") == ("NOMODSEQ", None, b"Sorry")
    assert parser.parse_code(b"[CAPABILITY IMAP4rev1 IDLE] x")[:2] == (
        "CAPABILITY",
        b"IMAP4rev1 IDLE",
    )
    assert parser.parse_code(b"no code") == (None, None, b"no code")


def test_copyuid_maps_old_to_new():
    assert parser.parse_copyuid(b"38505 304,319:320 3956:3958") == {304: 3956, 319: 3957, 320: 3958}


def test_list_responses_with_extended_data():
    assert parser.parse_list(b'(\\HasNoChildren \\Sent) "/" Sent') == (
        frozenset({"\\HasNoChildren", "\\Sent"}), "/", b"Sent",
    )  # fmt: skip
    rest = b'(\\Subscribed) "." "Foo &- \\"Bar\\"" ("CHILDINFO" ("SUBSCRIBED"))'
    assert parser.parse_list(rest) == (frozenset({"\\Subscribed"}), ".", b'Foo &- "Bar"')
    assert parser.parse_list(b"(\\Noselect) NIL {5}\r\nodd()") == (
        frozenset({"\\Noselect"}), None, b"odd()",
    )  # fmt: skip


def test_status_esearch_search_and_vanished():
    assert parser.parse_status(b'"Entw&APw-rfe" (MESSAGES 231 UIDNEXT 44292 HIGHESTMODSEQ 7)') == (
        b"Entw&APw-rfe", {"MESSAGES": 231, "UIDNEXT": 44292, "HIGHESTMODSEQ": 7},
    )  # fmt: skip
    assert parser.parse_esearch(b'(TAG "W5") UID ALL 1:3,5') == (b"W5", True, {"ALL": b"1:3,5"})
    assert parser.parse_esearch(b'(TAG "W5") UID') == (b"W5", True, {})
    assert parser.parse_search(b"2 84 882") == [2, 84, 882]
    assert parser.parse_search(b"2 84 (MODSEQ 917162500)") == [2, 84]
    assert parser.parse_search(b"") == []
    assert parser.parse_vanished(b"(EARLIER) 300:302,405") == (True, [300, 301, 302, 405])
    assert parser.parse_vanished(b"7") == (False, [7])


def test_uid_sets_expand_but_not_without_bound():
    assert parser.expand_uid_set(b"3:1,9") == [1, 2, 3, 9]
    with pytest.raises(parser.ParseError):
        parser.expand_uid_set(b"1:4294967295")
    with pytest.raises(parser.ParseError):
        parser.expand_uid_set(b"1:*")


def test_values_nest_and_unescape():
    assert parser.parse_values(b'(a "b \\\\ \\"c\\"" NIL (1 2)) {3}\r\nx y') == [
        [b"a", b'b \\ "c"', None, [b"1", b"2"]],
        b"x y",
    ]
