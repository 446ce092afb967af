"""The agent's local status API, with a real agent polling a real pymodbus server."""

from __future__ import annotations

import asyncio
from pathlib import Path

from litestar.testing import AsyncTestClient

from luna_agent import __version__
from luna_agent.api import create_app
from luna_agent.runtime import Agent
from luna_agent.settings import AgentSettings
from luna_agent.simulators.settings import SimulatorSettings
from luna_agent.sources.modbus.settings import ModbusDeviceSettings


async def test_health_names_the_agent(tmp_path: Path) -> None:
    settings = AgentSettings(agent_id="pv-roof", site_id="farm-7", data_dir=str(tmp_path))
    async with AsyncTestClient(create_app(settings)) as client:
        response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "agent_id": "pv-roof", "site_id": "farm-7", "version": __version__}


async def test_status_latest_and_metrics_while_polling_a_simulated_meter(tmp_path: Path) -> None:
    settings = AgentSettings(
        data_dir=str(tmp_path),
        simulators=(SimulatorSettings(name="sim", profile="sdm630"),),
        devices=(
            ModbusDeviceSettings(id="main", profile="sdm630", simulator="sim", interval_s=0.2),
            ModbusDeviceSettings(id="ghost", profile="sdm120", host="127.0.0.1", port=1, interval_s=0.2, timeout_s=0.2),
        ),
    )
    agent = Agent(settings)
    async with AsyncTestClient(create_app(settings, agent)) as client:
        for _ in range(100):
            if agent.devices["main"].health.polls >= 2 and agent.devices["ghost"].health.errors:
                break
            await asyncio.sleep(0.05)
        status = (await client.get("/status")).json()
        latest = (await client.get("/readings/latest")).json()
        metrics = (await client.get("/metrics")).text
    devices = {d["device_id"]: d for d in status["devices"]}
    assert devices["main"]["state"] == "up"
    assert devices["main"]["last_ok_at"] is not None
    assert devices["ghost"]["state"] == "not_ready"
    assert "cannot connect" in devices["ghost"]["last_error"]
    assert status["buffer"]["depth"] >= 58
    volts = next(r for r in latest if r["metric"] == "voltage_l1_v")
    assert volts["meter_id"] == "main"
    assert 220 < volts["value"] < 240
    assert volts["quality"] == "good"
    assert 'luna_agent_polls_total{device="main"}' in metrics
    assert 'luna_agent_poll_errors_total{device="ghost"}' in metrics
    assert 'luna_agent_readings_total{quality="good"}' in metrics
    assert "luna_agent_buffer_depth" in metrics


async def test_status_and_metrics_show_quarantined_readings(tmp_path: Path) -> None:
    from datetime import UTC, datetime  # noqa: PLC0415

    from luna_agent.sample import Sample  # noqa: PLC0415

    settings = AgentSettings(data_dir=str(tmp_path))
    agent = Agent(settings)
    at = datetime(2026, 5, 1, tzinfo=UTC)
    agent.buffer.append([Sample(meter_id="-evil", metric="power_w", ts=at, value=1.0, unit="W")])
    agent.buffer.quarantine(0, "hub answered 400: bad meter id", at)
    async with AsyncTestClient(create_app(settings, agent)) as client:
        status = (await client.get("/status")).json()
        metrics = (await client.get("/metrics")).text
    assert status["buffer"]["quarantined"] == 1
    assert status["buffer"]["depth"] == 0
    assert [(q["seq"], q["meter_id"], q["reason"], q["reported"]) for q in status["quarantine"]] == [
        (0, "-evil", "hub answered 400: bad meter id", False)
    ]
    assert "luna_agent_buffer_quarantined 1.0" in metrics
