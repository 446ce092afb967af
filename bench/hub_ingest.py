"""Hub batch ingest from agents, end to end: HTTP (msgpack + zstd) into a real ``luna-hub serve`` over loopback.

1. Throughput: 4 agents post 500,000 readings in batches of 5,000 (the agent's default), each
   agent one batch after the other, the four at once. Baseline in the same run: a bare
   ``copy_records_to_table`` of the same rows into a copy of the readings table (same indexes).
2. Load: 50 simulated agents post batches of 1,000 back to back for 20 s (a backlog drain after
   an outage, the hub saturated); then 50 agents each post a batch of 200 every second for 20 s
   (10,000 readings/s offered: normal operation, 20 meters x 10 values a second per site).
   Afterwards every acknowledged reading must be stored exactly once. Reported: readings/s and
   the p50/p95 ingest latency (request sent to ack received) of both.

The batches are built and encoded before the clock starts (the agent's cost is not the hub's), so
their send times are older than the hub's clock by then: the hub runs with a clock tolerance of a
day, or it would (rightly) flag them all ``clock_skew``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, TypeVar

import asyncpg
import httpx

from bench.databases import migrated_database
from bench.report import Result
from luna_hub.agents.services import create_agent
from luna_shared.codec import decode_hub_message, encode
from luna_shared.compression import ContentEncoding, compress
from luna_shared.wire import Reading, make_batch

T = TypeVar("T")
BIN: Final = Path(sys.executable).parent
START: Final = datetime(2025, 1, 1, tzinfo=UTC)
THROUGHPUT_AGENTS: Final = 4
THROUGHPUT_BATCHES: Final = 25
THROUGHPUT_BATCH: Final = 5_000
LOAD_AGENTS: Final = 50
LOAD_SECONDS: Final = 20.0
LOAD_BATCH: Final = 1_000
LOAD_BATCHES: Final = 40
PACED_BATCH: Final = 200
PACED_INTERVAL: Final = 1.0
METERS_PER_AGENT: Final = 10
HEADERS: Final = {"Content-Type": "application/msgpack", "Content-Encoding": "zstd"}
COLUMNS: Final = ("meter_id", "metric", "ts", "value", "unit", "quality", "reasons", "agent_id", "seq")


class Agent:
    """A simulated agent: its id, key and pre-encoded batches (seq ranges and bodies)."""

    def __init__(self, agent_id: str, site_id: str, key: str) -> None:
        self.agent_id, self.site_id, self.key = agent_id, site_id, key
        self.bodies: list[tuple[int, int, bytes]] = []

    def readings(self, first: int, count: int) -> list[Reading]:
        return [
            Reading(
                meter_id=f"{self.agent_id}-m{seq % METERS_PER_AGENT}",
                metric="power_w",
                ts=START + timedelta(seconds=seq // METERS_PER_AGENT),
                value=float(seq % 5000) + 0.5,
                unit="W",
                seq=seq,
            )
            for seq in range(first, first + count)
        ]

    def prepare(self, batches: int, size: int) -> None:
        now = datetime.now(UTC)
        for index in range(batches):
            run = self.readings(index * size, size)
            body = compress(encode(make_batch(self.agent_id, self.site_id, run, now)), ContentEncoding.ZSTD)
            self.bodies.append((index * size, index * size + size - 1, body))


async def _agents(dsn: str, count: int, prefix: str) -> list[Agent]:
    connection = await asyncpg.connect(dsn)
    try:
        agents = []
        for number in range(count):
            created = await create_agent(connection, f"{prefix}-{number:02d}", f"{prefix}-site-{number:02d}")
            agents.append(Agent(created.agent_id, created.site_id, created.key))
    finally:
        await connection.close()
    return agents


async def _post(client: httpx.AsyncClient, agent: Agent, first: int, last: int, body: bytes) -> tuple[float, int]:
    started = time.perf_counter()
    response = await client.post(
        "/api/v1/ingest", content=body, headers={**HEADERS, "Authorization": f"Bearer {agent.key}"}
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    ack = decode_hub_message(response.content)
    assert (ack.first_seq, ack.last_seq) == (first, last)
    return elapsed, ack.stored


async def _throughput(client: httpx.AsyncClient, agents: list[Agent]) -> tuple[float, int]:
    async def drain(agent: Agent) -> int:
        stored = 0
        for first, last, body in agent.bodies:
            stored += (await _post(client, agent, first, last, body))[1]
        return stored

    started = time.perf_counter()
    stored = sum(await asyncio.gather(*(drain(agent) for agent in agents)))
    return time.perf_counter() - started, stored


async def _load(
    client: httpx.AsyncClient, agents: list[Agent], interval: float | None = None
) -> tuple[float, list[float], dict[str, int], int]:
    """Post each agent's batches for LOAD_SECONDS: back to back, or one every ``interval`` seconds."""
    latencies: list[float] = []
    acked: dict[str, int] = {}
    stored_total = 0
    started = time.perf_counter()
    deadline = started + LOAD_SECONDS

    async def push(number: int, agent: Agent) -> None:
        nonlocal stored_total
        acked[agent.agent_id] = 0
        if interval is not None:  # spread the agents over the interval
            await asyncio.sleep(interval * number / len(agents))
        for first, last, body in agent.bodies:
            tick = time.perf_counter()
            if tick >= deadline:
                return
            elapsed, stored = await _post(client, agent, first, last, body)
            latencies.append(elapsed)
            acked[agent.agent_id] = last + 1
            stored_total += stored
            if interval is not None:
                await asyncio.sleep(max(0.0, tick + interval - time.perf_counter()))

    await asyncio.gather(*(push(number, agent) for number, agent in enumerate(agents)))
    return time.perf_counter() - started, latencies, acked, stored_total


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    return statistics.median(latencies) * 1000, statistics.quantiles(latencies, n=20)[-1] * 1000


async def _raw_copy(dsn: str, agents: list[Agent]) -> tuple[float, float]:
    """Seconds for a bare COPY of the throughput rows, and for one load-sized batch (median of 20)."""
    rows = [
        (r.meter_id, r.metric, r.ts, r.value, r.unit, r.quality.value, list(r.reasons), agent.agent_id, r.seq)
        for agent in agents
        for r in agent.readings(0, THROUGHPUT_BATCHES * THROUGHPUT_BATCH)
    ]
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("CREATE TABLE raw_copy (LIKE smart_meter_readings INCLUDING ALL)")
        started = time.perf_counter()
        await connection.copy_records_to_table("raw_copy", records=rows, columns=COLUMNS)
        bulk = time.perf_counter() - started
        await connection.execute("TRUNCATE raw_copy")
        samples = []
        for index in range(20):
            chunk = rows[index * LOAD_BATCH : (index + 1) * LOAD_BATCH]
            started = time.perf_counter()
            await connection.copy_records_to_table("raw_copy", records=chunk, columns=COLUMNS)
            samples.append(time.perf_counter() - started)
        await connection.execute("DROP TABLE raw_copy")
    finally:
        await connection.close()
    return bulk, statistics.median(samples)


async def _raw_copy_around(dsn: str, agents: list[Agent], ours: Awaitable[T]) -> tuple[T, float, float]:
    """Run ``ours`` between two raw measurements (the machine is shared: its load drifts); average them."""
    bulk_before, batch_before = await _raw_copy(dsn, agents)
    result = await ours
    bulk_after, batch_after = await _raw_copy(dsn, agents)
    return result, (bulk_before + bulk_after) / 2, (batch_before + batch_after) / 2


async def _check_exactly_once(dsn: str, acked: dict[str, int]) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT agent_id, count(*) AS n, count(DISTINCT seq) AS distinct_seq, max(seq) AS top"
            " FROM smart_meter_readings WHERE agent_id = ANY($1::text[]) GROUP BY agent_id",
            list(acked),
        )
    finally:
        await connection.close()
    found = {row["agent_id"]: row for row in rows}
    for agent_id, count in acked.items():
        row = found.get(agent_id)
        stored = 0 if row is None else row["n"]
        assert stored == count, (agent_id, stored, count)
        assert row is None or (row["distinct_seq"] == count and row["top"] == count - 1), agent_id
    return sum(acked.values())


def _start_hub(dsn: str, folder: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """``luna-hub serve`` on a free loopback port with its state in ``folder``; return it and its URL."""
    log = folder / "hub.log"
    with log.open("wb") as output:
        hub = subprocess.Popen(
            [str(BIN / "luna-hub"), "serve", "--port", "0"],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "LUNA_DATABASE_URL": dsn,
                "LUNA_DATA_DIR": str(folder),
                "LUNA_LOG__LEVEL": "WARNING",
                "LUNA_INGEST__CLOCK_TOLERANCE_S": "86400",
                **(env or {}),
            },
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if "luna-hub ready at " in line:
                return hub, line.split("ready at ", 1)[1].strip()
        if hub.poll() is not None:
            break
        time.sleep(0.1)
    hub.kill()
    msg = f"hub did not start:\n{log.read_text(errors='replace')}"
    raise RuntimeError(msg)


def _stop(hub: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if the hub has not stopped within a minute (a loaded machine is slow)."""
    hub.terminate()
    try:
        hub.wait(60)
    except subprocess.TimeoutExpired:
        hub.kill()
        hub.wait(10)


async def _wait_healthy(client: httpx.AsyncClient) -> None:
    for _ in range(600):
        if (await client.get("/health")).status_code == 200:
            return
        await asyncio.sleep(0.1)
    msg = "hub not healthy"
    raise RuntimeError(msg)


async def _run() -> list[Result]:
    async with migrated_database() as dsn:
        fast = await _agents(dsn, THROUGHPUT_AGENTS, "tput")
        for agent in fast:
            agent.prepare(THROUGHPUT_BATCHES, THROUGHPUT_BATCH)
        many = await _agents(dsn, LOAD_AGENTS, "load")
        for agent in many:
            agent.prepare(LOAD_BATCHES, LOAD_BATCH)
        paced = await _agents(dsn, LOAD_AGENTS, "paced")
        for agent in paced:
            agent.prepare(int(LOAD_SECONDS / PACED_INTERVAL) + 1, PACED_BATCH)
        with tempfile.TemporaryDirectory() as folder:
            hub, url = _start_hub(dsn, Path(folder))
            try:
                limits = httpx.Limits(max_connections=LOAD_AGENTS + 10)
                async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
                    await _wait_healthy(client)
                    (seconds, stored), raw_bulk, raw_batch = await _raw_copy_around(
                        dsn, fast, _throughput(client, fast)
                    )
                    load_average = os.getloadavg()[0]
                    assert stored == THROUGHPUT_AGENTS * THROUGHPUT_BATCHES * THROUGHPUT_BATCH, stored
                    load_seconds, latencies, acked, load_stored = await _load(client, many)
                    paced_seconds, paced_latencies, paced_acked, paced_stored = await _load(
                        client, paced, PACED_INTERVAL
                    )
            finally:
                _stop(hub)
        total = await _check_exactly_once(dsn, acked)
        assert load_stored == total, (load_stored, total)
        paced_total = await _check_exactly_once(dsn, paced_acked)
        assert paced_stored == paced_total, (paced_stored, paced_total)
    readings = THROUGHPUT_AGENTS * THROUGHPUT_BATCHES * THROUGHPUT_BATCH
    p50, p95 = _percentiles(latencies)
    paced_p50, paced_p95 = _percentiles(paced_latencies)
    return [
        Result(
            "hub ingest",
            f"agent batches over HTTP, {THROUGHPUT_AGENTS} agents x {readings // THROUGHPUT_AGENTS:,}",
            readings / seconds,
            "readings/s",
            readings / raw_bulk,
            f"target >= 100,000 readings/s; msgpack+zstd batches of {THROUGHPUT_BATCH:,} into a real luna-hub"
            " over loopback (decode and checks, hash, ledger, COPY into the table) vs bare COPY of the same rows"
            f" (mean of one before and one after); shared machine, load average {load_average:.1f}",
        ),
        Result(
            "hub ingest",
            f"{LOAD_AGENTS} agents pushing for {LOAD_SECONDS:.0f} s",
            total / load_seconds,
            "readings/s",
            readings / raw_bulk,
            f"{total:,} readings in {len(latencies):,} batches of {LOAD_BATCH:,}, each stored exactly once"
            f" (checked); p50 {p50:.0f} ms; baseline: the bare COPY above",
        ),
        Result(
            "hub ingest",
            f"p95 ingest latency, {LOAD_AGENTS} agents back to back, batches of {LOAD_BATCH:,}",
            p95,
            "ms",
            raw_batch * 1000,
            "time, lower is better: request sent to ack received, hub saturated (queueing), vs a bare COPY"
            " of one such batch",
        ),
        Result(
            "hub ingest",
            f"p95 ingest latency, {LOAD_AGENTS} agents x {PACED_BATCH} readings every {PACED_INTERVAL:g} s",
            paced_p95,
            "ms",
            raw_batch * 1000,
            f"time, lower is better; {paced_total:,} readings ({paced_total / paced_seconds:,.0f}/s) in"
            f" {len(paced_latencies):,} batches, each stored exactly once (checked); p50 {paced_p50:.0f} ms;"
            " baseline: a bare COPY of 1,000 rows",
        ),
    ]


def run() -> list[Result]:
    """Run the suite (about a minute on two cores)."""
    return asyncio.run(_run())
