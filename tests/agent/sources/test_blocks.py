"""Block planning: merge neighbours up to the request limit, split rejected blocks down to single spans."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from luna_agent.sources.modbus.blocks import Block, plan_blocks, point_spans, split_block
from luna_agent.sources.modbus.codec import DataType
from luna_agent.sources.modbus.points import PointSpec


def _points(addresses: list[int], data_type: DataType = DataType.FLOAT32) -> list[PointSpec]:
    return [PointSpec(metric="power_w", register_type="input", address=a, data_type=data_type) for a in addresses]


def test_neighbours_merge_within_the_gap_and_the_limit() -> None:
    points = _points([0, 2, 4, 10, 200])
    assert plan_blocks(points, max_gap=0) == [Block("input", 0, 6), Block("input", 10, 2), Block("input", 200, 2)]
    assert plan_blocks(points, max_gap=4) == [Block("input", 0, 12), Block("input", 200, 2)]
    assert plan_blocks(points, max_gap=4, max_registers=8) == [
        Block("input", 0, 6),
        Block("input", 10, 2),
        Block("input", 200, 2),
    ]


def test_tables_never_merge() -> None:
    points = [PointSpec(metric="power_w", register_type=t, address=0) for t in ("holding", "input")]
    assert plan_blocks(points, max_gap=10) == [Block("holding", 0, 2), Block("input", 0, 2)]


def test_scale_factor_registers_are_read_too() -> None:
    point = PointSpec(metric="power_w", address=100, data_type=DataType.INT16, sf_address=104)
    assert plan_blocks([point], max_gap=3) == [Block("holding", 100, 5)]


addresses = st.lists(st.integers(0, 3000).map(lambda a: a * 2), min_size=1, max_size=60, unique=True)


@given(addresses, st.integers(2, 125), st.integers(0, 20))
def test_plan_covers_every_point_within_limits(addrs: list[int], max_registers: int, max_gap: int) -> None:
    points = _points(addrs)
    blocks = plan_blocks(points, max_registers=max_registers, max_gap=max_gap)
    assert all(b.count <= max_registers for b in blocks)
    assert all(a.end <= b.start for a, b in itertools.pairwise(blocks))
    for point in points:
        assert any(b.start <= point.pdu and point.pdu + point.count <= b.end for b in blocks)


@given(addresses, st.integers(0, 20), st.data())
def test_splitting_always_isolates_a_rejected_span(addrs: list[int], max_gap: int, data: st.DataObject) -> None:
    spans = point_spans(_points(addrs))
    bad = data.draw(st.sampled_from(spans))
    queue = plan_blocks(_points(addrs), max_gap=max_gap)
    good: list[Block] = []
    unsupported: list[Block] = []
    while queue:
        block = queue.pop()
        if block.start <= bad.start < block.end:
            parts = split_block(block, spans)
            (queue.extend(parts) if parts else unsupported.append(block))
        else:
            good.append(block)
    assert unsupported == [bad]
    for span in spans:
        if span != bad:
            assert any(b.start <= span.start and span.end <= b.end for b in good)
