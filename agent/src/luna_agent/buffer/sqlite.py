"""The durable reading buffer: SQLite in WAL mode, one row per reading, numbered gap-free.

Readings stay until the uploader acknowledges them (``ack``) and after that as long as
the bounds allow. When a bound (rows or bytes) is exceeded, the oldest *synced* rows go
first, then the oldest *unsynced* ones; both are counted (persistently) and logged. A
reading is never altered once stored.

A reading the hub refuses on its own (the uploader found it by splitting the batch) moves to
the ``quarantine`` table with the hub's reason (:meth:`ReadingBuffer.quarantine`): it leaves the
queue, so it never blocks the readings behind it, and it stays for the operator to inspect
(``/status``). The hub is told its sequence number (``status.v1``), so it is no unexplained gap.
"""

from __future__ import annotations

import json
import math
import secrets
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, NamedTuple, Self

import msgspec

from luna_agent.buffer.settings import BufferSettings, Synchronous
from luna_agent.errors import StorageError
from luna_agent.sample import Sample
from luna_shared.logs import get_logger
from luna_shared.vocabulary import Quality
from luna_shared.wire import Reading

__all__ = ["BufferStats", "BufferedEvent", "QuarantinedReading", "ReadingBuffer", "SeqRange"]

_log = get_logger(__name__)

_UNSYNCED_INDEX: Final = "CREATE INDEX IF NOT EXISTS readings_unsynced ON readings (seq) WHERE synced = 0"
_META_ROWS: Final = (
    "INSERT OR IGNORE INTO meta (key, value) VALUES ('next_seq', 0), ('dropped_synced', 0), ('dropped_unsynced', 0),"
    " ('quarantined', 0)"
)
_INSERT: Final = (
    "INSERT INTO readings (seq, meter_id, metric, ts_ms, value, unit, quality, reasons) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_BYTE_ROUNDS: Final = 8
_QUALITY_TEXT: Final = {quality: str(quality.value) for quality in Quality}
_QUALITY_OF_TEXT: Final = {text: quality for quality, text in _QUALITY_TEXT.items()}
_COLUMNS: Final = "seq, meter_id, metric, ts_ms, value, unit, quality, reasons"
_QUARANTINE_KEEP: Final = 10_000
"""Quarantined readings kept for inspection (the oldest go first); the count in ``meta`` is kept forever."""


class SeqRange(NamedTuple):
    """The sequence numbers an append assigned, inclusive; empty when ``last < first``."""

    first: int
    last: int


class BufferStats(msgspec.Struct, frozen=True, kw_only=True):
    """How full the buffer is and what it had to drop."""

    rows: int
    depth: int
    """Readings not yet acknowledged by the hub."""
    bytes: int
    oldest_unsynced_at: datetime | None
    next_seq: int
    dropped_synced: int
    dropped_unsynced: int
    quarantined: int = 0
    """Readings the hub refused on their own, set aside (ever, not only those still kept)."""


class QuarantinedReading(msgspec.Struct, frozen=True, kw_only=True):
    """A reading the hub refused on its own, with the hub's reason; out of the queue, kept for inspection."""

    reading: Reading
    reason: str
    quarantined_at: datetime
    reported: bool
    """Whether the hub has been told (``status.v1``), so it counts the sequence number as quarantined, not lost."""


class BufferedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A counter reset or rollover seen by validation, kept for the hub's events domain."""

    id: int
    ts: datetime
    meter_id: str
    metric: str
    kind: str
    detail: dict[str, float | str | None]


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)


def _ms(moment: datetime) -> int:
    """Whole milliseconds since the epoch, exactly (no float rounding)."""
    return (moment - _EPOCH) // _MS


def _from_ms(value: int) -> datetime:
    return _EPOCH + value * _MS


class ReadingBuffer:
    """A SQLite file of readings; use from one thread (the agent's event loop)."""

    def __init__(
        self, path: Path, *, synchronous: Synchronous = "full", max_rows: int = 1_000_000, max_bytes: int = 512 << 20
    ) -> None:
        self.path = path
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            _create_schema(self._db)
            self._db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('instance', ?)", (secrets.randbits(62),))
            self.instance_id = f"{self._meta('instance'):016x}"
            """This buffer's random id, fixed when the file is created: the hub tells two running copies apart by it."""
            self._next_seq = self._meta("next_seq")
            self._rows = self._db.execute("SELECT COUNT(*) FROM readings").fetchone()[0]
            self._depth = self._db.execute("SELECT COUNT(*) FROM readings WHERE synced = 0").fetchone()[0]
        except sqlite3.Error as exc:
            raise StorageError(f"{path}: cannot open the buffer: {exc}") from exc

    @classmethod
    def from_settings(cls, settings: BufferSettings, data_dir: Path) -> Self:
        """Open the buffer file of ``settings`` inside ``data_dir`` with its bounds (agent and CLI alike)."""
        return cls(
            settings.path(data_dir),
            synchronous=settings.synchronous,
            max_rows=settings.max_rows,
            max_bytes=settings.max_bytes,
        )

    def _meta(self, key: str) -> int:
        value: int = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]
        return value

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: {exc}") from exc

    def append(self, samples: Sequence[Sample]) -> SeqRange:
        """Store ``samples`` in one transaction, numbered from the next sequence number on."""
        first = self._next_seq
        if not samples:
            return SeqRange(first, first - 1)
        quality_text = _QUALITY_TEXT  # plain str: sqlite3 binds it faster than the enum, and .value is slow
        rows = [
            (
                first + i,
                s.meter_id,
                s.metric,
                _ms(s.ts),
                s.value,
                s.unit,
                quality_text[s.quality],
                ",".join(s.reasons),
            )
            for i, s in enumerate(samples)
        ]
        last = first + len(rows) - 1
        with self._transaction() as db:
            db.executemany(_INSERT, rows)  # 3x sqlite-utils insert_all (bench/agent_buffer_insert.py)
            db.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (last + 1,))
        self._next_seq = last + 1
        self._rows += len(rows)
        self._depth += len(rows)
        self._enforce_bounds()
        return SeqRange(first, last)

    def pending(
        self, limit: int, *, newest_first: bool = False, first_seq: int | None = None, last_seq: int | None = None
    ) -> list[Reading]:
        """Up to ``limit`` unacknowledged readings, oldest first (or newest first); within a range when given."""
        order = "DESC" if newest_first else "ASC"
        if first_seq is None and last_seq is None:
            cursor = self._db.execute(
                f"SELECT {_COLUMNS} FROM readings WHERE synced = 0 ORDER BY seq {order} LIMIT ?",  # noqa: S608 - fixed
                (limit,),
            )
        else:
            cursor = self._db.execute(
                f"SELECT {_COLUMNS} FROM readings WHERE synced = 0 AND seq BETWEEN ? AND ?"  # noqa: S608 - fixed text
                f" ORDER BY seq {order} LIMIT ?",
                (first_seq if first_seq is not None else 0, last_seq if last_seq is not None else 2**63 - 1, limit),
            )
        return [_reading(row) for row in cursor]

    def read(self, first_seq: int, last_seq: int) -> list[Reading]:
        """Every stored reading with ``first_seq <= seq <= last_seq``, synced or not, in order."""
        cursor = self._db.execute(
            f"SELECT {_COLUMNS} FROM readings WHERE seq BETWEEN ? AND ? ORDER BY seq",  # noqa: S608 - fixed text
            (first_seq, last_seq),
        )
        return [_reading(row) for row in cursor]

    def ack(self, first_seq: int, last_seq: int) -> int:
        """Mark a range as stored by the hub; return how many readings were newly acknowledged."""
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE readings SET synced = 1 WHERE seq BETWEEN ? AND ? AND synced = 0", (first_seq, last_seq)
            ).rowcount
        self._depth -= changed
        return changed

    def recount(self) -> int:
        """Count the unacknowledged readings in the file again and return the count.

        Another process on the same file (a running agent beside ``sync --once``) may have
        acknowledged or added readings since this one opened it; the running count would be stale.
        """
        depth: int = self._db.execute("SELECT COUNT(*) FROM readings WHERE synced = 0").fetchone()[0]
        self._depth = depth
        return depth

    def quarantine(self, seq: int, reason: str, at: datetime) -> bool:
        """Move the unacknowledged reading ``seq`` out of the queue into quarantine; ``False`` if not waiting."""
        with self._transaction() as db:
            moved = db.execute(
                f"INSERT INTO quarantine ({_COLUMNS}, reason, quarantined_at_ms)"  # noqa: S608 - fixed text
                f" SELECT {_COLUMNS}, ?, ? FROM readings WHERE seq = ? AND synced = 0",
                (reason, _ms(at), seq),
            ).rowcount
            if moved:
                db.execute("DELETE FROM readings WHERE seq = ?", (seq,))
                db.execute("UPDATE meta SET value = value + 1 WHERE key = 'quarantined'")
                db.execute(
                    "DELETE FROM quarantine WHERE seq IN"
                    " (SELECT seq FROM quarantine ORDER BY seq DESC LIMIT -1 OFFSET ?)",
                    (_QUARANTINE_KEEP,),
                )
        if moved:
            self._rows -= 1
            self._depth -= 1
        return bool(moved)

    def quarantined(self, limit: int = 100, *, unreported: bool = False) -> list[QuarantinedReading]:
        """Return quarantined readings, newest first (with ``unreported``, those the hub has not been told of)."""
        cursor = self._db.execute(
            f"SELECT {_COLUMNS}, reason, quarantined_at_ms, reported FROM quarantine"  # noqa: S608 - fixed text
            " WHERE reported = 0 OR NOT ? ORDER BY seq DESC LIMIT ?",
            (unreported, limit),
        )
        return [
            QuarantinedReading(
                reading=_reading(row[:8]), reason=row[8], quarantined_at=_from_ms(row[9]), reported=bool(row[10])
            )
            for row in cursor
        ]

    def mark_reported(self, seqs: Sequence[int]) -> None:
        """Note that the hub has been told of these quarantined readings."""
        with self._transaction() as db:
            db.executemany("UPDATE quarantine SET reported = 1 WHERE seq = ?", [(seq,) for seq in seqs])

    def add_event(
        self, ts: datetime, meter_id: str, metric: str, kind: str, detail: dict[str, float | str | None]
    ) -> None:
        """Record a counter event (reset, rollover) for the hub's events domain."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO events (ts_ms, meter_id, metric, kind, detail) VALUES (?, ?, ?, ?, ?)",
                (_ms(ts), meter_id, metric, kind, json.dumps(detail)),
            )

    def events(self, limit: int = 100) -> list[BufferedEvent]:
        """Return the most recent events, newest first."""
        cursor = self._db.execute(
            "SELECT id, ts_ms, meter_id, metric, kind, detail FROM events ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [
            BufferedEvent(id=i, ts=_from_ms(ts), meter_id=m, metric=k, kind=kind, detail=json.loads(d))
            for i, ts, m, k, kind, d in cursor
        ]

    def used_bytes(self) -> int:
        """Bytes of the database file in use (pages not on the free list)."""
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        size: int = self._db.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)

    def stats(self) -> BufferStats:
        """Depth, size, oldest unsynced reading and drop counters."""
        oldest = self._db.execute("SELECT ts_ms FROM readings WHERE synced = 0 ORDER BY seq LIMIT 1").fetchone()
        return BufferStats(
            rows=self._rows,
            depth=self._depth,
            bytes=self.used_bytes(),
            oldest_unsynced_at=_from_ms(oldest[0]) if oldest else None,
            next_seq=self._next_seq,
            dropped_synced=self._meta("dropped_synced"),
            dropped_unsynced=self._meta("dropped_unsynced"),
            quarantined=self._meta("quarantined"),
        )

    def _enforce_bounds(self) -> None:
        if self._rows > self.max_rows:
            self._drop(self._rows - self.max_rows)
        # Freed rows release whole pages only: estimate, drop, measure again (a few rounds at most).
        for _ in range(_BYTE_ROUNDS):
            used = self.used_bytes()
            if used <= self.max_bytes or not self._rows:
                return
            self._drop(max(1, math.ceil(self._rows * (used - self.max_bytes) / used * 1.05)))

    def _drop(self, count: int) -> None:
        with self._transaction() as db:
            synced = db.execute(
                "DELETE FROM readings WHERE seq IN (SELECT seq FROM readings WHERE synced = 1 ORDER BY seq LIMIT ?)",
                (count,),
            ).rowcount
            unsynced = db.execute(
                "DELETE FROM readings WHERE seq IN (SELECT seq FROM readings WHERE synced = 0 ORDER BY seq LIMIT ?)",
                (count - synced,),
            ).rowcount
            db.execute("UPDATE meta SET value = value + ? WHERE key = 'dropped_synced'", (synced,))
            db.execute("UPDATE meta SET value = value + ? WHERE key = 'dropped_unsynced'", (unsynced,))
        self._rows -= synced + unsynced
        self._depth -= unsynced
        if synced:
            _log.info("buffer full: dropped oldest synced readings", dropped=synced)
        if unsynced:
            _log.warning("buffer full: dropped oldest UNSYNCED readings", dropped=unsynced, depth=self._depth)

    def close(self) -> None:
        """Close the database (idempotent)."""
        self._db.close()


_READING_COLUMNS: Final = {
    "seq": int,
    "meter_id": str,
    "metric": str,
    "ts_ms": int,
    "value": float,
    "unit": str,
    "quality": str,
    "reasons": str,
}
"""A stored reading's columns: the readings table's and the quarantine's."""
_READING_NOT_NULL: Final = frozenset({"meter_id", "metric", "ts_ms", "unit", "quality", "reasons"})


def _create_schema(connection: sqlite3.Connection) -> None:
    """Create the tables unless they exist (sqlite-utils), the partial index and the meta counters (plain SQL)."""
    import sqlite_utils  # noqa: PLC0415 - ~100 ms of imports only commands that open the buffer pay

    db = sqlite_utils.Database(connection, recursive_triggers=False, execute_plugins=False)
    db.table("readings").create(
        {**_READING_COLUMNS, "synced": int},
        pk="seq",
        not_null={*_READING_NOT_NULL, "synced"},
        defaults={"synced": 0},
        if_not_exists=True,
    )
    db.table("events").create(
        {"id": int, "ts_ms": int, "meter_id": str, "metric": str, "kind": str, "detail": str},
        pk="id",
        not_null={"ts_ms", "meter_id", "metric", "kind", "detail"},
        if_not_exists=True,
    )
    db.table("quarantine").create(  # a refused reading as stored, with the hub's reason
        {**_READING_COLUMNS, "reason": str, "quarantined_at_ms": int, "reported": int},
        pk="seq",
        not_null={*_READING_NOT_NULL, "reason", "quarantined_at_ms", "reported"},
        defaults={"reported": 0},
        if_not_exists=True,
    )
    db.table("meta").create({"key": str, "value": int}, pk="key", not_null={"value"}, if_not_exists=True)
    connection.execute(_UNSYNCED_INDEX)  # sqlite-utils makes no partial indexes
    connection.execute(_META_ROWS)


def _reading(row: tuple[int, str, str, int, float | None, str, str, str]) -> Reading:
    seq, meter_id, metric, ts_ms, value, unit, quality, reasons = row
    return Reading(
        meter_id=meter_id,
        metric=metric,
        ts=_from_ms(ts_ms),
        value=value,
        unit=unit,
        quality=_QUALITY_OF_TEXT[quality],  # a dict lookup: Quality(text) costs a tenth of the read
        reasons=tuple(reasons.split(",")) if reasons else (),
        seq=seq,
    )
