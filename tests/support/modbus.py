"""An in-process pymodbus TCP server serving a register map, for tests and demos.

The map uses 0-based PDU addresses (what goes on the wire). Registers not in the map are
invalid: reading them yields a Modbus exception response, as on a real meter. The encoder
below is deliberately independent of the agent's decoder so golden tests check one against
the other.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

__all__ = ["ModbusTestServer", "RegisterMap", "encode_registers"]

_PLACEHOLDER: Final = 65535
_STRUCT_FORMATS: Final = {
    "int16": ">h",
    "uint16": ">H",
    "int32": ">i",
    "uint32": ">I",
    "int64": ">q",
    "uint64": ">Q",
    "float32": ">f",
    "float64": ">d",
}


def encode_registers(
    data_type: str, value: float, *, word_order: Literal["big", "little"] = "big", byte_swap: bool = False
) -> list[int]:
    """Encode a value as a meter would put it into consecutive 16-bit registers.

    ``word_order="little"`` puts the least significant word first (CDAB for 32 bits);
    ``byte_swap`` swaps the two bytes inside every register (BADC, DCBA).
    """
    fmt = _STRUCT_FORMATS[data_type]
    number = value if data_type.startswith("float") else int(value)
    raw = struct.pack(fmt, number)
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    if word_order == "little":
        words.reverse()
    if byte_swap:
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    return words


@dataclass(frozen=True)
class RegisterMap:
    """The four Modbus tables of one device, by 0-based PDU address."""

    holding: Mapping[int, int] = field(default_factory=dict)
    input: Mapping[int, int] = field(default_factory=dict)
    coils: Mapping[int, bool] = field(default_factory=dict)
    discrete: Mapping[int, bool] = field(default_factory=dict)

    def with_values(self, table: Literal["holding", "input"], address: int, words: list[int]) -> RegisterMap:
        """Return a copy with ``words`` written from ``address`` on in one register table."""
        current = dict(self.holding if table == "holding" else self.input)
        current.update({address + i: word for i, word in enumerate(words)})
        if table == "holding":
            return RegisterMap(holding=current, input=self.input, coils=self.coils, discrete=self.discrete)
        return RegisterMap(holding=self.holding, input=current, coils=self.coils, discrete=self.discrete)


def _register_runs(registers: Mapping[int, int]) -> list[SimData]:
    """Group consecutive addresses into SimData runs; an empty table gets one invalid placeholder."""
    runs: list[SimData] = []
    start: int | None = None
    values: list[int] = []
    for address in sorted(registers):
        if start is not None and address == start + len(values):
            values.append(registers[address] & 0xFFFF)
            continue
        if start is not None:
            runs.append(SimData(start, values=values, datatype=DataType.REGISTERS))
        start, values = address, [registers[address] & 0xFFFF]
    if start is not None:
        runs.append(SimData(start, values=values, datatype=DataType.REGISTERS))
    return runs or [SimData(_PLACEHOLDER, datatype=DataType.INVALID)]


def _bit_runs(bits: Mapping[int, bool]) -> list[SimData]:
    runs = [SimData(address, values=[bool(value)], datatype=DataType.BITS) for address, value in sorted(bits.items())]
    return runs or [SimData(_PLACEHOLDER, values=[False], datatype=DataType.BITS)]


class ModbusTestServer:
    """A running server on 127.0.0.1 with one device; ``port`` is known after :meth:`start`."""

    def __init__(self, register_map: RegisterMap, *, device_id: int = 1) -> None:
        self.device_id = device_id
        device = SimDevice(
            device_id,
            simdata=(
                _bit_runs(register_map.coils),
                _bit_runs(register_map.discrete),
                _register_runs(register_map.holding),
                _register_runs(register_map.input),
            ),
        )
        self._server = ModbusTcpServer(device, address=("127.0.0.1", 0))
        self.host = "127.0.0.1"
        self.port = 0

    async def start(self) -> ModbusTestServer:
        """Listen on a free loopback port."""
        await self._server.serve_forever(background=True)
        self.port = self._server.transport.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def set_registers(self, table: Literal["holding", "input"], address: int, words: list[int]) -> None:
        """Change register values while the server runs (a counter advancing, a fault appearing)."""
        function_code = 3 if table == "holding" else 4
        await self._server.async_setValues(self.device_id, function_code, address, words)

    async def stop(self) -> None:
        """Close the listening socket and every client connection."""
        await self._server.shutdown()  # type: ignore[no-untyped-call]
