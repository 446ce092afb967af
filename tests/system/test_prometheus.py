"""A real Prometheus (Debian's package) scrapes a real ``luna-hub serve`` with the scrape token.

The hub runs as a process on the system tests' PostgreSQL; Prometheus runs with the repository's
example configuration (``deploy/prometheus/prometheus.yml``: the target, scheme and file paths
rewritten for loopback) and the repository's alert rules. An agent batch is posted to the hub and
the test reads ``up`` and ``luna_ingest_readings_total`` back through Prometheus's HTTP API, and
the hub's log lines from its log files: the line about the batch names the agent and the request.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from luna_shared.wire import utc_ms
from support.processes import ManagedProcess, free_port
from support.prometheus import prometheus_binary
from support.sync import Agent, batch, post
from support.system import HubRun, SiteAgent

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _prometheus_config(folder: Path, hub: HubRun, token_file: Path) -> Path:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    job = config["scrape_configs"][0]
    job["scheme"] = "http"
    del job["tls_config"]
    job["authorization"]["credentials_file"] = str(token_file)
    job["static_configs"] = [{"targets": [f"127.0.0.1:{hub.port}"]}]
    shutil.copy(ROOT / "deploy" / "prometheus" / "luna-rules.yml", folder / "luna-rules.yml")
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


async def _query(api: str, expression: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{api}/api/v1/query", params={"query": expression})
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


async def _wait_ready(api: str, prometheus: ManagedProcess, within: float = 60) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline and prometheus.process.poll() is None:
            try:
                if (await client.get(f"{api}/-/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    msg = f"Prometheus not ready:\n{prometheus.output()}"
    raise AssertionError(msg)


async def _wait_for_value(api: str, expression: str, expected: float, within: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    result: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        result = await _query(api, expression)
        if result and float(result[0]["value"][1]) == expected:
            return result
        await asyncio.sleep(0.5)
    msg = f"{expression} never became {expected}: last {result}"
    raise AssertionError(msg)


async def test_prometheus_scrapes_the_hub_and_sees_an_agent_batch(system_dsn: str, tmp_path: Path) -> None:
    token_file = tmp_path / "metrics.token"
    token_file.write_text(secrets.token_hex(32) + "\n")
    env = {"LUNA_METRICS__BEARER_TOKEN_FILE": str(token_file), "LUNA_LOG__LEVEL": "DEBUG"}  # DEBUG: access lines
    hub = HubRun(system_dsn, tmp_path, env=env)
    site = SiteAgent.new(tmp_path)
    hub.create_agent(site.agent_id, site.site_id, site.key_file)
    hub.start()
    api = f"http://127.0.0.1:{free_port()}"
    storage = tmp_path / "prometheus-data"
    command = [
        prometheus_binary(),
        f"--config.file={_prometheus_config(tmp_path, hub, token_file)}",
        f"--storage.tsdb.path={storage}",
        f"--web.listen-address={api.removeprefix('http://')}",
    ]
    try:
        with ManagedProcess(command, log=tmp_path / "prometheus.log") as prometheus:
            await _wait_ready(api, prometheus)
            await _wait_for_value(api, 'up{job="luna-hub"}', 1)
            before = await _query(api, "luna_ingest_readings_total")
            assert before == [] or float(before[0]["value"][1]) == 0
            agent = Agent(site.agent_id, site.site_id, site.key_file.read_text().strip(), site.meter)
            sent = batch(agent, 0, 24, base=utc_ms(datetime.now(UTC) - timedelta(minutes=1)))
            async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
                assert (await post(client, sent, agent.key, headers={"X-Request-ID": "prom-test-1"})).status_code == 200
            found = await _wait_for_value(api, 'luna_ingest_readings_total{job="luna-hub"}', 25)
            assert found[0]["metric"]["instance"] == f"127.0.0.1:{hub.port}"
            await _wait_for_value(api, 'luna_ingest_batches_total{job="luna-hub", outcome="stored"}', 1)
            await _wait_for_value(api, f'count(luna_agents{{instance="127.0.0.1:{hub.port}"}})', 3)
            async with httpx.AsyncClient(timeout=10) as client:
                rules = (await client.get(f"{api}/api/v1/rules")).json()["data"]["groups"]
            assert {rule["name"] for group in rules for rule in group["rules"]} >= {"LunaHubDown", "LunaIngestStalled"}
            assert all(rule["health"] == "ok" for group in rules for rule in group["rules"]), rules
            assert prometheus.process.poll() is None
            prometheus.interrupt()
    finally:
        hub.stop()
    lines = [
        json.loads(line)
        for path in sorted((tmp_path / "logs").rglob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    assert lines, "the hub wrote no log file"
    assert all({"request_id", "agent_id", "level", "timestamp"} <= set(line) for line in lines)
    about_the_batch = [line for line in lines if line["request_id"] == "prom-test-1"]
    assert about_the_batch, "no line about the agent's request"
    assert {line["agent_id"] for line in about_the_batch} == {site.agent_id}
    assert any(line["agent_id"] is None and line["request_id"] is None for line in lines)  # start-up lines
