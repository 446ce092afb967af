"""Each rule against a real database: the alert service evaluates on demand (no duty, no receivers)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from luna_hub.agents.services import create_agent
from luna_hub.alerts.rules import RULES, DatabaseReachable, ReadinessCheck, Rule, RuleContext
from luna_hub.alerts.schemas import Observation
from luna_hub.alerts.services import AlertService
from luna_hub.prices.sources import day_bounds
from luna_hub.settings.alerts import AlertSettings
from luna_hub.settings.prices import PriceImportSettings
from luna_hub.timeseries.writer import PriceWriter
from support.hub import migrated_pool

TZ = "Europe/Berlin"


@dataclass(frozen=True, slots=True)
class _Broken:
    name: str = "vector store"

    async def __call__(self) -> None:
        raise ConnectionRefusedError("connection refused")


@asynccontextmanager
async def _service(
    dsn: str,
    *,
    checks: Sequence[ReadinessCheck] | None = None,
    rules: Sequence[Rule] = RULES,
    started_at: datetime | None = None,
    prices: PriceImportSettings | None = None,
    **alerts: object,
) -> AsyncIterator[tuple[AlertService, asyncpg.Pool]]:
    settings = AlertSettings(pending_s=0, **alerts)  # type: ignore[arg-type]
    async with migrated_pool(dsn, max_size=4) as pool, httpx.AsyncClient() as client:
        plugged = checks if checks is not None else (DatabaseReachable(pool),)
        service = AlertService(
            pool,
            settings,
            timezone=TZ,
            client=client,
            checks=lambda: plugged,
            rules=rules,
            started_at=started_at,
            prices=prices,
        )
        yield service, pool


async def _firing(pool: asyncpg.Pool) -> dict[str, list[dict[str, str]]]:
    rows = await pool.fetch("SELECT alertname, labels::text FROM alerts WHERE state = 'firing' ORDER BY fingerprint")
    result: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        result.setdefault(row["alertname"], []).append(json.loads(row["labels"]))
    return result


async def test_clock_skew_and_a_backlog_that_does_not_drain(alerts_dsn: str) -> None:
    async with _service(alerts_dsn, backup_max_age_s=None) as (service, pool):
        async with pool.acquire() as connection:
            for agent in ("skewed", "untrusted", "behind", "fine"):
                await create_agent(connection, agent, "site-r", actor="test")
        await pool.execute("UPDATE agents SET last_seen_at = now(), clock_offset_ms = 10, backlog = 3")
        await pool.execute("UPDATE agents SET clock_offset_ms = -45000 WHERE agent_id = 'skewed'")
        await pool.execute("UPDATE agents SET clock_trusted = false WHERE agent_id = 'untrusted'")
        await pool.execute(
            "UPDATE agents SET backlog = 5000, oldest_unsynced_at = now() - interval '2 hours'"
            " WHERE agent_id = 'behind'"
        )
        await service.evaluate()
        firing = await _firing(pool)
        assert sorted(a["agent_id"] for a in firing["clock_skew"]) == ["skewed", "untrusted"]
        assert [a["agent_id"] for a in firing["sync_backlog_growing"]] == ["behind"]
        assert set(firing) == {"clock_skew", "sync_backlog_growing"}


async def test_counter_resets_flagged_by_an_agent(alerts_dsn: str) -> None:
    async with _service(alerts_dsn, backup_max_age_s=None) as (service, pool):
        async with pool.acquire() as connection:
            await create_agent(connection, "counting", "site-c", actor="test")
        await pool.execute("INSERT INTO meters (meter_id, site_id, agent_id) VALUES ('m-c', 'site-c', 'counting')")
        await pool.execute(
            "INSERT INTO smart_meter_readings (meter_id, metric, ts, value, unit, reasons, agent_id) VALUES"
            " ('m-c', 'energy_import_kwh', now() - interval '1 hour', 3, 'kWh', '{counter_reset}', 'counting'),"
            " ('m-c', 'energy_import_kwh', now() - interval '3 days', 1, 'kWh', '{counter_reset}', 'counting'),"
            " ('m-c', 'energy_import_kwh', now() - interval '2 hours', 900, 'kWh', '{}', 'counting')"
        )
        await service.evaluate()
        firing = await _firing(pool)
        assert firing["counter_reset"] == [
            {
                "alertname": "counter_reset",
                "severity": "info",
                "meter_id": "m-c",
                "metric": "energy_import_kwh",
                "agent_id": "counting",
                "site_id": "site-c",
            }
        ]


async def test_a_series_with_a_gap_in_the_last_closed_day(alerts_dsn: str) -> None:
    async with _service(alerts_dsn, backup_max_age_s=None, agent_offline_after_s=1e9) as (service, pool):
        async with pool.acquire() as connection:
            await create_agent(connection, "gappy", "site-g", actor="test")
        today = datetime.now(ZoneInfo(TZ)).replace(hour=0, minute=0, second=0, microsecond=0)
        start = (today - timedelta(days=6)).replace(hour=0)
        for meter in ("m-full", "m-gap"):
            await pool.execute("INSERT INTO meters (meter_id, site_id, agent_id) VALUES ($1, 'site-g', 'gappy')", meter)
            await pool.execute(
                "INSERT INTO meter_metrics (meter_id, metric, unit, kind) VALUES ($1, 'power_w', 'W', 'gauge')", meter
            )
            stamps = []
            moment = start.astimezone(UTC)
            while moment < today.astimezone(UTC):
                # m-gap loses the second half of yesterday
                if not (meter == "m-gap" and moment >= today.astimezone(UTC) - timedelta(hours=12)):
                    stamps.append(moment)
                moment += timedelta(minutes=15)
            await pool.executemany(
                "INSERT INTO smart_meter_readings (meter_id, metric, ts, value, unit, agent_id)"
                " VALUES ($1, 'power_w', $2, 1, 'W', 'gappy')",
                [(meter, ts) for ts in stamps],
            )
        await service.evaluate()
        firing = await _firing(pool)
        assert [a["meter_id"] for a in firing["data_gap"]] == ["m-gap"]
        annotations = await pool.fetchval(
            "SELECT annotations->>'completeness' FROM alerts WHERE alertname = 'data_gap'"
        )
        assert 0.45 < float(annotations) < 0.55


async def test_rollup_failures_failing_document_jobs_and_a_component_not_ready(alerts_dsn: str) -> None:
    async with _service(alerts_dsn, backup_max_age_s=None, checks=[_Broken()]) as (service, pool):
        await pool.execute(
            "INSERT INTO rollup_failures (meter_id, metric, from_ts, to_ts, error)"
            " VALUES ('m', 'power_w', now(), now(), 'x')"
        )
        await pool.execute(
            "INSERT INTO document_jobs (document_id, version, state, error, finished_at)"
            " VALUES ('d', 1, 'failed', 'unreadable PDF', now()), ('e', 1, 'failed', 'old', now() - interval '1 day')"
        )
        notices = await service.evaluate()
        firing = await _firing(pool)
        assert set(firing) == {"rollup_failures", "document_jobs_failing", "component_not_ready"}
        assert firing["component_not_ready"][0]["component"] == "vector store"
        summary = await pool.fetchval(
            "SELECT annotations->>'summary' FROM alerts WHERE alertname = 'component_not_ready'"
        )
        assert "ConnectionRefusedError: connection refused" in summary
        assert (
            await pool.fetchval("SELECT annotations->>'count' FROM alerts WHERE alertname = 'document_jobs_failing'")
            == "1"
        )
        assert len(notices) == 3


async def test_the_default_readiness_check_passes_while_the_database_answers(alerts_dsn: str) -> None:
    async with _service(alerts_dsn, backup_max_age_s=None) as (service, pool):
        assert await service.evaluate() == []
        assert await _firing(pool) == {}


async def test_backups_missing_count_from_the_hub_start(alerts_dsn: str) -> None:
    day = 86400.0
    async with _service(alerts_dsn, backup_max_age_s=day) as (service, pool):
        await service.evaluate()
        assert await _firing(pool) == {}  # the hub just started: the job has a day to report
    long_ago = datetime.now(UTC) - timedelta(days=2)
    async with _service(alerts_dsn, backup_max_age_s=day, started_at=long_ago) as (service, pool):
        await service.evaluate()
        assert [a["job"] for a in (await _firing(pool))["backup_missing"]] == ["luna-backup"]
        await pool.execute(
            "INSERT INTO backup_reports (job, success, finished_at, reported_by)"
            " VALUES ('luna-backup', true, now(), 't')"
        )
        notices = await service.evaluate()
        assert [(n.status, n.alert.alertname) for n in notices] == [("resolved", "backup_missing")]


async def test_an_alert_is_rechecked_just_before_it_fires(alerts_dsn: str) -> None:
    calls = 0

    async def flickering(_ctx: RuleContext) -> list[Observation]:
        nonlocal calls
        calls += 1
        return [Observation(labels={"alertname": "flicker"})] if calls % 2 else []

    rule = Rule(("flicker",), flickering)
    async with _service(alerts_dsn, rules=[rule]) as (service, pool):
        assert await service.evaluate() == []  # seen, then gone in the re-check: not fired
        assert calls == 2
        assert await pool.fetchval("SELECT state FROM alerts") == "pending"


async def test_a_broken_rule_keeps_its_alerts_and_spares_the_others(alerts_dsn: str) -> None:
    broken = False

    async def fragile(_ctx: RuleContext) -> list[Observation]:
        if broken:
            raise ZeroDivisionError("division by zero")
        return [Observation(labels={"alertname": "fragile"})]

    async def steady(_ctx: RuleContext) -> list[Observation]:
        return [Observation(labels={"alertname": "steady"})]

    rules = [Rule(("fragile",), fragile), Rule(("steady",), steady)]
    async with _service(alerts_dsn, rules=rules) as (service, pool):
        assert sorted(n.alert.alertname for n in await service.evaluate()) == ["fragile", "steady"]
        broken = True
        assert await service.evaluate() == []  # no resolve for what could not be evaluated
        assert set(await _firing(pool)) == {"fragile", "steady"}


async def _store_prices(pool: asyncpg.Pool, market: str, start: datetime, end: datetime) -> None:
    hours = int((end - start) / timedelta(hours=1))
    rows = [(market, start + timedelta(hours=h), timedelta(hours=1), 50.0 + h, "EUR/MWh", "test") for h in range(hours)]
    async with pool.acquire() as connection, connection.transaction():
        writer = PriceWriter(connection)
        await writer.open()
        await writer.add(rows)
        await writer.finish()


@pytest.mark.parametrize("enabled", [True, False])
async def test_tomorrows_prices_missing_in_the_evening(alerts_dsn: str, enabled: bool) -> None:
    """From ``missing_alert_at`` (here 00:00: any time is evening) until tomorrow's prices are all stored."""
    market = f"m{uuid.uuid4().hex[:10]}"
    prices = PriceImportSettings(enabled=enabled, market=market, timezone=TZ, missing_alert_at=time(0, 0))
    async with _service(alerts_dsn, backup_max_age_s=None, prices=prices) as (service, pool):
        await service.evaluate()
        if not enabled:  # no import, nobody waits for prices: no alert
            assert await _firing(pool) == {}
            return
        [labels] = (await _firing(pool))["prices_missing"]
        assert labels == {"alertname": "prices_missing", "severity": "warning", "market": market}
        today = datetime.now(UTC).astimezone(ZoneInfo(TZ)).date()
        first, end = day_bounds(today + timedelta(days=1), ZoneInfo(TZ))
        await _store_prices(pool, market, first, end - timedelta(hours=1))  # the last hour still missing
        await service.evaluate()
        assert "prices_missing" in await _firing(pool)
        _, last = day_bounds(today + timedelta(days=2), ZoneInfo(TZ))  # a test running over midnight too
        await _store_prices(pool, market, end - timedelta(hours=1), last)
        await service.evaluate()
        assert await _firing(pool) == {}
