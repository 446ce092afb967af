"""Read a device's points in blocks, splitting blocks the device rejects and remembering what it does not support."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

from luna_agent.errors import DeviceRejected
from luna_agent.sources.modbus.blocks import Block, plan_blocks, point_spans, split_block
from luna_agent.sources.modbus.codec import ByteOrder, compile_run_decoder
from luna_agent.sources.modbus.points import CompiledPoint, Decoded, PointSpec
from luna_shared.logs import get_logger

__all__ = ["BlockReader", "RegisterSource"]

_log = get_logger(__name__)


Location = tuple[CompiledPoint, int, int, int, int]
"""A point, the block and offset of its registers, and of its scale factor (-1, -1 if none)."""


class _RunStep(NamedTuple):
    block: int
    offset: int
    width: int
    decoder: Callable[[Sequence[int]], tuple[int | float, ...]]
    points: list[CompiledPoint]


Program = tuple[list[_RunStep], list[Location]]


def _vectorisable(compiled: CompiledPoint) -> bool:
    point = compiled.point
    return not compiled.bits and point.sf_address is None and point.order is ByteOrder.ABCD


class RegisterSource(Protocol):
    """What the reader needs from a connection (see :class:`~luna_agent.sources.modbus.transport.ModbusTransport`)."""

    async def read(self, register_type: str, start: int, count: int, device_id: int) -> list[int]:
        """Read registers or raise a :class:`~luna_agent.errors.DeviceError`."""
        ...


class BlockReader:
    """The read plan of one device; it adapts when the device rejects a block (exception code)."""

    def __init__(self, points: Sequence[PointSpec], *, device_id: int, max_registers: int, max_gap: int) -> None:
        self.points = tuple(points)
        self._compiled = [CompiledPoint(point) for point in self.points]
        self.device_id = device_id
        self.blocks = plan_blocks(self.points, max_registers=max_registers, max_gap=max_gap)
        self._spans = point_spans(self.points)
        self.unsupported: list[Block] = []
        self.rejections = 0
        self._program_cache: Program | None = None

    async def read(self, source: RegisterSource) -> list[tuple[PointSpec, Decoded]]:
        """Read every block once; return (point, decoded value) for each point whose registers were read.

        A rejected block is split and its halves read in the same poll; a single rejected span
        is dropped from the plan (logged once). Connection errors propagate: the device is down.
        """
        queue = list(self.blocks)
        plan: list[Block] = []
        reads: list[list[int]] = []
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
            reads.append(words)
        if plan != self.blocks or self._program_cache is None:
            self.blocks = plan
            self._program_cache = self._program(self._locate(plan))
        return self._decode(reads, self._program_cache)

    @staticmethod
    def _program(locations: list[Location | None]) -> Program:
        """Turn point locations into decode steps: runs of adjacent big-endian points of one type, then the rest."""
        runs: list[tuple[int, int, list[CompiledPoint]]] = []
        usable = [loc for loc in locations if loc is not None and _vectorisable(loc[0])]
        for compiled, block, offset, _, _ in sorted(usable, key=lambda loc: (loc[1], loc[2])):
            if runs:
                last_block, last_offset, members = runs[-1]
                width = len(members[0].addresses)
                same_type = members[0].point.data_type == compiled.point.data_type
                if same_type and last_block == block and offset == last_offset + width * len(members):
                    members.append(compiled)
                    continue
            runs.append((block, offset, [compiled]))
        steps = [
            _RunStep(
                block,
                offset,
                len(members[0].addresses) * len(members),
                compile_run_decoder(members[0].point.data_type, len(members)),
                members,
            )
            for block, offset, members in runs
        ]
        in_runs = {id(loc[0]) for loc in usable}
        singles = [loc for loc in locations if loc is not None and id(loc[0]) not in in_runs]
        return steps, singles

    def _locate(self, plan: list[Block]) -> list[Location | None]:
        """Where each point's registers (and scale factor) are in the blocks of the plan: (block, offset) pairs."""

        def find(table: str, start: int, count: int) -> tuple[int, int] | None:
            for index, block in enumerate(plan):
                if block.register_type == table and block.start <= start and start + count <= block.end:
                    return index, start - block.start
            return None

        locations: list[Location | None] = []
        for compiled in self._compiled:
            point = compiled.point
            where = find(point.register_type, point.pdu, point.count)
            sf_where = (-1, -1) if point.sf_address is None else find(point.register_type, point.sf_address, 1)
            if where is None or sf_where is None:
                locations.append(None)
            else:
                locations.append((compiled, *where, *sf_where))
        return locations

    def _decode(self, reads: list[list[int]], program: Program) -> list[tuple[PointSpec, Decoded]]:
        decoded: list[tuple[PointSpec, Decoded]] = []
        append = decoded.append
        steps, singles = program
        for step in steps:
            words = reads[step.block][step.offset : step.offset + step.width]
            if len(words) < step.width:
                continue  # a short answer: treat the points as not read
            for compiled, raw in zip(step.points, step.decoder(words), strict=True):
                if compiled.plain and raw - raw == 0:  # finite, no sentinel, no scaling: the hot path
                    append((compiled.point, Decoded(raw)))
                else:
                    append((compiled.point, compiled.from_raw(raw)))
        for compiled, block, offset, sf_block, sf_offset in singles:
            words = reads[block][offset : offset + len(compiled.addresses)]
            if len(words) < len(compiled.addresses):
                continue
            sf_word = reads[sf_block][sf_offset] if sf_block >= 0 else None
            append((compiled.point, compiled.from_words(words, sf_word)))
        return decoded
