"""One hub process at a time on a data directory: ``<data_dir>/luna-hub.lock``.

``luna-hub serve`` and ``luna-hub documents add`` open what a second process must not open beside
them (Qdrant's local store, the embedded PostgreSQL's start-up). Each holds an exclusive ``flock``
on the lock file for as long as it runs; the kernel drops it when the process ends, however it ends,
so a stale file never blocks. The file names its holder, for the one line a refused process prints.
Commands that only use the database (``audit verify``, ``create-user``, ...) do not take it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from luna_hub.errors import ConflictError

__all__ = ["LOCK_FILE", "DataDirBusyError", "hold_data_dir"]

LOCK_FILE: Final = "luna-hub.lock"


class DataDirBusyError(ConflictError):
    """Another hub process holds the data directory."""


@contextlib.contextmanager
def hold_data_dir(data_dir: Path, command: str, *, busy_hint: str) -> Iterator[None]:
    """Hold ``data_dir``'s lock while the block runs; raise :class:`DataDirBusyError` (with ``busy_hint``) if held."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 200, 0).decode(errors="replace").strip() or "another luna-hub process"
            msg = f"data dir {data_dir} is in use by {holder}; {busy_hint}"
            raise DataDirBusyError(msg) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"luna-hub {command} (pid {os.getpid()})\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # releases the lock
