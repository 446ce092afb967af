"""The simulated Tasmota plug of the demo, publishing to the real Mosquitto, read by the agent's own MQTT source."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from luna_agent.runtime import Agent
from luna_agent.settings import AgentSettings
from luna_agent.simulators.settings import PlugSimulatorSettings
from luna_agent.simulators.tasmota_plug import tasmota_energy_payload
from luna_agent.sources.mqtt.settings import MqttMapping, MqttSettings
from support.services import MqttBroker

from .sources.test_mqtt_broker import wait_for

FIXTURES = Path(__file__).parent / "fixtures" / "mqtt"


def test_the_payload_has_the_shape_of_real_tasmota_energy_telemetry() -> None:
    first_line = (FIXTURES / "tasmota_energy.jsonl").read_text(encoding="utf-8").splitlines()[0]
    real = json.loads(json.loads(first_line)["payload"])
    simulated = tasmota_energy_payload(30.0, 52.3, 0.4, datetime(2026, 11, 30, 12, 0, 1, 500_000, tzinfo=UTC))
    assert simulated.keys() == real.keys()
    assert simulated["ENERGY"].keys() == real["ENERGY"].keys()
    assert simulated["Time"] == "2026-11-30T12:00:01"
    energy = simulated["ENERGY"]
    assert energy["ApparentPower"] >= energy["Power"] > 0
    assert energy["Current"] == pytest.approx(energy["ApparentPower"] / energy["Voltage"], rel=0.02)


async def test_the_agent_stores_what_its_simulated_plug_publishes(mqtt_broker: MqttBroker, tmp_path: Path) -> None:
    name = f"plug-{uuid.uuid4().hex[:8]}"
    settings = AgentSettings(
        data_dir=str(tmp_path),
        mqtt=MqttSettings(
            host=mqtt_broker.host,
            port=mqtt_broker.port,
            client_id=f"luna-test-{name}",
            subscriptions=(MqttMapping(topic=f"tele/{name}/SENSOR", format="tasmota"),),
        ),
        plug_simulators=(PlugSimulatorSettings(name=name, interval_s=0.2),),
    )
    agent = Agent(settings)
    await agent.start()
    try:
        await wait_for(lambda: agent.buffer.stats().rows >= 27, limit_s=20)  # three messages of nine metrics
        readings = agent.buffer.read(0, 1000)
    finally:
        await agent.stop()
    by_metric: dict[str, list[float | None]] = {}
    for reading in readings:
        assert reading.meter_id == name
        by_metric.setdefault(reading.metric, []).append(reading.value)
    assert {"power_w", "voltage_l1_v", "current_l1_a", "power_factor", "energy_import_kwh"} <= by_metric.keys()
    totals = [value for value in by_metric["energy_import_kwh"] if value is not None]
    assert totals == sorted(totals), "the plug's counter never runs backwards"
    assert all(225 <= (v or 0) <= 235 for v in by_metric["voltage_l1_v"])


def test_plug_simulators_need_a_broker() -> None:
    with pytest.raises(ValueError, match=r"add an \[mqtt\] table"):
        AgentSettings(plug_simulators=(PlugSimulatorSettings(name="fridge"),))
