"""One hub process at a time on a data directory: ``<data_dir>/luna-hub.lock``.

``luna-hub serve`` and ``luna-hub documents add`` open what a second process must not open beside
them (Qdrant's local store, the embedded PostgreSQL's start-up). Each holds an exclusive ``flock``
on the lock file for as long as it runs; the kernel drops it when the process ends, however it ends,
so a stale file never blocks. The file names its holder, for the one line a refused process prints.
Commands that only use the database (``audit verify``, ``create-user``, ...) do not take it.

While it serves, ``luna-hub serve`` also writes ``<data_dir>/luna-hub.runtime.json`` (mode 0600): the
URL it listens on, its pid and a local admin token made at start (:mod:`luna_hub.auth.local`). CLI
commands that find a live hub there (documents, loads, keys) work over its HTTP API with that token
instead of opening its stores. The file goes at a clean stop; one left by a dead process is ignored.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from luna_hub.errors import ConflictError

__all__ = [
    "LOCK_FILE",
    "RUNTIME_FILE",
    "DataDirBusyError",
    "LiveHub",
    "hold_data_dir",
    "live_hub",
    "remove_runtime_file",
    "write_runtime_file",
]

LOCK_FILE: Final = "luna-hub.lock"
RUNTIME_FILE: Final = "luna-hub.runtime.json"


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


@dataclass(frozen=True, slots=True)
class LiveHub:
    """A hub serving on a data directory, as its runtime file says."""

    url: str
    """Where it listens, on loopback when it listens on every interface."""
    pid: int
    token: str = field(repr=False)
    """The local admin token (never shown)."""
    tls_cert: str | None = None
    """The PEM certificate chain it serves HTTPS with: the CLI trusts exactly that certificate."""


def write_runtime_file(data_dir: Path, hub: LiveHub) -> Path:
    """Write ``hub`` to the data dir's runtime file, readable by this user only (written whole, then renamed)."""
    path = data_dir / RUNTIME_FILE
    partial = path.with_name(f".{RUNTIME_FILE}.{os.getpid()}")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    content = {"url": hub.url, "pid": hub.pid, "token": hub.token, "tls_cert": hub.tls_cert}
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        json.dump(content, stream)
    partial.replace(path)
    return path


def remove_runtime_file(data_dir: Path) -> None:
    """Remove the runtime file if this process wrote it (a later hub's file stays)."""
    path = data_dir / RUNTIME_FILE
    found = _read_runtime_file(path)
    if found is not None and found.pid == os.getpid():
        path.unlink(missing_ok=True)


def live_hub(data_dir: Path) -> LiveHub | None:
    """Return the hub serving on ``data_dir``; None when none does (no file, an unreadable one, a dead pid)."""
    found = _read_runtime_file(data_dir / RUNTIME_FILE)
    if found is None or not _alive(found.pid) or not _lock_held(data_dir):
        return None
    return found


def _read_runtime_file(path: Path) -> LiveHub | None:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        hub = LiveHub(
            url=str(content["url"]),
            pid=int(content["pid"]),
            token=str(content["token"]),
            tls_cert=None if content.get("tls_cert") is None else str(content["tls_cert"]),
        )
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return hub if hub.pid > 0 else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _lock_held(data_dir: Path) -> bool:
    """Whether a process holds the data dir's lock (a reused pid after a reboot holds none)."""
    try:
        descriptor = os.open(data_dir / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)  # releases a lock taken just now
    return False
