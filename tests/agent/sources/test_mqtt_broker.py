"""The MQTT source against the real Mosquitto: QoS 1 persistent session across a restart, malformed payloads."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import paho.mqtt.client as mqtt
from litestar.testing import AsyncTestClient
from paho.mqtt.enums import CallbackAPIVersion

from luna_agent.api import create_app
from luna_agent.runtime import Agent
from luna_agent.sample import Sample
from luna_agent.settings import AgentSettings
from luna_agent.sources.mqtt import MqttSource
from luna_agent.sources.mqtt.settings import MqttMapping, MqttSettings
from support.services import MqttBroker


def publish(broker: MqttBroker, messages: Sequence[tuple[str, bytes]]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1).wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


async def wait_for(condition: Callable[[], bool], limit_s: float = 10) -> None:
    """Poll a condition set from paho's thread (no event to await across threads)."""
    for _ in range(int(limit_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    assert condition(), "condition not met in time"


def settings_for(broker: MqttBroker, topic: str, client_id: str) -> MqttSettings:
    return MqttSettings(
        host=broker.host,
        port=broker.port,
        client_id=client_id,
        subscriptions=(
            MqttMapping(topic=f"{topic}/+/power", format="plain", metric="power_w", meter="{topic[2]}"),
            MqttMapping(topic=f"{topic}/tele/+/SENSOR", format="tasmota", meter="{topic[3]}"),
        ),
    )


async def test_messages_published_while_the_agent_is_down_arrive_after_restart(
    mqtt_broker: MqttBroker, mqtt_topic: str, tmp_path: Path
) -> None:
    client_id = f"luna-test-{uuid.uuid4().hex[:10]}"
    agent = Agent(AgentSettings(data_dir=str(tmp_path)))
    first = MqttSource(settings_for(mqtt_broker, mqtt_topic, client_id), agent.ingest)
    first.start()
    await wait_for(first.stats.subscribed.is_set)
    publish(mqtt_broker, [(f"{mqtt_topic}/plug1/power", b"100")])
    await wait_for(lambda: first.stats.stored == 1)
    first.stop()

    offline = [(f"{mqtt_topic}/plug1/power", f"{100 + i}".encode()) for i in range(1, 4)]
    publish(mqtt_broker, offline)

    second = MqttSource(settings_for(mqtt_broker, mqtt_topic, client_id), agent.ingest)
    second.start()
    await wait_for(lambda: second.stats.stored == 3)
    second.stop()
    stored = agent.buffer.read(0, 100)
    await agent.stop()
    assert [(r.meter_id, r.metric, r.value) for r in stored] == [("plug1", "power_w", 100.0 + i) for i in range(4)]


async def test_malformed_payloads_are_counted_and_nothing_wrong_is_stored(
    mqtt_broker: MqttBroker, mqtt_topic: str, tmp_path: Path
) -> None:
    agent = Agent(AgentSettings(data_dir=str(tmp_path)))
    source = MqttSource(settings_for(mqtt_broker, mqtt_topic, f"luna-test-{uuid.uuid4().hex[:10]}"), agent.ingest)
    source.start()
    await wait_for(source.stats.subscribed.is_set)
    sensor = f"{mqtt_topic}/tele/pow1/SENSOR"
    publish(  # blocking is fine here: the source hands messages to the loop, which runs again below
        mqtt_broker,
        [
            (sensor, b'{"Time":"2026-05-01T00:00:00","ENERGY":{"Power":12'),  # truncated
            (sensor, b"\xff\xfe not utf-8"),
            (sensor, b'{"Time":"2026-05-01T00:00:00","DS18x20":{}}'),  # valid JSON, no ENERGY
            (f"{mqtt_topic}/plug2/power", b"off"),  # understood topic, wrong type: a bad reading
            (sensor, b'{"ENERGY":{"Power":42.5,"Voltage":231}}'),
        ],
    )
    await wait_for(lambda: source.stats.received == 5)
    source.stop()
    stored: list[Sample] = list(agent.latest.values())
    await agent.stop()
    assert source.stats.malformed == 3
    by_metric = {(s.meter_id, s.metric): s for s in stored}
    assert by_metric["pow1", "power_w"].value == 42.5
    assert by_metric["plug2", "power_w"].value is None
    assert by_metric["plug2", "power_w"].reasons == ("wrong_type",)
    assert len(stored) == 3


async def test_the_running_agent_reports_mqtt_in_status_and_latest(
    mqtt_broker: MqttBroker, mqtt_topic: str, tmp_path: Path
) -> None:
    mqtt_settings = settings_for(mqtt_broker, mqtt_topic, f"luna-test-{uuid.uuid4().hex[:10]}")
    settings = AgentSettings(data_dir=str(tmp_path), mqtt=mqtt_settings)
    agent = Agent(settings)
    async with AsyncTestClient(create_app(settings, agent)) as client:
        await wait_for(lambda: agent.mqtt is not None and agent.mqtt.stats.subscribed.is_set())
        publish(
            mqtt_broker,
            [
                (f"{mqtt_topic}/tele/pow7/SENSOR", b'{"ENERGY":{"Power":12,"Total":1.5}}'),
                (f"{mqtt_topic}/tele/pow7/SENSOR", b"{"),
            ],
        )
        await wait_for(lambda: agent.mqtt.stats.received == 2)
        status = (await client.get("/status")).json()
        latest = (await client.get("/readings/latest")).json()
        metrics = (await client.get("/metrics")).text
    assert status["mqtt"] == {
        "connected": True,
        "received": 2,
        "stored": 2,
        "malformed": 1,
        "unmatched": 0,
        "malformed_by_reason": {"not_json": 1},
    }
    assert {(r["meter_id"], r["metric"], r["value"]) for r in latest} == {
        ("pow7", "energy_import_kwh", 1.5),
        ("pow7", "power_w", 12.0),
    }
    assert 'luna_agent_mqtt_messages{outcome="malformed"} 1.0' in metrics
    assert 'luna_agent_mqtt_malformed{reason="not_json"} 1.0' in metrics


async def test_poison_messages_beyond_the_in_flight_window_are_acknowledged_and_data_keeps_flowing(
    mqtt_broker: MqttBroker, mqtt_topic: str, tmp_path: Path
) -> None:
    """Issue 16: ``"Time": 1e20``, a 400-digit number or ``tele/-evil/SENSOR`` crashed the handler unacknowledged;
    after 20 (Mosquitto's in-flight limit) no MQTT data arrived while ``/status`` said connected, 0 malformed."""
    agent = Agent(AgentSettings(data_dir=str(tmp_path)))
    source = MqttSource(settings_for(mqtt_broker, mqtt_topic, f"luna-test-{uuid.uuid4().hex[:10]}"), agent.ingest)
    source.start()
    await wait_for(source.stats.subscribed.is_set)
    sensor = f"{mqtt_topic}/tele/pow1/SENSOR"
    poison = [
        (sensor, b'{"Time":1e20,"ENERGY":{"Power":1}}'),
        (sensor, b'{"Time":1' + b"0" * 400 + b',"ENERGY":{"Power":1}}'),
        (sensor, b'{"ENERGY":{"Power":' + b"9" * 5000 + b"}}"),
        (f"{mqtt_topic}/tele/-evil/SENSOR", b'{"ENERGY":{"Power":1}}'),
    ] * 10
    publish(mqtt_broker, [*poison, (sensor, b'{"ENERGY":{"Power":42.5}}')])
    await wait_for(lambda: source.stats.received == len(poison) + 1)
    source.stop()
    stored = agent.buffer.read(0, 1000)
    await agent.stop()
    assert dict(source.stats.malformed_by_reason) == {"not_json": 10, "invalid_meter_id": 10}
    assert source.stats.malformed == 20
    assert "-evil" not in {r.meter_id for r in stored}
    # the two time-poison kinds are readings at the receive time, flagged; the good one arrived after them all
    assert [r.value for r in stored] == [1.0, 1.0] * 10 + [42.5]
    assert all(r.reasons == ("timestamp_corrected",) for r in stored[:-1])
