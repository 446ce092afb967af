"""``GET /metrics``: what ingest, loads and queries record, scrape-time gauges, the scrape token, a registry per app."""

from __future__ import annotations

import asyncio
import math
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from luna_hub.agents.health import agent_state
from luna_hub.app import create_app
from luna_hub.metrics import LAG_BUCKETS, HubMetrics, quantile
from luna_hub.observability.repository import alerts_firing_from_table
from luna_hub.settings import HubSettings, MetricsSettings
from luna_hub.settings.alerts import AlertSettings
from luna_shared.errors import ConfigError
from luna_shared.wire import utc_ms
from support.hub import migrated_pool, ready_client
from support.sync import batch, fetch, make_agent, post

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: AsyncTestClient[Litestar], headers: dict[str, str] | None = None) -> Samples:
    response = await client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_an_agent_batch_is_counted_with_its_lag_and_its_request(hub_dsn: str) -> None:
    agent = await make_agent(hub_dsn)
    async with ready_client(HubSettings(database_url=hub_dsn)) as client:
        now = utc_ms(datetime.now(UTC))
        fresh = batch(agent, 0, 9, base=now - timedelta(seconds=1000))
        assert (await post(client, fresh, agent.key)).status_code == 200
        assert (await post(client, fresh, agent.key)).status_code == 200  # the same range again: a replay
        assert (await post(client, fresh, "lak_" + "x" * 43)).status_code == 401
        samples = await scrape(client)
    assert value(samples, "luna_ingest_readings_total") == 10
    assert value(samples, "luna_ingest_batches_total", outcome="stored") == 1
    assert value(samples, "luna_ingest_batches_total", outcome="replayed") == 1
    assert value(samples, "luna_ingest_batches_total", outcome="rejected") == 1
    # readings 0..9 were taken 1000..991 s before they were sent: all in the bucket (900, 3600]
    assert value(samples, "luna_ingest_lag_seconds_count") == 10
    assert value(samples, "luna_ingest_lag_seconds_bucket", le="900.0") == 0
    assert value(samples, "luna_ingest_lag_seconds_bucket", le="3600.0") == 10
    assert value(samples, "luna_ingest_lag_seconds_sum") >= sum(1000 - seq for seq in range(10))
    route = {"route": "/api/v1/ingest", "method": "POST"}
    assert value(samples, "luna_http_request_duration_seconds_count", **route, status="200") == 2
    assert value(samples, "luna_http_request_duration_seconds_count", **route, status="401") == 1


async def test_agents_are_online_stale_or_offline_with_backlog_and_last_contact(hub_dsn: str) -> None:
    online, stale, silent = [await make_agent(hub_dsn) for _ in range(3)]
    await fetch(
        hub_dsn,
        "UPDATE agents SET last_seen_at = now() - make_interval(secs => CASE agent_id WHEN $1 THEN 2 ELSE 120 END),"
        " backlog = 42 WHERE agent_id = ANY($2::text[])",
        online.agent_id,
        [online.agent_id, stale.agent_id],
    )
    thresholds = AlertSettings(enabled=False, agent_stale_after_s=60, agent_offline_after_s=300)
    async with ready_client(HubSettings(database_url=hub_dsn, alerts=thresholds)) as client:
        samples = await scrape(client)
    counts = {state: value(samples, "luna_agents", state=state) for state in ("online", "stale", "offline")}
    assert counts["online"] >= 1 and counts["stale"] >= 1 and counts["offline"] >= 1  # noqa: PT018
    every = len(await fetch(hub_dsn, "SELECT 1 FROM agents"))
    assert sum(counts.values()) == every
    labels = {"agent_id": online.agent_id, "site_id": online.site_id}
    assert value(samples, "luna_agent_backlog_readings", **labels) == 42
    assert 2 <= value(samples, "luna_agent_last_contact_seconds", **labels) < 60
    stale_labels = {"agent_id": stale.agent_id, "site_id": stale.site_id}
    assert 120 <= value(samples, "luna_agent_last_contact_seconds", **stale_labels) < 300
    never = {"agent_id": silent.agent_id, "site_id": silent.site_id}
    assert ("luna_agent_last_contact_seconds", frozenset(never.items())) not in samples


def test_agent_state_thresholds() -> None:
    assert [agent_state(s, stale_after_s=60, offline_after_s=300) for s in (0, 59.9, 60, 299, 300, None)] == [
        "online",
        "online",
        "stale",
        "stale",
        "offline",
        "never",
    ]


async def test_loads_queries_pool_and_document_jobs_are_reported(hub_dsn: str, unique: str) -> None:
    csv = f"meter_id,metric,ts,value,unit\n{unique},power_w,2024-01-01T00:00:00Z,1,W\n"
    csv += f"{unique},power_w,2024-01-01T00:15:00Z,2,W\n{unique},power_w,not-a-time,3,W\n"
    quiet = AlertSettings(enabled=False)  # the data-gap rule runs completeness queries of its own
    async with ready_client(HubSettings(database_url=hub_dsn, alerts=quiet)) as client:
        loaded = await client.post("/data/load", content=csv.encode(), headers={"Content-Type": "text/csv"})
        assert loaded.status_code == 200, loaded.text
        query = {"meter": unique, "metric": "power_w", "start": "2024-01-01", "end": "2024-01-02"}
        assert (await client.get("/data/query", params={**query, "bucket": "raw"})).status_code == 200
        assert (await client.get("/data/query", params={**query, "bucket": "1h"})).status_code == 200
        assert (await client.get("/data/completeness", params=query)).status_code == 200
        samples = await scrape(client)
    assert value(samples, "luna_load_rows_total", outcome="stored") == 2
    assert value(samples, "luna_load_rows_total", outcome="rejected") == 1
    assert value(samples, "luna_query_duration_seconds_count", kind="raw") == 1
    assert value(samples, "luna_query_duration_seconds_count", kind="bucketed") == 1
    assert value(samples, "luna_query_duration_seconds_count", kind="completeness") == 1
    assert value(samples, "luna_db_pool_connections", state="max") == HubSettings().database_pool_size
    assert value(samples, "luna_db_pool_connections", state="idle") >= 1
    jobs = await fetch(hub_dsn, "SELECT state, count(*)::int AS n FROM document_jobs GROUP BY state")
    for state in ("queued", "running", "done", "failed"):
        expected = next((row["n"] for row in jobs if row["state"] == state), 0)
        assert value(samples, "luna_document_jobs", state=state) == expected
    assert value(samples, "luna_alerts_firing") >= 0  # other tests' alerts share the database; counted below


async def test_firing_alerts_come_from_a_pluggable_count(hub_dsn: str) -> None:
    async with ready_client(HubSettings(database_url=hub_dsn)) as client:

        async def three(_connection: asyncpg.Connection) -> int:
            return 3

        client.app.state.alerts_firing = three
        assert value(await scrape(client), "luna_alerts_firing") == 3


async def test_the_scrape_token_admits_prometheus_and_nobody_else(hub_dsn: str, tmp_path: Path) -> None:
    token = secrets.token_hex(32)
    (tmp_path / "token").write_text(token + "\n")
    settings = HubSettings(database_url=hub_dsn, metrics=MetricsSettings(bearer_token_file=str(tmp_path / "token")))
    async with ready_client(settings, as_admin=False) as client:
        assert value(await scrape(client, {"Authorization": f"Bearer {token}"}), "luna_alerts_firing") >= 0
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers={"Authorization": f"Bearer {token[:-1]}x"})).status_code == 401
        # the token opens /metrics only
        assert (await client.get("/agents", headers={"Authorization": f"Bearer {token}"})).status_code == 401


async def test_a_short_token_file_fails_at_start(hub_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("short")
    settings = HubSettings(database_url=hub_dsn, metrics=MetricsSettings(bearer_token_file=str(tmp_path / "token")))
    with pytest.raises(ConfigError, match=r"key 'metrics\.bearer_token_file': the token has fewer than 16 characters"):
        create_app(settings)
    missing = MetricsSettings(bearer_token_file=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="No such file"):
        create_app(msgspec.structs.replace(settings, metrics=missing))


async def test_two_apps_in_one_process_keep_their_own_numbers(hub_dsn: str) -> None:
    agent = await make_agent(hub_dsn)
    settings = HubSettings(database_url=hub_dsn)
    async with ready_client(settings) as first, ready_client(settings) as second:
        assert (await post(first, batch(agent, 0, 4), agent.key)).status_code == 200
        one, other = await asyncio.gather(scrape(first), scrape(second))
    assert value(one, "luna_ingest_readings_total") == 5
    assert value(other, "luna_ingest_readings_total") == 0


@given(st.lists(st.integers(min_value=-(10**6), max_value=10**13), max_size=50))
def test_lag_buckets_equal_one_observation_per_reading(lags_us: list[int]) -> None:
    metrics = HubMetrics()
    received = datetime(2024, 1, 1, 12, tzinfo=UTC)
    lags = [timedelta(microseconds=lag) for lag in lags_us]
    metrics.ingest_lag.add(received, [received - lag for lag in lags])
    family = next(iter(metrics.ingest_lag.collect()))
    got = {s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")}
    expected = {str(float(b)): sum(lag.total_seconds() <= b for lag in lags) for b in LAG_BUCKETS}
    assert got == {**expected, "+Inf": len(lags)}
    total = next(s.value for s in family.samples if s.name.endswith("_sum"))
    assert total == sum(lags, timedelta()).total_seconds()


async def test_firing_alerts_are_counted_from_the_alerts_table(hub_dsn: str) -> None:
    async with migrated_pool(hub_dsn) as pool, pool.acquire() as connection:
        transaction = connection.transaction()  # rolled back: the shared test database stays as it was
        await transaction.start()
        try:
            before = await alerts_firing_from_table(connection)
            for state in ("firing", "resolved", "firing", "pending"):
                await connection.execute(
                    "INSERT INTO alerts (fingerprint, alertname, labels, state, active_since)"
                    " VALUES ($1, 'test', '{}', $2, now())",
                    f"metrics-test-{uuid.uuid4().hex}",
                    state,
                )
            assert await alerts_firing_from_table(connection) == before + 2
        finally:
            await transaction.rollback()


@given(
    st.lists(st.floats(min_value=0, max_value=1000, allow_nan=False), min_size=1, max_size=200),
    st.sampled_from([0.5, 0.9, 0.95, 0.99]),
)
def test_histogram_quantiles_fall_within_the_bucket_of_the_true_quantile(values: list[float], q: float) -> None:
    bounds = [0.1, 1.0, 10.0, 100.0]
    buckets = [(b, float(sum(v <= b for v in values))) for b in bounds] + [(math.inf, float(len(values)))]
    estimate = quantile(buckets, q)
    assert estimate is not None
    ordered = sorted(values)
    true = ordered[max(0, math.ceil(q * len(ordered)) - 1)]
    edges = [0.0, *bounds]
    low = max((e for e in edges if e < true), default=0.0)
    high = min((b for b in bounds if b >= true), default=bounds[-1])
    assert low <= estimate <= high  # within the bucket holding the true quantile (the last finite bound past it)


def test_an_empty_histogram_has_no_quantile() -> None:
    assert quantile([(1.0, 0.0), (math.inf, 0.0)], 0.5) is None
