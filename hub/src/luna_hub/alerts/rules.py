"""The alert rules: each reads the database (or a readiness check) and returns the conditions it sees now.

Storm guard: conditions measured as "no X for N seconds" (agent contact, a successful backup) count
from the hub's start at the earliest, unless their alert is firing already. A hub back from
downtime gives agents and the backup job their full period to report before alerting about them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

import asyncpg

from luna_hub.alerts.schemas import Observation, fingerprint_of
from luna_hub.prices.services import tomorrow_missing
from luna_hub.settings.alerts import AlertSettings
from luna_hub.settings.prices import PriceImportSettings
from luna_hub.timeparse import zone
from luna_hub.timeseries.completeness import completeness

__all__ = [
    "RULES",
    "DatabaseReachable",
    "ReadinessCheck",
    "Rule",
    "RuleContext",
]

_CHECK_TIMEOUT_S: Final = 5.0


class ReadinessCheck(Protocol):
    """A component the hub depends on: ``await check()`` returns when it is ready and raises when not."""

    @property
    def name(self) -> str:
        """What the component is called in alerts (``component`` label)."""

    async def __call__(self) -> None:
        """Return when ready; raise (any exception, its text is shown) when not."""


@dataclass(frozen=True, slots=True)
class DatabaseReachable:
    """The default readiness check: the database answers on a pooled connection."""

    pool: asyncpg.Pool
    name: str = "database"

    async def __call__(self) -> None:
        """Run ``SELECT 1``."""
        async with self.pool.acquire(timeout=_CHECK_TIMEOUT_S) as connection:
            await connection.fetchval("SELECT 1", timeout=_CHECK_TIMEOUT_S)


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What a rule evaluates against."""

    pool: asyncpg.Pool
    settings: AlertSettings
    now: datetime
    started_at: datetime
    """When this hub process started (the storm guard's reference)."""
    timezone: str
    """Local days of the data-gap rule."""
    checks: Sequence[ReadinessCheck] = ()
    firing: frozenset[str] = field(default_factory=frozenset)
    """Fingerprints firing now."""
    prices: PriceImportSettings | None = None
    """The day-ahead price import, when enabled (its "tomorrow still missing" rule); None: not watched."""

    def since(self, moment: datetime | None, labels: dict[str, str]) -> float:
        """Seconds since ``moment``, counted from the hub's start at the earliest unless the alert is firing."""
        if moment is None or fingerprint_of(labels) in self.firing:
            reference = moment or self.started_at
        else:
            reference = max(moment, self.started_at)
        return (self.now - reference).total_seconds()


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule: the alert names it raises and how it observes; ``slow`` ones run every ``slow_rules_every_s``."""

    names: tuple[str, ...]
    observe: Callable[[RuleContext], Awaitable[list[Observation]]]
    slow: bool = False


def _labels(alertname: str, severity: str, **labels: str | None) -> dict[str, str]:
    return {"alertname": alertname, "severity": severity, **{k: v for k, v in labels.items() if v}}


async def agent_rules(ctx: RuleContext) -> list[Observation]:
    """Agents offline or stale (no contact), clocks skewed, backlogs not draining."""
    s = ctx.settings
    async with ctx.pool.acquire() as connection:
        rows = await connection.fetch(
            "SELECT agent_id, site_id, last_seen_at, clock_offset_ms, clock_trusted, backlog, oldest_unsynced_at"
            " FROM agents WHERE last_seen_at IS NOT NULL"
        )
    seen: list[Observation] = []
    for row in rows:
        agent, site, last_seen = row["agent_id"], row["site_id"], row["last_seen_at"]
        offline = _labels("agent_offline", "critical", agent_id=agent, site_id=site)
        stale = _labels("agent_stale", "warning", agent_id=agent, site_id=site)
        about = {"last_seen_at": last_seen.isoformat()}
        if ctx.since(last_seen, offline) >= s.agent_offline_after_s:
            summary = f"agent {agent} has not contacted the hub for {_ago(ctx.now - last_seen)}"
            seen.append(Observation(labels=offline, annotations={"summary": summary, **about}))
            continue  # what it reported last is stale news
        if ctx.since(last_seen, stale) >= s.stale_after_s:
            summary = f"agent {agent} last contacted the hub {_ago(ctx.now - last_seen)} ago"
            seen.append(Observation(labels=stale, annotations={"summary": summary, **about}))
        offset_ms = row["clock_offset_ms"]
        if row["clock_trusted"] is False or (offset_ms is not None and abs(offset_ms) > s.clock_skew_s * 1000):
            summary = f"agent {agent}'s clock is off by {offset_ms} ms" + (
                " and untrusted" if row["clock_trusted"] is False else ""
            )
            seen.append(
                Observation(
                    labels=_labels("clock_skew", "warning", agent_id=agent, site_id=site),
                    annotations={"summary": summary, "clock_offset_ms": str(offset_ms)},
                )
            )
        backlog, oldest = row["backlog"], row["oldest_unsynced_at"]
        if (
            backlog is not None
            and backlog >= s.sync_backlog_min
            and oldest is not None
            and (ctx.now - oldest).total_seconds() >= s.sync_backlog_age_s
        ):
            summary = f"agent {agent} holds {backlog} unsynced readings, the oldest from {_ago(ctx.now - oldest)} ago"
            seen.append(
                Observation(
                    labels=_labels("sync_backlog_growing", "warning", agent_id=agent, site_id=site),
                    annotations={"summary": summary, "backlog": str(backlog)},
                )
            )
    return seen


async def data_gap_rule(ctx: RuleContext) -> list[Observation]:
    """Live series (meters an agent delivers) whose last closed local day is less complete than the threshold."""
    s = ctx.settings
    tz = zone(ctx.timezone)
    today = ctx.now.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    start = (today - timedelta(days=s.data_gap_days)).replace(hour=0)
    async with ctx.pool.acquire() as connection:
        rows = await connection.fetch(
            "SELECT mm.metric, m.meter_id, m.site_id, m.agent_id FROM meter_metrics mm JOIN meters m USING (meter_id)"
            " WHERE m.agent_id IS NOT NULL AND mm.kind <> 'state' ORDER BY mm.metric, m.meter_id"
        )
    by_metric: dict[str, list[asyncpg.Record]] = {}
    for row in rows:
        by_metric.setdefault(row["metric"], []).append(row)
    seen: list[Observation] = []
    for metric, meters in by_metric.items():
        owners = {row["meter_id"]: row for row in meters}
        report = await completeness(
            ctx.pool, meters=list(owners), metric=metric, start=start, end=today, tz_name=tz.key, interval=None
        )
        for series in report.meters:
            if series.interval_seconds <= 0 or not series.days:
                continue  # no readings to infer a spacing from: nothing is expected of it
            day = series.days[-1]
            share = day.received / day.expected if day.expected else 1.0
            if share >= s.data_gap_min_completeness:
                continue
            owner = owners[series.meter_id]
            labels = _labels(
                "data_gap",
                "warning",
                meter_id=series.meter_id,
                metric=metric,
                site_id=owner["site_id"],
                agent_id=owner["agent_id"],
            )
            summary = f"{series.meter_id} {metric}: {day.received} of {day.expected} readings on {day.day}"
            seen.append(
                Observation(
                    labels=labels, annotations={"summary": summary, "day": day.day, "completeness": f"{share:.3f}"}
                )
            )
    return seen


async def counter_reset_rule(ctx: RuleContext) -> list[Observation]:
    """Counters an agent flagged as reset in readings of the recent window."""
    since = ctx.now - timedelta(seconds=ctx.settings.counter_reset_window_s)
    async with ctx.pool.acquire() as connection:
        rows = await connection.fetch(
            "SELECT r.meter_id, r.metric, r.agent_id, m.site_id, count(*) AS resets, max(r.ts) AS last"
            " FROM smart_meter_readings r LEFT JOIN meters m USING (meter_id)"
            " WHERE 'counter_reset' = ANY (r.reasons) AND r.ts >= $1 AND r.agent_id IS NOT NULL"
            " GROUP BY r.meter_id, r.metric, r.agent_id, m.site_id",
            since,
        )
    return [
        Observation(
            labels=_labels(
                "counter_reset",
                "info",
                meter_id=row["meter_id"],
                metric=row["metric"],
                agent_id=row["agent_id"],
                site_id=row["site_id"],
            ),
            annotations={
                "summary": f"agent {row['agent_id']} reported {row['resets']} reset(s)"
                f" of {row['meter_id']} {row['metric']}",
                "last_reset_at": row["last"].isoformat(),
            },
        )
        for row in rows
    ]


async def hub_rules(ctx: RuleContext) -> list[Observation]:
    """Rollup failures, failing document jobs, failed or missing backups."""
    s = ctx.settings
    window = ctx.now - timedelta(seconds=s.document_jobs_window_s)
    async with ctx.pool.acquire() as connection:
        rollups = await connection.fetchrow("SELECT count(*) AS n, max(failed_at) AS last FROM rollup_failures")
        jobs = await connection.fetchrow(
            "SELECT count(*) AS n, (array_agg(error ORDER BY finished_at DESC))[1] AS error FROM document_jobs"
            " WHERE state = 'failed' AND finished_at >= $1",
            window,
        )
        backups = await connection.fetch(
            "SELECT job, (array_agg(success ORDER BY finished_at DESC))[1] AS last_ok,"
            " (array_agg(message ORDER BY finished_at DESC))[1] AS message,"
            " max(finished_at) FILTER (WHERE success) AS last_success FROM backup_reports GROUP BY job"
        )
    seen: list[Observation] = []
    if rollups["n"]:
        summary = f"{rollups['n']} written range(s) could not be rolled up (table rollup_failures)"
        seen.append(
            Observation(
                labels=_labels("rollup_failures", "warning"),
                annotations={
                    "summary": summary,
                    "count": str(rollups["n"]),
                    "last_failed_at": rollups["last"].isoformat(),
                },
            )
        )
    if jobs["n"]:
        summary = f"{jobs['n']} document job(s) failed in the last {_ago(timedelta(seconds=s.document_jobs_window_s))}"
        seen.append(
            Observation(
                labels=_labels("document_jobs_failing", "warning"),
                annotations={"summary": summary, "count": str(jobs["n"]), "last_error": (jobs["error"] or "")[:500]},
            )
        )
    seen += _backup_observations(ctx, backups)
    return seen


def _backup_observations(ctx: RuleContext, backups: Sequence[asyncpg.Record]) -> list[Observation]:
    seen: list[Observation] = []
    last_success: dict[str, datetime | None] = dict.fromkeys(ctx.settings.backup_jobs)
    for row in backups:
        last_success[row["job"]] = row["last_success"]
        if not row["last_ok"]:
            seen.append(
                Observation(
                    labels=_labels("backup_failed", "critical", job=row["job"]),
                    annotations={"summary": f"the last {row['job']} backup failed", "message": row["message"][:500]},
                )
            )
    max_age = ctx.settings.backup_max_age_s
    if max_age is None:
        return seen
    for job, success in last_success.items():
        labels = _labels("backup_missing", "critical", job=job)
        if ctx.since(success, labels) >= max_age:
            when = "never" if success is None else f"last at {success.isoformat()}"
            seen.append(
                Observation(labels=labels, annotations={"summary": f"no successful {job} backup reported ({when})"})
            )
    return seen


async def prices_missing_rule(ctx: RuleContext) -> list[Observation]:
    """Tomorrow's day-ahead prices still not all stored after ``prices.missing_alert_at`` (import enabled only)."""
    if ctx.prices is None or not ctx.prices.enabled:
        return []
    async with ctx.pool.acquire() as connection:
        missing = await tomorrow_missing(connection, ctx.prices, now=ctx.now)
    if missing is None:
        return []
    summary = f"{missing.market} prices for {missing.day.isoformat()} are still missing"
    annotations = {"summary": summary, "day": missing.day.isoformat(), "since": missing.since.isoformat()}
    if missing.last_error:
        annotations["last_error"] = missing.last_error[:500]
    return [Observation(labels=_labels("prices_missing", "warning", market=missing.market), annotations=annotations)]


async def readiness_rule(ctx: RuleContext) -> list[Observation]:
    """Components whose readiness check fails (or takes longer than 5 s)."""
    results = await asyncio.gather(*(_run_check(check) for check in ctx.checks))
    return [
        Observation(
            labels=_labels("component_not_ready", "critical", component=check.name),
            annotations={"summary": f"{check.name} is not ready: {error}"},
        )
        for check, error in zip(ctx.checks, results, strict=True)
        if error is not None
    ]


async def _run_check(check: ReadinessCheck) -> str | None:
    try:
        async with asyncio.timeout(_CHECK_TIMEOUT_S):
            await check()
    except TimeoutError:
        return f"no answer within {_CHECK_TIMEOUT_S:g} s"
    except Exception as exc:  # noqa: BLE001 - any failure of a check is its answer
        return f"{type(exc).__name__}: {exc}"[:500]
    return None


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:  # noqa: PLR2004 - units of a human-readable duration
        return f"{seconds} s"
    if seconds < 7200:  # noqa: PLR2004
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


RULES: Final = (
    Rule(("agent_offline", "agent_stale", "clock_skew", "sync_backlog_growing"), agent_rules),
    Rule(("rollup_failures", "document_jobs_failing", "backup_failed", "backup_missing"), hub_rules),
    Rule(("component_not_ready",), readiness_rule),
    Rule(("counter_reset",), counter_reset_rule),
    Rule(("prices_missing",), prices_missing_rule),
    Rule(("data_gap",), data_gap_rule, slow=True),
)
"""Every rule the hub evaluates."""


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)
