"""The demo/test mail generator: well-formed, varied, deterministic, and it lands in a real IMAP
server with its folders, flags and dates. No Django and no database here."""

import collections
import datetime
import email
import email.policy
import imaplib
import re
import struct
import zlib

import pytest

from mailbox.protocols.base import Endpoint, Security
from mailbox.testing import seed
from mailbox.testing.servers import MailWorld

pytestmark = pytest.mark.servers

NOW = datetime.datetime(2025, 6, 1, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def messages():
    return seed.generate_messages(600, seed=7, now=NOW)


@pytest.fixture(scope="module")
def parsed(messages):
    return [parse(data) for *_, data in messages]


def parse(data, policy=email.policy.default):
    return email.message_from_bytes(data, policy=policy)


def check_png(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, kinds, idat = 8, [], b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        kinds.append(kind)
        idat += body if kind == b"IDAT" else b""
        position += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    width, height = struct.unpack(">II", data[16:24])
    assert len(zlib.decompress(idat)) == height * (1 + 3 * width)


def check_pdf(data):
    assert data.startswith(b"%PDF-1.") and data.rstrip().endswith(b"%%EOF")
    xref = int(re.search(rb"startxref\n(\d+)", data).group(1))
    assert data[xref:].startswith(b"xref")
    offsets = [int(m) for m in re.findall(rb"(\d{10}) 00000 n ", data)]
    for number, offset in enumerate(offsets, 1):
        assert data[offset:].startswith(b"%d 0 obj" % number)


def test_the_same_seed_gives_the_same_bytes(messages):
    assert seed.generate_messages(600, seed=7, now=NOW) == messages
    assert seed.generate_messages(50, seed=8, now=NOW) != messages[:50]


def test_every_message_parses_and_has_the_usual_headers(messages, parsed):
    ids = set()
    for (folder, _flags, internaldate, data), msg in zip(messages, parsed, strict=True):
        assert internaldate.tzinfo is not None
        assert NOW - datetime.timedelta(days=560) < internaldate <= NOW
        assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
        assert data.isascii()  # 7bit everywhere: RFC 2047 headers, QP and base64 bodies
        for name in ("Message-ID", "Date", "From", "Subject", "To"):
            assert msg[name], (name, data[:300])
        assert msg["Date"].datetime.tzinfo is not None
        assert msg["Message-ID"] not in ids
        ids.add(msg["Message-ID"])
        if folder == "Sent":
            assert msg["From"].addresses[0].addr_spec == "demo@example.com"
        else:
            assert "demo@example.com" in str(msg["To"]) + str(msg["Cc"] or "")
        for part in msg.walk():
            if not part.is_multipart():
                part.get_content()  # decodes: charset and transfer encoding are right


def test_the_email_package_would_write_exactly_these_bytes(messages):
    for *_, data in messages:
        assert parse(data, email.policy.SMTP).as_bytes() == data


def test_the_mix_is_realistic(messages, parsed):
    kinds, folders, names, sizes = collections.Counter(), collections.Counter(), set(), []
    inline, attachments, remote_images = 0, collections.Counter(), 0
    for (folder, _flags, _date, data), msg in zip(messages, parsed, strict=True):
        folders[folder] += 1
        sizes.append(len(data))
        kinds[msg.get_content_type()] += 1
        names.add(msg["From"].addresses[0].display_name)
        cids = {p["Content-ID"].strip("<>") for p in msg.walk() if p["Content-ID"]}
        for part in msg.walk():
            if part.get_content_disposition() == "attachment":
                attachments[part.get_content_type()] += 1
                if part.get_content_type() == "image/png":
                    check_png(part.get_content())
                if part.get_content_type() == "application/pdf":
                    check_pdf(part.get_content())
            if part.get_content_type() == "text/html":
                html = part.get_content()
                remote_images += "https://tracker.example.net/pixel.gif" in html
                for cid in re.findall(r'src="cid:([^"]+)"', html):
                    assert cid in cids
                    inline += 1
    total = len(messages)
    assert 0.5 < kinds["text/plain"] / total < 0.72
    assert 0.15 < kinds["multipart/alternative"] / total < 0.32
    assert 0.05 < kinds["multipart/mixed"] / total < 0.15
    assert 0.02 < inline / total < 0.09
    assert remote_images > 0.1 * total
    assert {"image/png", "application/pdf", "text/csv", "text/plain"} <= set(attachments)
    assert 0.6 < folders["INBOX"] / total < 0.8
    assert {"Archive", "Sent", "Projects/Garden", "Receipts"} <= set(folders)
    assert {"Zoë Dupré", "Jürgen Müller", "小林 健"} <= names
    assert len(names) >= 35
    sizes.sort()
    assert sizes[total // 10] > 1200
    assert sizes[total // 2] < 20000
    assert sizes[-1] < 100_000


def test_replies_are_threaded_onto_earlier_messages(parsed):
    seen_ids, replies = set(), 0
    for msg in parsed:
        if msg["In-Reply-To"]:
            replies += 1
            references = msg["References"].split()
            assert references[-1] == msg["In-Reply-To"]
            assert set(references) <= seen_ids  # oldest first: the parents came before
            assert msg["Subject"].startswith("Re: ")
            assert "\n> " in msg.get_body(("plain",)).get_content()
        seen_ids.add(msg["Message-ID"])
    assert 0.08 < replies / len(parsed) < 0.22


def test_flags_newest_unseen_most_older_seen(messages):
    received = [(flags, date) for folder, flags, date, _ in messages if folder != "Sent"]
    assert [date for _, date in received] == sorted(date for _, date in received)
    assert all("\\Seen" not in flags for flags, _ in received[-20:])
    older = [flags for flags, _ in received[:-20]]
    assert sum("\\Seen" in flags for flags in older) / len(older) > 0.9
    every = [flags for _, flags, _, _ in messages]
    assert 0.02 < sum("\\Flagged" in f for f in every) / len(every) < 0.09
    assert 0.01 < sum("\\Answered" in f for f in every) / len(every) < 0.07


def test_folder_names_are_quoted_for_imap():
    assert seed.quote_mailbox("INBOX") == "INBOX"
    assert seed.quote_mailbox("Projects/Garden") == '"Projects/Garden"'
    assert seed.quote_mailbox('Odd "name"') == '"Odd \\"name\\""'
    assert seed.quote_mailbox("Entwürfe & Co") == '"Entw&APw-rfe &- Co"'


# --- against a real server ------------------------------------------------------------------


@pytest.fixture
def world():
    # its own Dovecot, so that 150 messages do not land in the shared test mailboxes
    world = MailWorld().start()
    try:
        world.dovecot.add_user("alice", "alicepw")
        yield world
    finally:
        world.stop()


def status_messages(client, quoted):
    typ, data = client.status(quoted, "(MESSAGES)")
    assert typ == "OK", data
    return int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))


def test_seed_account_fills_a_real_mailbox(world):
    endpoint = Endpoint(
        host="127.0.0.1",
        port=world.dovecot.ports["imap"],
        security=Security.NONE,
        username="alice@example.com",
        password="alicepw",
        allow_private=True,
    )
    assert seed.seed_account(endpoint, 150, seed=3, now=NOW) == 150
    expected = seed.generate_messages(150, seed=3, recipient="alice@example.com", now=NOW)
    per_folder = collections.Counter(folder for folder, *_ in expected)

    client = imaplib.IMAP4("127.0.0.1", world.dovecot.ports["imap"], timeout=15)
    try:
        client.login("alice@example.com", "alicepw")
        typ, listing = client.list()
        assert typ == "OK"
        names = {re.search(rb' "/" "?([^"]*)"?$', line).group(1).decode() for line in listing}
        assert set(per_folder) <= names
        counts = {f: status_messages(client, seed.quote_mailbox(f)) for f in per_folder}
        assert counts == dict(per_folder)
        assert sum(counts.values()) == 150

        typ, _ = client.select("INBOX", readonly=True)
        assert typ == "OK"
        seen = client.uid("SEARCH", "SEEN")[1][0].split()
        unseen = client.uid("SEARCH", "UNSEEN")[1][0].split()
        inbox = [m for m in expected if m[0] == "INBOX"]
        assert len(seen) == sum("\\Seen" in m[1] for m in inbox) > 0
        assert len(unseen) == len(inbox) - len(seen) > 0
        assert len(client.uid("SEARCH", "FLAGGED")[1][0].split()) == sum(
            "\\Flagged" in m[1] for m in inbox
        )

        # appended in order, byte for byte, with the INTERNALDATE asked for
        typ, data = client.uid("FETCH", "1:*", "(INTERNALDATE BODY.PEEK[])")
        assert typ == "OK"
        fetched = [item for item in data if isinstance(item, tuple)]
        assert [body for _, body in fetched] == [m[3] for m in inbox]
        internaldate = re.search(rb'INTERNALDATE "([^"]+)"', fetched[0][0]).group(1).decode()
        parsed = datetime.datetime.strptime(internaldate, "%d-%b-%Y %H:%M:%S %z")
        assert parsed == inbox[0][2].replace(microsecond=0)
    finally:
        client.logout()
