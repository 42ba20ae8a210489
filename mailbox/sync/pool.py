"""IMAP sessions kept open per account for fetches on demand, instead of a login and a SELECT
for every part the reading pane needs (Dovecot spends ~300 ms opening a folder for a new session).

1. Per process: a pool made in one process is never used in another. A fork (Celery's prefork
   pool, gunicorn) leaves the child the parent's sockets: the child forgets them (it does not log
   them out: that would speak on the parent's connections) and starts empty.
2. Per account, keyed by the server the password was typed for and the password itself (a
   digest of its stored form): a changed password or server closes the account's sessions, and
   one still lent is closed when it comes back.
3. At most ``size`` sessions per account; a thread that finds them all lent waits for one
   (up to ``wait`` seconds, then ConnectionProblem TIMEOUT). A session is lent to one thread at
   a time.
4. A session that saw any error is closed, never lent again: after an error its state is
   unknown. A session reused from the pool that fails with a broken connection (the server
   dropped it while it sat idle) is replaced by a new one and the work done again, once: the
   work is a read (BODY.PEEK, EXAMINE), harmless to repeat.
5. Idle sessions are logged out after ``idle`` seconds (a reaper thread), and all at exit.
"""

import atexit
import contextlib
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field

from mailbox.protocols.base import ConnectionProblem, Problem, ServerRefused

logger = logging.getLogger(__name__)

IDLE_SECONDS = 60
SESSIONS_PER_ACCOUNT = 2


def account_key(account):
    """What an account's sessions are valid for: its server and its stored credentials."""
    secret = f"{account.incoming_username}\0{account.incoming_password_encrypted}"
    credentials = hashlib.sha256(secret.encode()).hexdigest()
    return f"{account.incoming_server()}:{credentials}"


@dataclass
class _Slot:
    key: str
    idle: list = field(default_factory=list)  # [(session, monotonic time it came back)]
    lent: int = 0


class SessionPool:
    """Sessions per account id; ``opener()`` makes a new logged-in session (see run)."""

    def __init__(self, size=SESSIONS_PER_ACCOUNT, idle=IDLE_SECONDS, wait=15.0):
        self.size, self.idle_seconds, self.wait = size, idle, wait
        self._reset()

    def _reset(self):
        self._pid = os.getpid()
        self._lock = threading.Condition()
        self._slots = {}
        self._reaper = None

    def _check_process(self):
        if os.getpid() != self._pid:  # forked: these sockets are the parent's
            self._reset()

    def run(self, account_id, key, opener, work):
        """``work(session)``'s result, on a pooled session (see the module's rules)."""
        for attempt in (1, 2):
            session, reused = self._take(account_id, key, opener)
            try:
                result = work(session)
            except ConnectionProblem as problem:
                self._drop(account_id, session)
                if reused and attempt == 1 and _broken(problem):
                    logger.info("a pooled session of account %s had gone: %s", account_id, problem)
                    continue
                raise
            except BaseException:
                self._drop(account_id, session)
                raise
            self._give_back(account_id, key, session)
            return result
        raise AssertionError("unreachable")

    def _take(self, account_id, key, opener):
        """(session, whether it was reused): an idle one, or a new one once a place is free."""
        self._check_process()
        deadline = time.monotonic() + self.wait
        with self._lock:
            slot = self._slot(account_id, key)
            while not slot.idle and slot.lent >= self.size:
                if not self._lock.wait(max(0.0, deadline - time.monotonic())):
                    raise ConnectionProblem(Problem.TIMEOUT, "every pooled session is busy")
                slot = self._slot(account_id, key)
            slot.lent += 1
            if slot.idle:
                return slot.idle.pop()[0], True
        try:
            return opener(), False
        except BaseException:
            self._release(account_id)
            raise

    def _slot(self, account_id, key):
        """The account's slot for ``key``; one for another key is closed first (held)."""
        slot = self._slots.get(account_id)
        if slot is not None and slot.key != key:
            _close_all(slot.idle)
            slot.idle, slot.key = [], key  # lent ones are closed when they come back
        if slot is None:
            slot = self._slots[account_id] = _Slot(key)
        return slot

    def _give_back(self, account_id, key, session):
        session.unsolicited.clear()  # nobody reads them: do not let them pile up
        with self._lock:
            slot = self._slots.get(account_id)
            if self._pid != os.getpid() or slot is None or slot.key != key:
                doomed = True
            else:
                doomed = False
                slot.idle.append((session, time.monotonic()))
                self._start_reaper()
        self._release(account_id)
        if doomed:
            _logout(session)

    def _drop(self, account_id, session):
        session.close()
        self._release(account_id)

    def _release(self, account_id):
        with self._lock:
            slot = self._slots.get(account_id)
            if slot is not None and slot.lent:
                slot.lent -= 1
            self._lock.notify_all()

    def lent(self, account_id):
        """How many of the account's sessions are in use now (for tests)."""
        slot = self._slots.get(account_id)
        return slot.lent if slot else 0

    def idle_count(self, account_id):
        slot = self._slots.get(account_id)
        return len(slot.idle) if slot else 0

    # --- closing --------------------------------------------------------------------------------

    def reap(self, now=None):
        """Log out the sessions idle longer than ``idle_seconds``."""
        now = time.monotonic() if now is None else now
        doomed = []
        with self._lock:
            for slot in self._slots.values():
                keep = [(s, at) for s, at in slot.idle if now - at < self.idle_seconds]
                doomed += [s for s, at in slot.idle if now - at >= self.idle_seconds]
                slot.idle = keep
        _close_all([(session, None) for session in doomed])

    def close_account(self, account_id):
        with self._lock:
            slot = self._slots.pop(account_id, None)
        if slot is not None:
            _close_all(slot.idle)

    def close_all(self):
        if self._pid != os.getpid():
            return
        with self._lock:
            slots, self._slots = list(self._slots.values()), {}
        for slot in slots:
            _close_all(slot.idle)

    def _start_reaper(self):
        """(Held.) One daemon thread per process while sessions wait."""
        if self._reaper is not None and self._reaper.is_alive():
            return
        self._reaper = threading.Thread(target=self._reap_loop, name="imap-pool-reaper",
                                        daemon=True)  # fmt: skip
        self._reaper.start()

    def _reap_loop(self):
        pid = self._pid
        while self._pid == pid:
            time.sleep(min(5.0, self.idle_seconds / 2))
            self.reap()
            with self._lock:
                if not any(slot.idle for slot in self._slots.values()):
                    self._reaper = None
                    return


def _broken(problem):
    """A connection that failed (not a command the server refused)."""
    return not isinstance(problem, ServerRefused) and problem.problem != Problem.BAD_INPUT


def _logout(session):
    with contextlib.suppress(ConnectionProblem, OSError):
        session.logout()


def _close_all(entries):
    for session, _at in entries:
        _logout(session)


POOL = SessionPool()
atexit.register(POOL.close_all)
os.register_at_fork(after_in_child=POOL._reset)


def run_pooled(account, work):
    """``work(session)`` on one of the account's pooled IMAP sessions (logged in, maybe with a
    folder selected: ``session.selected``). ConnectionProblem as for a new session."""
    from accounts.connection import incoming_endpoint
    from mailbox.protocols import imap

    def opener():
        return imap.open_session(incoming_endpoint(account))

    return POOL.run(account.pk, account_key(account), opener, work)
