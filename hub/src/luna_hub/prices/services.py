"""The automatic day-ahead import: which days are due, fetching them, storing them idempotently, recording runs.

One pass (:func:`import_due_days`) runs as the duty ``price import`` on one hub replica. A day
is due when its prices are not all stored: tomorrow once ``prices.published_at`` has passed,
today, and the ``prices.lookback_days`` before it (backfill). A day whose last attempts failed
or found it incomplete waits ``retry_initial_s`` doubling per attempt (up to ``retry_max_s``).

Prices go through :class:`~luna_hub.timeseries.writer.PriceWriter`, the writer of file loads:
a price stored before is a duplicate and changes nothing.

When a pass stores tomorrow's prices completely, :func:`record_publication` notes the market and
day once (its primary key: once across hubs, imports and backfills); the alert service claims the
note with :func:`claim_publications` and sends the "tomorrow's prices are out" notice.

For alerts: :func:`tomorrow_missing` says whether tomorrow's prices are still missing after
``prices.missing_alert_at`` (a rule can call it with a connection and the settings).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from luna_hub.energy.repository import price_slots
from luna_hub.energy.windows import MissingPricesError, PriceGrid
from luna_hub.errors import HubError
from luna_hub.prices.sources import ENTSOE_ZONES, EntsoeSource, PriceSource, PriceSourceError, SmardSource, day_bounds
from luna_hub.settings.prices import PriceImportSettings
from luna_hub.timeparse import zone
from luna_hub.timeseries.writer import BulkMethod, PriceWriter, WriteResult
from luna_shared.logs import get_logger

__all__ = [
    "ImportOutcome",
    "MissingTomorrow",
    "PriceImportConfigError",
    "Publication",
    "claim_publications",
    "day_complete",
    "due_days",
    "import_day",
    "import_due_days",
    "make_source",
    "next_attempt",
    "record_publication",
    "tomorrow_missing",
]

_log = get_logger(__name__)


class PriceImportConfigError(HubError):
    """The ``[prices]`` settings cannot work (unknown zone, unreadable token file)."""


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """What one attempt at one day did."""

    day: date
    status: str
    """complete, incomplete or failed."""
    stored: int = 0
    duplicates: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class MissingTomorrow:
    """The condition "tomorrow's prices are still missing in the evening"."""

    market: str
    day: date
    since: datetime
    """When it became a condition (``prices.missing_alert_at`` local time today)."""
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Publication:
    """A delivery day whose prices the import stored completely while it was tomorrow."""

    market: str
    day: date
    min_price: float
    mean_price: float
    """Time-weighted over the day, EUR/MWh."""
    max_price: float
    cheapest_at: datetime
    """Start (UTC) of the first cheapest quarter."""


_STALE = timedelta(days=1)
"""A publication not claimed within this long (the alert duty was off) is claimed without a notice."""


def make_source(settings: PriceImportSettings) -> PriceSource:
    """Build the configured source; the ENTSO-E token is read from its file (never logged)."""
    tz = zone(settings.timezone)
    if settings.source == "smard":
        return SmardSource(
            settings.smard_url, settings.market, tz, settings.quarter_hour_from, filter_id=settings.smard_filter
        )
    code = ENTSOE_ZONES.get(settings.market)
    if code is None:
        msg = f"prices.market {settings.market!r} has no ENTSO-E zone code (known: {sorted(ENTSOE_ZONES)})"
        raise PriceImportConfigError(msg)
    if settings.entsoe_token_file is None:
        msg = "prices.source = 'entsoe' needs prices.entsoe_token_file"
        raise PriceImportConfigError(msg)
    try:
        token = Path(settings.entsoe_token_file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        msg = f"cannot read prices.entsoe_token_file: {exc.strerror}"
        raise PriceImportConfigError(msg) from exc
    return EntsoeSource(settings.entsoe_url, code, token, tz, settings.quarter_hour_from)


async def day_complete(connection: asyncpg.Connection, market: str, day: date, tz: ZoneInfo) -> bool:
    """Whether every instant of local ``day`` has a stored price of ``market`` (at any resolution)."""
    start, end = day_bounds(day, tz)
    try:
        PriceGrid.build(await price_slots(connection, market, start, end), start, end)
    except MissingPricesError:
        return False
    return True


def due_days(settings: PriceImportSettings, now: datetime) -> list[date]:
    """Return the days to check now, oldest first: the lookback, today, and tomorrow once published."""
    tz = zone(settings.timezone)
    local = now.astimezone(tz)
    today = local.date()
    days = [today - timedelta(days=back) for back in range(settings.lookback_days, -1, -1)]
    if local.time() >= settings.published_at:
        days.append(today + timedelta(days=1))
    return days


async def next_attempt(
    connection: asyncpg.Connection, market: str, day: date, settings: PriceImportSettings
) -> datetime | None:
    """When ``day`` may be fetched again: after its last failed or incomplete attempt plus the backoff; None: now."""
    rows = await connection.fetch(
        "SELECT status, finished_at FROM price_import_runs WHERE market = $1 AND day = $2"
        " ORDER BY finished_at DESC LIMIT 20",
        market,
        day,
    )
    failures = 0
    for row in rows:
        if row["status"] == "complete":
            break
        failures += 1
    if failures == 0:
        return None
    wait = min(settings.retry_max_s, settings.retry_initial_s * 2 ** (failures - 1))
    last: datetime = rows[0]["finished_at"]
    return last + timedelta(seconds=wait)


async def _waiting(
    connection: asyncpg.Connection, market: str, day: date, settings: PriceImportSettings, now: datetime
) -> bool:
    """Whether the day's last attempts ask for a longer wait (backoff) before the next."""
    after = await next_attempt(connection, market, day, settings)
    return after is not None and now < after


async def import_day(  # noqa: PLR0913
    pool: asyncpg.Pool,
    client: httpx.AsyncClient,
    source: PriceSource,
    market: str,
    day: date,
    *,
    method: BulkMethod = "copy",
    now: datetime | None = None,
) -> ImportOutcome:
    """Fetch ``day`` from ``source``, store it idempotently and record the run (stamped ``now``, default: the clock)."""
    started = now or datetime.now(UTC)
    clock = time.monotonic()
    try:
        fetched = await source.fetch_day(client, day)
    except PriceSourceError as exc:
        outcome = ImportOutcome(day, "failed", error=str(exc))
    else:
        written = await _store(pool, market, source.name, fetched.prices, method)
        status = "complete" if fetched.complete else "incomplete"
        outcome = ImportOutcome(day, status, written.stored, written.duplicates)
    async with pool.acquire() as connection:
        await connection.execute(
            "INSERT INTO price_import_runs (market, source, day, started_at, finished_at, status, stored, duplicates,"
            " error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            market,
            source.name,
            day,
            started,
            started + timedelta(seconds=time.monotonic() - clock),
            outcome.status,
            outcome.stored,
            outcome.duplicates,
            outcome.error,
        )
    log = _log.warning if outcome.status == "failed" else _log.info
    log("price import", market=market, source=source.name, day=day.isoformat(), status=outcome.status,
        stored=outcome.stored, duplicates=outcome.duplicates, error=outcome.error)  # fmt: skip
    return outcome


async def _store(pool: asyncpg.Pool, market: str, source: str, prices: list, method: BulkMethod) -> WriteResult:  # type: ignore[type-arg]
    if not prices:
        return WriteResult(stored=0, duplicates=0)
    async with pool.acquire() as connection, connection.transaction():
        writer = PriceWriter(connection, method)
        await writer.open()
        await writer.add([(market, p.ts, p.resolution, p.price, "EUR/MWh", source) for p in prices])
        return await writer.finish()


async def import_due_days(  # noqa: PLR0913
    pool: asyncpg.Pool,
    client: httpx.AsyncClient,
    source: PriceSource,
    settings: PriceImportSettings,
    *,
    now: datetime | None = None,
    method: BulkMethod = "copy",
) -> list[ImportOutcome]:
    """One pass of the duty: every due day not stored completely and not in backoff is fetched once."""
    now = now or datetime.now(UTC)
    tz = zone(settings.timezone)
    tomorrow = now.astimezone(tz).date() + timedelta(days=1)
    outcomes = []
    for day in due_days(settings, now):
        async with pool.acquire() as connection:
            if await day_complete(connection, settings.market, day, tz):
                continue
            if await _waiting(connection, settings.market, day, settings, now):
                continue
        outcome = await import_day(pool, client, source, settings.market, day, method=method, now=now)
        outcomes.append(outcome)
        if day == tomorrow and outcome.status == "complete":
            async with pool.acquire() as connection:
                if await record_publication(connection, settings.market, day, tz):
                    _log.info("tomorrow's prices are out", market=settings.market, day=day.isoformat())
    return outcomes


async def record_publication(connection: asyncpg.Connection, market: str, day: date, tz: ZoneInfo) -> bool:
    """Note that ``day``'s prices are all stored (once per market and day); whether this call noted it."""
    start, end = day_bounds(day, tz)
    grid = PriceGrid.build(await price_slots(connection, market, start, end), start, end)
    cheapest = int(grid.prices.argmin())
    noted: int | None = await connection.fetchval(
        "INSERT INTO price_publications (market, day, min_price, mean_price, max_price, cheapest_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (market, day) DO NOTHING RETURNING 1",
        market,
        day,
        float(grid.prices.min()),
        float(grid.prices.mean()),
        float(grid.prices.max()),
        grid.at(cheapest),
    )
    return noted is not None


async def claim_publications(connection: asyncpg.Connection) -> list[Publication]:
    """Mark every unnotified publication notified; return those fresh enough to announce (in a transaction)."""
    rows = await connection.fetch(
        "UPDATE price_publications SET notified_at = now() WHERE notified_at IS NULL"
        " RETURNING market, day, min_price, mean_price, max_price, cheapest_at,"
        " stored_at > now() - $1::interval AS fresh",
        _STALE,
    )
    return [
        Publication(
            row["market"], row["day"], row["min_price"], row["mean_price"], row["max_price"], row["cheapest_at"]
        )
        for row in sorted(rows, key=lambda row: (row["market"], row["day"]))
        if row["fresh"]
    ]


async def tomorrow_missing(
    connection: asyncpg.Connection, settings: PriceImportSettings, *, now: datetime | None = None
) -> MissingTomorrow | None:
    """Return the alert condition: after ``missing_alert_at`` local time, tomorrow's prices are not all stored."""
    now = now or datetime.now(UTC)
    tz = zone(settings.timezone)
    local = now.astimezone(tz)
    if local.time() < settings.missing_alert_at:
        return None
    tomorrow = local.date() + timedelta(days=1)
    if await day_complete(connection, settings.market, tomorrow, tz):
        return None
    last_error: str | None = await connection.fetchval(
        "SELECT error FROM price_import_runs WHERE market = $1 AND day = $2 AND error IS NOT NULL"
        " ORDER BY finished_at DESC LIMIT 1",
        settings.market,
        tomorrow,
    )
    since = datetime.combine(local.date(), settings.missing_alert_at, tzinfo=tz).astimezone(UTC)
    return MissingTomorrow(market=settings.market, day=tomorrow, since=since, last_error=last_error)
