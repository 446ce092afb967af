"""What the hub holds: ``GET /catalog`` (meters, metrics, units, markets and time ranges), and 404s with close matches.

First and last reading times come from the readings' primary-key index (two lookups per series),
so the catalog costs the same on a month of data as on ten years, with or without TimescaleDB.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg
import msgspec

from luna_hub.errors import NotFoundError

__all__ = ["Catalog", "MarketEntry", "MeterEntry", "MetricEntry", "catalog", "check_known"]

_SUGGESTIONS = 3


class MetricEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One metric of a meter and the time range of its readings."""

    metric: str
    unit: str
    kind: str
    first: datetime | None
    last: datetime | None


class MeterEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A meter, the site it belongs to, and its metrics."""

    meter_id: str
    site_id: str | None
    metrics: list[MetricEntry]


class MarketEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A market's prices at one resolution."""

    market: str
    resolution_minutes: int
    first: datetime
    last: datetime
    prices: int


class Catalog(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the caller may query: ``/data/query?meter=&metric=`` and ``/data/query?market=``."""

    meters: list[MeterEntry]
    markets: list[MarketEntry]


async def catalog(pool: asyncpg.Pool, sites: Sequence[str] | None) -> Catalog:
    """Return the meters of ``sites`` (None: every meter) and every market."""
    async with pool.acquire() as connection:
        series = await connection.fetch(
            """
            SELECT mm.meter_id, m.site_id, mm.metric, mm.unit, mm.kind,
                   (SELECT r.ts FROM smart_meter_readings r WHERE r.meter_id = mm.meter_id AND r.metric = mm.metric
                    ORDER BY r.ts LIMIT 1) AS first,
                   (SELECT r.ts FROM smart_meter_readings r WHERE r.meter_id = mm.meter_id AND r.metric = mm.metric
                    ORDER BY r.ts DESC LIMIT 1) AS last
            FROM meter_metrics mm JOIN meters m USING (meter_id)
            WHERE $1::text[] IS NULL OR m.site_id = ANY($1::text[])
            ORDER BY mm.meter_id, mm.metric
            """,
            None if sites is None else list(sites),
        )
        markets = await connection.fetch(
            "SELECT market, resolution, min(ts) AS first, max(ts) AS last, count(*) AS prices"
            " FROM market_prices GROUP BY market, resolution ORDER BY market, resolution"
        )
    meters: dict[str, MeterEntry] = {}
    for row in series:
        meter = row["meter_id"]
        entry = meters.setdefault(meter, MeterEntry(meter_id=meter, site_id=row["site_id"], metrics=[]))
        entry.metrics.append(
            MetricEntry(metric=row["metric"], unit=row["unit"], kind=row["kind"], first=row["first"], last=row["last"])
        )
    return Catalog(
        meters=list(meters.values()),
        markets=[
            MarketEntry(
                market=row["market"],
                resolution_minutes=int(row["resolution"] / timedelta(minutes=1)),
                first=row["first"],
                last=row["last"],
                prices=row["prices"],
            )
            for row in markets
        ],
    )


async def check_known(
    pool: asyncpg.Pool, *, meters: Sequence[str], metric: str, market: str | None, sites: Sequence[str] | None
) -> None:
    """404 naming close matches when a market, a meter, or a meter's metric is not known to the hub.

    Suggestions come only from what the caller may read (the meters of ``sites``; None: all).
    """
    async with pool.acquire() as connection:
        if market is not None:
            names = [row["market"] for row in await connection.fetch("SELECT DISTINCT market FROM market_prices")]
            if market not in names:
                raise NotFoundError(_unknown("market", market, names))
            return
        known = await connection.fetch(
            "SELECT m.meter_id, mm.metric FROM meters m LEFT JOIN meter_metrics mm USING (meter_id)"
            " WHERE m.meter_id = ANY($1::text[])",
            list(meters),
        )
        metrics: dict[str, set[str]] = {}
        for row in known:
            metrics.setdefault(row["meter_id"], set()).update([row["metric"]] if row["metric"] else [])
        for meter in meters:
            if meter not in metrics:
                visible = await connection.fetch(
                    "SELECT meter_id FROM meters WHERE $1::text[] IS NULL OR site_id = ANY($1::text[])",
                    None if sites is None else list(sites),
                )
                raise NotFoundError(_unknown("meter", meter, [row["meter_id"] for row in visible]))
        if not any(metric in found for found in metrics.values()):
            held = sorted(set().union(*metrics.values()))
            raise NotFoundError(_unknown("metric", metric, held, of=", ".join(meters)))


def _unknown(kind: str, name: str, candidates: Sequence[str], *, of: str | None = None) -> str:
    where = f" of {of}" if of else ""
    close = difflib.get_close_matches(name, candidates, n=_SUGGESTIONS, cutoff=0.5)
    if close:
        return f"no {kind} {name!r}{where}; did you mean {', '.join(map(repr, close))}? (GET /catalog lists them)"
    return f"no {kind} {name!r}{where} (GET /catalog lists what the hub holds)"
