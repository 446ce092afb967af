"""The hub's log files: JSON lines in ``<data_dir>/logs``, rotated, archived to the object store, pruned.

:class:`LogFileHandler` writes every line (``request_id`` and ``agent_id`` always present) to
``current-<host>-<start>-<pid>.jsonl`` and flushes it, so a line logged is in the file even if the
process is killed. A file past ``log_files.max_bytes`` or older than ``rotate_every_s`` is moved to
``logs/rotated/``; so is, at start, a ``current-*`` file an earlier process left behind (one hub
per data directory, as for the embedded database): a restart loses no line.

:func:`log_archiver` runs in the app: it gzips each rotated file into the object store the
documents use (a filesystem folder ``<data_dir>/log-archive`` by default; with ``documents.store =
"s3"`` the bucket ``log_files.archive_bucket`` on the same service), records it in
``log_archives``, deletes the local copy only then, and deletes archives older than
``retention_days``. Fluent Bit tails the ``current-*`` files (see ``deploy/fluent-bit/``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import os
import re
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, TextIO

import asyncpg
import msgspec

from luna_hub.documents.services import open_object_store
from luna_hub.documents.storage import BlockingCalls, ObjectStore
from luna_hub.settings import HubSettings
from luna_shared.logs import get_logger, json_formatter

__all__ = [
    "LOG_FIELDS",
    "LogFileHandler",
    "archive_rotated",
    "attach_log_files",
    "detach_log_files",
    "log_archiver",
    "logs_dir",
    "open_archive_store",
    "prune_archives",
]

LOG_FIELDS: Final = ("request_id", "agent_id")
"""Fields every line of the files has (null outside a request, or when no agent is involved)."""
_CURRENT: Final = "current-"
_STAMP: Final = "%Y%m%dT%H%M%S%fZ"
_HOST: Final = re.compile(r"[^A-Za-z0-9.-]+")
_log = get_logger(__name__)


def logs_dir(settings: HubSettings) -> Path:
    """Where the log files are: ``log_files.dir`` or ``<data_dir>/logs``."""
    return Path(settings.log_files.dir or Path(settings.data_dir) / "logs")


class LogFileHandler(logging.Handler):
    """Write JSON lines to the current file; rotate by size and age (see the module docstring)."""

    def __init__(self, folder: Path, *, max_bytes: int, rotate_every_s: float, host: str | None = None) -> None:
        super().__init__()
        self.folder = folder
        self.rotated = folder / "rotated"
        self.rotated.mkdir(parents=True, exist_ok=True)
        self._max_bytes = max_bytes
        self._rotate_every_s = rotate_every_s
        self._host = _HOST.sub("-", host or socket.gethostname())[:40].strip("-") or "hub"
        self.setFormatter(json_formatter(LOG_FIELDS))
        for leftover in sorted(folder.glob(f"{_CURRENT}*.jsonl")):  # an earlier process's: rotate, never reopen
            leftover.replace(self.rotated / leftover.name.removeprefix(_CURRENT))
        self._file: TextIO | None = None
        self._open()

    @property
    def path(self) -> Path:
        """The file being written."""
        return self._path

    def _open(self) -> None:
        self._started = time.time()
        stamp = datetime.fromtimestamp(self._started, UTC).strftime(_STAMP)
        self._path = self.folder / f"{_CURRENT}{self._host}-{stamp}-{os.getpid()}.jsonl"
        self._file = self._path.open("a", encoding="utf-8")
        self._size = 0

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
        self._path.replace(self.rotated / self._path.name.removeprefix(_CURRENT))
        self._open()

    def _due(self, adding: int) -> bool:
        too_big = self._size + adding > self._max_bytes
        return self._size > 0 and (too_big or time.time() - self._started >= self._rotate_every_s)

    def emit(self, record: logging.LogRecord) -> None:
        """Write one line and flush it (rotating first when it is due)."""
        try:
            line = self.format(record) + "\n"
            size = len(line.encode("utf-8"))
            if self._due(size):
                self._rotate()
            if self._file is not None:
                self._file.write(line)
                self._file.flush()
                self._size += size
        except Exception:  # noqa: BLE001 - logging's contract: report, never raise into the caller
            self.handleError(record)

    def rotate_if_due(self) -> bool:
        """Rotate a non-empty file that is old enough (a quiet hub still ships its lines); return whether it did."""
        with self.lock if self.lock is not None else contextlib.nullcontext():
            if self._file is None or not self._due(0):
                return False
            self._rotate()
            return True

    def close(self) -> None:
        """Close the current file (it stays ``current-*``: the next start rotates and archives it)."""
        with self.lock if self.lock is not None else contextlib.nullcontext():
            if self._file is not None:
                self._file.close()
                self._file = None
        super().close()


def attach_log_files(settings: HubSettings) -> LogFileHandler | None:
    """Add a :class:`LogFileHandler` to the root logger when ``log_files.enabled``; return it."""
    if not settings.log_files.enabled:
        return None
    handler = LogFileHandler(
        logs_dir(settings), max_bytes=settings.log_files.max_bytes, rotate_every_s=settings.log_files.rotate_every_s
    )
    logging.getLogger().addHandler(handler)
    return handler


def detach_log_files(handler: LogFileHandler | None) -> None:
    """Remove and close ``handler``."""
    if handler is not None:
        logging.getLogger().removeHandler(handler)
        handler.close()


async def open_archive_store(settings: HubSettings) -> ObjectStore:
    """Open the object store of the documents, pointed at the log archive's own folder or bucket."""
    files = settings.log_files
    documents = settings.documents
    archive = msgspec.structs.replace(
        documents,
        store_dir=files.archive_dir or str(Path(settings.data_dir) / "log-archive"),
        s3=None if documents.s3 is None else msgspec.structs.replace(documents.s3, bucket=files.archive_bucket),
    )
    return await open_object_store(msgspec.structs.replace(settings, documents=archive))


def _first_at(name: str) -> datetime:
    """Return the start time in a rotated file's name (``<host>-<stamp>-<pid>.jsonl``); now if it has none."""
    for part in reversed(name.removesuffix(".jsonl").split("-")):
        with contextlib.suppress(ValueError):
            return datetime.strptime(part, _STAMP).replace(tzinfo=UTC)
    return datetime.now(UTC)


def _read_packed(path: Path) -> tuple[bytes, bytes]:
    data = path.read_bytes()
    return data, gzip.compress(data, mtime=0)


async def archive_rotated(folder: Path, store: ObjectStore, pool: asyncpg.Pool, threads: BlockingCalls) -> int:
    """Archive each rotated file (gzip, put, record, then delete locally); return how many were archived."""
    archived = 0
    for path in sorted((folder / "rotated").glob("*.jsonl")):
        data, packed = await threads.run(_read_packed, path)
        key = path.name + ".gz"
        stored = await store.put(key, packed, content_type="application/gzip")
        host = path.name.split("-", 1)[0]
        async with pool.acquire() as connection:
            await connection.execute(
                "INSERT INTO log_archives (object_key, version_id, host, first_at, bytes, lines)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (object_key) DO UPDATE"
                " SET version_id = excluded.version_id, archived_at = now()",
                key,
                stored.version_id,
                host,
                _first_at(path.name),
                len(data),
                data.count(b"\n"),
            )
        path.unlink()
        archived += 1
    return archived


async def prune_archives(store: ObjectStore, pool: asyncpg.Pool, retention: timedelta) -> int:
    """Delete archives archived longer than ``retention`` ago (store first, then the row); return how many."""
    async with pool.acquire() as connection:
        keys = await connection.fetch(
            "SELECT object_key FROM log_archives WHERE archived_at < now() - $1::interval", retention
        )
    for row in keys:
        await store.delete(row["object_key"])
        async with pool.acquire() as connection:
            await connection.execute("DELETE FROM log_archives WHERE object_key = $1", row["object_key"])
    return len(keys)


def _file_handlers() -> list[LogFileHandler]:
    return [handler for handler in logging.getLogger().handlers if isinstance(handler, LogFileHandler)]


@asynccontextmanager
async def log_archiver(settings: HubSettings, pool: asyncpg.Pool, schema_ready: asyncio.Event) -> AsyncIterator[None]:
    """Archive and prune every ``log_files.archive_every_s`` while the app runs (when archiving is on)."""
    files = settings.log_files
    if not (files.enabled and files.archive):
        yield
        return
    store = await open_archive_store(settings)
    threads = BlockingCalls("luna-log-archive", workers=1)

    async def loop() -> None:
        await schema_ready.wait()
        while True:
            try:
                for handler in _file_handlers():
                    await threads.run(handler.rotate_if_due)
                await archive_rotated(logs_dir(settings), store, pool, threads)
                await prune_archives(store, pool, timedelta(days=files.retention_days))
            except Exception as exc:  # noqa: BLE001 - database or object store: keep the files, try again later
                _log.warning("log archiving failed; retrying", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(files.archive_every_s)

    task = asyncio.create_task(loop(), name="luna-hub log archiver")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        threads.close()
        store.close()
