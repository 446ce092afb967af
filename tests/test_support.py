"""The shared fixtures work against the real services, and the leak guards catch leaks."""

from __future__ import annotations

import asyncio
import threading
import uuid
from pathlib import Path

import asyncpg
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pymodbus.client import AsyncModbusTcpClient

from support.modbus import RegisterMap, encode_registers
from support.plugin import StartModbusServer
from support.services import MqttBroker


async def test_pg_dsn_is_a_fresh_database_of_this_session(pg_dsn: str) -> None:
    connection = await asyncpg.connect(pg_dsn)
    try:
        name = await connection.fetchval("SELECT current_database()")
        tables = await connection.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()
    assert name.startswith("luna_test_")
    assert tables == 0


def test_mqtt_broker_delivers_a_retained_message(mqtt_broker: MqttBroker, mqtt_topic: str) -> None:
    received = threading.Event()
    payloads: list[bytes] = []

    def on_message(_client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        payloads.append(bytes(message.payload))
        received.set()

    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    publisher.connect(mqtt_broker.host, mqtt_broker.port)
    publisher.loop_start()
    topic = f"{mqtt_topic}/tele/plug/SENSOR"
    publisher.publish(topic, b'{"ENERGY":{"Power":42}}', qos=1, retain=True).wait_for_publish(5)

    subscriber = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:8]}")
    subscriber.on_message = on_message
    subscriber.connect(mqtt_broker.host, mqtt_broker.port)
    subscriber.subscribe(f"{mqtt_topic}/tele/+/SENSOR", qos=1)
    subscriber.loop_start()
    try:
        assert received.wait(5), "no message from the broker"
        first = payloads[0]
    finally:
        publisher.publish(topic, b"", retain=True).wait_for_publish(5)  # clear the retained message
        for client in (subscriber, publisher):
            client.disconnect()
            client.loop_stop()
    assert first == b'{"ENERGY":{"Power":42}}'


async def test_modbus_server_serves_registers_and_rejects_unmapped_ones(modbus_server: StartModbusServer) -> None:
    voltage = encode_registers("float32", 230.1)
    energy = encode_registers("uint32", 123456, word_order="little")
    server = await modbus_server(
        RegisterMap(input={0: voltage[0], 1: voltage[1]}, holding={100: energy[0], 101: energy[1]})
    )
    client = AsyncModbusTcpClient(server.host, port=server.port, timeout=2, retries=0)
    await client.connect()
    try:
        assert (await client.read_input_registers(0, count=2, device_id=1)).registers == voltage
        assert (await client.read_holding_registers(100, count=2, device_id=1)).registers == energy
        assert (await client.read_input_registers(0, count=3, device_id=1)).isError()
        await server.set_registers("input", 0, [1, 2])
        assert (await client.read_input_registers(0, count=2, device_id=1)).registers == [1, 2]
    finally:
        client.close()


def test_encode_registers_word_and_byte_orders() -> None:
    # 0x11223344 as ABCD, CDAB, BADC, DCBA
    assert encode_registers("uint32", 0x11223344) == [0x1122, 0x3344]
    assert encode_registers("uint32", 0x11223344, word_order="little") == [0x3344, 0x1122]
    assert encode_registers("uint32", 0x11223344, byte_swap=True) == [0x2211, 0x4433]
    assert encode_registers("uint32", 0x11223344, word_order="little", byte_swap=True) == [0x4433, 0x2211]
    assert encode_registers("float32", 1.0) == [0x3F80, 0x0000]
    assert encode_registers("int16", -1) == [0xFFFF]


LEAKY_TESTS = """
import asyncio, threading, time

async def test_leaks_a_task():
    asyncio.get_running_loop().create_task(asyncio.sleep(60), name="forgotten")

def test_leaks_a_thread():
    threading.Thread(target=time.sleep, args=(5,), name="forgotten-thread", daemon=True).start()

async def test_cleans_up():
    task = asyncio.create_task(asyncio.sleep(60))
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
"""


def test_leak_guards_fail_tests_that_leak(pytester: pytest.Pytester) -> None:
    tests_dir = Path(__file__).parent
    pytester.makeini(
        f"[pytest]\npythonpath = {tests_dir}\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(test_leaky=LEAKY_TESTS)
    result = pytester.runpytest_subprocess("-p", "support.leaks", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=2)
    output = result.stdout.str()
    assert "test leaked asyncio tasks: ['forgotten']" in output
    assert "test leaked threads: ['forgotten-thread']" in output


async def test_guard_tolerates_tasks_that_finish_in_time() -> None:
    done = asyncio.Event()
    asyncio.get_running_loop().call_soon(done.set)
    await done.wait()


@pytest.mark.parametrize(("ci", "outcome"), [("true", "failed"), ("", "skipped")])
def test_timescale_engine_without_node_fails_in_ci_and_skips_elsewhere(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str, outcome: str
) -> None:
    pytester.makepyfile("from support.timescale import timescale_dsn\ndef test_engine(timescale_dsn):\n    pass\n")
    monkeypatch.setenv("CI", ci)
    monkeypatch.setenv("PATH", str(pytester.path))  # neither node nor npm on it
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:asyncio")
    result.assert_outcomes(**{"errors" if outcome == "failed" else outcome: 1})
