"""Modbus block reads through the agent's coordinator against pymodbus's bare client, same block, same simulator.

The simulated SDM630 runs in its own process (``luna-agent simulate``) so server work does not
share the measuring event loop.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from pymodbus.client import AsyncModbusTcpClient

from bench.report import Result
from luna_agent.sources.modbus.coordinator import ModbusDevice
from luna_agent.sources.modbus.profiles import MeterProfile, load_profile
from luna_agent.sources.modbus.settings import ModbusDeviceSettings

READS = 1_000
BIN = Path(sys.executable).parent


def free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def _ours(port: int, metrics: tuple[str, ...]) -> tuple[float, int, int]:
    device = ModbusDevice(
        ModbusDeviceSettings(id="bench", profile="sdm630", host="127.0.0.1", port=port, metrics=metrics)
    )
    await device.poll()  # connect and learn the plan
    reader = device._reader  # noqa: SLF001 - the benchmark reads the same block the coordinator planned
    assert reader is not None
    (block,) = reader.blocks
    started = time.perf_counter()
    for _ in range(READS):
        samples = await device.poll()
    elapsed = time.perf_counter() - started
    device.close()
    assert len(samples) == len(metrics)
    return READS / elapsed, block.start, block.count


async def _bare(port: int, start: int, count: int) -> float:
    client = AsyncModbusTcpClient("127.0.0.1", port=port)
    await client.connect()
    started = time.perf_counter()
    for _ in range(READS):
        await client.read_input_registers(start, count=count, device_id=1)
    elapsed = time.perf_counter() - started
    client.close()
    return READS / elapsed


def run() -> list[Result]:
    """Poll a 76-register block (38 float32 values) 1,000 times each way; best of three."""
    profile = load_profile("sdm630")
    assert isinstance(profile, MeterProfile)
    metrics = tuple(p.metric for p in profile.points if p.register_type == "input" and p.pdu < 76)
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "luna-agent"), "simulate", "--profile", "sdm630", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()  # "luna-agent simulating ..."
        ours = bare = 0.0
        count = 0
        for _ in range(3):
            rate, start, count = asyncio.run(_ours(port, metrics))
            ours = max(ours, rate)
            bare = max(bare, asyncio.run(_bare(port, start, count)))
    finally:
        server.terminate()
        server.wait(timeout=30)
    return [
        Result(
            "agent",
            f"Modbus TCP block reads ({count} registers, {len(metrics)} values)",
            ours,
            "reads/s",
            bare,
            "target >= 0.8; ours = coordinator poll incl. decode and samples; raw = bare pymodbus read_input_registers",
        )
    ]
