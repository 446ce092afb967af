"""Bulk writers for readings and market prices, shared by every ingest path (file loads and agent sync).

Rows are staged in a temporary table (COPY, or ``INSERT ... SELECT FROM unnest(...)`` for
servers where COPY is not available) and moved into the real table by one
``INSERT ... SELECT ... ON CONFLICT DO NOTHING``: re-delivered rows are counted as duplicates
and change nothing. Readings also record the touched time range per meter/metric in
``rollup_dirty`` so their rollups get refreshed. The caller owns the transaction.

Agents' batches take a shorter way when they can (:func:`write_agent_readings`): a batch of
readings the hub has never seen is copied straight into the table, in a savepoint; only when
that meets a reading already stored (a unique violation) is the savepoint rolled back and the
batch written the staged way, which skips what is there.

Readings are staged compactly for COPY: the time as integer microseconds since the epoch and the
reasons as one array literal (NULL when empty); asyncpg's binary encoders for ``timestamptz`` and
``text[]`` cost more per row than all other columns together.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, cast

import asyncpg
import msgspec

from luna_hub.cache.versions import MARKET_CHANGES_CTE, READING_CHANGES_CTE
from luna_shared.vocabulary import metric_spec
from luna_shared.wire import ReadingFields

__all__ = [
    "PRICE_COLUMNS",
    "READING_COLUMNS",
    "BulkMethod",
    "PriceRow",
    "PriceWriter",
    "ReadingRow",
    "ReadingWriter",
    "WriteResult",
    "write_agent_readings",
    "write_readings",
]

BulkMethod = Literal["copy", "unnest"]
ReadingRow = tuple[str, str, datetime, float | None, str, str, Sequence[str], str | None, int | None]
"""meter_id, metric, ts, value, unit, quality, reasons, agent_id, seq."""
PriceRow = tuple[str, datetime, timedelta, float, str, str]
"""market, ts, resolution, price, unit, source."""

READING_COLUMNS: Final = ("meter_id", "metric", "ts", "value", "unit", "quality", "reasons", "agent_id", "seq")
_AGENT_COLUMNS: Final = ("meter_id", "metric", "ts", "value", "unit", "quality", "reasons", "seq", "agent_id")
"""The columns of an agent's reading (:data:`~luna_shared.wire.ReadingFields`) followed by its agent."""
_READING_TYPES: Final = ("text", "text", "timestamptz", "float8", "text", "text", "text", "text", "int8")
PRICE_COLUMNS: Final = ("market", "ts", "resolution", "price", "unit", "source")
_PRICE_TYPES: Final = ("text", "timestamptz", "interval", "float8", "text", "text")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_COMPACT_STAGE: Final = (
    "meter_id text, metric text, ts_us int8, value float8, unit text, quality text, reasons text, agent_id text,"
    " seq int8"
)
_COMPACT_SELECT: Final = (
    "meter_id, metric, timestamptz 'epoch' + ts_us * interval '1 microsecond', value, unit, quality,"
    " coalesce(reasons::text[], '{}'), agent_id, seq"
)


class WriteResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one bulk write did: rows newly stored and rows that were already there."""

    stored: int
    duplicates: int


class _StagedWriter:
    """Stage rows in a temp table, then move them with one INSERT ... ON CONFLICT DO NOTHING."""

    table: str
    columns: tuple[str, ...]
    types: tuple[str, ...]

    def __init__(self, connection: asyncpg.Connection, method: BulkMethod = "copy") -> None:
        self._connection = connection
        self._method = method
        self._stage = f"stage_{self.table}"
        self.staged = 0

    async def open(self) -> None:
        """Create the staging table (dropped at commit); call inside a transaction."""
        columns = ", ".join(self.columns)
        # Dropped first: a second batch in the same transaction (a savepoint) gets a fresh one.
        await self._connection.execute(f"DROP TABLE IF EXISTS pg_temp.{self._stage}")
        await self._connection.execute(
            f"CREATE TEMP TABLE {self._stage} ON COMMIT DROP AS SELECT {columns} FROM {self.table} WITH NO DATA"  # noqa: S608 - fixed names
        )

    async def add(self, rows: Sequence[tuple[object, ...]]) -> None:
        """Stage one batch of rows."""
        if not rows:
            return
        if self._method == "copy":
            await self._connection.copy_records_to_table(self._stage, records=rows, columns=self.columns)
        else:
            await self._insert_from_arrays(rows)
        self.staged += len(rows)

    async def _insert_from_arrays(self, rows: Sequence[tuple[object, ...]]) -> None:
        # One statement, one round trip, no COPY and no pipelined executemany (the TimescaleDB
        # engine used in tests supports neither). reasons is text[]: unnest would flatten a 2-D
        # array, so each row's reasons travel as one array literal and are cast back.
        arrays: list[list[object]] = [list(column) for column in zip(*rows, strict=True)]
        params, selected = [], []
        for index, (column, pg_type) in enumerate(zip(self.columns, self.types, strict=True), start=1):
            if column == "reasons":
                arrays[index - 1] = [_text_array(value) for value in arrays[index - 1]]  # type: ignore[arg-type]
                params.append(f"${index}::text[]")
                selected.append("t.reasons::text[]")
            else:
                params.append(f"${index}::{pg_type}[]")
                selected.append(f"t.{column}")
        await self._connection.execute(
            f"INSERT INTO {self._stage} ({', '.join(self.columns)}) "  # noqa: S608 - fixed names
            f"SELECT {', '.join(selected)} FROM unnest({', '.join(params)}) AS t({', '.join(self.columns)})",
            *arrays,
        )


class ReadingWriter(_StagedWriter):
    """Bulk writer for ``smart_meter_readings``; also registers meters and marks rollups dirty."""

    table = "smart_meter_readings"
    columns = READING_COLUMNS
    types = _READING_TYPES

    async def open(self) -> None:
        """Create the staging table (dropped at commit), compact for COPY; call inside a transaction."""
        if self._method != "copy":
            await super().open()
            return
        # Dropped first: a second batch in the same transaction (a savepoint) gets a fresh one. One round trip.
        await self._connection.execute(
            f"DROP TABLE IF EXISTS pg_temp.{self._stage};"
            f" CREATE TEMP TABLE {self._stage} ({_COMPACT_STAGE}) ON COMMIT DROP"
        )

    async def add(self, rows: Sequence[tuple[object, ...]]) -> None:
        """Stage one batch of rows (timestamps must be timezone-aware)."""
        if self._method != "copy" or not rows:
            await super().add(rows)
            return
        compact = [
            (
                meter,
                metric,
                (ts - _EPOCH) // _MICROSECOND,
                value,
                unit,
                quality,
                _text_array(reasons) if reasons else None,
                agent,
                seq,
            )
            for meter, metric, ts, value, unit, quality, reasons, agent, seq in cast("Sequence[ReadingRow]", rows)
        ]
        await self._connection.copy_records_to_table(
            self._stage, records=compact, columns=(*self.columns[:2], "ts_us", *self.columns[3:])
        )
        self.staged += len(rows)

    async def finish(self) -> WriteResult:
        """Move the staged rows into the table; return how many were new."""
        if self.staged == 0:
            return WriteResult(stored=0, duplicates=0)
        await self._register_meters()
        selected = _COMPACT_SELECT if self._method == "copy" else ", ".join(self.columns)
        stored: int = await self._connection.fetchval(
            f"""
            WITH stored AS (
                INSERT INTO smart_meter_readings ({", ".join(self.columns)})
                SELECT {selected} FROM {self._stage}
                ON CONFLICT DO NOTHING
                RETURNING meter_id, metric, ts
            ), dirty AS (
                INSERT INTO rollup_dirty (meter_id, metric, from_ts, to_ts)
                SELECT meter_id, metric, min(ts), max(ts) FROM stored GROUP BY meter_id, metric
            ), changed AS ({READING_CHANGES_CTE})
            SELECT count(*) FROM stored
            """  # noqa: S608 - fixed names
        )
        return WriteResult(stored=stored, duplicates=self.staged - stored)

    async def _register_meters(self) -> None:
        pairs = await self._connection.fetch(
            # GROUP BY hashes; DISTINCT ON would sort every staged row
            f"SELECT meter_id, metric, min(unit) AS unit FROM {self._stage} GROUP BY meter_id, metric"  # noqa: S608
        )
        await _register_series(self._connection, [(row["meter_id"], row["metric"], row["unit"]) for row in pairs])


async def _register_series(connection: asyncpg.Connection, series: Sequence[tuple[str, str, str]]) -> None:
    """Record meters and their metrics (meter, metric, unit) not known yet."""
    meters = [meter for meter, _, _ in series]
    await connection.execute(
        "INSERT INTO meters (meter_id) SELECT DISTINCT unnest($1::text[]) ON CONFLICT DO NOTHING", meters
    )
    await connection.execute(
        "INSERT INTO meter_metrics (meter_id, metric, unit, kind)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING",
        meters,
        [metric for _, metric, _ in series],
        [unit for _, _, unit in series],
        [_kind(metric) for _, metric, _ in series],
    )


class PriceWriter(_StagedWriter):
    """Bulk writer for ``market_prices``."""

    table = "market_prices"
    columns = PRICE_COLUMNS
    types = _PRICE_TYPES

    async def finish(self) -> WriteResult:
        """Move the staged rows into the table; return how many were new."""
        if self.staged == 0:
            return WriteResult(stored=0, duplicates=0)
        stored: int = await self._connection.fetchval(
            f"""
            WITH stored AS (
                INSERT INTO market_prices ({", ".join(self.columns)})
                SELECT {", ".join(self.columns)} FROM {self._stage} ON CONFLICT DO NOTHING
                RETURNING market
            ), changed AS ({MARKET_CHANGES_CTE})
            SELECT count(*) FROM stored
            """  # noqa: S608 - fixed names
        )
        return WriteResult(stored=stored, duplicates=self.staged - stored)


def _kind(metric: str) -> str:
    spec = metric_spec(metric)
    return str(spec.kind) if spec else "gauge"


def _text_array(reasons: Sequence[str]) -> str:
    r"""Render ``reasons`` as a PostgreSQL array literal: each element quoted, ``\`` and ``"`` escaped.

    Reasons come from agents and files, not only the vocabulary: a ``"`` left unescaped made the
    staged path fail with "malformed array literal" (500) while the COPY path stored it (issue 16).
    """
    return "{" + ",".join('"' + reason.replace("\\", "\\\\").replace('"', '\\"') + '"' for reason in reasons) + "}"


async def write_readings(
    connection: asyncpg.Connection, rows: Sequence[ReadingRow], *, method: BulkMethod = "copy"
) -> WriteResult:
    """Write one batch of readings atomically (a savepoint inside the caller's transaction, if any).

    Re-delivered rows count as duplicates; the touched ranges wait in ``rollup_dirty`` for the
    next rollup refresh (the app's upkeep task, or :func:`luna_hub.timeseries.repository.refresh_dirty`).
    """
    async with connection.transaction():
        writer = ReadingWriter(connection, method)
        await writer.open()
        await writer.add(rows)
        return await writer.finish()


async def write_agent_readings(
    connection: asyncpg.Connection, rows: Sequence[ReadingFields], agent_id: str, *, method: BulkMethod = "copy"
) -> WriteResult:
    """Write an agent's readings atomically; straight COPY when none is stored yet (see the module docstring).

    The rollups of each series in the batch are marked dirty over the batch's whole time span.
    """
    if not rows:
        return WriteResult(stored=0, duplicates=0)
    if method == "copy":
        tail = (agent_id,)
        try:
            async with connection.transaction():  # a savepoint: a violation undoes only this COPY
                await connection.copy_records_to_table(
                    "smart_meter_readings", records=[row + tail for row in rows], columns=_AGENT_COLUMNS
                )
        except asyncpg.UniqueViolationError:
            pass  # some were stored before (or appear twice): the staged way below skips them
        else:
            await _mark_new_series(connection, rows)
            return WriteResult(stored=len(rows), duplicates=0)
    return await write_readings(connection, [(*row[:7], agent_id, row[7]) for row in rows], method=method)


async def _mark_new_series(connection: asyncpg.Connection, rows: Sequence[ReadingFields]) -> None:
    units: dict[tuple[str, str], str] = {}
    for meter, metric, unit in {(row[0], row[1], row[4]) for row in rows}:
        known = units.get((meter, metric))
        units[meter, metric] = unit if known is None else min(known, unit)  # as the staged way: min(unit)
    series = [(meter, metric, unit) for (meter, metric), unit in units.items()]
    await _register_series(connection, series)
    await connection.execute(
        f"""
        WITH stored AS (
            INSERT INTO rollup_dirty (meter_id, metric, from_ts, to_ts)
            SELECT *, $3, $4 FROM unnest($1::text[], $2::text[])
            RETURNING meter_id, metric
        ), changed AS ({READING_CHANGES_CTE})
        SELECT 1
        """,  # noqa: S608 - fixed text
        [meter for meter, _, _ in series],
        [metric for _, metric, _ in series],
        min(row[2] for row in rows),
        max(row[2] for row in rows),
    )
