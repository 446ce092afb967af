"""Versions of series: the sum of ``series_changes.weight`` (migration 0700) over the series an answer reads.

Writers append a row per touched series inside their own transaction (see
:mod:`luna_hub.timeseries.writer`), so the version a reader sees changes exactly when committed
data does. :func:`compact` merges each series' rows into one without changing any sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

import asyncpg

__all__ = ["MARKET_CHANGES_CTE", "READING_CHANGES_CTE", "compact", "series_version"]

Source = Literal["meter", "market"]

READING_CHANGES_CTE: Final = """
    INSERT INTO series_changes (source, name, metric)
    SELECT 'meter', meter_id, metric FROM stored GROUP BY meter_id, metric ORDER BY meter_id, metric
"""
"""A data-modifying CTE body over a ``stored`` CTE of new readings (``meter_id``, ``metric`` columns)."""

MARKET_CHANGES_CTE: Final = """
    INSERT INTO series_changes (source, name, metric)
    SELECT 'market', market, 'price' FROM stored GROUP BY market ORDER BY market
"""
"""The same over a ``stored`` CTE of new prices (a ``market`` column)."""


async def series_version(connection: asyncpg.Connection, source: Source, names: Sequence[str], metric: str) -> int:
    """Return the version of the series ``names`` x ``metric`` of ``source`` (0 while never written)."""
    version: int = await connection.fetchval(
        "SELECT coalesce(sum(weight), 0)::bigint FROM series_changes"
        " WHERE source = $1 AND metric = $2 AND name = ANY($3::text[])",
        source,
        metric,
        list(names),
    )
    return version


async def compact(connection: asyncpg.Connection) -> int:
    """Merge each series' change rows into one carrying their summed weight; return the rows removed."""
    removed: int = await connection.fetchval(
        """
        WITH gone AS (
            DELETE FROM series_changes c
            USING (SELECT source, name, metric FROM series_changes
                   GROUP BY source, name, metric HAVING count(*) > 1) m
            WHERE c.source = m.source AND c.name = m.name AND c.metric = m.metric
            RETURNING c.source, c.name, c.metric, c.weight
        ), merged AS (
            INSERT INTO series_changes (source, name, metric, weight)
            SELECT source, name, metric, sum(weight) FROM gone GROUP BY source, name, metric
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM gone) - (SELECT count(*) FROM merged)
        """
    )
    return removed
