"""A message stored raw (as a POP3 account keeps it) reads exactly as IMAP shows the same message.

The specification is Dovecot itself: every file of the MIME corpus (shared/corpus: CPython's
fuzzing seeds and the real-world samples) and the hand-made cases below is APPENDed to the test
Dovecot with its line breaks made CRLF (what POP3 RETR gives and what is stored), and so are
two hundred corpus files mangled at random (seeded); Dovecot's BODYSTRUCTURE, read by
parse_bodystructure, must then equal the tree mailbox/parsing/mime.py scans from the same
bytes, part by part, and every part read from the file must equal what ``BODY.PEEK[<section>]``
gives, decoded the same way.

The bytes scanned are the ones stored. IMAP shows them as they are in ``BODY.PEEK[]`` except
for NUL, which no IMAP literal may carry and Dovecot shows as 0x80; its BODYSTRUCTURE and POP3
RETR see the NUL, so the scan does too (the part reads are then compared on FETCH's bytes).

Accepted differences, each a rule applied to every file (``view(..., as_dovecot=True)``):

1. message/global (RFC 6532 3.7) holds a message, as message/rfc822 does: the scan opens it
   (``.message`` and a line count) so that an internationalised forwarded message reads like
   any other; Dovecot 2.3 keeps it opaque. Everything else about the part is the same.
2. Limits, not met in the corpus and shown by their own tests below. Only the first
   MAX_HEADER_BYTES (64 KiB) of a part's MIME fields are read; Dovecot reads them all. A
   multipart or message nested MAX_DEPTH (50) deep is one opaque part; Dovecot opens 100
   levels, but parse_bodystructure refuses its answer past 50. Parts past MAX_PARTS (5,000,
   about what parse_bodystructure takes from a server, and some 5 MB of tree) are one opaque
   part; Dovecot makes up to 10,000, and parse_bodystructure takes up to some 5,800.
"""

import base64
import functools
import imaplib
import random
import re
import statistics
import time
import tracemalloc
import uuid
from io import BytesIO

import pytest

from mailbox.parsing import (
    find_parts,
    is_attachment,
    mime,
    parse_bodystructure,
    tree_has_attachments,
)
from mailbox.parsing.bodystructure import MAX_DEPTH
from mailbox.parsing.mime import (
    MAX_HEADER_BYTES,
    MAX_PARTS,
    iter_part,
    read_part,
    scan_bytes,
    scan_message,
)
from mailbox.parsing.transfer import decode, decoded
from tests.corpus import CORPUS, require

PASSWORD = "mime-scan-pw"
FIELDS = (
    "section", "content_type", "params", "id", "description", "encoding", "size", "lines", "md5",
    "disposition", "disposition_params", "filename", "language", "location",
)  # fmt: skip


def corpus_files():
    return sorted((CORPUS / "mime-fuzz").glob("*.eml")) + sorted(
        (CORPUS / "realworld").glob("*.eml")
    )


@functools.cache
def sources():
    """The corpus files' bytes, or the hand-made cases where the corpus is absent."""
    return [path.read_bytes() for path in corpus_files()] or list(HANDMADE.values())


def crlf(raw):
    """Every line break (CRLF, LF or a lone CR) as CRLF: what Dovecot stores and serves."""
    return re.sub(rb"\r\n|\r|\n", b"\r\n", raw)


# --- hand-made cases ----------------------------------------------------------------------------

NESTED_RFC822 = b"""\
From: Alice <alice@example.com>
Subject: Fwd: the plan
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: text/plain; charset=utf-8

See below.
--outer
Content-Type: message/rfc822
Content-Disposition: attachment

From: Bob <bob@example.org>
Subject: the plan
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain

plain
--inner
Content-Type: text/html

<p>html</p>
--inner--
--outer
Content-Type: message/rfc822

Subject: a message in a message
Content-Type: message/rfc822

Subject: the innermost

deep
--outer--
"""

MULTIPART_IN_MULTIPART = b"""\
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="a"

--a
Content-Type: multipart/related; boundary="ab"

--ab
Content-Type: multipart/alternative; boundary="abc"

--abc
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

caf=E9
--abc
Content-Type: text/html; charset="utf-8"

<img src="cid:logo@x">
--abc--
--ab
Content-Type: image/png; name="logo.png"
Content-ID: <logo@x>
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--ab--
--a
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename="report.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--a--
"""

RFC2231_FILENAME = b"""\
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: application/octet-stream;
 name*0*=utf-8''na%C3%AF;
 name*1*=ve%20r%C3%A9sum%C3%A9;
 name*2=".pdf"
Content-Disposition: attachment;
 filename*1*=%20r%C3%A9sum%C3%A9.pdf;
 filename*0*=utf-8''na%C3%AFve
Content-Transfer-Encoding: base64

aGVsbG8=
--b
Content-Type: text/plain; name*0="split "; name*1="name.txt"; name*3="gap"

x
--b--
"""

NO_CONTENT_TYPE = b"""\
From: someone@example.org
Subject: plain old mail
Content-Transfer-Encoding: base64

Without MIME-Version or Content-Type, the transfer encoding does not count.
"""

BARE_LF = b"""\
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=lf

preamble
--lf
Content-Type: text/plain

one
two

--lf
Content-Type: application/octet-stream; name=a.bin
Content-Transfer-Encoding: base64

AAECAwQFBgcICQ==
--lf--
epilogue
"""

ODD_STRUCTURES = {
    "digest-parts-default-to-messages": b"""\
Content-Type: multipart/digest; boundary=d

--d

Subject: first

one
--d
Content-Type: text/plain

not a message
--d--
""",
    "a-delimiter-cuts-a-header-short": b"""\
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: text/html
--b
Content-Type: message/rfc822

Subject: cut
--b
Content-Type: multipart/mixed; boundary=c
--b--
""",
    "never-closed": b"""\
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: multipart/alternative; boundary=c

--c

inner
--b

outer resumes, never closed
""",
    "no-boundary-parameter": b"""\
Content-Type: multipart/mixed

--b

text
""",
    "boundaries-that-prefix-each-other": b"""\
Content-Type: multipart/mixed; boundary=a

--a
Content-Type: multipart/mixed; boundary=ab

--ab
Content-Type: text/plain

in ab
--abc trailing garbage: still the ab delimiter
Content-Type: text/plain

second
--ab--
--a--
--a
after the close
""",
    "nul-in-a-parameter": b'Content-Type: text/plain; name="a\x00b"; x=c\x00d\n'
    b"Content-Description: d\x00e\n\nbody \x00 here\n",
    "close-delimiter-at-the-end-without-a-line-break": b"""\
Content-Type: multipart/mixed; boundary=b

--b

x
--b--""",
    "broken-content-types": b"""\
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: multipart

opaque
--b
Content-Type: text

text without subtype
--b
Content-Type: multipart/mixed boundary=x

garbage after the subtype
--b
Content-Type: text/plain; charset="unterminated

x
--b--
""",
    "message-global": b"""\
Content-Type: multipart/mixed; boundary=b

--b
Content-Type: message/global

Subject: =?utf-8?q?r=C3=A9sum=C3=A9?=
Content-Type: text/plain; charset=utf-8

body
--b--
""",
    "no-empty-line-after-the-header": b"Subject: only a header\nFrom: a@example.org",
}

HANDMADE = {
    "nested-message-rfc822": NESTED_RFC822,
    "multipart-in-multipart": MULTIPART_IN_MULTIPART,
    "rfc2231-continued-filename": RFC2231_FILENAME,
    "no-content-type": NO_CONTENT_TYPE,
    "bare-lf": BARE_LF,
    **ODD_STRUCTURES,
}


def cases():
    return [pytest.param(path.read_bytes(), id=path.name) for path in corpus_files()] + [
        pytest.param(raw, id=name) for name, raw in HANDMADE.items()
    ]


# --- what IMAP says, through plain imaplib ------------------------------------------------------

LITERAL = re.compile(rb"\{(\d+)\}\r\n")
QUOTED = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
ATOM = re.compile(rb"[^\s()]+")
ITEM = re.compile(rb"\s*([A-Z0-9.]+(?:\[[^\]]*\])?) ")


def response(data):
    """imaplib's pieces of one FETCH response, joined back into the bytes the server sent."""
    return b"".join(piece[0] + b"\r\n" + piece[1] if isinstance(piece, tuple) else piece
                    for piece in data)  # fmt: skip


def value_end(raw, pos):
    """Where the IMAP value at ``pos`` (a list, a quoted string, a literal, an atom) ends."""
    depth = 0
    while True:
        byte = raw[pos : pos + 1]
        if byte in (b"(", b")"):
            depth += 1 if byte == b"(" else -1
            pos += 1
        elif byte == b'"':
            pos = QUOTED.match(raw, pos).end()
        elif literal := LITERAL.match(raw, pos):
            pos = literal.end() + int(literal.group(1))
        elif byte == b" ":
            pos += 1
        else:
            pos = ATOM.match(raw, pos).end()
        if depth == 0:
            return pos


def fetch_items(data):
    """{item name: raw value} of one FETCH response."""
    raw = response(data)
    items, pos = {}, raw.index(b"(") + 1
    while match := ITEM.match(raw, pos):
        pos = value_end(raw, match.end())
        items[match.group(1).decode()] = raw[match.end() : pos]
    return items


def string(value):
    """The bytes of an nstring: a literal, a quoted string or NIL."""
    if value == b"NIL":
        return None
    if literal := LITERAL.match(value):
        return value[literal.end() :]
    return re.sub(rb"\\(.)", rb"\1", value[1:-1])


class Inbox:
    """One mailbox on the test Dovecot, over one plain imaplib connection."""

    def __init__(self, client):
        self.client = client

    def append(self, raw):
        """(uid, BODYSTRUCTURE, BODY[], BODY[HEADER]) of ``raw`` once stored."""
        status, data = self.client.append("INBOX", None, None, raw)
        assert status == "OK", data
        uid = re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1).decode()
        status, data = self.client.uid(
            "FETCH", uid, "(BODYSTRUCTURE BODY.PEEK[] BODY.PEEK[HEADER])"
        )
        assert status == "OK", data
        items = fetch_items(data)
        return uid, items["BODYSTRUCTURE"], string(items["BODY[]"]), string(items["BODY[HEADER]"])

    def sections(self, uid, sections):
        """{section: BODY[section] bytes}."""
        found = {}
        for start in range(0, len(sections), 100):
            batch = sections[start : start + 100]
            items = " ".join(f"BODY.PEEK[{section}]" for section in batch)
            status, data = self.client.uid("FETCH", uid, f"({items})")
            assert status == "OK", data
            values = fetch_items(data)
            found.update((section, string(values[f"BODY[{section}]"])) for section in batch)
        return found


@pytest.fixture(scope="module")
def inbox(mail_world):
    """A fresh mailbox for the whole module: three hundred files take seconds, not minutes."""
    address = mail_world.dovecot.add_user(f"mime{uuid.uuid4().hex[:12]}", PASSWORD)
    client = imaplib.IMAP4("127.0.0.1", mail_world.dovecot.ports["imap"], timeout=30)
    client.login(address, PASSWORD)
    client.select("INBOX")
    yield Inbox(client)
    try:
        client.logout()
    except (imaplib.IMAP4.error, OSError):
        pass


def view(part, as_dovecot=False):
    """A part and everything below it as plain data, for a readable assertion diff."""
    shown = {name: getattr(part, name) for name in FIELDS}
    message = part.message
    if as_dovecot and part.content_type == "message/global":  # accepted difference 1
        message = shown["lines"] = None
    shown["children"] = [view(child, as_dovecot) for child in part.children]
    shown["message"] = None if message is None else view(message, as_dovecot)
    return shown


# --- the same tree as IMAP gives ----------------------------------------------------------------


@pytest.mark.servers
@pytest.mark.parametrize("raw", cases())
def test_a_stored_message_reads_as_imap_shows_it(inbox, raw):
    assert_reads_as_imap_shows_it(inbox, crlf(raw))


@pytest.mark.servers
@pytest.mark.parametrize("seed", range(200))
def test_a_mangled_message_reads_as_imap_shows_it(inbox, seed):
    """Corpus files with delimiter lines, empty lines and MIME fields put in or cut out at
    random: headers cut short, parts never closed, delimiters of the wrong multipart ..."""
    assert_reads_as_imap_shows_it(inbox, crlf(mangled(random.Random(seed))) or b"x")


def assert_reads_as_imap_shows_it(inbox, stored):
    uid, structure, body, header = inbox.append(stored)
    assert body == stored.replace(b"\0", b"\x80"), "Dovecot keeps the bytes as they came"

    scanned = scan_bytes(stored)

    assert view(scanned.tree, as_dovecot=True) == view(parse_bodystructure(structure))
    assert (scanned.header_end, scanned.size) == (len(header), len(stored))
    # inside a message/global, IMAP sections name other bytes (accepted difference 1)
    opaque = {inner.section for part in scanned.tree.walk() if part.content_type ==
              "message/global" for inner in part.message.walk()}  # fmt: skip
    parts = [part for part in scanned.tree.walk() if part.section not in opaque]
    fetched = inbox.sections(uid, [part.section for part in parts])
    for part in parts:
        expected = decode(fetched[part.section] or b"", part.encoding)
        assert read_part(BytesIO(body), part) == expected, part.section


MANGLING = [
    b"\r\n", b"\r\n\r\n", b"--", b"\0", b"(", b'"', b";", b" ", b"*0*=", b"MIME-Version: 1.0\r\n",
    b"Content-Type: message/rfc822\r\n", b"Content-Type: multipart/mixed; boundary=zz\r\n",
    b"Content-Type: multipart/digest; boundary=zz\r\n\r\n--zz\r\n\r\n", b"\r\n--zz\r\n",
    b"\r\n--zz--\r\n", b"Content-Transfer-Encoding: base64\r\n",
]  # fmt: skip


def mangled(rng):
    """A corpus file changed in one to eight places."""
    data = bytearray(rng.choice(sources()))
    boundaries = re.findall(rb'boundary="?([^";\r\n]+)', bytes(data)) or [b"zz"]
    for _ in range(rng.randint(1, 8)):
        pos, roll = rng.randint(0, len(data)), rng.random()
        if roll < 0.4:
            data[pos:pos] = rng.choice(MANGLING)
        elif roll < 0.7:
            ending = rng.choice([b"", b"--", b"x"]) + rng.choice([b"\r\n", b""])
            data[pos:pos] = b"\r\n--" + rng.choice(boundaries) + ending
        elif roll < 0.85:
            del data[pos : pos + rng.randint(1, 200)]
        else:
            start = rng.randint(0, len(data))
            data[pos:pos] = data[start : start + rng.randint(1, 300)]
    return bytes(data)


@pytest.mark.servers
def test_a_bare_lf_file_has_the_sizes_imap_gives_for_its_crlf_form(inbox):
    """Sizes count a bare LF as CRLF, as IMAP does; only the offsets differ."""
    _uid, structure, _body, _header = inbox.append(crlf(BARE_LF))

    scanned = scan_bytes(BARE_LF)

    assert view(scanned.tree) == view(parse_bodystructure(structure))
    attachment = scanned.tree.children[1]
    assert read_part(BytesIO(BARE_LF), attachment) == bytes(range(10))
    assert read_part(BytesIO(BARE_LF), scanned.tree.children[0]) == b"one\ntwo\n"


def test_the_reading_code_finds_the_same_parts_in_a_scanned_tree():
    tree = scan_bytes(crlf(MULTIPART_IN_MULTIPART)).tree

    text, html, attachments, inline = find_parts(tree)

    assert (text.section, html.section) == ("1.1.1", "1.1.2")
    assert [part.filename for part in attachments] == ["report.pdf"]
    assert [part.content_id for part in inline] == ["logo@x"]
    assert is_attachment(attachments[0]) and not is_attachment(text)


def test_a_continued_rfc2231_filename_is_joined_and_decoded():
    tree = scan_bytes(crlf(RFC2231_FILENAME)).tree

    named, gapped = tree.children

    assert named.filename == "naïve résumé.pdf"
    assert named.params["name"] == "naïve résumé.pdf"
    # Dovecot leaves sections with a gap unjoined; decode_params joins what there is, in order
    assert gapped.params["name"] == "split name.txtgap"


def test_a_message_without_mime_fields_is_plain_text():
    part = scan_bytes(crlf(NO_CONTENT_TYPE)).tree

    assert (part.section, part.content_type, part.encoding) == ("1", "text/plain", "7bit")
    assert part.params == {"charset": "us-ascii"}


def test_message_global_holds_a_message():
    part = scan_bytes(crlf(ODD_STRUCTURES["message-global"])).tree.children[0]

    assert part.content_type == "message/global"
    assert part.message.section == "1.1"
    assert part.message.params == {"charset": "utf-8"}
    assert read_part(BytesIO(crlf(ODD_STRUCTURES["message-global"])), part.message) == b"body"


# --- anything at all ----------------------------------------------------------------------------


def test_every_corpus_file_scans_as_it_is_without_an_error():
    """The files unchanged (bare CRs, bare LFs, NULs): a tree, offsets inside the file, every
    part readable, each in well under a second."""
    require(CORPUS / "mime-fuzz"), require(CORPUS / "realworld")
    files = corpus_files()
    slowest = 0.0
    for path in files:
        raw = path.read_bytes()
        started = time.perf_counter()
        scanned = scan_bytes(raw)
        slowest = max(slowest, time.perf_counter() - started)
        assert scanned.size == len(raw)
        sections = [part.section for part in scanned.tree.walk()]
        assert len(sections) == len(set(sections)), path.name
        for part in scanned.tree.walk():
            assert 0 <= part.body_start <= part.body_end <= len(raw), (path.name, part.section)
            read_part(BytesIO(raw), part)
    assert slowest < 0.1


def test_random_bytes_never_raise():
    pieces = [
        b"\r\n", b"\n", b"\r", b"--", b"--b", b"--b--", b"Content-Type: multipart/mixed; boundary=b\n",
        b"Content-Type: message/rfc822\n", b"Content-Type: multipart/digest; boundary=b\n", b"\n\n",
        b"x", b"\0", b"\xff", b"(", b")", b'"', b"\\", b";", b"=", b"*0*", b" ", b"\t",
        b"MIME-Version: 1.0\n", b"Content-Transfer-Encoding: base64\n", b"Content-Disposition: a;",
    ]  # fmt: skip
    rng = random.Random(2046)
    for _ in range(3000):
        raw = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 60)))
        scanned = scan_bytes(raw)
        for part in scanned.tree.walk():
            assert 0 <= part.body_start <= part.body_end <= len(raw)
            read_part(BytesIO(raw), part)


def test_iter_part_gives_the_bytes_of_read_part_whatever_the_chunk_size():
    for raw in [crlf(MULTIPART_IN_MULTIPART), BARE_LF] + [p.read_bytes() for p in corpus_files()]:
        stream = BytesIO(raw)
        for part in scan_bytes(raw).tree.walk():
            whole = read_part(stream, part)
            for chunk_size in (1, 2, 3, 5, 77, 4096):
                assert b"".join(iter_part(stream, part, chunk_size)) == whole


def test_read_part_stops_at_the_limit():
    raw = crlf(MULTIPART_IN_MULTIPART)
    pdf = scan_bytes(raw).tree.children[1]

    assert read_part(BytesIO(raw), pdf) == b"%PDF-1.4\n"
    assert read_part(BytesIO(raw), pdf, limit=4) == b"%PDF"


def test_a_part_from_imap_has_no_offsets_to_read():
    part = parse_bodystructure(b'("text" "plain" NIL NIL NIL "7bit" 5 1)')

    with pytest.raises(ValueError, match="no offsets"):
        read_part(BytesIO(b"hello"), part)


def test_the_transfer_decoders_do_not_depend_on_chunk_boundaries():
    rng = random.Random(6)
    pieces = [
        b"QUJD",
        b"ZA==",
        b"=",
        b"==",
        b"\r\n",
        b"=\r\n",
        b"=C3=A9",
        b"=4",
        b" ",
        b"-",
        b"\xff",
    ]
    for _ in range(2000):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        for encoding in ("base64", "quoted-printable", "7bit"):
            cuts = sorted(rng.sample(range(len(data) + 1), min(len(data) + 1, 4)))
            chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
            assert b"".join(decoded(chunks, encoding)) == decode(data, encoding)
    assert decode(b"aGk=aGk=", "base64") == b"hihi"  # blocks glued together all come out
    assert decode(b"caf=C3=A9 =\r\nok", "Quoted-Printable") == "café ok".encode()


# --- limits -------------------------------------------------------------------------------------


def test_nesting_past_max_depth_ends_in_one_opaque_part():
    boundaries = [f"=_{level:03d}_=".encode() for level in range(MAX_DEPTH + 10)]
    raw = b"Content-Type: multipart/mixed; boundary=%s\r\n\r\n" % boundaries[0]
    for outer, inner in zip(boundaries, boundaries[1:], strict=False):
        raw += b"--%s\r\nContent-Type: multipart/mixed; boundary=%s\r\n\r\n" % (outer, inner)
    raw += b"--%s\r\n\r\ndeep\r\n" % boundaries[-1]

    parts = list(scan_bytes(raw).tree.walk())

    deepest = parts[-1]
    assert len(parts) == MAX_DEPTH + 1
    assert deepest.section.count(".") == MAX_DEPTH - 1
    assert deepest.content_type == "application/octet-stream"
    assert raw[deepest.body_start : deepest.body_end].endswith(b"deep\r\n")


def test_parts_past_max_parts_are_one_opaque_part():
    count = MAX_PARTS + 100
    raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    raw += b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % n for n in range(count))
    raw += b"--b--\r\n"

    tree = scan_bytes(raw).tree

    last = tree.children[-1]
    assert len(tree.children) == MAX_PARTS  # the multipart counts: MAX_PARTS - 1, then the rest
    assert last.content_type == "application/octet-stream"
    first_left_out = b"Content-Type: text/plain\r\n\r\npart %d\r\n" % (MAX_PARTS - 1)
    assert raw[last.body_start :].startswith(first_left_out)
    assert last.body_end == len(raw)


def test_mime_fields_past_the_header_cap_are_not_read():
    filler = b"".join(b"Content-X-%d: %s\r\n" % (n, b"w" * 60) for n in range(1200))
    assert len(filler) > MAX_HEADER_BYTES
    raw = b"Content-Type: text/html\r\n" + filler + b"Content-ID: <late@x>\r\n\r\nbody"

    part = scan_bytes(raw).tree

    assert part.content_type == "text/html"
    assert part.id is None
    assert read_part(BytesIO(raw), part) == b"body"


# --- size and speed -----------------------------------------------------------------------------


def write_big_message(path, megabytes=50):
    """A message with a short text and a base64 attachment, about ``megabytes`` MB; returns
    the size of the attachment, decoded."""
    with path.open("wb") as out:
        out.write(
            b"From: a@example.org\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="=_big"\r\n\r\n'
            b"--=_big\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n"
            b'--=_big\r\nContent-Type: application/octet-stream; name="big.bin"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n"
        )
        block = base64.encodebytes(random.Random(50).randbytes(57 * 10_000))
        block = block.replace(b"\n", b"\r\n")
        blocks = megabytes * 2**20 // len(block)
        for _ in range(blocks):
            out.write(block)
        out.write(b"--=_big--\r\n")
    return blocks * 57 * 10_000


def test_a_50_mb_message_is_scanned_and_streamed_in_a_few_megabytes(tmp_path):
    path = tmp_path / "big.eml"
    attachment_size = write_big_message(path)

    tracemalloc.start()
    started = time.perf_counter()
    with path.open("rb") as stream:
        scanned = scan_message(stream)
    scan_seconds = time.perf_counter() - started
    scan_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    started = time.perf_counter()
    with path.open("rb") as stream:
        decoded_size = sum(len(chunk) for chunk in iter_part(stream, scanned.tree.children[1]))
    stream_seconds = time.perf_counter() - started
    stream_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    size = path.stat().st_size
    print(
        f"\n{size / 2**20:.0f} MB: scan {scan_seconds:.2f} s, peak {scan_peak / 2**20:.2f} MB;"
        f" iter_part {stream_seconds:.2f} s, peak {stream_peak / 2**20:.2f} MB"
    )
    attachment = scanned.tree.children[1]
    assert scanned.size == size
    assert attachment.size == attachment.body_end - attachment.body_start > 49 * 2**20
    assert decoded_size == attachment_size
    assert scan_peak < 2 * 2**20
    assert stream_peak < 5 * 2**20
    assert scan_seconds < 3


def test_a_20_kb_message_scans_in_well_under_a_millisecond():
    raw = crlf(
        b"From: a@example.org\nSubject: hello\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/alternative; boundary="alt"\n\n--alt\n'
        b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
        + b"A line of text as mail has it, with an accent: caf=C3=A9.\n" * 160
        + b"--alt\nContent-Type: text/html; charset=utf-8\n\n"
        + b"<p>A line of HTML as mail has it, more or less.</p>\n" * 220
        + b"--alt--\n"
    )
    assert 18_000 < len(raw) < 22_000
    times = []
    for _ in range(300):
        started = time.perf_counter()
        scan_bytes(raw)
        times.append(time.perf_counter() - started)

    median = statistics.median(times)
    print(f"\n{len(raw) / 1000:.0f} KB: scan median {median * 1e6:.0f} µs")
    assert median < 0.001


# --- what a fetch asks without a scan -----------------------------------------------------------


def _crlf(data):
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.mark.parametrize("path", corpus_files(), ids=lambda path: path.name)
def test_the_quick_answers_agree_with_the_scan(path):
    """A fetch skips the scan when no MIME field could name an attachment: the scan must then
    find none; and the header block it cuts ends where the scan's does."""
    for data in (path.read_bytes(), _crlf(path.read_bytes())):
        scan = mime.scan_bytes(data)
        if not mime.may_have_attachments(data):
            assert not tree_has_attachments(scan.tree)
        assert mime.header_end(data) == scan.header_end


def test_the_quick_check_sees_folded_and_odd_fields():
    folded = b"Content-Disposition:\r\n\tATTACHMENT\r\n\r\nx"
    spaced = b'Subject: x\r\nContent-Type : application/pdf;\r\n name*0="a"\r\n\r\nx'
    plain = b"Subject: my name is\r\nContent-Type: text/plain\r\n\r\nThe attachment, by name."
    assert mime.may_have_attachments(folded) and mime.may_have_attachments(spaced)
    assert not mime.may_have_attachments(plain)
