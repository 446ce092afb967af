"""The durable buffer: numbering, ack, bounds and overflow policy, events, crash (kill -9) and reopen."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from luna_agent.buffer import ReadingBuffer
from luna_agent.sample import Sample
from luna_shared.vocabulary import Quality

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def samples(count: int, start: int = 0) -> list[Sample]:
    return [
        Sample(meter_id="m1", metric="power_w", ts=T0 + timedelta(milliseconds=i), value=float(i), unit="W")
        for i in range(start, start + count)
    ]


def test_append_numbers_gap_free_and_round_trips(tmp_path: Path) -> None:
    buffer = ReadingBuffer(tmp_path / "b.sqlite3")
    flagged = Sample(
        meter_id="m1", metric="voltage_l1_v", ts=T0, value=None, unit="V", quality=Quality.BAD, reasons=("sentinel",)
    )
    assert buffer.append(samples(3)) == (0, 2)
    assert buffer.append([flagged]) == (3, 3)
    assert buffer.append([]) == (4, 3)
    pending = buffer.pending(10)
    assert [r.seq for r in pending] == [0, 1, 2, 3]
    assert pending[1].ts == T0 + timedelta(milliseconds=1)
    assert pending[3].value is None
    assert pending[3].reasons == ("sentinel",)
    assert pending[3].quality is Quality.BAD
    assert [r.seq for r in buffer.pending(2, newest_first=True)] == [3, 2]
    buffer.close()


def test_ack_removes_from_pending_and_is_idempotent(tmp_path: Path) -> None:
    buffer = ReadingBuffer(tmp_path / "b.sqlite3")
    buffer.append(samples(10))
    assert buffer.ack(0, 4) == 5
    assert buffer.ack(0, 4) == 0
    assert [r.seq for r in buffer.pending(3)] == [5, 6, 7]
    stats = buffer.stats()
    assert (stats.rows, stats.depth, stats.next_seq) == (10, 5, 10)
    assert stats.oldest_unsynced_at == T0 + timedelta(milliseconds=5)
    buffer.close()


def test_overflow_drops_synced_first_then_unsynced_and_counts(tmp_path: Path) -> None:
    buffer = ReadingBuffer(tmp_path / "b.sqlite3", max_rows=10)
    buffer.append(samples(8))
    buffer.ack(0, 2)
    buffer.append(samples(4, start=8))  # 12 rows: drop 2 synced
    assert [r.seq for r in buffer.read(0, 100)][:2] == [2, 3]
    buffer.append(samples(3, start=12))  # 13 rows: 1 synced left, then 2 unsynced
    stats = buffer.stats()
    assert (stats.rows, stats.dropped_synced, stats.dropped_unsynced) == (10, 3, 2)
    assert buffer.pending(1)[0].seq == 5
    buffer.close()
    reopened = ReadingBuffer(tmp_path / "b.sqlite3", max_rows=10)
    assert (reopened.stats().dropped_synced, reopened.stats().dropped_unsynced) == (3, 2)
    assert reopened.append(samples(1)) == (15, 15)  # numbering continues after drops and reopen
    reopened.close()


def test_byte_bound_is_enforced(tmp_path: Path) -> None:
    buffer = ReadingBuffer(tmp_path / "b.sqlite3", max_bytes=200_000)
    for start in range(0, 20_000, 1000):
        buffer.append(samples(1000, start))
    stats = buffer.stats()
    assert stats.bytes <= 200_000
    assert stats.dropped_unsynced > 0
    assert stats.rows + stats.dropped_unsynced == 20_000
    buffer.close()


def test_events_are_kept(tmp_path: Path) -> None:
    buffer = ReadingBuffer(tmp_path / "b.sqlite3")
    buffer.add_event(T0, "m1", "energy_import_kwh", "counter_reset", {"previous": 1234.5, "value": 0.0})
    (event,) = buffer.events()
    assert (event.kind, event.ts, event.detail) == ("counter_reset", T0, {"previous": 1234.5, "value": 0.0})
    buffer.close()


def test_unopenable_file_is_a_clear_error(tmp_path: Path) -> None:
    from luna_agent.errors import StorageError  # noqa: PLC0415

    (tmp_path / "not-a-db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="not-a-db"):
        ReadingBuffer(tmp_path / "not-a-db")


_WRITER = """
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from luna_agent.buffer import ReadingBuffer
from luna_agent.sample import Sample

buffer = ReadingBuffer(Path(sys.argv[1]), synchronous="full")
t0 = datetime(2026, 3, 1, tzinfo=UTC)
n = 0
while True:
    batch = [Sample(meter_id="m1", metric="power_w", ts=t0 + timedelta(seconds=n + i), value=float(n + i), unit="W")
             for i in range(50)]
    committed = buffer.append(batch)
    n += 50
    print(committed.last, flush=True)
"""


def test_kill_9_mid_burst_loses_no_committed_reading_and_duplicates_none(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite3"
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    assert writer.stdout is not None
    reported = -1
    for line in writer.stdout:
        reported = int(line)
        if reported >= 5000:
            break
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    writer.stdout.close()

    buffer = ReadingBuffer(path)
    stored = buffer.read(0, 10**9)
    seqs = [r.seq for r in stored]
    assert seqs == list(range(len(seqs)))  # gap-free, ordered, no duplicate
    assert len(seqs) >= reported + 1  # every reported commit survived
    assert all(r.value == float(r.seq) for r in stored)  # and is unaltered
    assert buffer.append(samples(1)).first == len(seqs)
    buffer.close()


_HAND_WRITTEN_SCHEMA = """
CREATE TABLE readings (
    seq INTEGER PRIMARY KEY, meter_id TEXT NOT NULL, metric TEXT NOT NULL, ts_ms INTEGER NOT NULL, value REAL,
    unit TEXT NOT NULL, quality TEXT NOT NULL, reasons TEXT NOT NULL, synced INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX readings_unsynced ON readings (seq) WHERE synced = 0;
CREATE TABLE events (
    id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, meter_id TEXT NOT NULL, metric TEXT NOT NULL,
    kind TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_QUARANTINE_SCHEMA = """
CREATE TABLE quarantine (
    seq INTEGER PRIMARY KEY, meter_id TEXT NOT NULL, metric TEXT NOT NULL, ts_ms INTEGER NOT NULL, value REAL,
    unit TEXT NOT NULL, quality TEXT NOT NULL, reasons TEXT NOT NULL, reason TEXT NOT NULL,
    quarantined_at_ms INTEGER NOT NULL, reported INTEGER NOT NULL DEFAULT 0
);
"""


def _shape(path: Path) -> dict[str, object]:
    db = sqlite3.connect(path)
    try:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        shape: dict[str, object] = {t: db.execute(f"PRAGMA table_info({t})").fetchall() for t in tables}
        shape["indexes"] = db.execute(
            "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name"
        ).fetchall()
        return shape
    finally:
        db.close()


def test_schema_is_the_hand_written_one_and_a_buffer_from_it_opens(tmp_path: Path) -> None:
    ReadingBuffer(tmp_path / "ours.sqlite3").close()
    hand = sqlite3.connect(tmp_path / "hand.sqlite3")
    hand.executescript(_HAND_WRITTEN_SCHEMA)
    hand.close()
    older = ReadingBuffer(tmp_path / "hand.sqlite3")  # written before sqlite-utils made the tables, and the quarantine
    assert older.append(samples(3)) == (0, 2)
    assert older.stats().next_seq == 3
    assert older.stats().quarantined == 0
    older.close()
    full = sqlite3.connect(tmp_path / "full.sqlite3")
    full.executescript(_HAND_WRITTEN_SCHEMA + _QUARANTINE_SCHEMA)
    full.close()
    assert _shape(tmp_path / "ours.sqlite3") == _shape(tmp_path / "full.sqlite3")
