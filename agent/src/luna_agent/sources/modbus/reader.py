"""Read a device's points in blocks, splitting blocks the device rejects and remembering what it does not support."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from luna_agent.errors import DeviceRejected
from luna_agent.sources.modbus.blocks import Block, plan_blocks, point_spans, split_block
from luna_agent.sources.modbus.points import Decoded, PointSpec, decode_point
from luna_shared.logs import get_logger

__all__ = ["BlockReader", "RegisterSource"]

_log = get_logger(__name__)


class RegisterSource(Protocol):
    """What the reader needs from a connection (see :class:`~luna_agent.sources.modbus.transport.ModbusTransport`)."""

    async def read(self, register_type: str, start: int, count: int, device_id: int) -> list[int]:
        """Read registers or raise a :class:`~luna_agent.errors.DeviceError`."""
        ...


class BlockReader:
    """The read plan of one device; it adapts when the device rejects a block (exception code)."""

    def __init__(self, points: Sequence[PointSpec], *, device_id: int, max_registers: int, max_gap: int) -> None:
        self.points = tuple(points)
        self.device_id = device_id
        self.blocks = plan_blocks(self.points, max_registers=max_registers, max_gap=max_gap)
        self._spans = point_spans(self.points)
        self.unsupported: list[Block] = []
        self.rejections = 0

    async def read(self, source: RegisterSource) -> dict[PointSpec, Decoded]:
        """Read every block once; return the decoded value of each point whose registers were read.

        A rejected block is split and its halves read in the same poll; a single rejected span
        is dropped from the plan (logged once). Connection errors propagate: the device is down.
        """
        image: dict[tuple[str, int], int] = {}
        queue = list(self.blocks)
        plan: list[Block] = []
        while queue:
            block = queue.pop(0)
            try:
                words = await source.read(block.register_type, block.start, block.count, self.device_id)
            except DeviceRejected as exc:
                self.rejections += 1
                parts = split_block(block, self._spans)
                if not parts:
                    self.unsupported.append(block)
                    _log.warning("register not supported, no longer polled", block=str(block), error=str(exc))
                queue[:0] = parts
                continue
            plan.append(block)
            image.update({(block.register_type, block.start + i): word for i, word in enumerate(words)})
        self.blocks = plan
        decoded: dict[PointSpec, Decoded] = {}
        for point in self.points:
            value = decode_point(point, image)
            if value is not None:
                decoded[point] = value
        return decoded
