"""Agent buffer's hot path: sqlite-utils ``insert_all`` against the raw sqlite3 ``executemany`` the buffer uses.

Both insert the same prebuilt rows, in the same batches, into the buffer's own schema
(created by ``ReadingBuffer``), one transaction per batch, WAL + synchronous=NORMAL.
Decides which one ``ReadingBuffer.append`` keeps (the faster).
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any, Final

import sqlite_utils

from bench.report import Result
from luna_agent.buffer import ReadingBuffer

BATCH: Final = 1_000
BATCHES: Final = 200
_COLUMNS: Final = ("seq", "meter_id", "metric", "ts_ms", "value", "unit", "quality", "reasons")
_INSERT: Final = (
    "INSERT INTO readings (seq, meter_id, metric, ts_ms, value, unit, quality, reasons) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _rows() -> list[list[tuple[Any, ...]]]:
    start_ms = 1_767_225_600_000
    return [
        [
            (b * BATCH + i, "sdm630-main", "power_w", start_ms + (b * BATCH + i) * 1000, 1.0 * i, "W", "good", "")
            for i in range(BATCH)
        ]
        for b in range(BATCHES)
    ]


def _connect(path: Path) -> sqlite3.Connection:
    ReadingBuffer(path, synchronous="normal").close()  # the buffer's schema, as the agent creates it
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def _executemany(path: Path, batches: list[list[tuple[Any, ...]]]) -> float:
    db = _connect(path)
    started = time.perf_counter()
    for batch in batches:
        db.execute("BEGIN IMMEDIATE")
        db.executemany(_INSERT, batch)
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return BATCH * BATCHES / elapsed


def _insert_all(path: Path, batches: list[list[tuple[Any, ...]]]) -> float:
    db = _connect(path)
    table = sqlite_utils.Database(db, recursive_triggers=False, execute_plugins=False).table("readings")
    started = time.perf_counter()
    for batch in batches:
        db.execute("BEGIN IMMEDIATE")
        # Rows as dicts: insert_all's documented input; it checks the columns, then executemany in chunks.
        table.insert_all(
            (dict(zip(_COLUMNS, row, strict=True)) for row in batch), batch_size=BATCH, alter=False, pk="seq"
        )
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return BATCH * BATCHES / elapsed


def run() -> list[Result]:
    """Insert 200 batches of 1,000 readings each way, best of three fresh files each."""
    batches = _rows()
    sqlite_utils_rate = raw = 0.0
    for _ in range(3):
        with tempfile.TemporaryDirectory(prefix="luna-bench-") as folder:
            raw = max(raw, _executemany(Path(folder) / "raw.sqlite3", batches))
            sqlite_utils_rate = max(sqlite_utils_rate, _insert_all(Path(folder) / "sqlite_utils.sqlite3", batches))
    return [
        Result(
            "agent buffer",
            f"sqlite-utils insert_all vs executemany, batches of {BATCH:,}",
            sqlite_utils_rate,
            "readings/s",
            raw,
            "same prebuilt rows, buffer schema, one transaction per batch, WAL + synchronous=NORMAL; ours = "
            "sqlite-utils insert_all of dict rows, raw = the sqlite3 executemany ReadingBuffer.append uses; "
            "append keeps the faster",
        )
    ]
