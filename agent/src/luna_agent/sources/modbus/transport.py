"""The connection to one Modbus device (pymodbus async client), translating its errors at the boundary.

TCP, RTU over a serial line (or a pty), and RTU frames over TCP (serial gateways).
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ExceptionResponse

from luna_agent.errors import DeviceRejected, DeviceUnreachable

__all__ = ["ModbusTransport"]

Framing = Literal["tcp", "rtu"]


class ModbusTransport:
    """Reads registers from one device; reconnects lazily after a failure."""

    def __init__(  # noqa: PLR0913 - mirrors the device settings one to one
        self,
        *,
        host: str | None = None,
        port: int = 502,
        serial_port: str | None = None,
        baudrate: int = 9600,
        framing: Framing = "tcp",
        timeout: float = 1.0,
        retries: int = 0,
    ) -> None:
        framer = FramerType.RTU if framing == "rtu" or serial_port else FramerType.SOCKET
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient
        if serial_port is not None:
            self.target = serial_port
            self._client = AsyncModbusSerialClient(
                serial_port, framer=framer, baudrate=baudrate, timeout=timeout, retries=retries, reconnect_delay=0
            )
        else:
            self.target = f"{host}:{port}"
            self._client = AsyncModbusTcpClient(
                host or "127.0.0.1", port=port, framer=framer, timeout=timeout, retries=retries, reconnect_delay=0
            )
        self._timeout = timeout
        client = self._client
        self._calls = {
            "holding": client.read_holding_registers,
            "input": client.read_input_registers,
            "coil": client.read_coils,
            "discrete": client.read_discrete_inputs,
        }

    async def _ensure_connected(self) -> None:
        if self._client.connected:
            return
        try:
            connected = await asyncio.wait_for(self._client.connect(), self._timeout * 2)
        except (TimeoutError, OSError, ModbusException) as exc:
            raise DeviceUnreachable(f"{self.target}: cannot connect: {exc}") from exc
        if not connected:
            raise DeviceUnreachable(f"{self.target}: cannot connect")

    async def read(self, register_type: str, start: int, count: int, device_id: int) -> list[int]:
        """Read ``count`` registers (or bits, as 0/1) from ``start``; raise a :class:`DeviceError` on failure."""
        if not self._client.connected:
            await self._ensure_connected()
        try:
            response = await self._calls[register_type](start, count=count, device_id=device_id)
        except ModbusException as exc:
            self._client.close()  # a late answer must not be taken for the next request's
            raise DeviceUnreachable(f"{self.target}: {register_type} {start}+{count}: {exc}") from exc
        if response.isError() or isinstance(response, ExceptionResponse):
            code = getattr(response, "exception_code", 0)
            raise DeviceRejected(f"{self.target}: {register_type} {start}+{count}", exception_code=code)
        if register_type in {"coil", "discrete"}:
            return [int(bit) for bit in response.bits[:count]]
        return list(response.registers)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._client.close()
