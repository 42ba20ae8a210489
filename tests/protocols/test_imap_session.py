"""An IMAP session against the real Dovecot: what the sync engine relies on, command by command.

Every test has a mailbox of its own (a fresh Dovecot user), so no test sees another's mail.
"""

import datetime
import imaplib
import re
import socket
import threading
import time
import uuid

import pytest

from mailbox.protocols.base import ConnectionProblem, Endpoint, Problem, Security
from mailbox.protocols.imap import (
    FlagUpdate,
    ImapCommandError,
    ImapSession,
    MessageGone,
    open_session,
)
from mailbox.protocols.imap.names import search_criteria
from mailbox.protocols.imap.session import HEADER_FIELDS
from mailbox.testing import seed

pytestmark = pytest.mark.servers

NOW = datetime.datetime(2025, 6, 1, tzinfo=datetime.UTC)


class Mailbox:
    """A fresh user on the test Dovecot, and ways to talk to it."""

    def __init__(self, world):
        self.world = world
        self.name = f"u{uuid.uuid4().hex[:12]}"
        self.password = uuid.uuid4().hex
        self.address = world.dovecot.add_user(self.name, self.password)

    def endpoint(self, tls=False):
        port = self.world.dovecot.ports["imaps" if tls else "imap"]
        security = Security.TLS if tls else Security.NONE
        return Endpoint(
            "localhost", port, security, self.address, self.password,
            ca_pem=self.world.dovecot.ca_pem, timeout=10, allow_private=True,
        )  # fmt: skip

    def session(self, tls=False, without=frozenset()):
        return open_session(self.endpoint(tls), without=without)

    def imaplib(self):
        client = imaplib.IMAP4("127.0.0.1", self.world.dovecot.ports["imap"], timeout=10)
        client.login(self.address, self.password)
        return client

    def seed(self, count, folders=None):
        return seed.seed_account(
            self.endpoint(), count, seed=7, now=NOW, folders=folders or {"INBOX": 1}
        )


@pytest.fixture
def mailbox(mail_world):
    return Mailbox(mail_world)


@pytest.fixture
def session(mailbox):
    with mailbox.session() as session:
        yield session


def message(subject="Hello", body="Hi there.", sender="carol@example.org"):
    return (
        f"From: {sender}\r\nTo: someone@example.com\r\nSubject: {subject}\r\n"
        f"Date: Sun, 01 Jun 2025 10:00:00 +0000\r\nMessage-ID: <{uuid.uuid4().hex}@example.org>\r\n"
        f"\r\n{body}\r\n"
    ).encode()


def fill(session, count, folder="INBOX"):
    return [session.append(folder, message(f"Message {i}"))[1] for i in range(count)]


# --- folders ------------------------------------------------------------------------------------


@pytest.mark.parametrize("without", [frozenset(), frozenset({"LIST-EXTENDED"})])
def test_folders_are_listed_with_their_special_use(mailbox, without):
    with mailbox.session(without=without) as session:
        folders = {f.name: f for f in session.list_folders()}
    roles = {name: f.special_use for name, f in folders.items()}
    assert roles == {
        "INBOX": "inbox", "Sent": "sent", "Drafts": "drafts", "Trash": "trash",
        "Junk": "junk", "Archive": "archive",
    }  # fmt: skip
    assert all(folders[name].subscribed for name in ("Sent", "Drafts", "Trash"))
    assert all(f.delimiter == "/" and f.selectable for f in folders.values())


AWKWARD = ["Entwürfe & Co", 'Say "hi"', "back\\slash", "🌱 Garden", "Reçus/2024 (März)"]


def test_folders_with_awkward_names_are_created_renamed_and_deleted(session):
    for name in AWKWARD:
        session.create(name)
        session.subscribe(name)
    folders = {f.name: f for f in session.list_folders()}
    assert set(AWKWARD) <= set(folders)
    assert all(folders[name].subscribed for name in AWKWARD)
    assert not folders["Reçus"].selectable  # a parent only in name: \NonExistent

    session.unsubscribe("🌱 Garden")
    session.rename("Entwürfe & Co", "Brouillons «vieux»")
    session.delete('Say "hi"')
    folders = {f.name: f for f in session.list_folders()}
    assert not folders["🌱 Garden"].subscribed
    assert "Brouillons «vieux»" in folders and "Entwürfe & Co" not in folders
    assert 'Say "hi"' not in folders
    assert session.status("back\\slash").messages == 0


def test_line_breaks_in_folder_names_never_reach_the_server(session):
    for bad in ["evil\r\nW1 DELETE INBOX", "evil\n", "evil\0"]:
        with pytest.raises(ConnectionProblem) as caught:
            session.create(bad)
        assert caught.value.problem == Problem.BAD_INPUT
    assert session.noop() == []  # the session is still fine
    assert "INBOX" in {f.name for f in session.list_folders()}


def test_a_refused_command_says_what_the_server_said(session):
    with pytest.raises(ImapCommandError) as caught:
        session.select("No such folder")
    assert caught.value.status == "NO"
    assert session.selected is None
    session.create("Twice")
    with pytest.raises(ImapCommandError) as caught:
        session.create("Twice")
    assert "ALREADYEXISTS" in caught.value.text


def test_status_counts_messages(session):
    session.append("INBOX", message(), flags=["\\Seen"])
    fill(session, 2)
    status = session.status("INBOX")
    assert (status.messages, status.unseen, status.uidnext) == (3, 2, 4)
    assert status.uidvalidity > 0
    assert status.highestmodseq > 0


# --- select, search, fetch ----------------------------------------------------------------------


def test_select_with_qresync_reports_what_vanished_and_changed(mailbox, session):
    uids = fill(session, 5)
    first = session.select("INBOX")
    assert (first.exists, first.uidnext, first.readonly) == (5, 6, False)
    assert first.vanished == [] and first.changed == []

    with mailbox.session() as other:
        other.select("INBOX")
        other.store_flags([uids[1]], add=["\\Flagged"])
        other.expunge([uids[2], uids[4]])

    with mailbox.session() as later:
        result = later.select("INBOX", qresync=(first.uidvalidity, first.highestmodseq))
    # and the same from the session that still has INBOX selected (the server says [CLOSED])
    again = session.select("INBOX", qresync=(first.uidvalidity, first.highestmodseq))
    for each in (result, again):
        assert each.exists == 3
        assert each.highestmodseq > first.highestmodseq
        assert sorted(each.vanished) == [uids[2], uids[4]]
        assert [(u.uid, u.flags) for u in each.changed] == [(uids[1], ("\\Flagged",))]


def test_examine_is_read_only(session):
    assert session.select("INBOX", readonly=True).readonly
    assert session.selected == "INBOX"


def test_fetch_meta_returns_what_the_server_has(mailbox, session):
    mailbox.seed(40)
    session.select("INBOX")
    uids = session.uid_search()
    metas = list(session.fetch_meta(uids))
    assert [m.uid for m in metas] == uids == list(range(1, 41))

    client = mailbox.imaplib()
    try:
        client.select("INBOX", readonly=True)
        fields = " ".join(HEADER_FIELDS)
        typ, data = client.uid(
            "FETCH",
            "1:*",
            f"(UID FLAGS RFC822.SIZE INTERNALDATE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS ({fields})])",
        )
    finally:
        client.logout()
    expected = {}
    for prefix, header in (item for item in data if isinstance(item, tuple)):
        uid = int(re.search(rb"UID (\d+)", prefix).group(1))
        flags = re.search(rb"FLAGS \(([^)]*)\)", prefix).group(1).decode().split()
        expected[uid] = (
            tuple(f for f in flags if f != "\\Recent"),
            int(re.search(rb"RFC822.SIZE (\d+)", prefix).group(1)),
            imaplib.Internaldate2tuple(prefix)[:6],
            header,
            re.search(rb"BODYSTRUCTURE (.*) BODY\[", prefix).group(1),
        )
    for meta in metas:
        internal = meta.internaldate.astimezone().timetuple()[:6]
        assert (meta.flags, meta.size, internal, meta.header, meta.bodystructure) == expected[
            meta.uid
        ]
        assert meta.modseq > 0
    assert any(m.bodystructure.startswith(b"((") for m in metas)  # some multipart ones too
    assert {("\\Seen",), ()} <= {m.flags for m in metas}


def test_fetch_meta_in_small_batches_and_stopping_early(mailbox, session):
    mailbox.seed(50)
    session.select("INBOX")
    uids = session.uid_search()
    assert [m.uid for m in session.fetch_meta(uids, batch=7)] == uids
    assert [m.uid for m in session.fetch_meta(uids[::3], batch=7)] == uids[::3]

    partial = session.fetch_meta(uids, batch=7)
    assert [next(partial).uid for _ in range(3)] == uids[:3]
    partial.close()  # the rest is read and dropped: the session goes on
    assert session.unsolicited == []
    assert session.uid_search("UID 1:5") == uids[:5]
    assert list(session.fetch_meta([])) == []


def test_an_empty_folder_has_nothing_to_fetch(session):
    assert session.select("Trash").exists == 0
    assert session.uid_search() == []
    assert list(session.fetch_flags()) == []
    assert list(session.fetch_meta([1, 2, 3])) == []


def test_another_clients_flag_change_stays_out_of_fetch_results(mailbox, session):
    uids = fill(session, 30)
    session.select("INBOX")
    with mailbox.session() as other:
        other.select("INBOX")
        other.store_flags([uids[0], uids[20]], add=["$Important"])
        metas = list(session.fetch_meta(uids[10:]))
    assert [m.uid for m in metas] == uids[10:]
    changes = [value for kind, value in session.unsolicited if kind == "FETCH"]
    assert {(c.uid, c.flags) for c in changes} == {
        (uids[0], ("$Important",)),
        (uids[20], ("$Important",)),
    }
    assert metas[10].flags == ("$Important",)


def test_fetch_flags_since_a_modseq(session):
    uids = fill(session, 6)
    modseq = session.select("INBOX").highestmodseq
    session.store_flags(uids[2:4], add=["\\Answered"])
    changed = list(session.fetch_flags(changedsince=modseq))
    assert [(c.uid, c.flags) for c in changed] == [(u, ("\\Answered",)) for u in uids[2:4]]
    assert [c.uid for c in session.fetch_flags(uids[::2], batch=2)] == uids[::2]


def test_search_with_and_without_esearch(mailbox, session):
    session.append("INBOX", message("Grüße aus Köln"), flags=["\\Seen"])  # raw UTF-8
    session.append("INBOX", message("=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?="))
    fill(session, 3)
    with mailbox.session(without={"ESEARCH"}) as plain:
        for each in (session, plain):
            each.select("INBOX")
            assert each.uid_search() == [1, 2, 3, 4, 5]
            assert each.uid_search("UNSEEN") == [2, 3, 4, 5]
            assert each.uid_search(search_criteria(subject="grüße")) == [1, 2]
            assert each.uid_search(search_criteria(subject="nothing like it")) == []
            assert each.uid_search(search_criteria(seen=True, uids=[1, 2])) == [1]


def test_without_condstore_there_are_no_modseqs(mailbox):
    with mailbox.session(without={"CONDSTORE", "QRESYNC"}) as session:
        assert not session.has_condstore and not session.has_qresync
        uids = fill(session, 2)
        assert session.status("INBOX").highestmodseq is None
        result = session.select("INBOX", qresync=(1, 1))
        assert result.highestmodseq is None and result.vanished == []
        assert [m.modseq for m in session.fetch_meta(uids)] == [None, None]
        assert [u.modseq for u in session.store_flags(uids, add=["\\Seen"])] == [None, None]


# --- changing -----------------------------------------------------------------------------------


def test_store_flags_reports_the_flags_afterwards(session):
    uids = fill(session, 3)
    session.select("INBOX")
    session.store_flags(uids, add=["\\Seen"])
    updates = session.store_flags(uids[:2], add=["\\Flagged", "$Label1"], remove=["\\Seen"])
    assert [(u.uid, set(u.flags)) for u in updates] == [
        (uids[0], {"\\Flagged", "$Label1"}),
        (uids[1], {"\\Flagged", "$Label1"}),
    ]
    assert all(u.modseq for u in updates)
    with pytest.raises(ConnectionProblem):
        session.store_flags(uids, add=["not a flag"])


@pytest.mark.parametrize("without", [frozenset(), frozenset({"MOVE"})])
def test_move_moves_only_those_messages(mailbox, without):
    with mailbox.session(without=without) as session:
        uids = fill(session, 5)
        session.select("INBOX")
        with mailbox.session() as other:  # someone else marks a message deleted, no expunge
            other.select("INBOX")
            other.store_flags([uids[4]], add=["\\Deleted"])
        originals = [session.fetch_message(uid) for uid in uids[:2]]

        mapping = session.move(uids[:2], "Archive")

        assert sorted(mapping) == uids[:2]
        assert session.uid_search() == uids[2:]  # the \Deleted one is still there
        session.select("Archive")
        assert [session.fetch_message(mapping[uid]) for uid in uids[:2]] == originals


def test_copy_maps_old_uids_to_new(session):
    uids = fill(session, 4)
    session.select("INBOX")
    mapping = session.copy([uids[0], uids[3]], "Trash")
    assert sorted(mapping) == [uids[0], uids[3]]
    assert session.uid_search() == uids
    assert session.status("Trash").messages == 2


def test_expunge_removes_exactly_those_uids(mailbox, session):
    uids = fill(session, 5)
    session.select("INBOX")
    session.store_flags([uids[3]], add=["\\Deleted"])
    session.expunge([uids[1]])
    assert session.uid_search() == [uids[0], uids[2], uids[3], uids[4]]
    assert ("EXPUNGE", 2) in session.unsolicited or ("VANISHED", [uids[1]]) in session.unsolicited


@pytest.mark.parametrize("without", [frozenset(), frozenset({"LITERAL+"})])
def test_append_keeps_flags_and_date_and_says_the_uid(mailbox, without):
    date = datetime.datetime(
        2024, 3, 9, 8, 7, 6, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    )
    data = message("Draft ünïcode", body="x" * 5000)
    with mailbox.session(without=without) as session:
        uidvalidity, uid = session.append(
            "Drafts", data, flags=["\\Draft", "\\Seen"], internaldate=date
        )
        assert session.select("Drafts").uidvalidity == uidvalidity
        (meta,) = session.fetch_meta([uid])
        assert set(meta.flags) == {"\\Draft", "\\Seen"}
        assert meta.internaldate == date
        assert session.fetch_message(uid) == data


MULTIPART = (
    b"From: a@example.org\r\nSubject: with attachment\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
    b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n" * 40
    + b"--b1--\r\n"
)


def test_parts_come_whole_or_in_chunks(session):
    session.append("INBOX", MULTIPART)
    session.select("INBOX")
    attachment = session.fetch_part(1, "2")
    assert attachment == (b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n" * 40)[:-2]
    assert b"".join(session.iter_part(1, "2", chunk_size=100)) == attachment
    assert len(list(session.iter_part(1, "2", chunk_size=len(attachment)))) == 1
    assert session.fetch_part(1, "1") == b"See attached."
    assert session.fetch_part(1, "2.MIME").startswith(b"Content-Type: application/octet-stream")
    assert session.fetch_message(1) == MULTIPART
    with pytest.raises(MessageGone):
        session.fetch_part(99, "1")
    with pytest.raises(ConnectionProblem):
        session.fetch_part(1, "1] BODY[")


# --- waiting ------------------------------------------------------------------------------------


@pytest.mark.parametrize("tls", [False, True])
def test_idle_wakes_up_when_mail_arrives(mailbox, tls):
    with mailbox.session(tls=tls) as session, mailbox.session() as other:
        session.select("INBOX")
        appended = []

        def deliver():
            time.sleep(0.3)
            other.append("INBOX", message())
            appended.append(time.monotonic())

        thread = threading.Thread(target=deliver)
        thread.start()
        events = session.idle(10)
        woke = time.monotonic()
        thread.join()
        assert ("EXISTS", 1) in events
        assert woke - appended[0] < 2  # Dovecot itself waits about half a second
        assert session.uid_search() == [1]


def test_idle_returns_nothing_when_nothing_happens(session):
    session.select("INBOX")
    started = time.monotonic()
    assert session.idle(0.6) == []
    assert 0.5 < time.monotonic() - started < 2
    assert session.uid_search() == []  # the socket's own timeout is back and the session works


# --- broken connections -------------------------------------------------------------------------


def test_a_dropped_connection_is_a_connection_problem(session):
    session._sock.shutdown(socket.SHUT_RDWR)
    with pytest.raises(ConnectionProblem) as caught:
        session.noop()
    assert caught.value.problem == Problem.PROTOCOL
    with pytest.raises(ConnectionProblem):
        session.list_folders()


def scripted(*replies, capabilities=("IMAP4REV1", "CONDSTORE", "UIDPLUS")):
    """A session whose server answers each command line with the next of ``replies`` (bytes;
    ``{tag}`` becomes the command's tag): responses no real server can be made to send."""
    ours, theirs = socket.socketpair()
    ours.settimeout(5)

    def serve():
        lines = theirs.makefile("rb")
        for reply in replies:
            tag = lines.readline().split(b" ", 1)[0]
            theirs.sendall(reply.replace(b"{tag}", tag))

    threading.Thread(target=serve, daemon=True).start()
    session = ImapSession(ours, ours.makefile("rb"))
    session._set_capabilities(capabilities)
    return session


def meta_response(seq, uid):
    header = b"Subject: hi\r\n\r\n"
    return (
        b'* %d FETCH (UID %d FLAGS (\\Seen) RFC822.SIZE 10 INTERNALDATE "01-Jan-2024 00:00:00 +0000"'
        b' MODSEQ (5) BODYSTRUCTURE ("text" "plain" NIL NIL NIL "7bit" 2 1 NIL NIL NIL NIL)'
        b" BODY[HEADER.FIELDS (%s)] {%d}\r\n%s)\r\n"
        % (seq, uid, " ".join(HEADER_FIELDS).encode(), len(header), header)
    )


def test_unsolicited_responses_between_fetch_results_go_aside():
    session = scripted(
        meta_response(1, 11)
        + b"* 5 FETCH (FLAGS (\\Deleted) UID 15 MODSEQ (9))\r\n"
        + meta_response(2, 12)
        + b"* 7 EXISTS\r\n* OK [ALERT] mind the gap\r\n{tag} OK done\r\n"
    )
    assert [m.uid for m in session.fetch_meta([11, 12])] == [11, 12]
    assert session.unsolicited == [
        ("FETCH", FlagUpdate(15, ("\\Deleted",), 9)),
        ("EXISTS", 7),
        ("ALERT", "mind the gap"),
    ]


def test_a_refused_batch_stops_fetch_meta_but_not_the_session():
    session = scripted(
        meta_response(1, 1) + meta_response(2, 2) + b"{tag} OK done\r\n",
        b"{tag} NO [SERVERBUG] oops\r\n",
        b"{tag} OK noop done\r\n",
    )
    fetched = []
    with pytest.raises(ImapCommandError) as caught:
        fetched.extend(m.uid for m in session.fetch_meta([1, 2, 3, 4], batch=2))
    assert fetched == [1, 2]
    assert caught.value.status == "NO"
    assert session.noop() == []


def test_a_server_that_stops_answering_times_out():
    ours, theirs = socket.socketpair()
    ours.settimeout(0.3)
    session = ImapSession(ours, ours.makefile("rb"))
    try:
        with pytest.raises(ConnectionProblem) as caught:
            session.noop()
        assert caught.value.problem == Problem.TIMEOUT
    finally:
        session.close()
        theirs.close()
