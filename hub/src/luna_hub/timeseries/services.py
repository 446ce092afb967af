"""Answer series queries from the cheapest exact source, and report completeness.

Which source serves a query (``source=auto``): rollups when the quality filter is the default
(good and suspect; rollups leave out ``bad``), otherwise raw readings.

- ``15m``: ``rollup_15m`` (UTC grid; exact for every zone whose offset is a multiple of 15 min).
- ``1h``: ``rollup_1h`` when the zone's offset is whole hours, else ``rollup_15m``.
- ``1d``, ``1w``, ``1mo``: ``rollup_1d`` (local days of the rollup zone, Europe/Berlin by
  default) when the query asks for that zone; for another zone the local days are built from
  ``rollup_1h`` (or ``rollup_15m``), which is exact because avg = sum/count, min, max, sum,
  first, last and counter deltas all combine from smaller buckets.

The range is widened to whole buckets of the zone, so every source sees the same readings.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Final, Literal, NamedTuple
from zoneinfo import ZoneInfo

import asyncpg

from luna_hub.cache.services import ReadCache
from luna_hub.cache.versions import Source as SeriesSource
from luna_hub.errors import BadRequestError
from luna_hub.metrics import recorder
from luna_hub.timeparse import zone
from luna_hub.timeseries.buckets import bucket_floor, bucket_next, grid_origin, offset_multiple
from luna_hub.timeseries.repository import Source, aggregate, raw_page, refresh_for_query, rollup_config
from luna_hub.timeseries.schemas import Point, QueryResult, Series

__all__ = ["Aggregate", "Fill", "SeriesQuery", "bucket_range", "cached_query", "render_csv", "run_query"]

Aggregate = Literal["avg", "min", "max", "sum", "first", "last", "delta"]
Fill = Literal["none", "null", "previous"]
DEFAULT_QUALITIES: Final = ("good", "suspect")
_MAX_BUCKETS: Final = 200_000
_QUARTER: Final = timedelta(minutes=15)
_HOUR: Final = timedelta(hours=1)
_IDENTITY: Final = {"rollup_15m": "15m", "rollup_1h": "1h", "rollup_1d": "1d"}
"""The bucket each rollup already is (a chosen source is on the query's grid, see ``_source``)."""


class SeriesQuery(NamedTuple):
    """A validated query (see ``GET /data/query``)."""

    meters: tuple[str, ...]
    metric: str
    market: str | None
    start: datetime
    end: datetime
    tz: str
    bucket: str = "1h"
    aggregate: Aggregate = "avg"
    fill: Fill = "none"
    qualities: tuple[str, ...] = DEFAULT_QUALITIES
    source: Literal["auto", "raw"] = "auto"
    limit: int = 10_000
    cursor: str | None = None
    resolution_minutes: int | None = None


async def cached_query(pool: asyncpg.Pool, cache: ReadCache, query: SeriesQuery) -> QueryResult:
    """Run ``query`` through the read cache: a closed range is answered from it while its series are unchanged."""
    series: tuple[SeriesSource, Sequence[str], str] = (
        ("market", (query.market,), "price") if query.market is not None else ("meter", query.meters, query.metric)
    )
    return await cache.get_or_compute(
        pool,
        kind="query",
        request=query,
        series=series,
        end=query.end,
        compute=partial(run_query, pool, query),
        type_=QueryResult,
    )


async def run_query(pool: asyncpg.Pool, query: SeriesQuery) -> QueryResult:
    """Run ``query`` and return its series."""
    tz = zone(query.tz)
    if query.end <= query.start:
        msg = "end must be after start"
        raise BadRequestError(msg)
    _representable(query.start, query.end, tz)
    kind = "market" if query.market is not None else "raw" if query.bucket == "raw" else "bucketed"
    with recorder().query_duration.labels(kind).time():
        return await _run_query(pool, query, tz)


async def _run_query(pool: asyncpg.Pool, query: SeriesQuery, tz: ZoneInfo) -> QueryResult:
    async with pool.acquire() as connection:
        if query.market is not None:
            return await _market(connection, query, tz)
        if query.bucket == "raw":
            return await _raw(connection, query, tz)
        start, end = bucket_range(query.start, query.end, query.bucket, tz)
        rollup_timezone, engine = await rollup_config(connection)
        source = _source(query, tz, rollup_timezone, [start, end])
        if engine == "timescaledb" and query.aggregate == "delta":
            source = "raw"  # continuous aggregates cannot hold a counter's increase (see migration 0003)
        if source != "raw" and not await refresh_for_query(connection, query.meters, query.metric):
            # Readings of these meters wait in rollup_dirty while another refresher works: raw is exact.
            source = "raw"
        rows = await aggregate(
            connection,
            source=source,
            bucket=query.bucket,
            series=query.meters,
            metric=query.metric,
            start=start,
            end=end,
            qualities=query.qualities,
            grid=_grid(query.bucket, tz),
            aggregate_name=query.aggregate,
            identity=_IDENTITY.get(source) == query.bucket,
            engine=engine,
        )
        units = dict(
            await connection.fetch(
                "SELECT meter_id, unit FROM meter_metrics WHERE meter_id = ANY($1::text[]) AND metric = $2",
                list(query.meters),
                query.metric,
            )
        )
    series = _series(rows, query=query, tz=tz, start=start, end=end, units=units)
    return QueryResult(
        bucket=query.bucket,
        aggregate=query.aggregate,
        tz=query.tz,
        start=start.astimezone(tz),
        end=end.astimezone(tz),
        source=source,
        series=series,
    )


def bucket_range(start: datetime, end: datetime, bucket: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Widen [start, end) to whole buckets of ``tz``; a 400 when that reaches beyond the calendar."""
    try:
        low, high = bucket_floor(start, bucket, tz), _ceil(end, bucket, tz)
    except OverflowError:
        msg = f"start/end: whole {bucket} buckets of {tz.key} around this range reach beyond the years 1 to 9999"
        raise BadRequestError(msg) from None
    _representable(low, high, tz)
    return low, high


def _representable(start: datetime, end: datetime, tz: ZoneInfo) -> None:
    """Raise a 400 unless ``start`` and ``end`` (so everything between) have a local time in ``tz``."""
    try:
        start.astimezone(tz), end.astimezone(tz)
    except OverflowError:
        msg = f"start/end: this range reaches beyond the years 1 to 9999 in {tz.key}"
        raise BadRequestError(msg) from None


def _ceil(moment: datetime, bucket: str, tz: ZoneInfo) -> datetime:
    floor = bucket_floor(moment, bucket, tz)
    return floor if floor == moment else bucket_next(floor, bucket, tz)


def _grid(bucket: str, tz: ZoneInfo) -> datetime | str:
    return grid_origin(tz) if bucket in {"15m", "1h"} else tz.key


def _source(query: SeriesQuery, tz: ZoneInfo, rollup_timezone: str, edges: list[datetime]) -> Source:
    if query.source == "raw" or tuple(sorted(query.qualities)) != DEFAULT_QUALITIES:
        return "raw"
    moments = [*edges, grid_origin(tz)]
    quarter = offset_multiple(tz, moments, _QUARTER)
    hourly = offset_multiple(tz, moments, _HOUR)
    fine: Source = "rollup_1h" if hourly else "rollup_15m" if quarter else "raw"
    if query.bucket == "15m":
        return "rollup_15m" if quarter else "raw"
    if query.bucket == "1h":
        return fine
    return "rollup_1d" if tz.key == rollup_timezone else fine


def _series(  # noqa: PLR0913 - the query and its resolved range
    rows: Sequence[asyncpg.Record],
    *,
    query: SeriesQuery,
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
    units: dict[str, str],
) -> list[Series]:
    by_series: dict[str, list[Point]] = {meter: [] for meter in query.meters}
    local: dict[datetime, datetime] = {}  # series share their buckets: convert each instant once
    for row in rows:
        points = by_series.setdefault(row["meter_id"], [])
        for bucket, count, value in zip(row["buckets"], row["counts"], row["vals"], strict=True):
            moment = local.get(bucket)
            if moment is None:
                moment = local[bucket] = bucket.astimezone(tz)
            points.append(Point(ts=moment, value=value, count=count))
    if query.fill != "none":
        by_series = {key: _filled(points, query, tz, start, end) for key, points in by_series.items()}
    return [
        Series(id=key, metric=query.metric, unit=units.get(key, ""), points=points) for key, points in by_series.items()
    ]


def _filled(points: list[Point], query: SeriesQuery, tz: ZoneInfo, start: datetime, end: datetime) -> list[Point]:
    present = {point.ts: point for point in points}
    filled: list[Point] = []
    previous: float | None = None
    moment = start
    while moment < end:
        if len(filled) >= _MAX_BUCKETS:
            msg = f"gap filling would make more than {_MAX_BUCKETS} buckets: use a coarser bucket or a shorter range"
            raise BadRequestError(msg)
        local = moment.astimezone(tz)
        point = present.get(local)
        if point is None:
            point = Point(ts=local, value=previous if query.fill == "previous" else None, count=0)
        else:
            previous = point.value
        filled.append(point)
        moment = bucket_next(moment, query.bucket, tz)
    return filled


async def _raw(connection: asyncpg.Connection, query: SeriesQuery, tz: ZoneInfo) -> QueryResult:
    after = _decode_cursor(query.cursor)
    rows = await raw_page(
        connection,
        series=query.meters,
        metric=query.metric,
        start=query.start,
        end=query.end,
        qualities=query.qualities,
        after=after,
        limit=query.limit,
    )
    by_series: dict[str, Series] = {}
    for row in rows:
        series = by_series.get(row["meter_id"])
        if series is None:
            series = by_series[row["meter_id"]] = Series(
                id=row["meter_id"], metric=query.metric, unit=row["unit"], points=[]
            )
        series.points.append(
            Point(
                ts=row["ts"].astimezone(tz),
                value=row["value"],
                count=1,
                quality=row["quality"],
                reasons=list(row["reasons"]),
            )
        )
    cursor = None
    if len(rows) == query.limit:
        last = rows[-1]
        cursor = f"{last['meter_id']}|{last['ts'].isoformat()}"
    return QueryResult(
        bucket="raw",
        aggregate="none",
        tz=query.tz,
        start=query.start.astimezone(tz),
        end=query.end.astimezone(tz),
        source="raw",
        series=list(by_series.values()),
        next_cursor=cursor,
    )


def _decode_cursor(cursor: str | None) -> tuple[str, datetime] | None:
    if not cursor:
        return None
    meter, _, moment = cursor.rpartition("|")
    try:
        return meter, datetime.fromisoformat(moment).astimezone(UTC)
    except (ValueError, OverflowError):
        msg = f"invalid cursor {cursor!r}: pass next_cursor of the previous page unchanged"
        raise BadRequestError(msg) from None


async def _market(connection: asyncpg.Connection, query: SeriesQuery, tz: ZoneInfo) -> QueryResult:
    if query.aggregate == "delta":
        msg = "delta is for cumulative counters, not prices"
        raise BadRequestError(msg)
    market = query.market or ""
    chosen = timedelta(minutes=query.resolution_minutes) if query.resolution_minutes else None
    bucket = query.bucket
    if bucket == "raw":
        # Prices are few (one year hourly is 8,784): "raw" is one bucket per price interval, of the finest
        # resolution in the range (a market holds several over time; each interval is read from its own).
        finest = await connection.fetchval(
            "SELECT min(resolution) FROM market_prices WHERE market = $1"
            " AND ($2::interval IS NULL OR resolution = $2::interval) AND ts >= $3 AND ts < $4",
            market,
            chosen,
            query.start,
            query.end,
        )
        bucket = "15m" if finest is not None and finest <= _QUARTER else "1h"
    start, end = bucket_range(query.start, query.end, bucket, tz)
    rows = await aggregate(
        connection,
        source="prices",
        bucket=bucket,
        series=[market],
        metric="price",
        start=start,
        end=end,
        qualities=query.qualities,
        grid=_grid(bucket, tz),
        resolution=chosen,
        aggregate_name=query.aggregate,
    )
    priced = query._replace(meters=(market,), metric="price", bucket=bucket)
    series = _series(rows, query=priced, tz=tz, start=start, end=end, units={market: "EUR/MWh"})
    return QueryResult(
        bucket=query.bucket,  # "raw" stays "raw": its points are the price intervals, whatever their length
        aggregate=query.aggregate,
        tz=query.tz,
        start=start.astimezone(tz),
        end=end.astimezone(tz),
        source="prices",
        series=series,
    )


def render_csv(result: QueryResult) -> str:
    """Render a result as CSV: one line per point, ``series,metric,unit,ts,value,count``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["series", "metric", "unit", "ts", "value", "count"])
    for series in result.series:
        for point in series.points:
            value = "" if point.value is None else repr(point.value)
            writer.writerow([series.id, series.metric, series.unit, point.ts.isoformat(), value, point.count])
    return out.getvalue()
