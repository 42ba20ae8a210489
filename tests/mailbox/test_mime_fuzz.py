"""Odd and malformed mail, through the real reading path: CPython's email fuzzing seeds
(shared/corpus/mime-fuzz, 299 files) are put on the test Dovecot as they are, synced into Alice's
cache, and opened the way her browser would: the message page, the body of its frame, the header
details, the original, and a download and a preview of every part and of every file the pane
lists. With the server up each view gives the one answer it must (expected_answers: 200, or a
deliberate 404 that its own tests check; a 503, what a broken fetch path answers, is a
failure), the counts are asserted, and each message is read in well under a second.

Dovecot, not our code, turns each file into ENVELOPE and BODYSTRUCTURE; what our code meets is
what it makes of them, as with any mail that arrives. None of these files has an HTML part that
Dovecot recognises, so the frame's URL is a 404 for each: the HTML path is the XSS corpus's, in
tests/browser/test_corpus_frame.py.
"""

import email
import email.policy
import re
import statistics
import time
from collections import Counter

import pytest
from django.urls import reverse

from mailbox.models import Folder
from mailbox.parsing import BodyStructureError, find_parts, parse_bodystructure
from mailbox.sync import run_account
from mailbox.views.download import PREVIEW_TYPES
from tests.corpus import CORPUS, require

FUZZ = CORPUS / "mime-fuzz"
SAFETY_NET = 10.0  # seconds per message, against a hang (they take a few hundredths; the
# machine may be loaded: speed is for bench/, this only catches a runaway)
APPENDUID = re.compile(rb"\[APPENDUID \d+ (\d+)\]")


def fuzz_files():
    return sorted(require(FUZZ).glob("*.eml"))


def structure(message):
    try:
        return parse_bodystructure(bytes(message.bodystructure))
    except BodyStructureError:
        return None


def leaf_sections(message):
    """Every part a user could download, from the structure the server gave."""
    tree = structure(message)
    return [] if tree is None else [p.section for p in tree.walk() if not p.is_multipart]


def reading_urls(client, message):
    """[(view name, url)]: everything the reading pane shows or links to for ``message``: the
    MIME leaves, and the files the pane lists inside them ("1~uu.1")."""
    urls = [
        (name, reverse(f"mailbox:{name}", args=[message.pk]))
        for name in ("message", "message_body", "message_headers", "message_original")
    ]
    pane = client.get(reverse("mailbox:message", args=[message.pk]) + "?part=pane")
    listed = re.findall(rf"/mail/messages/{message.pk}/parts/([^/]+)/", pane.content.decode())
    for section in dict.fromkeys([*leaf_sections(message), *listed]):
        for name in ("part_download", "part_preview"):
            urls.append((name, reverse(f"mailbox:{name}", args=[message.pk, section])))
    return urls


def expected_answers(message, urls):
    """The answer each view must give with the server up: the page, the details and the
    original 200; the frame 200 for a message with an HTML body, else a deliberate 404
    (tests/mailbox/test_reading_views.py); every download 200; a preview 404 for a type that
    has none (tests/mailbox/test_message_extras.py), "200|404" for one that may (the bytes
    decide)."""
    tree = structure(message)
    has_html = tree is not None and find_parts(tree)[1] is not None
    types = {p.section: p.content_type for p in tree.walk()} if tree is not None else {}
    expected = {"message": 200, "message_body": 200 if has_html else 404,
                "message_headers": 200, "message_original": 200}  # fmt: skip
    answers = []
    for view, url in urls:
        if view == "part_preview":
            section = url.rstrip("/").split("/")[-2]
            answers.append(f"{view} {'200|404' if types.get(section) in PREVIEW_TYPES else 404}")
        else:
            answers.append(f"{view} {expected.get(view, 200)}")
    return answers


def _as_wanted(answer, wanted):
    """A preview that may be either answer counts as the pair when it is one of them."""
    if wanted.endswith("200|404") and answer.rsplit(" ", 1)[1] in ("200", "404"):
        return wanted
    return answer


def get(client, url):
    """The status, or the exception that would have been a 500."""
    try:
        response = client.get(url)
        if response.streaming:  # a download's errors happen while it streams
            b"".join(response.streaming_content)
        return response.status_code
    except Exception as error:  # noqa: BLE001 - any of them is the finding
        return error


@pytest.mark.django_db
@pytest.mark.servers
def test_odd_mime_messages_read_through_the_real_path(as_alice, imap_account, other_client):
    """1. APPEND every file (a refusal is a skip, with the server's reason); 2. sync once;
    3. read each message through the views, timed."""
    files, refused = {}, {}
    for path in fuzz_files():
        status, data = other_client.imap.append("INBOX", None, None, path.read_bytes())
        if status != "OK":
            refused[path.name] = data[0].decode(errors="replace")
            continue
        files[int(APPENDUID.search(data[0]).group(1))] = path.name
    assert run_account(imap_account.pk)
    inbox = Folder.objects.get(account=imap_account, name="INBOX")
    messages = {message.uid: message for message in inbox.messages.all()}
    assert messages.keys() == files.keys(), "every accepted file is in the cache"

    failures, seconds, answers, expected = {}, {}, Counter(), Counter()
    for uid, name in files.items():
        started = time.perf_counter()
        urls = reading_urls(as_alice, messages[uid])
        results = [(view, url, get(as_alice, url)) for view, url in urls]
        seconds[name] = time.perf_counter() - started
        wanted = expected_answers(messages[uid], urls)
        got = [_as_wanted(f"{view} {result}", want) for (view, _u, result), want in
               zip(results, wanted, strict=True)]  # fmt: skip
        answers.update(got)
        expected.update(wanted)
        bad = {url: result for (_v, url, result), g, w in zip(results, got, wanted, strict=True)
               if g != w}  # fmt: skip
        if bad:
            failures[name] = bad

    print(
        f"\n{len(files)} messages read, {len(refused)} refused by Dovecot;"
        f" per message median {statistics.median(seconds.values()):.3f} s,"
        f" max {max(seconds.values()):.3f} s; answers {dict(sorted(answers.items()))}"
    )
    assert failures == {}
    assert answers == expected
    # what the corpus holds today, so that a change in what Dovecot or our views make of it
    # shows here: one leaf each, no HTML body, nothing to preview
    assert answers == {"message 200": len(files), "message_body 404": len(files),
                       "message_headers 200": len(files), "message_original 200": len(files),
                       "part_download 200": len(files), "part_preview 404": len(files)}  # fmt: skip
    assert {name: s for name, s in seconds.items() if s > SAFETY_NET} == {}
    if refused:
        pytest.skip(f"Dovecot refused {len(refused)} files, the rest read fine: {refused}")


def test_every_file_parses_with_the_email_package_given_a_compat32_fallback():
    """The modern policy raises on a few fuzzed headers (an embedded NUL in a parameter, a
    parameter cut short); a reader that parses raw mail with the email package must then fall
    back to compat32, which reads them all. (Ours does not: it reads what IMAP says.)"""
    needs_fallback = []
    for path in fuzz_files():
        try:
            parse_and_walk(path.read_bytes(), email.policy.default)
        except Exception:  # noqa: BLE001 - the stdlib raises many kinds here
            needs_fallback.append(path.name)
            parse_and_walk(path.read_bytes(), email.policy.compat32)
    print(f"\n{len(needs_fallback)} files need compat32: {needs_fallback}")


def parse_and_walk(raw, policy):
    message = email.message_from_bytes(raw, policy=policy)
    for part in message.walk():
        for _name, value in part.items():
            str(value)
