"""A simulated meter: a pymodbus server serving a shipped profile with realistic, moving values.

Voltages wander around 230 V, currents follow a slow load curve, energy counters rise with
the power. For the demo (``make run``), ``luna-agent simulate`` and benchmarks.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import sys
import time
from collections.abc import Mapping

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType as SimType
from pymodbus.simulator import SimData, SimDevice

from luna_agent.errors import ProfileError
from luna_agent.sources.modbus.codec import encode, integer_range
from luna_agent.sources.modbus.points import PointSpec
from luna_agent.sources.modbus.profiles import MeterProfile, load_profile

__all__ = ["SIMULATED_SERIAL", "MeterSimulator", "one_line_pymodbus_log", "simulated_values"]

_PLACEHOLDER = 65535
_FILLED_GAP = 16
SIMULATED_SERIAL = 1_234_567
"""What a simulated meter answers in a serial-number register; a meter code answers its documented value."""


def simulated_values(elapsed_s: float, energy_kwh: float) -> dict[str, float]:
    """Plausible values of a three-phase installation ``elapsed_s`` into the simulation."""
    wave = math.sin(elapsed_s / 30)
    volts = [230.0 + 2.0 * math.sin(elapsed_s / 7 + k) for k in range(3)]
    amps = [6.0 + 3.0 * wave + k for k in range(3)]
    pf = 0.95
    watts = [v * a * pf for v, a in zip(volts, amps, strict=True)]
    total_w = sum(watts)
    values = {
        "frequency_hz": 50.0 + 0.02 * math.sin(elapsed_s / 5),
        "power_w": total_w,
        "power_import_w": total_w,
        "power_export_w": 0.0,
        "apparent_power_va": total_w / pf,
        "reactive_power_var": total_w * 0.33,
        "power_factor": pf,
        "phase_angle_deg": 18.2,
        "current_n_a": 0.4,
        "current_sum_a": sum(amps),
        "current_avg_a": sum(amps) / 3,
        "voltage_ln_avg_v": sum(volts) / 3,
        "voltage_ll_avg_v": sum(volts) / 3 * math.sqrt(3),
        "energy_import_kwh": energy_kwh,
        "energy_export_kwh": 12.5,
        "energy_total_kwh": energy_kwh + 12.5,
        "energy_net_kwh": energy_kwh - 12.5,
        "energy_import_ht_kwh": energy_kwh * 0.6,
        "reactive_energy_import_kvarh": energy_kwh * 0.3,
        "reactive_energy_total_kvarh": energy_kwh * 0.3,
        "apparent_energy_kvah": energy_kwh * 1.05,
    }
    for k, phase in enumerate(("l1", "l2", "l3")):
        values[f"voltage_{phase}_v"] = volts[k]
        values[f"current_{phase}_a"] = amps[k]
        values[f"power_{phase}_w"] = watts[k]
        values[f"apparent_power_{phase}_va"] = watts[k] / pf
        values[f"reactive_power_{phase}_var"] = watts[k] * 0.33
        values[f"power_factor_{phase}"] = pf
        values[f"thd_voltage_{phase}_pct"] = 2.1
        values[f"thd_current_{phase}_pct"] = 8.4
        values[f"energy_import_{phase}_kwh"] = energy_kwh / 3
        values[f"energy_total_{phase}_kwh"] = energy_kwh / 3
    for pair in ("l1_l2", "l2_l3", "l3_l1"):
        values[f"voltage_{pair}_v"] = 400.0 + math.sin(elapsed_s / 11)
    return values


class _OneLinePerRequest(logging.Filter):
    """Turns pymodbus' log records (a traceback and hex frame dumps per failed request) into one line each."""

    def __init__(self, unit: int) -> None:
        super().__init__()
        self.unit = unit

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if text == "Repeating....":  # pymodbus' own marker for a repeated message: the line before says it
            return False
        if "KeyError" in text and "unable to fulfill" in text:  # pymodbus' simulator, asked for another unit id
            line = f"a request for a unit id other than {self.unit}: answered exception 4 (device failure)"
        else:
            line = text.split("\n", 1)[0].split("; Traceback", 1)[0].strip()
        record.msg, record.args, record.exc_info, record.exc_text, record.stack_info = line, None, None, None, None
        return True


def one_line_pymodbus_log(unit: int) -> None:
    """Let pymodbus print at most one line per request to standard error (warnings and errors only).

    Left alone it prints a traceback and hex dumps of the last frames for each request it cannot
    answer (a probe trying other unit ids and addresses sends many of those).
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("luna-agent simulate: modbus %(levelname)s: %(message)s"))
    handler.addFilter(_OneLinePerRequest(unit))
    logger = logging.getLogger("pymodbus")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.WARNING)


def _encode_point(point: PointSpec, value: float) -> list[int]:
    raw = (value - point.offset) / point.scale
    limits = integer_range(point.data_type)
    if limits is not None:
        raw = min(max(round(raw), limits[0]), limits[1])
    return encode(raw, point.data_type, point.order)


def _image(points: tuple[PointSpec, ...], values: Mapping[str, float]) -> dict[str, dict[int, int]]:
    tables: dict[str, dict[int, int]] = {"holding": {}, "input": {}}
    for point in points:
        words = _encode_point(point, values.get(point.metric, 0.0))
        tables[point.register_type].update({point.pdu + i: word for i, word in enumerate(words)})
    for table in tables.values():  # like a real meter, answer reserved registers between values with 0
        used = sorted(table)
        for low, high in itertools.pairwise(used):
            if 1 < high - low <= _FILLED_GAP:
                table.update(dict.fromkeys(range(low + 1, high), 0))
    return tables


def _contiguous(registers: Mapping[int, int]) -> list[tuple[int, list[int]]]:
    runs: list[tuple[int, list[int]]] = []
    for address in sorted(registers):
        if runs and address == runs[-1][0] + len(runs[-1][1]):
            runs[-1][1].append(registers[address])
        else:
            runs.append((address, [registers[address]]))
    return runs


def _runs(registers: Mapping[int, int]) -> list[SimData]:
    runs = [SimData(start, values=words, datatype=SimType.REGISTERS) for start, words in _contiguous(registers)]
    return runs or [SimData(_PLACEHOLDER, datatype=SimType.INVALID)]


class MeterSimulator:
    """Serves one simulated meter on ``host:port`` (0 = any free port, known after :meth:`start`)."""

    def __init__(self, profile: str, *, host: str = "127.0.0.1", port: int = 0, unit: int = 1) -> None:
        loaded = load_profile(profile)
        if not isinstance(loaded, MeterProfile):
            raise ProfileError(f"profile {profile!r} has no fixed register map to simulate")
        self.profile = loaded
        self.host = host
        self.port = port
        self.unit = unit
        self._started = time.monotonic()
        self._energy_kwh = 1234.5
        self._last_step = self._started
        tables = _image(loaded.points, simulated_values(0, self._energy_kwh))
        for register in loaded.profile.identity:
            value = SIMULATED_SERIAL if register.expect is None else register.expect
            words = encode(value, register.data_type)
            tables[register.register_type].update({register.address + i: w for i, w in enumerate(words)})
        bits = [SimData(_PLACEHOLDER, values=[False], datatype=SimType.BITS)]
        device = SimDevice(unit, simdata=(bits, bits, _runs(tables["holding"]), _runs(tables["input"])))
        self._server = ModbusTcpServer(device, address=(host, port))
        self._updates: asyncio.Task[None] | None = None

    async def start(self, update_every_s: float = 1.0) -> MeterSimulator:
        """Listen and start moving the values."""
        await self._server.serve_forever(background=True)
        self.port = self._server.transport.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._updates = asyncio.create_task(self._update_loop(update_every_s), name=f"simulator-{self.port}")
        return self

    async def step(self) -> None:
        """Advance the simulation to now and write the new values into the registers."""
        now = time.monotonic()
        values = simulated_values(now - self._started, self._energy_kwh)
        self._energy_kwh += values["power_w"] / 1000 * (now - self._last_step) / 3600
        self._last_step = now
        for table, registers in _image(self.profile.points, values).items():
            function_code = 3 if table == "holding" else 4
            for start, words in _contiguous(registers):
                await self._server.async_setValues(self.unit, function_code, start, words)

    async def _update_loop(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            await self.step()

    async def stop(self) -> None:
        """Stop serving."""
        if self._updates is not None:
            self._updates.cancel()
            await asyncio.gather(self._updates, return_exceptions=True)
        await self._server.shutdown()  # type: ignore[no-untyped-call]
