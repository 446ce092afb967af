"""Read-only looks into a buffer file (``luna-agent buffer stats`` and ``export``), safe next to a running agent.

The file is opened with ``mode=ro``: nothing is written, and in WAL mode a reader neither
blocks the agent's writer nor is blocked by it; it sees the readings committed when it started.
Next to a stopped agent SQLite may leave its ``-wal``/``-shm`` side files behind (a read-only
connection cannot remove them); the agent reuses them on its next start.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, TextIO

import msgspec

from luna_agent.errors import StorageError

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["EXPORT_COLUMNS", "BufferSummary", "ExportFormat", "export", "summarize"]

ExportFormat = Literal["csv", "jsonl"]
EXPORT_COLUMNS: Final = ("seq", "meter_id", "metric", "ts", "value", "unit", "quality", "reasons", "synced")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)
_TABLES: Final = ("readings", "events", "meta")
_PAGE_PRAGMAS: Final = ("page_count", "freelist_count", "page_size")
_EXPORT: Final = (
    "SELECT seq, meter_id, metric, ts_ms, value, unit, quality, reasons, synced FROM readings"
    " WHERE :since IS NULL OR ts_ms >= :since ORDER BY seq"
)


class BufferSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What ``luna-agent buffer stats`` prints."""

    file: str
    rows: int
    unsynced: int
    bytes: int
    oldest_at: datetime | None
    newest_at: datetime | None
    oldest_unsynced_at: datetime | None
    next_seq: int
    dropped_synced: int
    dropped_unsynced: int
    events: int


@contextmanager
def _read_only(path: Path) -> Iterator[sqlite_utils.Database]:
    import sqlite_utils  # noqa: PLC0415 - only the inspection commands need it

    if not path.is_file():
        msg = f"{path}: no buffer file here (has the agent run with this data_dir?)"
        raise StorageError(msg)
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise StorageError(f"{path}: cannot open the buffer read-only: {exc}") from exc
    try:
        db = sqlite_utils.Database(connection, recursive_triggers=False, execute_plugins=False)
        missing = [name for name in _TABLES if not db.table(name).exists()]
        if missing:
            msg = f"{path}: not an agent buffer (no {', '.join(missing)} table)"
            raise StorageError(msg)
        yield db
    except sqlite3.Error as exc:
        raise StorageError(f"{path}: cannot read the buffer: {exc}") from exc
    finally:
        connection.close()


def _at(ts_ms: int | None) -> datetime | None:
    return None if ts_ms is None else _EPOCH + ts_ms * _MS


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def summarize(path: Path) -> BufferSummary:
    """Count rows, backlog, bytes, time span and drops of the buffer file at ``path`` in one read transaction."""
    with _read_only(path) as db:
        db.execute("BEGIN")  # one snapshot: the counts agree with each other while the agent appends
        try:
            readings = db.table("readings")
            meta = {row["key"]: row["value"] for row in db.table("meta").rows}
            oldest, newest = db.execute("SELECT MIN(ts_ms), MAX(ts_ms) FROM readings").fetchone()
            first_unsynced = db.execute("SELECT ts_ms FROM readings WHERE synced = 0 ORDER BY seq LIMIT 1").fetchone()
            pages, free, size = (db.execute(f"PRAGMA {name}").fetchone()[0] for name in _PAGE_PRAGMAS)
            return BufferSummary(
                file=str(path),
                rows=readings.count,
                unsynced=readings.count_where("synced = 0"),
                bytes=(pages - free) * size,
                oldest_at=_at(oldest),
                newest_at=_at(newest),
                oldest_unsynced_at=_at(first_unsynced[0]) if first_unsynced else None,
                next_seq=meta.get("next_seq", 0),
                dropped_synced=meta.get("dropped_synced", 0),
                dropped_unsynced=meta.get("dropped_unsynced", 0),
                events=db.table("events").count,
            )
        finally:
            db.execute("COMMIT")


def _export_rows(db: sqlite_utils.Database, since: datetime | None) -> Iterator[dict[str, Any]]:
    since_ms = (since - _EPOCH) // _MS if since is not None else None
    for row in db.query(_EXPORT, {"since": since_ms}):
        ts = _at(row.pop("ts_ms"))
        assert ts is not None  # noqa: S101 - the column is NOT NULL
        yield {
            **row,
            "ts": _iso(ts),
            "reasons": row["reasons"].split(",") if row["reasons"] else [],
            "synced": bool(row["synced"]),
        }


def export(path: Path, out: TextIO, *, since: datetime | None, output_format: ExportFormat) -> int:
    """Write the readings with ``ts >= since`` (all without it) to ``out`` in sequence order; return how many."""
    count = 0
    with _read_only(path) as db:
        rows = _export_rows(db, since)
        if output_format == "jsonl":
            for row in rows:
                out.write(json.dumps({column: row[column] for column in EXPORT_COLUMNS}, ensure_ascii=False) + "\n")
                count += 1
            return count
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        for row in rows:
            row["reasons"] = ",".join(row["reasons"])
            row["synced"] = "true" if row["synced"] else "false"
            writer.writerow(row[column] for column in EXPORT_COLUMNS)
            count += 1
    return count
