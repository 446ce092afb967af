"""Agent buffer: ``ReadingBuffer.append`` against raw sqlite3 ``executemany`` of the same rows, same batch size."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.report import Result
from luna_agent.buffer import ReadingBuffer
from luna_agent.sample import Sample

BATCH = 1_000
BATCHES = 200
_RAW_SCHEMA = (
    "CREATE TABLE readings (seq INTEGER PRIMARY KEY, meter_id TEXT, metric TEXT, ts_ms INTEGER, value REAL,"
    " unit TEXT, quality TEXT, reasons TEXT, synced INTEGER NOT NULL DEFAULT 0)"
)

_RAW_INSERT = (
    "INSERT INTO readings (seq, meter_id, metric, ts_ms, value, unit, quality, reasons) VALUES (?,?,?,?,?,?,?,?)"
)


def _batches() -> list[list[Sample]]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        [
            Sample(
                meter_id="sdm630-main",
                metric="power_w",
                ts=start + timedelta(seconds=b * BATCH + i),
                value=1.0 * i,
                unit="W",
            )
            for i in range(BATCH)
        ]
        for b in range(BATCHES)
    ]


def _ours(folder: Path, batches: list[list[Sample]]) -> float:
    buffer = ReadingBuffer(folder / "ours.sqlite3", synchronous="normal")
    started = time.perf_counter()
    for batch in batches:
        buffer.append(batch)
    elapsed = time.perf_counter() - started
    buffer.close()
    return BATCH * BATCHES / elapsed


def _raw(folder: Path) -> float:
    db = sqlite3.connect(folder / "raw.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(_RAW_SCHEMA)
    start_ms = 1_767_225_600_000
    rows = [
        [
            (b * BATCH + i, "sdm630-main", "power_w", start_ms + (b * BATCH + i) * 1000, 1.0 * i, "W", "good", "")
            for i in range(BATCH)
        ]
        for b in range(BATCHES)
    ]
    started = time.perf_counter()
    for batch in rows:
        db.execute("BEGIN")
        db.executemany(_RAW_INSERT, batch)
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return BATCH * BATCHES / elapsed


def run() -> list[Result]:
    """Insert 200 batches of 1,000 readings each way (WAL, synchronous=NORMAL for both)."""
    batches = _batches()
    ours = raw = 0.0
    for _ in range(3):  # best of three fresh files each
        with tempfile.TemporaryDirectory(prefix="luna-bench-") as folder:
            ours = max(ours, _ours(Path(folder), batches))
            raw = max(raw, _raw(Path(folder)))
    return [
        Result(
            "agent",
            f"buffer append, batches of {BATCH:,}",
            ours,
            "readings/s",
            raw,
            "target >= 0.5; raw = sqlite3 executemany of prebuilt tuples; both WAL + synchronous=NORMAL; ours includes "
            "Sample->row, seq bookkeeping, bound checks",
        )
    ]
