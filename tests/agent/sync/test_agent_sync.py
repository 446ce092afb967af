"""The running agent with ``[sync]``: a real agent polling a real simulated meter, uploading to the in-memory hub.

The hub is :class:`~support.fake_hub.FakeHub` behind ``httpx.MockTransport`` (the transport seam);
``tests/system`` runs the same path against a real hub process.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from litestar.testing import AsyncTestClient

from luna_agent.api import create_app
from luna_agent.runtime import Agent
from luna_agent.settings import AgentSettings
from luna_agent.simulators.settings import SimulatorSettings
from luna_agent.sources.modbus.settings import ModbusDeviceSettings
from luna_agent.sync import SyncSettings
from support.fake_hub import FakeHub


def polling_settings(tmp_path: Path, key_file: Path) -> AgentSettings:
    return AgentSettings(
        data_dir=str(tmp_path),
        simulators=(SimulatorSettings(name="sim", profile="sdm630"),),
        devices=(ModbusDeviceSettings(id="main", profile="sdm630", simulator="sim", interval_s=0.2),),
        sync=SyncSettings(hub_url="http://hub.test", key_file=str(key_file), interval_s=0.05, status_interval_s=0.2),
    )


async def test_agent_uploads_what_it_polls_and_reports_it(tmp_path: Path) -> None:
    key_file = tmp_path / "agent.key"
    key_file.write_text("lak_test-key\n", encoding="utf-8")
    hub = FakeHub()
    agent = Agent(polling_settings(tmp_path, key_file), hub_transport=hub.transport())
    async with AsyncTestClient(create_app(agent.settings, agent)) as client:
        for _ in range(400):
            if len(hub.rows) >= 116 and hub.statuses:
                break
            await asyncio.sleep(0.05)
        status = (await client.get("/status")).json()
        metrics = (await client.get("/metrics")).text
    assert len(hub.rows) >= 116  # two polls of 58 values
    sync = status["sync"]
    assert sync["state"] in {"idle", "sending"}
    assert sync["hub_url"] == "http://hub.test"
    assert sync["last_ack_at"] is not None
    assert sync["last_acked_seq"] >= 115
    assert sync["readings_sent"] >= 116
    assert sync["last_error"] is None
    assert sync["throughput"] > 0
    assert status["last_sync_at"] == sync["last_ack_at"]
    assert hub.statuses[0].devices[0].device_id == "main"
    assert "luna_agent_sync_backlog " in metrics
    assert "luna_agent_sync_oldest_unsynced_age_seconds " in metrics
    assert 'luna_agent_sync_batches_total{result="acked"}' in metrics
    sent = next(line for line in metrics.splitlines() if line.startswith("luna_agent_sync_readings_sent_total "))
    assert float(sent.split()[1]) >= 116
    last_ack = next(line for line in metrics.splitlines() if line.startswith("luna_agent_sync_last_ack_timestamp"))
    assert float(last_ack.split()[1]) > 1.7e9
    # after a clean stop every acked reading is in the hub exactly once
    hub_seqs = sorted(hub.by_seq())
    assert hub_seqs == list(range(len(hub_seqs)))


async def test_without_a_key_the_agent_polls_and_sync_waits(tmp_path: Path) -> None:
    hub = FakeHub()
    agent = Agent(polling_settings(tmp_path, tmp_path / "absent.key"), hub_transport=hub.transport())
    async with AsyncTestClient(create_app(agent.settings, agent)) as client:
        for _ in range(200):
            if agent.devices["main"].health.polls >= 1 and agent.buffer.stats().depth:
                break
            await asyncio.sleep(0.05)
        status = (await client.get("/status")).json()
        metrics = (await client.get("/metrics")).text
    assert status["sync"]["state"] == "waiting_for_key"
    assert status["sync"]["backlog"] >= 58
    assert status["sync"]["oldest_unsynced_age_s"] >= 0
    assert not hub.requests
    backlog = next(line for line in metrics.splitlines() if line.startswith("luna_agent_sync_backlog "))
    assert float(backlog.split()[1]) >= 58


async def test_without_sync_settings_the_state_is_disabled(tmp_path: Path) -> None:
    settings = AgentSettings(data_dir=str(tmp_path))
    async with AsyncTestClient(create_app(settings)) as client:
        status = (await client.get("/status")).json()
    assert status["sync"]["state"] == "disabled"
    assert status["sync"]["backlog"] == 0
