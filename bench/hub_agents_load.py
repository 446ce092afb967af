"""A fleet of 1,000 agents against hub replicas: three behind haproxy vs one alone, on one PostgreSQL.

1,000 simulated agents (asyncio, this one process), each with its own key and sequence, post a batch
of 100 readings (10 meters x 10 s) every 10 s for 60 s, spread evenly over the interval: 10,000
readings/s offered. Scenario one: one ``luna-hub serve`` alone; scenario two: three replicas behind
Debian's haproxy (round robin, health checks on ``/health/ready``), all on loopback. A batch that
fails is sent again until acknowledged, as an agent does; afterwards every agent's readings must be
stored exactly once (stored count equals sent). Reported: readings/s stored, p50/p95 ingest latency
(request sent to ack), the replicas' against the single hub's of the same run.

Both scenarios run on a unique database on the local PostgreSQL, dropped afterwards. Everything (the
agents, haproxy, the hubs, PostgreSQL) shares this machine's cores: three replicas cannot add CPU
here, the rows show the cost or gain of the balancer and the replicas' duties under the same load.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx

from bench.databases import migrated_database
from bench.hub_ingest import (
    Agent,
    _agents,
    _check_exactly_once,
    _percentiles,
    _post,
    _start_hub,
    _stop,
)
from bench.report import Result

AGENTS: Final = 1_000
INTERVAL_S: Final = 10.0
SECONDS: Final = 60.0
BATCH: Final = 100
BATCHES: Final = int(SECONDS / INTERVAL_S)
REPLICAS: Final = 3


@dataclass
class Run:
    """What one scenario measured."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    acked: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    load_average: float = 0.0


async def _agent(client: httpx.AsyncClient, agent: Agent, offset: float, started: float, run: Run) -> None:
    """Post the agent's batches every INTERVAL_S from ``offset``, each until acknowledged."""
    run.acked[agent.agent_id] = 0
    for number, (first, last, body) in enumerate(agent.bodies):
        due = started + offset + number * INTERVAL_S
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        while True:
            try:
                elapsed, _stored = await _post(client, agent, first, last, body)
            except (httpx.HTTPError, AssertionError):
                run.retries += 1
                await asyncio.sleep(1.0)
                continue
            run.latencies.append(elapsed)
            run.acked[agent.agent_id] = last + 1
            break


async def _scenario(url: str, agents: list[Agent]) -> Run:
    run = Run()
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(
            *(_agent(client, agent, INTERVAL_S * n / len(agents), started, run) for n, agent in enumerate(agents))
        )
        run.seconds = time.perf_counter() - started
    run.load_average = os.getloadavg()[0]
    return run


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _haproxy(urls: list[str], folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """haproxy on a free loopback port, round robin over ``urls``, checking ``/health/ready``."""
    port = _free_port()
    servers = "\n".join(
        f"    server hub{n} {url.removeprefix('http://')} check inter 1s fall 2 rise 2" for n, url in enumerate(urls)
    )
    config = folder / "haproxy.cfg"
    config.write_text(
        f"global\n    maxconn 4000\ndefaults\n    mode http\n    timeout connect 5s\n    timeout client 60s\n"
        f"    timeout server 60s\nfrontend hubs\n    bind 127.0.0.1:{port}\n    default_backend replicas\n"
        f"backend replicas\n    balance roundrobin\n    option httpchk GET /health/ready\n{servers}\n",
        encoding="utf-8",
    )
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    with (folder / "haproxy.log").open("wb") as log:
        process = subprocess.Popen([haproxy, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}"


async def _ready(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        for _ in range(600):
            try:
                if (await client.get("/health/ready")).status_code == httpx.codes.OK:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    msg = f"{url} not ready"
    raise RuntimeError(msg)


async def _fleet(dsn: str, prefix: str) -> list[Agent]:
    agents = await _agents(dsn, AGENTS, prefix)
    for agent in agents:
        agent.prepare(BATCHES, BATCH)
    return agents


async def _measure(dsn: str, replicas: int) -> Run:
    """Start ``replicas`` hubs (behind haproxy when more than one), run the fleet, check exactly once."""
    agents = await _fleet(dsn, f"fleet{replicas}")
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        urls = []
        for number in range(replicas):
            (folder / f"hub{number}").mkdir()
            hub, url = _start_hub(dsn, folder / f"hub{number}", {"LUNA_DATABASE_POOL_SIZE": "10"})
            stack.callback(_stop, hub)
            urls.append(url)
        for url in urls:
            await _ready(url)
        entry = urls[0]
        if replicas > 1:
            balancer, entry = _haproxy(urls, folder)
            stack.callback(_stop, balancer)
            await _ready(entry)
        run = await _scenario(entry, agents)
    stored = await _check_exactly_once(dsn, run.acked)
    assert stored == AGENTS * BATCHES * BATCH, stored
    return run


async def _run() -> list[Result]:
    async with migrated_database() as dsn:
        alone = await _measure(dsn, 1)
        spread = await _measure(dsn, REPLICAS)
    sent = AGENTS * BATCHES * BATCH
    p50, p95 = _percentiles(spread.latencies)
    alone_p50, alone_p95 = _percentiles(alone.latencies)
    load = (
        f"{AGENTS:,} agents, a batch of {BATCH} every {INTERVAL_S:g} s for {SECONDS:g} s"
        f" ({AGENTS * BATCH / INTERVAL_S:,.0f} readings/s offered); agents, haproxy, hubs and PostgreSQL share"
        f" {os.cpu_count()} cores with other work (load average {alone.load_average:.1f} alone,"
        f" {spread.load_average:.1f} replicated)"
    )
    loss = (
        f"sent {sent:,}, stored {sent:,} exactly once in both (checked); resent after errors:"
        f" {spread.retries} replicated, {alone.retries} alone; the fleet's 60 s took {spread.seconds:.0f} s"
        f" replicated, {alone.seconds:.0f} s alone (below the offered rate: the machine is saturated)"
    )
    return [
        Result(
            "hub replicas",
            f"{AGENTS:,} agents, {REPLICAS} replicas behind haproxy vs 1 alone",
            sent / spread.seconds,
            "readings/s",
            sent / alone.seconds,
            f"{load}; {loss}",
        ),
        Result(
            "hub replicas",
            f"p50 ingest latency, {AGENTS:,} agents, {REPLICAS} replicas vs 1",
            p50,
            "ms",
            alone_p50,
            "time, lower is better: post called to ack received (includes waiting for one of the client's 200"
            f" connections when the hubs fall behind), through haproxy vs straight to one hub (p50 alone"
            f" {alone_p50:.1f} ms)",
        ),
        Result(
            "hub replicas",
            f"p95 ingest latency, {AGENTS:,} agents, {REPLICAS} replicas vs 1",
            p95,
            "ms",
            alone_p95,
            f"time, lower is better (p95 alone {alone_p95:.1f} ms); {len(spread.latencies):,} batches each",
        ),
    ]


def run() -> list[Result]:
    """Run the suite (about three minutes: two 60 s fleets, 2,000 agents provisioned)."""
    return asyncio.run(_run())
