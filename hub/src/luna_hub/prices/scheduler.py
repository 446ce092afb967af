"""When the price import runs: APScheduler jobs on the one replica that holds the ``price import`` duty.

The duty (``luna_hub.duties``) decides *where*: its ``run`` is a heartbeat every
``prices.check_every_s`` that starts the scheduler once this replica holds the duty's lock, and its
``release`` shuts the scheduler down when the replica loses the lock or stops. APScheduler decides
*when* (in the market's time zone, so across the DST switches too):

* ``catch-up``: once, at take-over: a pass over every due day (backfill of missed days, and
  tomorrow's prices if they are out already);
* ``publication``: daily at ``prices.published_at`` local time (tomorrow's auction results);
* ``retry``: after a pass that left a day failed or incomplete, one more pass when the first such
  day's backoff ends (``retry_initial_s`` doubling up to ``retry_max_s``; the backoff is kept in
  ``price_import_runs``, so a replica taking over continues it);
* ``missing``: daily at ``prices.missing_alert_at``: log once when tomorrow's prices are still missing
  (the ``prices_missing`` alert rule notifies).

A pass (:func:`~luna_hub.prices.services.import_due_days`) stores idempotently: two replicas
scheduling for a moment during a take-over would store nothing twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final

import asyncpg
import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from luna_hub.prices.services import ImportOutcome, import_due_days, next_attempt, tomorrow_missing
from luna_hub.prices.sources import PriceSource
from luna_hub.settings.prices import PriceImportSettings
from luna_hub.timeparse import zone
from luna_hub.timeseries.writer import BulkMethod
from luna_shared.logs import get_logger

__all__ = ["PriceScheduler"]

_log = get_logger(__name__)
_MIN_RETRY: Final = timedelta(seconds=1)

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


class PriceScheduler:
    """The price import's APScheduler jobs, started by :meth:`heartbeat` and stopped by :meth:`release`."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        source: PriceSource,
        settings: PriceImportSettings,
        *,
        method: BulkMethod = "copy",
        clock: Clock = _now,
    ) -> None:
        self._pool = pool
        self._source = source
        self._settings = settings
        self._method = method
        self._clock = clock
        """The import's "now" (days due, backoff); the triggers run on the real clock."""
        self._scheduler: AsyncIOScheduler | None = None
        self._running: set[asyncio.Task[object]] = set()
        self._one_pass = asyncio.Lock()
        self._warned: set[str] = set()
        self.starts = 0
        """How often this replica started scheduling (take-overs)."""
        self.passes = 0
        """How many import passes ran here."""

    @property
    def scheduler(self) -> AsyncIOScheduler | None:
        """The running scheduler while this replica holds the duty."""
        return self._scheduler

    async def heartbeat(self, _pool: asyncpg.Pool) -> None:
        """Start scheduling on this replica (once) while it holds the lock: the duty's run."""
        if self._scheduler is not None:
            return
        tz = zone(self._settings.timezone)
        scheduler = AsyncIOScheduler(
            timezone=tz, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}
        )
        published, missing = self._settings.published_at, self._settings.missing_alert_at
        scheduler.add_job(self._pass, CronTrigger(hour=published.hour, minute=published.minute, timezone=tz),
                          id="publication", name="fetch tomorrow's prices once published")  # fmt: skip
        scheduler.add_job(self._check_missing, CronTrigger(hour=missing.hour, minute=missing.minute, timezone=tz),
                          id="missing", name="tomorrow's prices still missing?")  # fmt: skip
        scheduler.add_job(self._pass, DateTrigger(datetime.now(UTC)), id="catch-up", name="backfill at take-over")
        scheduler.start()
        self._scheduler = scheduler
        self.starts += 1
        _log.info("price import scheduled here", market=self._settings.market, publication=published.isoformat())

    async def release(self) -> None:
        """Stop scheduling and cancel a pass under way (another replica takes over): the duty's release."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # AsyncIOScheduler shuts down on the loop's next turn
            _log.info("price import no longer scheduled here", market=self._settings.market)
        running = list(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)  # the passes' own ends, failures logged by them

    async def _pass(self) -> list[ImportOutcome]:
        """One import pass (one at a time); schedules the retry its failed or incomplete days ask for."""
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            async with self._one_pass:
                outcomes = await self._import()
            await self._check_missing()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the schedule must outlive any one failure, loudly
            _log.error("price import pass failed; retrying", error=f"{type(exc).__name__}: {exc}", exc_info=exc)
            self._retry_in(timedelta(seconds=max(self._settings.retry_initial_s, 1.0)))
            return []
        finally:
            if task is not None:
                self._running.discard(task)
        return outcomes

    async def _import(self) -> list[ImportOutcome]:
        config = self._settings
        now = self._clock()
        try:
            async with httpx.AsyncClient(timeout=config.timeout_s, follow_redirects=True) as client:
                outcomes = await import_due_days(self._pool, client, self._source, config, now=now, method=self._method)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            _log.warning("price import pass failed on the database; retrying", error=str(exc))
            self._retry_in(timedelta(seconds=max(config.retry_initial_s, 1.0)))
            return []
        self.passes += 1
        unfinished = [outcome.day for outcome in outcomes if outcome.status != "complete"]
        if unfinished:
            async with self._pool.acquire(timeout=10) as connection:
                after = [await next_attempt(connection, config.market, day, config) for day in unfinished]
            due = min((moment for moment in after if moment is not None), default=now)
            self._retry_in(due - now)
        return outcomes

    def _retry_in(self, wait: timedelta) -> None:
        scheduler = self._scheduler
        if scheduler is None:
            return
        at = datetime.now(UTC) + max(wait, _MIN_RETRY)
        scheduler.add_job(self._pass, DateTrigger(at), id="retry", name="retry with backoff", replace_existing=True)

    async def _check_missing(self) -> None:
        async with self._pool.acquire(timeout=10) as connection:
            missing = await tomorrow_missing(connection, self._settings, now=self._clock())
        if missing is not None and missing.day.isoformat() not in self._warned:
            self._warned.add(missing.day.isoformat())
            _log.warning("tomorrow's prices still missing", market=missing.market, day=missing.day.isoformat(),
                         last_error=missing.last_error)  # fmt: skip
