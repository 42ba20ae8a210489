"""Mail as people really send it: each file of shared/corpus/realworld (messages shaped like
the ones that broke other mail clients) is delivered to the test Dovecot over LMTP, synced by
IMAP or fetched by POP3, and read through our own views (the list row, the reading pane, the
body frame, the downloads), which must show what realworld/expected.json says a correct client
shows: the list row, the body text, the attachments by name and bytes, the link targets.

One test per file, check and protocol, so that a check fixed on a colleague's branch is marked
on its own: ``xfail(strict=True)`` below, an XPASS (a failure) once the fix lands, when the
mark goes.
"""

import email
import email.policy
import html
import json
import re
from datetime import UTC, datetime

import pytest
from selectolax.lexbor import LexborHTMLParser

from mailbox.models import Message
from mailbox.sync import run_account
from mailbox.sync.fetch import fetch_account
from tests.corpus import CORPUS, absent_param, require
from tests.mailbox.conftest import content_of
from tests.mailbox.pop3_world import pop3_account

pytestmark = [pytest.mark.django_db, pytest.mark.servers]

REALWORLD = CORPUS / "realworld"
CHECKS = ("list", "to", "body", "attachments", "links", "date")


def expected():
    if not REALWORLD.exists():
        return {}
    return json.loads((REALWORLD / "expected.json").read_text(encoding="utf-8"))


def cases():
    """(protocol, file, check) for each check expected.json asks of each file."""
    wanted = expected()
    if not wanted:
        return [absent_param(REALWORLD, width=3)]
    params = []
    for name, shows in sorted(wanted.items()):
        if name.startswith("_"):
            continue
        for check in CHECKS:
            if not _asks(shows, check):
                continue
            for protocol in ("imap", "pop3"):
                params.append(
                    pytest.param(protocol, name, check, id=f"{protocol}-{name[:-4]}-{check}")
                )
    return params


def _asks(shows, check):
    keys = {"body": ("body_contains", "body_lacks"), "date": ("date_utc",)}.get(check, (check,))
    return any(key in shows for key in keys)


def raw_of(name):
    """The file with CRLF line ends, as it travels (the corpus files may use bare LF)."""
    data = (require(REALWORLD) / name).read_bytes()
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.fixture
def delivered(alice, mail_world, imap_account, mailbox_login):
    """Deliver raw bytes over LMTP; the message as our IMAP sync or our POP3 fetch stored it."""

    def deliver(raw, protocol):
        mail_world.dovecot.deliver(mailbox_login[0], raw)
        if protocol == "imap":
            assert run_account(imap_account.pk)
            account = imap_account
        else:
            account = pop3_account(alice, mail_world, mailbox_login, retention="keep")
            assert fetch_account(account.pk)
        return Message.objects.filter(folder__account=account).latest("id")

    return deliver


@pytest.mark.parametrize(("protocol", "name", "check"), cases())
def test_a_real_world_message_reads_as_a_correct_client_shows_it(
    protocol, name, check, delivered, alice_client
):
    message = delivered(raw_of(name), protocol)
    shows = expected()[name]
    CHECKERS[check](alice_client, message, shows, name)


KNOWN_KEYS = {
    "list",
    "to",
    "body_contains",
    "body_lacks",
    "attachments",
    "links",
    "date_utc",
    "note",
}


def test_the_harness_checks_everything_expected_json_asks():
    """A key the harness does not know would be silently unchecked: it must be added here."""
    wanted = expected() or require(REALWORLD)
    for name, shows in wanted.items():
        if name.startswith("_"):
            continue
        assert set(shows) <= KNOWN_KEYS, name
        assert set(shows.get("list", {})) <= {"from", "subject", "attachment_mark"}, name
        assert (REALWORLD / name).is_file(), name
    assert {path.name for path in REALWORLD.glob("*.eml")} <= set(wanted)  # none goes untried


# --- what the views show -------------------------------------------------------------------------


def text_of(fragment):
    return " ".join(LexborHTMLParser(fragment).text(separator=" ").split())


def list_row(client, message):
    """{"from", "subject", "attachment_mark"} as the folder's list row shows them."""
    page = client.get(f"/mail/folders/{message.folder_id}/")
    assert page.status_code == 200
    found = re.search(
        rf'<li class="row[^"]*" data-message-id="{message.pk}".*?</li>', page.content.decode(), re.S
    )
    assert found, "the message is not in its folder's list"
    row = LexborHTMLParser(found.group())
    return {
        "from": row.css_first(".sender").text().strip(),
        "subject": row.css_first(".subject").text().strip(),
        "attachment_mark": row.css_first(".marks .clip") is not None,
        "date": row.css_first("time.date").attributes["datetime"],
    }


def pane(client, message):
    response = client.get(f"/mail/messages/{message.pk}/?part=pane")
    assert response.status_code == 200
    return response.content.decode()


def shown_text(client, message):
    """All the text the opened message shows: the pane, and the body frame's document."""
    page = pane(client, message)
    texts = [text_of(page)]
    if 'class="message-body"' in page and "<iframe" in page:
        body = client.get(f"/mail/messages/{message.pk}/body/")
        assert body.status_code == 200
        texts.append(text_of(body.content.decode()))
    return " ".join(texts)


def attachments(client, message):
    """[(name, download url)] as the pane lists them: the message's own, and those of the
    messages forwarded inside it (their lists in section.forwarded)."""
    tree = LexborHTMLParser(pane(client, message))
    return [
        (item.css_first(".name bdi").text().strip(), item.css_first("a").attributes["href"])
        for item in tree.css("ul.attachments li")
    ]


# --- the checks ----------------------------------------------------------------------------------


def check_list(client, message, shows, name):
    row = list_row(client, message)
    for key, value in shows["list"].items():
        assert row[key] == value, key


def check_to(client, message, shows, name):
    tree = LexborHTMLParser(pane(client, message))
    shown = tree.css_first("dd.to").text()
    for who in shows["to"]:
        assert who in shown


def check_body(client, message, shows, name):
    text = shown_text(client, message)
    for words in shows.get("body_contains", []):
        assert " ".join(words.split()) in text
    for words in shows.get("body_lacks", []):
        assert words not in text


def check_attachments(client, message, shows, name):
    listed = dict(attachments(client, message))
    reference = reference_files(raw_of(name))
    for wanted in shows["attachments"]:
        assert wanted["name"] in listed, f"{wanted['name']!r} not in {sorted(listed)}"
        response = client.get(listed[wanted["name"]])
        assert response.status_code == 200
        data = content_of(response)
        assert data, wanted["name"]
        disposition = response["Content-Disposition"]
        assert wanted["name"] in _filename_of(disposition), disposition
        if wanted["name"] in reference:  # a second reading: Python's email package
            assert data == reference[wanted["name"]]


def check_links(client, message, shows, name):
    body = client.get(f"/mail/messages/{message.pk}/body/")
    assert body.status_code == 200
    links = {
        " ".join(link.text().split()): link.attributes.get("href")
        for link in LexborHTMLParser(body.content.decode()).css("a")
    }
    for text, target in shows["links"].items():
        assert links.get(text) == target, text


def check_date(client, message, shows, name):
    wanted = datetime.fromisoformat(shows["date_utc"].replace("Z", "+00:00"))
    assert datetime.fromisoformat(list_row(client, message)["date"]).astimezone(UTC) == wanted
    shown = LexborHTMLParser(pane(client, message)).css_first("dd.date time").attributes["datetime"]
    assert datetime.fromisoformat(shown).astimezone(UTC) == wanted


CHECKERS = {
    "list": check_list,
    "to": check_to,
    "body": check_body,
    "attachments": check_attachments,
    "links": check_links,
    "date": check_date,
}


def reference_files(raw):
    """{file name: decoded bytes} of the parts Python's email package finds names for."""
    files = {}
    for part in email.message_from_bytes(raw, policy=email.policy.default).walk():
        filename = part.get_filename()
        if filename and not part.is_multipart():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                files.setdefault(filename, payload)
    return files


def _filename_of(disposition):
    """The file name a Content-Disposition gives (RFC 6266: filename* wins)."""
    from urllib.parse import unquote

    extended = re.search(r"filename\*=([^']*)'[^']*'([^;]+)", disposition)
    if extended:
        return unquote(extended.group(2), encoding=extended.group(1) or "utf-8")
    plain = re.search(r'filename="((?:[^"\\]|\\.)*)"', disposition)
    return html.unescape(plain.group(1)) if plain else ""


# --- the same kinds, made here: what the corpus has no file for ---------------------------------

CYRILLIC = "Привет, как дела?"


def made(content_type, body, subject="Made"):
    header = (
        "From: Zoë <zoe@example.org>\r\nTo: alice@example.com\r\n"
        f"Subject: {subject}\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@example.org>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return header.encode() + body


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_html_that_declares_its_charset_only_inside_itself_is_read_in_it(
    protocol, delivered, alice_client
):
    head = '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
    body = f"<html><head>{head}</head><body><p>{CYRILLIC}</p></body></html>".encode("cp1251")
    message = delivered(made("text/html", body), protocol)
    assert CYRILLIC in shown_text(alice_client, message)
    # the MIME parameter wins over the <meta>
    body = f"<html><head>{head}</head><body><p>{CYRILLIC}</p></body></html>".encode("koi8-r")
    message = delivered(made('text/html; charset="koi8-r"', body, "MIME wins"), protocol)
    assert CYRILLIC in shown_text(alice_client, message)


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_a_part_with_an_unknown_charset_label_is_read_not_lost(protocol, delivered, alice_client):
    """UTF-8 when the bytes are UTF-8, else Windows-1252 (see charsets.decode_body)."""
    text = "Zoë’s “Grüße” — 5 €"
    message = delivered(
        made("text/plain; charset=x-no-such-label", text.encode("cp1252")), protocol
    )
    assert text in shown_text(alice_client, message)
    message = delivered(
        made("text/plain; charset=x-no-such-label", text.encode(), "Unknown UTF-8"), protocol
    )
    assert text in shown_text(alice_client, message)
