"""An IMAP session over an already authenticated connection: the commands the sync engine uses.

``open_session(endpoint)`` logs in with :func:`connect` (imaplib does the greeting, STARTTLS and
LOGIN), then takes over imaplib's socket and reader: from there on every command goes through
this module, with tags of its own, and every response is read by ``parser``. imaplib is not used
again (it mixes unsolicited FETCH responses into the next FETCH result, and has no IDLE in 3.11).

Rules every method keeps:
- Folder names and search terms reach the wire only through ``names`` (modified UTF-7, quoted);
  CR, LF and NUL are refused before anything is sent.
- UID sets are sent in bounded batches (Dovecot refuses command lines over 64 KB).
- Nothing ever sends a plain EXPUNGE: removing mail is UID EXPUNGE of the UIDs we mean.
- Untagged responses that a command did not ask for (EXISTS, EXPUNGE, VANISHED, FETCH of flags
  changed by another client) are kept in ``self.unsolicited`` for the caller, never mixed into
  a command's result. The pairs: ("EXISTS" | "EXPUNGE" | "RECENT", n), ("VANISHED", [uids]),
  ("FETCH", FlagUpdate), ("FETCH_SEQ", (seq, {item: value})) for a FETCH without UID or FLAGS,
  ("UIDVALIDITY" | "UIDNEXT" | "HIGHESTMODSEQ", n), ("FLAGS", flags), ("ALERT", text),
  ("NO" | "BAD" | "BYE", text), ("CAPABILITY", set), ("OVERFLOW", n) once too many piled up.
  ``\\Recent`` is left out of every flag tuple: it belongs to a session, not to a message.
"""

import datetime
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..base import ConnectionProblem, Problem, ServerRefused, check_wire_text
from .connect import connect
from .names import (
    Literal,
    SearchCriteria,
    decode_mailbox_name,
    flag_list,
    folder_role,
    imap_datetime,
    is_inbox,
    mailbox_arg,
    same_folder,
    uid_batches,
)
from .parser import (
    expand_uid_set,
    parse_code,
    parse_copyuid,
    parse_esearch,
    parse_fetch,
    parse_flags,
    parse_list,
    parse_meta,
    parse_search,
    parse_status,
    parse_untagged,
    parse_vanished,
    text,
)
from .wire import Wire

# The header fields the message cache keeps (fetched with BODY.PEEK[HEADER.FIELDS (...)]).
HEADER_FIELDS = (
    "DATE", "FROM", "TO", "CC", "SUBJECT", "MESSAGE-ID", "IN-REPLY-TO", "REFERENCES",
    "CONTENT-TYPE",
)  # fmt: skip


class ImapCommandError(ServerRefused):
    """The server answered NO or BAD to a command; ``status`` and ``text`` say what it said."""

    def __init__(self, command, status, text):
        super().__init__(command, text, f"{command}: {status} {text}")
        self.status = status


@dataclass(frozen=True, slots=True)
class FolderInfo:
    name: str  # decoded (Unicode) full path, with the server's delimiter
    delimiter: str | None
    attributes: frozenset  # e.g. {"\\HasChildren", "\\Noselect", "\\Sent"} as the server said
    special_use: str | None  # "inbox", "sent", "drafts", "trash", "junk", "archive", "all", ...
    subscribed: bool

    @property
    def selectable(self):
        lowered = {a.lower() for a in self.attributes}
        return "\\noselect" not in lowered and "\\nonexistent" not in lowered


@dataclass(frozen=True, slots=True)
class FolderStatus:
    messages: int
    unseen: int
    uidnext: int
    uidvalidity: int
    highestmodseq: int | None  # None when the server has no CONDSTORE


@dataclass(frozen=True, slots=True)
class FlagUpdate:
    uid: int
    flags: tuple  # every flag and keyword the message has now, e.g. ("\\Seen", "$Label1")
    modseq: int | None


@dataclass(slots=True)
class SelectResult:
    exists: int
    uidvalidity: int
    uidnext: int
    highestmodseq: int | None  # None: no CONDSTORE (or NOMODSEQ)
    readonly: bool
    vanished: list = field(default_factory=list)  # UIDs (QRESYNC: VANISHED (EARLIER))
    changed: list = field(default_factory=list)  # FlagUpdate (QRESYNC: FETCH since modseq)


@dataclass(slots=True)
class MessageMeta:
    uid: int
    flags: tuple
    size: int
    internaldate: datetime.datetime  # aware
    modseq: int | None
    header: bytes  # the raw HEADER.FIELDS block
    bodystructure: bytes  # the raw BODYSTRUCTURE list, parenthesised, as the server sent it


class MessageGone(ImapCommandError):
    """The message asked for is not (or no longer) in the selected folder."""

    def __init__(self, uid):
        super().__init__("UID FETCH", "NO", f"no message with UID {uid}")
        self.uid = uid


BATCH = 5000  # UIDs per STORE, COPY, MOVE and EXPUNGE command
_HEADER_KEY = b"BODY[HEADER.FIELDS (" + " ".join(HEADER_FIELDS).encode() + b")]"
_SECTION = re.compile(r"(?:\d+(?:\.\d+)*(?:\.(?:HEADER|TEXT|MIME))?|HEADER|TEXT)?\Z")


class ImapSession(Wire):
    capabilities: frozenset  # upper-case, e.g. {"IMAP4REV1", "IDLE", "CONDSTORE", "QRESYNC", ...}
    unsolicited: list  # untagged responses no command asked for, parsed: (kind, value) pairs
    selected: str | None

    _error = ImapCommandError  # what a NO or BAD completion raises

    def __init__(self, sock, file, *, without=frozenset()):
        """Over the socket and buffered reader of a logged-in connection; ``without`` hides
        capabilities (the tests use it to take the fallback paths on a server that has them)."""
        super().__init__(sock, file)
        self._without = frozenset(c.upper() for c in without)
        if "CONDSTORE" in self._without:
            self._without |= {"QRESYNC"}  # QRESYNC implies CONDSTORE
        self.capabilities = frozenset()
        self.enabled = frozenset()
        self.selected = None
        self.selected_readonly = False  # the folder was opened with EXAMINE

    def _set_capabilities(self, words):
        self.capabilities = frozenset(w.upper() for w in words) - self._without
        self._literal_plus = "LITERAL+" in self.capabilities
        self._literal_minus = "LITERAL-" in self.capabilities

    def _start(self):
        """CAPABILITY (ours to ask: the login's answer may predate it), then ENABLE."""

        def on_reply(number, kind, rest, raw):
            if kind == "CAPABILITY":
                self._set_capabilities(text(rest).split())
            elif kind == "ENABLED":
                self.enabled |= {word.upper() for word in text(rest).split()}
            else:
                return False
            return True

        self._command("CAPABILITY", [b"CAPABILITY"], on_reply)
        wanted = next((x for x in ("QRESYNC", "CONDSTORE") if x in self.capabilities), None)
        if wanted and "ENABLE" in self.capabilities:
            self._command("ENABLE", [b"ENABLE", wanted.encode()], on_reply)
        if "QRESYNC" in self.enabled:
            self.enabled |= {"CONDSTORE"}

    @property
    def has_condstore(self) -> bool:
        return bool({"CONDSTORE", "QRESYNC"} & self.capabilities)

    @property
    def has_qresync(self) -> bool:
        return "QRESYNC" in self.capabilities and "QRESYNC" in self.enabled

    # --- plumbing -------------------------------------------------------------------------------

    def _describe(self, raw):
        """An untagged response as a ``(kind, value)`` pair for :attr:`unsolicited`."""
        parsed = parse_untagged(raw)
        if parsed is None:
            return ("UNKNOWN", raw)
        number, kind, rest = parsed
        if number is not None and kind in ("EXISTS", "EXPUNGE", "RECENT"):
            return kind, number
        if kind == "FETCH":
            return self._describe_fetch(raw)
        if kind == "VANISHED":
            return "VANISHED", parse_vanished(rest)[1]
        if kind in ("OK", "NO", "BAD", "BYE"):
            code, argument, rest = parse_code(rest)
            if code in ("UIDVALIDITY", "UIDNEXT", "HIGHESTMODSEQ") and argument:
                return code, int(argument)
            if code == "CAPABILITY" and argument:
                self._set_capabilities(text(argument).split())
            if code == "ALERT":
                return "ALERT", text(rest)
            if kind == "BYE":
                self._bye = text(rest)  # for the error when the connection then ends
            return None if kind == "OK" and code is None else (kind, text(rest))
        if kind == "CAPABILITY":
            self._set_capabilities(text(rest).split())
            return "CAPABILITY", self.capabilities
        if kind == "FLAGS":
            return "FLAGS", parse_flags(rest.strip(b"()"))
        return kind, rest

    def _describe_fetch(self, raw):
        number, items = parse_fetch(raw)
        update = _flag_update(items)
        return ("FETCH", update) if update is not None else ("FETCH_SEQ", (number, items))

    def _fetch_handler(self, wanted, results):
        """A handler taking FETCH responses with UID and FLAGS of ``wanted`` UIDs (all if
        None) into ``results`` ({uid: FlagUpdate})."""

        def handler(number, kind, rest, raw):
            if kind != "FETCH":
                return False
            update = _flag_update(parse_fetch(raw)[1])
            if update is None or (wanted is not None and update.uid not in wanted):
                return False
            results[update.uid] = update
            return True

        return handler

    # --- folders --------------------------------------------------------------------------------

    def list_folders(self) -> list[FolderInfo]:
        """Every folder, with its special use and whether it is subscribed. One LIST ... RETURN
        (SUBSCRIBED SPECIAL-USE) where the server has LIST-EXTENDED, else LIST and LSUB."""
        listed, subscribed = [], set()

        def on_list(number, kind, rest, raw):
            if kind == "LIST":
                listed.append(parse_list(rest))
            elif kind == "LSUB":
                subscribed.add(parse_list(rest)[2])
            else:
                return False
            return True

        extended = {"LIST-EXTENDED", "SPECIAL-USE"} <= self.capabilities
        parts = [b"LIST", b'""', b'"*"']
        if extended:
            parts += [b"RETURN", b"(SUBSCRIBED SPECIAL-USE)"]
        self._command("LIST", parts, on_list)
        if not extended:
            self._command("LSUB", [b"LSUB", b'""', b'"*"'], on_list)
        return [_folder_info(*entry, extended, subscribed) for entry in listed]

    def status(self, name: str) -> FolderStatus:
        items = b"MESSAGES UNSEEN UIDNEXT UIDVALIDITY"
        if self.has_condstore:
            items += b" HIGHESTMODSEQ"
        found = []

        def on_status(number, kind, rest, raw):
            if kind != "STATUS":
                return False
            mailbox, values = parse_status(rest)
            if same_folder(decode_mailbox_name(mailbox), name) or not found:
                found[:] = [values]
            return True

        self._command("STATUS", [b"STATUS", mailbox_arg(name), b"(" + items + b")"], on_status)
        if not found:
            raise ImapCommandError("STATUS", "NO", f"no STATUS response for {name}")
        counts = [found[0].get(key, 0) for key in ("MESSAGES", "UNSEEN", "UIDNEXT", "UIDVALIDITY")]
        return FolderStatus(*counts, found[0].get("HIGHESTMODSEQ") if self.has_condstore else None)

    def select(self, name: str, *, readonly=False, qresync=None) -> SelectResult:
        """SELECT (or EXAMINE). With ``qresync=(uidvalidity, highestmodseq)`` and a server that
        has QRESYNC, the result carries what vanished and what changed since then."""
        parts = [b"EXAMINE" if readonly else b"SELECT", mailbox_arg(name)]
        resync = bool(qresync) and self.has_qresync
        if resync:
            parts.append(b"(QRESYNC (%d %d))" % (int(qresync[0]), int(qresync[1])))
        elif self.has_condstore and "CONDSTORE" not in self.enabled:
            parts.append(b"(CONDSTORE)")  # no ENABLE on this server: this turns it on
        result = SelectResult(0, 0, 0, None, readonly)
        changed = {}

        def on_select(number, kind, rest, raw):
            if kind == "EXISTS":
                result.exists = number
            elif kind in ("OK", "NO") and rest.startswith(b"["):
                code, argument, _ = parse_code(rest)
                if code == "CLOSED":  # what came before was about the folder we left
                    result.__init__(0, 0, 0, None, readonly)
                    changed.clear()
                elif code in ("UIDVALIDITY", "UIDNEXT", "HIGHESTMODSEQ"):
                    setattr(result, code.lower(), int(argument))
                elif code == "NOMODSEQ":
                    result.highestmodseq = None
                elif code not in ("PERMANENTFLAGS", "UNSEEN", "READ-ONLY", "READ-WRITE"):
                    return False
            elif kind == "VANISHED" and resync:
                result.vanished.extend(parse_vanished(rest)[1])
            elif kind == "FETCH" and resync:
                return self._fetch_handler(None, changed)(number, kind, rest, raw)
            elif kind not in ("FLAGS", "RECENT"):
                return False
            return True

        self.selected = None
        reply = self._command(parts[0].decode(), parts, on_select)
        code = parse_code(reply)[0]
        result.readonly = code == "READ-ONLY" or (readonly and code != "READ-WRITE")
        if not self.has_condstore:
            result.highestmodseq = None
        result.changed = list(changed.values())
        self.selected, self.selected_readonly = name, result.readonly
        return result

    def create(self, name: str) -> None:
        self._command("CREATE", [b"CREATE", mailbox_arg(name)])

    def rename(self, old: str, new: str) -> None:
        self._command("RENAME", [b"RENAME", mailbox_arg(old), mailbox_arg(new)])
        if self.selected is not None and same_folder(self.selected, old):
            self.selected = new

    def delete(self, name: str) -> None:
        self._command("DELETE", [b"DELETE", mailbox_arg(name)])
        if self.selected is not None and same_folder(self.selected, name):
            self.selected = None

    def subscribe(self, name: str) -> None:
        self._command("SUBSCRIBE", [b"SUBSCRIBE", mailbox_arg(name)])

    def unsubscribe(self, name: str) -> None:
        self._command("UNSUBSCRIBE", [b"UNSUBSCRIBE", mailbox_arg(name)])

    # --- searching and fetching -----------------------------------------------------------------

    def uid_search(self, criteria="ALL") -> list[int]:
        """UIDs matching criteria (ESEARCH where offered); criteria built by ``names``.

        ``criteria`` is a :class:`names.SearchCriteria` or a fixed ASCII string of ours such as
        ``"UNSEEN"``; user-typed terms must go through ``names.search_criteria``."""
        if isinstance(criteria, str):
            if not criteria.isascii():
                raise ConnectionProblem(Problem.BAD_INPUT, "use names.search_criteria for text")
            criteria = SearchCriteria((check_wire_text(criteria, "criteria").encode(),))
        esearch = "ESEARCH" in self.capabilities
        parts = [b"UID", b"SEARCH"] + ([b"RETURN", b"(ALL)"] if esearch else [])
        if criteria.charset:
            parts += [b"CHARSET", criteria.charset.encode()]
        parts += criteria.pieces
        uids = []
        tag = b"W%d" % (self._tag_number + 1)  # the tag _exchange will use

        def on_search(number, kind, rest, raw):
            if kind == "SEARCH":
                uids.extend(parse_search(rest))
            elif kind == "ESEARCH":
                correlator, _uid, results = parse_esearch(rest)
                if correlator not in (None, tag):
                    return False
                if results.get("ALL"):
                    uids.extend(expand_uid_set(results["ALL"]))
            else:
                return False
            return True

        self._command("UID SEARCH", parts, on_search)
        return sorted(set(uids))

    def fetch_meta(self, uids: Iterable[int], *, batch=2000) -> Iterator[MessageMeta]:
        """UID FETCH (UID FLAGS RFC822.SIZE INTERNALDATE [MODSEQ] BODYSTRUCTURE
        BODY.PEEK[HEADER.FIELDS (...)]) in batches, yielded as parsed."""
        modseq = self.has_condstore
        items = b"(UID FLAGS RFC822.SIZE INTERNALDATE" + (b" MODSEQ" if modseq else b"")
        items += b" BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (" + " ".join(HEADER_FIELDS).encode()
        items += b")])"
        commands = ([b"UID", b"FETCH", uid_text, items] for uid_text, _ in uid_batches(uids, batch))
        return self._pipeline("UID FETCH", commands, _read_meta)

    def fetch_flags(self, uids: Iterable[int] | None = None, *, changedsince=None,
                    batch=5000) -> Iterator[FlagUpdate]:  # fmt: skip
        """Flags of ``uids`` (all when None), optionally only those changed since a modseq.

        Without CONDSTORE, ``changedsince`` is ignored: every flag comes, a superset."""
        items = b"(UID FLAGS MODSEQ)" if self.has_condstore else b"(UID FLAGS)"
        if changedsince is not None and self.has_condstore:
            items += b" (CHANGEDSINCE %d)" % int(changedsince)
        if uids is None:
            return self._pipeline("UID FETCH", [[b"UID", b"FETCH", b"1:*", items]], _flags_reader())
        uids = sorted(set(uids))
        commands = ([b"UID", b"FETCH", uid_text, items] for uid_text, _ in uid_batches(uids, batch))
        return self._pipeline("UID FETCH", commands, _flags_reader(set(uids)))

    def fetch_part(self, uid: int, section: str) -> bytes:
        """BODY.PEEK[section] of one message, still in its transfer encoding."""
        return self._fetch_section(uid, section)

    def iter_part(self, uid: int, section: str, *, chunk_size=1 << 20) -> Iterator[bytes]:
        """The same in chunks, by partial fetches (BODY.PEEK[section]<offset.length>)."""
        offset = 0
        while True:
            data = self._fetch_section(uid, section, (offset, chunk_size))
            if data:
                yield data
            if len(data) < chunk_size:
                return
            offset += len(data)

    def fetch_sections(self, uids: Iterable[int], sections: Iterable[str], *,
                       batch=50) -> Iterator[tuple[int, dict]]:  # fmt: skip
        """``(uid, {section: bytes})`` for each of ``uids`` that the server has: one UID FETCH
        (BODY.PEEK[s1] BODY.PEEK[s2] ...) per ``batch`` UIDs, pipelined, still in their transfer
        encoding. PEEK: no message becomes \\Seen (RFC 3501 6.4.5)."""
        sections = [section.upper() for section in sections]
        if not sections or any(not _SECTION.match(section) for section in sections):
            raise ConnectionProblem(Problem.BAD_INPUT, f"not body sections: {sections!r}")
        items = b"(" + b" ".join(b"BODY.PEEK[" + s.encode() + b"]" for s in sections) + b")"
        commands = ([b"UID", b"FETCH", uid_text, items] for uid_text, _ in uid_batches(uids, batch))
        return self._pipeline("UID FETCH", commands, _sections_reader(sections))

    def fetch_message(self, uid: int) -> bytes:
        """The whole message (BODY.PEEK[])."""
        return self._fetch_section(uid, "")

    def _fetch_section(self, uid, section, partial=None):
        section = section.upper()
        if not _SECTION.match(section):
            raise ConnectionProblem(Problem.BAD_INPUT, f"not a body section: {section!r}")
        item = b"BODY.PEEK[" + section.encode() + b"]"
        if partial is not None:
            item += b"<%d.%d>" % (int(partial[0]), int(partial[1]))
        prefix = b"BODY[" + section.encode() + b"]"
        found = []

        def on_fetch(number, kind, rest, raw):
            parsed = parse_fetch(raw) if kind == "FETCH" else None
            if parsed is None or parsed[1].get(b"UID") != uid:
                return False
            for key, value in parsed[1].items():
                if key.startswith(prefix):
                    found.append(value or b"")
                    return True
            return False

        parts = [b"UID", b"FETCH", b"%d" % int(uid), b"(" + item + b")"]
        self._command("UID FETCH", parts, on_fetch)
        if not found:
            raise MessageGone(uid)
        return found[0]

    # --- changing -------------------------------------------------------------------------------

    def store_flags(self, uids: Iterable[int], *, add=(), remove=()) -> list[FlagUpdate]:
        """+FLAGS then -FLAGS; the flags every message has afterwards, as the server says."""
        results, uids = {}, sorted(set(uids))
        for operation, flags in ((b"+FLAGS", add), (b"-FLAGS", remove)):
            if not flags:
                continue
            flags = flag_list(flags)
            for uid_text, chunk in uid_batches(uids, BATCH):
                handler = self._fetch_handler(set(chunk), results)
                self._command("UID STORE", [b"UID", b"STORE", uid_text, operation, flags], handler)
        return [results[uid] for uid in sorted(results)]

    def copy(self, uids: Iterable[int], target: str) -> dict[int, int] | None:
        """{old uid: new uid} from COPYUID (UIDPLUS), or None if the server does not say."""
        return self._transfer(b"COPY", uids, target)

    def move(self, uids: Iterable[int], target: str) -> dict[int, int] | None:
        """MOVE where offered; else COPY, STORE \\Deleted and UID EXPUNGE of those UIDs only."""
        if "MOVE" in self.capabilities:
            return self._transfer(b"MOVE", uids, target)
        uids = sorted(set(uids))
        self._need_uidplus("MOVE")
        mapping = self._transfer(b"COPY", uids, target)
        self.expunge(uids)
        return mapping

    def _transfer(self, verb, uids, target):
        """UID COPY or UID MOVE in batches; the COPYUID mapping, which MOVE sends untagged."""
        mapping, complete = {}, True
        for uid_text, _chunk in uid_batches(uids, BATCH):
            found = []

            def on_copyuid(number, kind, rest, raw, found=found):
                code, argument, _ = parse_code(rest)
                if kind == "OK" and code == "COPYUID" and argument:
                    found.append(argument)
                    return True
                return False

            parts = [b"UID", verb, uid_text, mailbox_arg(target)]
            reply = self._command("UID " + verb.decode(), parts, on_copyuid)
            on_copyuid(None, "OK", reply, reply)
            for argument in found:
                mapping.update(parse_copyuid(argument))
            complete = complete and bool(found)
        return mapping if complete else None

    def expunge(self, uids: Iterable[int]) -> None:
        """STORE \\Deleted then UID EXPUNGE of exactly these UIDs (needs UIDPLUS)."""
        self._need_uidplus("EXPUNGE")
        for uid_text, _chunk in uid_batches(uids, BATCH):
            store = [b"UID", b"STORE", uid_text, b"+FLAGS.SILENT", b"(\\Deleted)"]
            self._command("UID STORE", store)
            self._command("UID EXPUNGE", [b"UID", b"EXPUNGE", uid_text])

    def _need_uidplus(self, what):
        if "UIDPLUS" not in self.capabilities:
            raise ImapCommandError(what, "NO", "the server has no UIDPLUS (UID EXPUNGE)")

    def append(self, folder: str, message: bytes, *, flags=(), internaldate=None) -> tuple | None:
        """(uidvalidity, uid) from APPENDUID, or None."""
        parts = [b"APPEND", mailbox_arg(folder)]
        if flags:
            parts.append(flag_list(flags))
        if internaldate is not None:
            parts.append(imap_datetime(internaldate))
        parts.append(Literal(bytes(message)))
        code, argument, _ = parse_code(self._command("APPEND", parts))
        if code == "APPENDUID" and argument:
            validity, uid = argument.split()
            if uid.isdigit():
                return int(validity), int(uid)
        return None

    # --- waiting --------------------------------------------------------------------------------

    def idle(self, timeout: float) -> list:
        """IDLE until the server reports something or ``timeout`` passes, then DONE; returns
        the untagged responses received (as in ``unsolicited``).

        A server without IDLE gets a NOOP after ``timeout`` instead."""
        if "IDLE" not in self.capabilities:
            time.sleep(timeout)
            return self.noop()
        return self._idle(timeout)

    def noop(self) -> list:
        """NOOP; returns the untagged responses it brought (as in ``unsolicited``)."""
        events = []
        self._command("NOOP", [b"NOOP"], lambda *response: self._collect(response[-1], events))
        return events

    def logout(self) -> None:
        """LOGOUT, then close; a connection that is already gone is closed all the same."""
        try:
            if self._broken is None:
                self._exchange([b"LOGOUT"], lambda *response: True)
        except ConnectionProblem:
            pass
        finally:
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.logout()


def _flag_update(items):
    uid, flags = items.get(b"UID"), items.get(b"FLAGS")
    if not isinstance(uid, int) or flags is None:
        return None
    modseq = items.get(b"MODSEQ")
    return FlagUpdate(uid, flags, modseq if isinstance(modseq, int) else None)


def _read_meta(raw):
    fields = parse_meta(raw, _HEADER_KEY)
    return None if fields is None else MessageMeta(*fields)


def _flags_reader(wanted=None):
    def reader(raw):
        parsed = parse_fetch(raw)
        update = None if parsed is None else _flag_update(parsed[1])
        if update is None or (wanted is not None and update.uid not in wanted):
            return None
        return update

    return reader


def _sections_reader(sections):
    keys = {b"BODY[" + section.encode() + b"]": section for section in sections}

    def reader(raw):
        parsed = parse_fetch(raw)
        if parsed is None or not isinstance(parsed[1].get(b"UID"), int):
            return None
        found = {keys[k]: v or b"" for k, v in parsed[1].items() if k in keys}
        return (parsed[1][b"UID"], found) if found else None

    return reader


def _folder_info(attributes, delimiter, raw_name, extended, subscribed):
    name = decode_mailbox_name(raw_name)
    lowered = {a.lower() for a in attributes}
    return FolderInfo(
        name="INBOX" if is_inbox(name) else name,
        delimiter=delimiter,
        attributes=attributes,
        special_use=folder_role(name, attributes),
        subscribed="\\subscribed" in lowered if extended else raw_name in subscribed,
    )


def open_session(endpoint, *, without=frozenset()) -> ImapSession:
    """Connect and log in (:func:`connect`), then an :class:`ImapSession` over that socket.

    ``without`` hides capabilities the server has (e.g. ``{"MOVE"}``): for tests of the paths
    taken with servers that lack them."""
    client = connect(endpoint)
    session = ImapSession(client.sock, client.file, without=without)
    try:
        session._start()
    except BaseException:
        session.close()
        raise
    return session
