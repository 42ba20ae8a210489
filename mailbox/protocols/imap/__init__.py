"""IMAP: connect and log in (``connect``), then speak the protocol through an ``ImapSession``.

No Django here. ``names`` encodes and quotes folder names and search terms (the one place that
does); ``parser`` reads server responses; ``session`` holds the commands the sync engine uses.
"""

from .connect import check_login, connect
from .session import (
    FlagUpdate,
    FolderInfo,
    FolderStatus,
    ImapCommandError,
    ImapSession,
    MessageGone,
    MessageMeta,
    SelectResult,
    open_session,
)

__all__ = [
    "FlagUpdate",
    "FolderInfo",
    "FolderStatus",
    "ImapCommandError",
    "ImapSession",
    "MessageGone",
    "MessageMeta",
    "SelectResult",
    "check_login",
    "connect",
    "open_session",
]
