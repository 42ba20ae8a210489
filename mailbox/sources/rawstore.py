"""Raw messages kept here (POP3 mail), in the Django storage named "mail" (settings.STORAGES).

By default a private directory under var/ (files 0600, directories 0700); operators may name any
Django storage instead (S3 through django-storages, say). Never blobs in the database.

Writing is durable before anything else may rely on it:
1. the bytes go to a temporary file in a spool directory (on the storage's own filesystem when
   it is a directory, so that the rename below is atomic);
2. the file is flushed and made durable: one syncfs(2) of the filesystem for a whole batch of
   files (what an fsync of each would do, at the cost of one), or an fsync of each where
   syncfs is missing;
3. it is renamed to its final name, and the renames are made durable the same way (a directory
   storage), or the file is handed to the storage, whose save is one atomic upload (others).
A writer killed before step 3 leaves only a temporary file, which :func:`clear_spool` removes
and the next writer of the same name replaces; a name is only ever recorded in the database
after step 3.
"""

import contextlib
import ctypes
import os
import shutil
import tempfile

from django.core.files import File
from django.core.files.storage import FileSystemStorage, storages

STORAGE_ALIAS = "mail"


def storage():
    return storages[STORAGE_ALIAS]


def _is_directory(store):
    return isinstance(store, FileSystemStorage)


def account_prefix(account_id):
    return f"accounts/{int(account_id)}/"


class Spool:
    """Where messages are written before they are kept. In a directory storage, a message to
    be kept as ``name`` is written to ".<name>.tmp" beside it: the rename that keeps it stays in
    one directory (a rename across directories takes a lock of the whole filesystem), and the
    temporary name is the same every time, so what a killed writer left is overwritten when the
    same message is written again, and goes with the account's directory. Other storages
    upload from a temporary file of the system's."""

    def __init__(self):
        self.store = storage()
        self.made = set()  # directories known to exist

    def file(self, name):
        """A new temporary binary file (mode 0600) for the message to be kept as ``name``; the
        caller hands it to :func:`keep_all`, or to :func:`discard`. One writer per name."""
        if not _is_directory(self.store):
            return tempfile.NamedTemporaryFile(prefix="raw-", delete=False)  # noqa: SIM115
        final = os.path.join(self.store.location, _checked(name))
        directory, base = os.path.split(final)
        if directory not in self.made:
            _make_dirs(self.store, directory)
            self.made.add(directory)
        path = os.path.join(directory, f".{base}.tmp")
        return open(path, "w+b", buffering=0, opener=_private)  # noqa: SIM115 (whole blocks)

    @contextlib.contextmanager
    def scratch(self, name):
        """A spool file discarded on exit (a message read only for its header block)."""
        handle = self.file(name)
        try:
            yield handle
        finally:
            discard(handle)


def _private(path, flags):
    return os.open(path, flags, 0o600)


def discard(handle):
    handle.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(handle.name)


def keep_all(spooled):
    """Make the spooled files [(handle, name)] durable under their names (replacing files of
    those names); returns the names stored, to record in the database. OSError when it cannot.
    The handles are closed."""
    store = storage()
    if not _is_directory(store):
        return [_upload(store, handle, name) for handle, name in spooled]
    for handle, _name in spooled:
        handle.flush()
    make_durable([handle for handle, _name in spooled], store.location)
    directories = set()
    for handle, name in spooled:
        handle.close()
        final = os.path.join(store.location, _checked(name))
        directories.add(_replace(store, handle.name, final))
    make_durable([], store.location, directories)
    return [name for _handle, name in spooled]


def _checked(name):
    """A name of ours as a relative path: no absolute path, no "..", nothing to escape with."""
    if name.startswith("/") or ".." in name.split("/") or "\0" in name:
        raise ValueError(f"not a kept message's name: {name!r}")
    return name


def _replace(store, source, final):
    """Rename ``source`` to ``final``, making its directory first if it is missing."""
    try:
        os.replace(source, final)
    except FileNotFoundError:
        _make_dirs(store, os.path.dirname(final))
        os.replace(source, final)
    return os.path.dirname(final)


def _upload(store, handle, name):
    handle.flush()
    os.fsync(handle.fileno())
    handle.seek(0)
    try:
        return store.save(name, File(handle, name=os.path.basename(name)))
    finally:
        discard(handle)


def make_durable(handles, location, directories=()):
    """What was written to ``handles`` reaches the disk: one syncfs(2) of the filesystem of
    ``location`` where Linux has it, else an fsync of each; and the renames in ``directories``:
    an fsync of each (usually one, the account's)."""
    if handles and not _syncfs(location):
        for handle in handles:
            os.fsync(handle.fileno())
    for directory in directories:
        _fsync_directory(directory)


_libc = ctypes.CDLL(None, use_errno=True) if hasattr(ctypes, "CDLL") else None


def _syncfs(path):
    if _libc is None or not hasattr(_libc, "syncfs"):
        return False
    descriptor = os.open(path, os.O_RDONLY)
    try:
        if _libc.syncfs(descriptor) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))
        return True
    finally:
        os.close(descriptor)


def _make_dirs(store, directory):
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=store.directory_permissions_mode or 0o700, exist_ok=True)
        _fsync_directory(os.path.dirname(directory))
    return directory


def _fsync_directory(path):
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def open_raw(name):
    """The raw message as a binary file; FileNotFoundError when it is gone."""
    store = storage()
    if _is_directory(store):
        return open(os.path.join(store.location, _checked(name)), "rb")  # noqa: SIM115
    return store.open(name, "rb")


def delete_raw(names):
    """Forget kept messages (call after the commit that dropped their rows)."""
    store = storage()
    for name in names:
        if name:
            with contextlib.suppress(FileNotFoundError):
                store.delete(name)


def delete_account(account_id):
    """Every file kept for an account (call after the commit that deleted it)."""
    store = storage()
    prefix = account_prefix(account_id)
    if _is_directory(store):
        shutil.rmtree(store.path(prefix), ignore_errors=True)
        return
    _delete_tree(store, prefix.rstrip("/"))


def _delete_tree(store, path):
    directories, files = store.listdir(path)
    for name in files:
        store.delete(f"{path}/{name}")
    for name in directories:
        _delete_tree(store, f"{path}/{name}")
