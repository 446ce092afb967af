"""Device coordinators against real pymodbus servers: timeouts, exception codes, counter resets, down/up, RTU.

The RTU test runs over a pseudo-terminal pair made by socat: real serial framing (CRC, silence) on both ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pymodbus import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice
from structlog.testing import capture_logs

from luna_agent.runtime import Agent, aligned_start
from luna_agent.settings import AgentSettings
from luna_agent.sources.modbus.coordinator import ModbusDevice
from luna_agent.sources.modbus.points import PointSpec
from luna_agent.sources.modbus.settings import ModbusDeviceSettings
from luna_shared.wire import DeviceState
from support.modbus import RegisterMap, encode_registers
from support.plugin import StartModbusServer

VOLTS = PointSpec(metric="voltage_l1_v", register_type="input", address=0)
POWER = PointSpec(metric="power_w", register_type="input", address=12)
ENERGY = PointSpec(metric="energy_import_kwh", register_type="input", address=72)


def meter_map(volts: float = 230.2, power: float = 1500.0, energy: float = 1234.5) -> RegisterMap:
    registers = {}
    for point, value in ((VOLTS, volts), (POWER, power), (ENERGY, energy)):
        registers.update({point.pdu + i: w for i, w in enumerate(encode_registers("float32", value))})
    return RegisterMap(input=registers)


def device(port: int, **overrides: object) -> ModbusDeviceSettings:
    fields: dict[str, object] = {
        "id": "m1",
        "host": "127.0.0.1",
        "port": port,
        "points": (VOLTS, POWER, ENERGY),
        "timeout_s": 0.3,
        "retries": 0,
        **overrides,
    }
    return ModbusDeviceSettings(**fields)  # type: ignore[arg-type]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """Accepts connections and reads requests but never answers: every read times out."""

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while await reader.read(256):
                pass
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_polls_decode_and_the_first_success_makes_the_device_up(modbus_server: StartModbusServer) -> None:
    server = await modbus_server(meter_map())
    meter = ModbusDevice(device(server.port))
    with capture_logs() as logs:
        samples = await meter.poll()
    meter.close()
    assert {s.metric: s.value for s in samples} == pytest.approx(
        {"voltage_l1_v": 230.2, "power_w": 1500.0, "energy_import_kwh": 1234.5}
    )
    assert meter.health.state is DeviceState.UP
    assert [e["event"] for e in logs] == ["device ready"]


async def test_a_device_that_times_out_is_not_ready_and_backs_off() -> None:
    clock = FakeClock()
    async with silent_server() as port:
        meter = ModbusDevice(device(port), monotonic=clock, rng=lambda: 0.5)
        with capture_logs() as logs:
            assert await meter.poll() == []
            assert await meter.poll() == []  # inside the back-off window: not even tried
            clock.now += 1.01
            assert await meter.poll() == []
        meter.close()
    health = meter.health
    assert health.state is DeviceState.NOT_READY
    assert (health.errors, health.skipped_backoff, health.consecutive_failures) == (2, 1, 2)
    assert health.last_error is not None
    assert [e["event"] for e in logs] == ["device not ready"]  # logged once, not per failure


async def test_down_once_and_recovered_once(modbus_server: StartModbusServer) -> None:
    clock = FakeClock()
    server = await modbus_server(meter_map())
    meter = ModbusDevice(device(server.port), monotonic=clock, rng=lambda: 0.0)
    await meter.poll()
    await server.stop()
    with capture_logs() as logs:
        for _ in range(3):
            clock.now += 1000
            assert await meter.poll() == []
        assert meter.health.state is DeviceState.DOWN
        back = await modbus_server(meter_map(), device_id=1)
        meter.transport = ModbusDevice(device(back.port)).transport  # same device, moved to the new port
        clock.now += 1000
        assert len(await meter.poll()) == 3
    meter.close()
    assert [e["event"] for e in logs] == ["device down", "device recovered"]
    assert meter.health.state.value == "up"


async def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    clock = FakeClock()
    async with silent_server() as port:
        meter = ModbusDevice(device(port, backoff_max_s=4), monotonic=clock, rng=lambda: 1.0)
        delays = []
        for _ in range(5):
            await meter.poll()
            delays.append(meter._retry_at - clock.now)
            clock.now = meter._retry_at
        meter.close()
    assert delays == pytest.approx([1.5, 3.0, 6.0, 6.0, 6.0])  # min(4, 2**n) x (0.5 + jitter 1.0)


async def test_a_block_rejected_with_an_exception_code_loses_only_its_points(modbus_server: StartModbusServer) -> None:
    missing = PointSpec(metric="energy_export_kwh", register_type="input", address=74)  # not served: exception 02
    server = await modbus_server(meter_map())
    meter = ModbusDevice(device(server.port, points=(VOLTS, POWER, ENERGY, missing), max_gap=80))
    first = await meter.poll()
    assert meter._reader is not None
    rejections = meter._reader.rejections
    second = await meter.poll()
    meter.close()
    assert {s.metric for s in first} == {s.metric for s in second} == {"voltage_l1_v", "power_w", "energy_import_kwh"}
    assert meter._reader.rejections == rejections  # the plan learned: no more rejected requests
    assert [(b.start, b.count) for b in meter._reader.unsupported] == [(74, 2)]
    assert meter.health.state is DeviceState.UP


async def test_counter_reset_through_the_agent_is_an_event(modbus_server: StartModbusServer, tmp_path: Path) -> None:
    server = await modbus_server(meter_map(energy=1234.5))
    settings = AgentSettings(data_dir=str(tmp_path), devices=(device(server.port),))
    agent = Agent(settings)
    agent.devices["m1"] = ModbusDevice(settings.devices[0])
    assert await agent.poll_device("m1") == 3
    await server.set_registers("input", ENERGY.pdu, encode_registers("float32", 0.25))
    await agent.poll_device("m1")
    agent.devices["m1"].close()
    energy = [r for r in agent.buffer.read(0, 100) if r.metric == "energy_import_kwh"]
    assert [(r.value, r.reasons) for r in energy] == [(1234.5, ()), (0.25, ("counter_reset",))]
    (event,) = agent.buffer.events()
    assert (event.kind, event.detail) == ("counter_reset", {"previous": 1234.5, "value": 0.25})
    await agent.stop()


async def test_scheduler_counts_runs_skipped_while_a_poll_is_still_running(tmp_path: Path) -> None:
    async with silent_server() as port:
        settings = AgentSettings(data_dir=str(tmp_path), devices=(device(port, interval_s=0.1, timeout_s=0.6),))
        agent = Agent(settings)
        await agent.start()
        try:
            for _ in range(200):
                if agent.devices["m1"].health.missed_runs and agent.devices["m1"].health.errors:
                    break
                await asyncio.sleep(0.02)
        finally:
            await agent.stop()
    assert agent.devices["m1"].health.missed_runs >= 1
    assert agent.devices["m1"].health.state is DeviceState.NOT_READY


def test_intervals_are_aligned_to_the_wall_clock() -> None:
    assert aligned_start(10, now=1_700_000_007.5).timestamp() == 1_700_000_000
    assert aligned_start(0.5, now=1_700_000_007.7).timestamp() == 1_700_000_007.5


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[tuple[str, str]]:
    socat = shutil.which("socat")
    if socat is None:
        pytest.skip("socat is not installed")
    server_end, client_end = tmp_path / "meter-tty", tmp_path / "agent-tty"
    process = subprocess.Popen(
        [socat, f"pty,raw,echo=0,link={server_end}", f"pty,raw,echo=0,link={client_end}"],
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not (server_end.exists() and client_end.exists()) and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield str(server_end), str(client_end)
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_rtu_over_a_serial_line(pty_pair: tuple[str, str]) -> None:
    server_end, client_end = pty_pair
    registers = meter_map().input
    runs = [
        SimData(address, values=[value], datatype=SimType.REGISTERS) for address, value in sorted(registers.items())
    ]
    placeholder = [SimData(65535, values=[False], datatype=SimType.BITS)]
    sim = SimDevice(5, simdata=(placeholder, placeholder, [SimData(65535, datatype=SimType.INVALID)], runs))
    server = ModbusSerialServer(sim, port=server_end, baudrate=19200)
    await server.serve_forever(background=True)
    meter = ModbusDevice(
        ModbusDeviceSettings(
            id="rtu", serial_port=client_end, baudrate=19200, unit=5, points=(VOLTS, POWER), timeout_s=1
        )
    )
    try:
        samples = await meter.poll()
    finally:
        meter.close()
        await server.shutdown()  # type: ignore[no-untyped-call]
    assert {s.metric: s.value for s in samples} == pytest.approx({"voltage_l1_v": 230.2, "power_w": 1500.0})


async def test_rtu_frames_over_tcp_through_a_serial_gateway() -> None:
    registers = meter_map().input
    runs = [
        SimData(address, values=[value], datatype=SimType.REGISTERS) for address, value in sorted(registers.items())
    ]
    placeholder = [SimData(65535, values=[False], datatype=SimType.BITS)]
    sim = SimDevice(9, simdata=(placeholder, placeholder, [SimData(65535, datatype=SimType.INVALID)], runs))
    server = ModbusTcpServer(sim, address=("127.0.0.1", 0), framer=FramerType.RTU)
    await server.serve_forever(background=True)
    port = server.transport.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    meter = ModbusDevice(device(port, framing="rtu", unit=9, points=(VOLTS, POWER)))
    try:
        samples = await meter.poll()
    finally:
        meter.close()
        await server.shutdown()  # type: ignore[no-untyped-call]
    assert {s.metric: s.value for s in samples} == pytest.approx({"voltage_l1_v": 230.2, "power_w": 1500.0})
