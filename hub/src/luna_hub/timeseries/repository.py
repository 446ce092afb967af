"""SQL of the time-series domain: one aggregation over any source, rollup refresh, raw pages.

Every source (raw readings, a rollup table, market prices) is read as rows of the same shape,
"sub-buckets": count, sum, min, max, first and last reading, and the counter increase inside.
One query combines sub-buckets into output buckets, so rollups and raw data go through the
same arithmetic, and a rollup row is just a stored result of that query. A counter's increase
between two consecutive readings belongs to the bucket of the earlier one (the energy "from
this reading to the next"); a decrease is a reset and the new value counts as the increase.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final, Literal

import asyncpg

from luna_shared.logs import get_logger

__all__ = [
    "AGGREGATE_SQL",
    "BUCKET_SQL",
    "ROLLUP_TABLES",
    "Source",
    "aggregate",
    "last_refresh_ranges",
    "raw_page",
    "refresh_dirty",
    "refresh_for_query",
    "rollup_failures",
]

Source = Literal["raw", "rollup_15m", "rollup_1h", "rollup_1d", "prices"]
ROLLUP_TABLES: Final = ("rollup_15m", "rollup_1h", "rollup_1d")
CONTINUOUS_AGGREGATES: Final = {"rollup_15m": "readings_15m", "rollup_1h": "readings_1h", "rollup_1d": "readings_1d"}
"""On TimescaleDB the rollups are these continuous aggregates (no intra_delta: delta reads raw readings)."""
Engine = Literal["plain", "timescaledb"]
_log = get_logger(__name__)
_FIRST_INSTANT: Final = "'0001-01-01 00:00:00+00'::timestamptz"
_LAST_INSTANT: Final = "'9999-12-31 23:59:59.999999+00'::timestamptz"
"""Python's calendar: refresh bounds are clamped to it, so a reading at its edge cannot make them undecodable."""
_COLUMNS: Final = "n, total, vmin, vmax, first_ts, first_value, last_ts, last_value, intra_delta"

_SOURCE_SQL: Final[dict[str, str]] = {
    "raw": (
        "SELECT meter_id, metric, ts AS sub_ts, 1::bigint AS n, value AS total, value AS vmin, value AS vmax,"
        " ts AS first_ts, value AS first_value, ts AS last_ts, value AS last_value, 0::float8 AS intra_delta"
        " FROM smart_meter_readings WHERE value IS NOT NULL AND quality = ANY($5::text[]) AND $6::interval IS NULL"
    ),
    # A market's resolution changes over time (EPEX day-ahead: hourly, then 15-minute from 2025-10-01):
    # every stored price counts, except one covered by finer prices of the same market ($6: one resolution).
    "prices": (
        "SELECT market AS meter_id, 'price'::text AS metric, ts AS sub_ts, 1::bigint AS n, price AS total,"
        " price AS vmin, price AS vmax, ts AS first_ts, price AS first_value, ts AS last_ts, price AS last_value,"
        " 0::float8 AS intra_delta FROM market_prices p WHERE $5::text[] IS NOT NULL"
        " AND CASE WHEN $6::interval IS NULL THEN NOT EXISTS ("
        "   SELECT 1 FROM market_prices f WHERE f.market = p.market AND f.resolution < p.resolution"
        "   AND f.ts >= p.ts AND f.ts < p.ts + p.resolution)"
        " ELSE p.resolution = $6::interval END"
    ),
    **{
        table: f"SELECT meter_id, metric, bucket AS sub_ts, {_COLUMNS} FROM {table}"  # noqa: S608 - fixed names
        " WHERE $5::text[] IS NOT NULL AND $6::interval IS NULL"
        for table in ROLLUP_TABLES
    },
}
_CAGG_SQL: Final[dict[str, str]] = {
    rollup: (
        "SELECT meter_id, metric, bucket AS sub_ts, n, total, vmin, vmax, first_ts, first_value, last_ts,"  # noqa: S608
        f" last_value, NULL::float8 AS intra_delta FROM {view} WHERE $5::text[] IS NOT NULL AND $6::interval IS NULL"
    )
    for rollup, view in CONTINUOUS_AGGREGATES.items()
}

BUCKET_SQL: Final[dict[str, str]] = {
    # $7 is the origin of the bucket grid (a local midnight) for the fixed-length buckets, the zone otherwise.
    "15m": "date_bin('15 minutes', sub_ts, $7::timestamptz)",
    "1h": "date_bin('1 hour', sub_ts, $7::timestamptz)",
    "1d": "date_trunc('day', sub_ts, $7::text)",
    "1w": "date_trunc('week', sub_ts, $7::text)",
    "1mo": "date_trunc('month', sub_ts, $7::text)",
}

AGGREGATE_SQL: Final = {
    "avg": "total / nullif(n, 0)",
    "min": "vmin",
    "max": "vmax",
    "sum": "total",
    "first": "first_value",
    "last": "last_value",
    "delta": "delta",
}

_NEXT_READING: Final = """
    SELECT m AS meter_id, NULL::timestamptz AS bucket, r.ts AS sub_ts, 0::bigint, 0::float8, NULL::float8,
           NULL::float8, r.ts, r.value, r.ts, r.value, 0::float8
    FROM unnest($1::text[]) AS m, LATERAL (
        SELECT ts, value FROM smart_meter_readings
        WHERE meter_id = m AND metric = $2 AND ts >= $4 AND value IS NOT NULL AND quality = ANY($5::text[])
        ORDER BY ts LIMIT 1) AS r
"""


def _source_sql(source: Source, engine: Engine) -> str:
    if engine == "timescaledb" and source in _CAGG_SQL:
        return _CAGG_SQL[source]
    return _SOURCE_SQL[source]


def _combine_sql(source: Source, bucket: str, *, with_next: bool, engine: Engine = "plain") -> str:
    following = f"UNION ALL {_NEXT_READING}" if with_next else ""
    return f"""
    WITH sub AS (
        SELECT s.meter_id, {BUCKET_SQL[bucket]} AS bucket, s.sub_ts, s.n, s.total, s.vmin, s.vmax,
               s.first_ts, s.first_value, s.last_ts, s.last_value, s.intra_delta
        FROM ({_source_sql(source, engine)}) AS s
        WHERE s.meter_id = ANY($1::text[]) AND s.metric = $2 AND s.sub_ts >= $3 AND s.sub_ts < $4
        {following}
    ), edged AS (
        SELECT sub.*, lead(first_value) OVER w AS next_first, lead(bucket) OVER w AS next_bucket
        FROM sub WINDOW w AS (PARTITION BY meter_id ORDER BY sub_ts)
    ), stepped AS (
        SELECT edged.*, CASE WHEN next_first IS NULL THEN NULL
                             WHEN next_first >= last_value THEN next_first - last_value
                             ELSE next_first END AS step
        FROM edged
    )
    SELECT meter_id, bucket, sum(n)::bigint AS n, sum(total) AS total, min(vmin) AS vmin, max(vmax) AS vmax,
           min(first_ts) AS first_ts, (array_agg(first_value ORDER BY first_ts))[1] AS first_value,
           max(last_ts) AS last_ts, (array_agg(last_value ORDER BY last_ts DESC))[1] AS last_value,
           sum(intra_delta + CASE WHEN next_bucket = bucket THEN step ELSE 0 END) AS intra_delta,
           sum(intra_delta + coalesce(step, 0)) AS delta
    FROM stepped WHERE bucket IS NOT NULL
    GROUP BY meter_id, bucket ORDER BY meter_id, bucket
    """  # noqa: S608 - assembled from fixed fragments only


def _identity_sql(source: Source, engine: Engine) -> str:
    """Read rollup rows that already are the requested buckets: only the border increases are added."""
    return f"""
    WITH sub AS (
        SELECT s.meter_id, s.sub_ts AS bucket, s.sub_ts, s.n, s.total, s.vmin, s.vmax,
               s.first_ts, s.first_value, s.last_ts, s.last_value, s.intra_delta
        FROM ({_source_sql(source, engine)}) AS s
        WHERE s.meter_id = ANY($1::text[]) AND s.metric = $2 AND s.sub_ts >= $3 AND s.sub_ts < $4
        UNION ALL {_NEXT_READING}
    ), edged AS (
        SELECT sub.*, lead(first_value) OVER (PARTITION BY meter_id ORDER BY sub_ts) AS next_first FROM sub
    )
    SELECT meter_id, bucket, n, total, vmin, vmax, first_ts, first_value, last_ts, last_value, intra_delta,
           intra_delta + CASE WHEN next_first IS NULL THEN 0
                              WHEN next_first >= last_value THEN next_first - last_value
                              ELSE next_first END AS delta
    FROM edged WHERE bucket IS NOT NULL ORDER BY meter_id, bucket
    """  # noqa: S608 - assembled from fixed fragments only


async def aggregate(  # noqa: PLR0913 - one parameter per query dimension
    connection: asyncpg.Connection,
    *,
    source: Source,
    bucket: str,
    series: Sequence[str],
    metric: str,
    start: datetime,
    end: datetime,
    qualities: Sequence[str],
    grid: datetime | str,
    resolution: object = None,
    aggregate_name: str = "avg",
    identity: bool = False,
    engine: Engine = "plain",
) -> list[asyncpg.Record]:
    """Combine ``source`` rows into ``bucket`` buckets over [start, end): per series, arrays of buckets, counts, values.

    ``identity`` says the source rows are the buckets already (the caller checked the grids match).
    """
    arguments = [list(series), metric, start, end, list(qualities), resolution]
    if identity and aggregate_name != "delta":
        # The rows are the buckets and no increase crosses into a neighbour: read them as they are.
        sql = (
            "SELECT s.meter_id, s.sub_ts AS bucket, s.n, s.total, s.vmin, s.vmax, s.first_value, s.last_value"  # noqa: S608
            f" FROM ({_source_sql(source, engine)}) AS s"
            " WHERE s.meter_id = ANY($1::text[]) AND s.metric = $2 AND s.sub_ts >= $3 AND s.sub_ts < $4"
        )
    elif identity:
        sql = _identity_sql(source, engine)
    else:
        sql = _combine_sql(source, bucket, with_next=source != "prices", engine=engine)
        arguments.append(grid)
    # Only the chosen aggregate leaves the server: decoding rows is a good part of a query's time.
    value = AGGREGATE_SQL[aggregate_name]
    return list(
        await connection.fetch(
            # One row per series with arrays: far fewer records to decode than one per bucket.
            f"SELECT meter_id, array_agg(bucket ORDER BY bucket) AS buckets, array_agg(n ORDER BY bucket) AS counts,"  # noqa: S608
            f" array_agg({value} ORDER BY bucket) AS vals FROM ({sql}) AS q GROUP BY meter_id ORDER BY meter_id",
            *arguments,
        )
    )


async def rollup_config(connection: asyncpg.Connection) -> tuple[str, Engine]:
    """Return the rollup zone and the engine fixed by the migrations."""
    row = await connection.fetchrow("SELECT timezone, engine FROM rollup_settings")
    return row["timezone"], row["engine"]


async def refresh_dirty(connection: asyncpg.Connection) -> int:
    """Recompute the rollup buckets of every range written since the last refresh; return series refreshed.

    A series whose refresh fails is skipped, not retried forever: its range moves to ``rollup_failures``
    with the error (counted in ``/health``) and is logged, and the other series are refreshed.
    """
    if not await connection.fetchval("SELECT EXISTS (SELECT 1 FROM rollup_dirty)"):
        return 0  # the common case on every query: one cheap look, no transaction, no lock
    timezone, engine = await rollup_config(connection)
    if engine == "timescaledb":
        return await _refresh_continuous_aggregates(connection)
    async with connection.transaction():
        # One refresher at a time; another caller finds the queue empty afterwards.
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _REFRESH_LOCK)
        return await _refresh_ranges(connection, await connection.fetch(_TAKE_DIRTY), timezone)


async def refresh_for_query(connection: asyncpg.Connection, series: Sequence[str], metric: str) -> bool:
    """Fold the dirty ranges of ``series``/``metric`` into the rollups, unless another refresher runs.

    Return whether the rollups of these series are current. A query never waits for a refresh of
    other series (a load of 1,000 meters takes a while): it reads raw readings instead (exact, slower).
    """
    dirty = await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM rollup_dirty WHERE meter_id = ANY($1::text[]) AND metric = $2)",
        list(series),
        metric,
    )
    if not dirty:
        return True
    timezone, engine = await rollup_config(connection)
    if engine == "timescaledb":
        await _refresh_continuous_aggregates(connection)
        return True
    async with connection.transaction():
        if not await connection.fetchval("SELECT pg_try_advisory_xact_lock($1)", _REFRESH_LOCK):
            return False
        taken = await connection.fetch(_TAKE_DIRTY_OF, list(series), metric)
        await _refresh_ranges(connection, taken, timezone)
    return True


async def _refresh_ranges(connection: asyncpg.Connection, ranges: Sequence[asyncpg.Record], timezone: str) -> int:
    refreshed = 0
    for row in ranges:
        span = (row["from_ts"], row["to_ts"])
        try:
            async with connection.transaction():  # a savepoint: a failure undoes only this series
                await _refresh_series(connection, row["meter_id"], row["metric"], span, timezone)
        except (asyncpg.PostgresError, ArithmeticError, ValueError) as exc:
            await _record_failure(connection, row, exc)
        else:
            refreshed += 1
    return refreshed


async def _record_failure(connection: asyncpg.Connection, row: asyncpg.Record, exc: Exception) -> None:
    error = f"{type(exc).__name__}: {exc}"
    _log.error(
        "rollup refresh failed; range skipped (see rollup_failures)",
        meter_id=row["meter_id"],
        metric=row["metric"],
        from_ts=row["from_ts"].isoformat(),
        to_ts=row["to_ts"].isoformat(),
        error=error,
    )
    await connection.execute(
        "INSERT INTO rollup_failures (meter_id, metric, from_ts, to_ts, error) VALUES ($1, $2, $3, $4, $5)",
        row["meter_id"],
        row["metric"],
        row["from_ts"],
        row["to_ts"],
        error,
    )


async def rollup_failures(connection: asyncpg.Connection) -> int:
    """How many written ranges the refresher had to skip (``rollup_failures``)."""
    count: int = await connection.fetchval("SELECT count(*) FROM rollup_failures")
    return count


_TAKE_DIRTY: Final = (
    "WITH taken AS (DELETE FROM rollup_dirty RETURNING meter_id, metric, from_ts, to_ts)"
    " SELECT meter_id, metric, min(from_ts) AS from_ts, max(to_ts) AS to_ts FROM taken GROUP BY meter_id, metric"
)
_TAKE_DIRTY_OF: Final = (
    "WITH taken AS (DELETE FROM rollup_dirty WHERE meter_id = ANY($1::text[]) AND metric = $2"
    " RETURNING meter_id, metric, from_ts, to_ts)"
    " SELECT meter_id, metric, min(from_ts) AS from_ts, max(to_ts) AS to_ts FROM taken GROUP BY meter_id, metric"
)
_REFRESH_LOCK: Final = 1280658754


async def _refresh_continuous_aggregates(connection: asyncpg.Connection) -> int:
    # refresh_continuous_aggregate cannot run inside a transaction, so the queue is taken first; a
    # crash in between leaves the range to the refresh policies (they look back 35 days).
    ranges = await connection.fetch(_TAKE_DIRTY)
    if not ranges:
        return 0
    first, last = min(row["from_ts"] for row in ranges), max(row["to_ts"] for row in ranges)
    day = timedelta(days=1)
    windows = {  # whole buckets around the written range: a refresh leaves partial buckets out
        "readings_15m": (_shifted(first, timedelta(minutes=15), 0), _shifted(last, timedelta(minutes=15), 1)),
        "readings_1h": (_shifted(first, timedelta(hours=1), 0), _shifted(last, timedelta(hours=1), 1)),
        "readings_1d": (_shifted(first, day, -1), _shifted(last, day, 2)),  # local days: a day either side
    }
    for view, (low, high) in windows.items():
        await connection.execute(
            f"CALL refresh_continuous_aggregate('{view}', $1::timestamptz, $2::timestamptz)", low, high
        )
    return len(ranges)


def _floor(moment: datetime, step: timedelta) -> datetime:
    epoch = datetime(2000, 1, 1, tzinfo=moment.tzinfo)
    return epoch + ((moment - epoch) // step) * step


def _shifted(moment: datetime, step: timedelta, steps: int) -> datetime | None:
    """Return the bucket start ``steps`` buckets after ``moment``'s, or None (open-ended) beyond the calendar."""
    try:
        return _floor(moment, step) + steps * step
    except OverflowError:
        return None


async def last_refresh_ranges(connection: asyncpg.Connection) -> int:
    """How many written ranges still wait for a rollup refresh."""
    count: int = await connection.fetchval("SELECT count(*) FROM rollup_dirty")
    return count


async def _refresh_series(
    connection: asyncpg.Connection, meter_id: str, metric: str, span: tuple[datetime, datetime], timezone: str
) -> None:
    first, last = span
    utc_origin = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
    levels: list[tuple[str, Source, str, datetime | str, timedelta | None]] = [
        ("rollup_15m", "raw", "15m", utc_origin, timedelta(minutes=15)),
        ("rollup_1h", "rollup_15m", "1h", utc_origin, timedelta(hours=1)),
        ("rollup_1d", "rollup_15m", "1d", timezone, None),
    ]
    for table, source, bucket, grid, step in levels:
        if step is not None:
            bounds = await connection.fetchrow(
                f"SELECT greatest(date_bin($1::interval, $2::timestamptz, $4::timestamptz), {_FIRST_INSTANT}) AS lo,"
                " least(date_bin($1::interval, $3::timestamptz, $4::timestamptz) + $1::interval,"
                f" {_LAST_INSTANT}) AS hi",
                step,
                first,
                last,
                grid,
            )
        else:
            bounds = await connection.fetchrow(
                f"SELECT greatest(date_trunc('day', $1::timestamptz, $3), {_FIRST_INSTANT}) AS lo,"
                " least(date_trunc('day', date_trunc('day', $2::timestamptz, $3) + interval '26 hours', $3),"
                f" {_LAST_INSTANT}) AS hi",
                first,
                last,
                grid,
            )
        lo, hi = bounds["lo"], bounds["hi"]
        await connection.execute(
            f"DELETE FROM {table} WHERE meter_id = $1 AND metric = $2 AND bucket >= $3 AND bucket < $4",  # noqa: S608
            meter_id,
            metric,
            lo,
            hi,
        )
        await connection.execute(
            f"INSERT INTO {table} (meter_id, metric, bucket, {_COLUMNS})"  # noqa: S608 - fixed names
            f" SELECT meter_id, $2, bucket, {_COLUMNS} FROM ({_combine_sql(source, bucket, with_next=False)}) AS q",
            [meter_id],
            metric,
            lo,
            hi,
            ["good", "suspect"],
            None,
            grid,
        )


async def raw_page(  # noqa: PLR0913
    connection: asyncpg.Connection,
    *,
    series: Sequence[str],
    metric: str,
    start: datetime,
    end: datetime,
    qualities: Sequence[str],
    after: tuple[str, datetime] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Raw readings ordered by (meter, time), after the cursor ``after``, at most ``limit``."""
    after_meter, after_ts = after or (None, None)
    return list(
        await connection.fetch(
            "SELECT meter_id, ts, value, unit, quality, reasons FROM smart_meter_readings"
            " WHERE meter_id = ANY($1::text[]) AND metric = $2 AND ts >= $3 AND ts < $4 AND quality = ANY($5::text[])"
            " AND ($6::text IS NULL OR (meter_id, ts) > ($6::text, $7::timestamptz)) ORDER BY meter_id, ts LIMIT $8",
            list(series),
            metric,
            start,
            end,
            list(qualities),
            after_meter,
            after_ts,
            limit,
        )
    )
