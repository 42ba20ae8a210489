"""Where a message's content comes from: one interface (base.MessageSource), one module per
kind of place. Readers call :func:`source_for` and never learn the protocol."""

from .base import HEADER_LIMIT, MessageGone, MessageSource, PartNotFound, Stream, TextSearch

__all__ = [
    "HEADER_LIMIT",
    "MessageGone",
    "MessageSource",
    "PartNotFound",
    "Stream",
    "TextSearch",
    "source_for",
    "source_for_account",
]


def source_for_account(account):
    """The source of an account's messages: kept here for POP3, on the server for IMAP."""
    if account.incoming_protocol == "pop3":
        from .local import LocalSource

        return LocalSource()
    from .imap import ImapSource

    return ImapSource()


def source_for(message):
    """The source of ``message`` (its folder and account selected, or fetched now)."""
    return source_for_account(message.folder.account)
