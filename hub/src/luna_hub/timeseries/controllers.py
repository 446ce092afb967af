"""``GET /data/query`` and ``GET /data/completeness``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import asyncpg
import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from luna_hub.auth.guards import api_key_guard, principal_of
from luna_hub.cache.services import ReadCache
from luna_hub.errors import BadRequestError
from luna_hub.settings import HubSettings
from luna_hub.timeparse import LocalClock, parse_instant, zone
from luna_hub.timeseries.catalog import Catalog, catalog, check_known
from luna_hub.timeseries.completeness import completeness
from luna_hub.timeseries.schemas import CompletenessReport, QueryResult
from luna_hub.timeseries.services import Aggregate, Fill, SeriesQuery, cached_query, render_csv

__all__ = ["CatalogController", "TimeseriesController"]

_Instant = Annotated[str, QueryParameter(description="ISO 8601; without offset it is local time in tz")]


def _instant(text: str, tz: str, name: str) -> datetime:
    try:
        return parse_instant(text, LocalClock(zone(tz)))
    except ValueError as exc:
        msg = f"{name}: {exc}"
        raise BadRequestError(msg) from exc


def _sites(request: Request[Any, Any, Any]) -> tuple[str, ...] | None:
    principal = principal_of(request)
    return None if principal is None else principal.sites


class CatalogController(Controller):
    """What the hub holds."""

    path = "/catalog"
    tags = ["timeseries"]  # noqa: RUF012 - Litestar's declared type

    @get("/", summary="Meters (with metrics, units and time ranges) and markets the caller may query")
    async def catalog(self, request: Request[Any, Any, Any], db_pool: NamedDependency[asyncpg.Pool]) -> Catalog:
        """List the meters of the caller's sites with their metrics and ranges, and every market."""
        return await catalog(db_pool, _sites(request))


class TimeseriesController(Controller):
    """Series of readings and prices."""

    path = "/data"
    tags = ["timeseries"]  # noqa: RUF012 - Litestar's declared type
    guards = [api_key_guard]  # noqa: RUF012

    @get("/query", summary="Readings of meters, or a market's prices, in buckets", media_type="application/json")
    async def query(  # noqa: PLR0913, PLR0917 - one parameter per query dimension
        self,
        request: Request[Any, Any, Any],
        db_pool: NamedDependency[asyncpg.Pool],
        settings: NamedDependency[HubSettings],
        read_cache: NamedDependency[ReadCache],
        start: _Instant,
        end: _Instant,
        meter: Annotated[list[str] | None, QueryParameter(description="meter id; repeat for several")] = None,
        metric: Annotated[str | None, QueryParameter(description="metric, e.g. power_w")] = None,
        market: Annotated[str | None, QueryParameter(description="market instead of meters, e.g. DE-LU")] = None,
        tz: Annotated[str | None, QueryParameter(description="time zone of buckets (default: rollup zone)")] = None,
        bucket: FromQuery[Literal["raw", "15m", "1h", "1d", "1w", "1mo"]] = "1h",
        aggregate: FromQuery[Aggregate] = "avg",
        fill: FromQuery[Fill] = "none",
        quality: Annotated[list[str] | None, QueryParameter(description="qualities (default good,suspect)")] = None,
        source: FromQuery[Literal["auto", "raw"]] = "auto",
        limit: Annotated[int, QueryParameter(ge=1, le=100_000, description="raw readings per page")] = 10_000,
        cursor: FromQuery[str | None] = None,
        resolution_minutes: Annotated[int | None, QueryParameter(ge=1, le=1440)] = None,
        format: FromQuery[Literal["json", "csv"]] = "json",  # noqa: A002 - the public parameter name
    ) -> Response[bytes]:
        """Aggregate series into buckets (raw readings are paged with ``cursor``)."""
        zone_name = tz or settings.rollup_timezone
        if market is None and (not meter or not metric):
            msg = "pass meter=... (one or more) and metric=..., or market=..."
            raise BadRequestError(msg)
        qualities = tuple(sorted(quality)) if quality else ("good", "suspect")
        if not set(qualities) <= {"good", "suspect", "bad"}:
            msg = f"quality must be good, suspect or bad, not {quality}"
            raise BadRequestError(msg)
        series = SeriesQuery(
            meters=tuple(meter or ()),
            metric=metric or "price",
            market=market,
            start=_instant(start, zone_name, "start"),
            end=_instant(end, zone_name, "end"),
            tz=zone_name,
            bucket=bucket,
            aggregate=aggregate,
            fill=fill,
            qualities=qualities,
            source=source,
            limit=limit,
            cursor=cursor,
            resolution_minutes=resolution_minutes,
        )
        result: QueryResult = await cached_query(db_pool, read_cache, series)
        if not any(found.points for found in result.series):  # nothing in range: say so when nothing is held at all
            await check_known(db_pool, meters=series.meters, metric=series.metric, market=market, sites=_sites(request))
        if format == "csv":
            return Response(render_csv(result).encode(), media_type="text/csv; charset=utf-8")
        return Response(msgspec.json.encode(result), media_type="application/json")

    @get("/completeness", summary="Expected vs received readings per meter and day, with the gaps")
    async def completeness(  # noqa: PLR0913, PLR0917
        self,
        db_pool: NamedDependency[asyncpg.Pool],
        settings: NamedDependency[HubSettings],
        meter: FromQuery[list[str]],
        metric: FromQuery[str],
        start: _Instant,
        end: _Instant,
        tz: FromQuery[str | None] = None,
        interval_minutes: Annotated[int | None, QueryParameter(ge=1, le=1440)] = None,
    ) -> CompletenessReport:
        """Report, per meter and local day, how many readings arrived of those expected."""
        zone_name = tz or settings.rollup_timezone
        return await completeness(
            db_pool,
            meters=meter,
            metric=metric,
            start=_instant(start, zone_name, "start"),
            end=_instant(end, zone_name, "end"),
            tz_name=zone_name,
            interval=timedelta(minutes=interval_minutes) if interval_minutes else None,
        )
