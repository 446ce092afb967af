"""Plan block reads: merge neighbouring registers into requests, split a request a device rejects.

Pure functions over spans of registers, so the planner is tested without a device.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from luna_agent.sources.modbus.points import PointSpec

__all__ = ["MODBUS_MAX_REGISTERS", "Block", "plan_blocks", "point_spans", "split_block"]

MODBUS_MAX_REGISTERS = 125
"""Protocol limit for one read of registers (FC 03/04)."""


@dataclass(frozen=True, order=True, slots=True)
class Block:
    """One read request: ``count`` registers (or bits) of one table from ``start``."""

    register_type: str
    start: int
    count: int

    @property
    def end(self) -> int:
        """One past the last address read."""
        return self.start + self.count


def point_spans(points: Iterable[PointSpec]) -> list[Block]:
    """Every register range the points need (values and SunSpec scale factors), sorted, without duplicates."""
    spans: set[Block] = set()
    for point in points:
        spans.add(Block(point.register_type, point.pdu, point.count))
        if point.sf_address is not None:
            spans.add(Block(point.register_type, point.sf_address, 1))
    return sorted(spans)


def _merge(spans: list[Block], *, max_registers: int, max_gap: int) -> list[Block]:
    blocks: list[Block] = []
    for span in spans:
        last = blocks[-1] if blocks else None
        if (
            last is not None
            and last.register_type == span.register_type
            and span.start - last.end <= max_gap
            and max(last.end, span.end) - last.start <= max_registers
        ):
            blocks[-1] = Block(last.register_type, last.start, max(last.end, span.end) - last.start)
        else:
            blocks.append(span)
    return blocks


def plan_blocks(
    points: Iterable[PointSpec], *, max_registers: int = MODBUS_MAX_REGISTERS, max_gap: int = 0
) -> list[Block]:
    """Merge the points' registers into as few reads as the limits allow.

    ``max_gap`` is how many unused registers a read may span to join two neighbours; a
    device that rejects reading those gets the block split by :func:`split_block`.
    """
    return _merge(point_spans(points), max_registers=max_registers, max_gap=max_gap)


def split_block(block: Block, spans: Iterable[Block]) -> list[Block]:
    """Split a rejected block into two reads over halves of the spans it covers.

    Returns ``[]`` when the block holds a single span: that register itself is not supported.
    """
    inside = [s for s in spans if s.register_type == block.register_type and block.start <= s.start < block.end]
    if len(inside) <= 1:
        return []
    middle = len(inside) // 2
    halves = (inside[:middle], inside[middle:])
    return [Block(block.register_type, half[0].start, max(s.end for s in half) - half[0].start) for half in halves]
