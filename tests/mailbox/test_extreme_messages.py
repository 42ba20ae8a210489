"""Mail built to hurt a reader: nested 1,000 deep, 10,000 attachments, 100 MB, a 1 MB header,
broken base64, a charset nobody knows. Alice gets each in a POP3 account's Inbox (kept here, as a
fetch keeps it) and opens it the way her browser would: the list, the reading pane, the HTML
frame's body and the header details each answer, in bounded time and memory, and show what can
be shown. Also every input the fuzzer (bench/fuzz.py) ever found a bug with, replayed through
the same pure reading path it fuzzes.
"""

import base64
import os
import re
import time
import tracemalloc
from pathlib import Path

import pytest

from mailbox.sync import local
from mailbox.testing.reading_path import render

from .test_fulltext import kept_account

pytestmark = pytest.mark.django_db
FINDS = Path(__file__).parent / "fuzz_finds"
SAFETY_NET = 30.0  # seconds: only catches a runaway on a loaded machine; speed is for bench/


def nested(levels):
    head = b"From: a@example.org\r\nSubject: Nested deep\r\nMIME-Version: 1.0\r\n"
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(levels)
    )
    closing = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(levels)))
    return head + opening + b"Content-Type: text/plain\r\n\r\ndeep inside\r\n" + closing


def many_attachments(count):
    parts = [
        b"From: a@example.org\r\nSubject: Many files\r\nMIME-Version: 1.0\r\nContent-Type: "
        b'multipart/mixed; boundary="x"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nSee the '
        b"files.\r\n"
    ]
    parts += [
        b"--x\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
        b'filename="f%d.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n' % i
        for i in range(count)
    ]
    return b"".join(parts) + b"--x--\r\n"


def huge(megabytes):
    payload = base64.encodebytes(os.urandom(megabytes * 1024 * 1024 * 3 // 4))
    return (
        b"From: a@example.org\r\nSubject: Huge\r\nMIME-Version: 1.0\r\nContent-Type: "
        b'multipart/mixed; boundary="x"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nThe big '
        b'file is attached.\r\n--x\r\nContent-Type: application/octet-stream; name="big.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + payload.replace(b"\n", b"\r\n")
        + b"--x--\r\n"
    )


def long_header(size):
    references = b" ".join(b"<%d@example.org>" % i for i in range(size // 20))
    return (
        b"From: a@example.org\r\nSubject: Long header\r\nX-Padding: " + b"a" * size + b"\r\n"
        b"References: " + references + b"\r\n\r\nThe body after it.\r\n"
    )


BROKEN_BASE64 = (
    b"From: a@example.org\r\nSubject: Broken base64\r\nMIME-Version: 1.0\r\nContent-Type: "
    b"text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"PHA+SGVsbG8gdGhlcmU8L3A+=!!*&^\r\nPGI+\r\nAB\r\n"  # "<p>Hello there</p>", then junk
)
UNKNOWN_CHARSET = (
    b"From: =?x-unknown-42?q?Caf=E9?= <a@example.org>\r\nSubject: Unknown charset\r\n"
    b'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="x-unknown-42"\r\n\r\n'
    b"Caf\xe9 au lait\r\n"
)


@pytest.fixture
def kept(alice):
    account = kept_account(alice)
    inbox = account.folders.get(role="inbox")
    return lambda raw: local.keep_message(inbox, raw, seen=False)


def opened(client, message, *, memory_bound=None):
    """The pane as the page's script asks for it: (text, seconds), after the list row."""
    started = time.monotonic()
    rows = client.get(f"/mail/folders/{message.folder_id}/?part=rows")
    assert rows.status_code == 200 and f'data-message-id="{message.pk}"' in rows.content.decode()
    tracemalloc.start()
    pane = client.get(f"/mail/messages/{message.pk}/?part=pane")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert pane.status_code == 200
    if memory_bound is not None:
        assert peak < memory_bound, f"the pane took {peak >> 20} MB"
    headers = client.get(f"/mail/messages/{message.pk}/headers/")
    assert headers.status_code == 200
    seconds = time.monotonic() - started
    assert seconds < SAFETY_NET
    return pane.content.decode(), seconds


def test_mime_nested_a_thousand_deep_opens_with_its_subject(alice_client, kept):
    text, _seconds = opened(alice_client, kept(nested(1000)))
    assert "Nested deep" in text


def test_ten_thousand_attachments_are_listed_as_far_as_the_bound(alice_client, kept):
    text, _seconds = opened(alice_client, kept(many_attachments(10_000)))
    assert "See the files." in text
    assert "f0.bin" in text and "f299.bin" in text and "f300.bin" not in text  # 300 listed
    unlisted = re.search(r"(\d+) more attachments are not listed here", text)
    assert unlisted and int(unlisted.group(1)) > 4000  # the rest, up to the scanner's bound


def test_a_100_mb_message_opens_without_reading_it_into_memory(alice_client, kept):
    message = kept(huge(100))
    text, _seconds = opened(alice_client, message, memory_bound=32 << 20)
    assert "The big file is attached." in text and "big.bin" in text


def test_a_1_mb_header_opens(alice_client, kept):
    text, _seconds = opened(alice_client, kept(long_header(1 << 20)))
    assert "Long header" in text and "The body after it." in text


def test_broken_base64_shows_what_decodes(alice_client, kept):
    message = kept(BROKEN_BASE64)
    opened(alice_client, message)
    body = alice_client.get(f"/mail/messages/{message.pk}/body/")
    assert body.status_code == 200 and "Hello there" in body.content.decode()


def test_an_unknown_charset_is_read_as_the_nearest_fallback(alice_client, kept):
    text, _seconds = opened(alice_client, kept(UNKNOWN_CHARSET))
    assert "Caf" in text and "au lait" in text and "Unknown charset" in text


@pytest.mark.parametrize(
    "path", sorted(FINDS.glob("*.eml")) or [None], ids=lambda p: p.name if p else "none-yet"
)
def test_what_the_fuzzer_found_reads_without_error(path):
    if path is None:
        pytest.skip("bench/fuzz.py has found nothing to keep yet")
    started = time.monotonic()
    render(path.read_bytes())
    assert time.monotonic() - started < SAFETY_NET
