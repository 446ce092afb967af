"""Cheapest windows (pure planning) against a brute-force search over the same prices."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from luna_hub.energy.windows import (
    QUARTER,
    MissingPricesError,
    PriceGrid,
    PriceSlot,
    Window,
    cheapest_quarters,
    cheapest_runs,
    contiguous_windows,
    load_cost,
    load_energy,
    rank_key,
)

DAY = datetime(2024, 3, 30, 23, 0, tzinfo=UTC)


@st.composite
def price_slots(draw: st.DrawFn) -> list[PriceSlot]:
    """Consecutive hourly and quarter-hourly slots (as around 2025-10-01), prices in cents, negatives included."""
    slots, start = [], DAY
    for _ in range(draw(st.integers(2, 14))):
        length = timedelta(minutes=draw(st.sampled_from([15, 60])))
        price = draw(st.integers(-5000, 30000)) / 100
        slots.append(PriceSlot(start, start + length, price))
        start += length
    return slots


def brute_force(  # noqa: PLR0917, PLR0913
    slots: list[PriceSlot],
    energy: list[float],
    duration: timedelta,
    earliest: datetime,
    latest: datetime,
    count: int,
    max_price: float | None,
) -> list[Window]:
    """Every slot start in range, costed exactly one by one, sorted."""
    found = []
    for slot in slots:
        start = slot.start
        if start < earliest or start + duration > latest:
            continue
        covered = [s for s in slots if s.start < start + duration and s.end > start]
        if max_price is not None and max(s.price for s in covered) > max_price:
            continue
        cost = load_cost(slots, energy, start, duration)
        price_hours = sum(
            s.price * ((min(s.end, start + duration) - max(s.start, start)) / timedelta(hours=1)) for s in covered
        )
        found.append(Window(start, start + duration, price_hours / (duration / timedelta(hours=1)), cost))
    return sorted(found, key=rank_key)[:count]


@given(
    slots=price_slots(),
    power=st.integers(1, 50).map(lambda tenths: tenths / 10),
    minutes=st.integers(1, 150),
    earliest_q=st.integers(0, 8),
    latest_cut=st.integers(0, 8),
    count=st.integers(1, 5),
    cap=st.none() | st.integers(-20, 300).map(float),
    profile=st.booleans(),
)
def test_contiguous_windows_equal_brute_force(  # noqa: PLR0917, PLR0913
    slots: list[PriceSlot],
    power: float,
    minutes: int,
    earliest_q: int,
    latest_cut: int,
    count: int,
    cap: float | None,
    profile: bool,
) -> None:
    end = slots[-1].end
    earliest = DAY + earliest_q * QUARTER + timedelta(minutes=earliest_q % 3)
    latest = end - latest_cut * QUARTER
    if latest <= earliest:
        return
    duration = timedelta(minutes=minutes)
    if profile:  # a programme: power varies per quarter
        kw = [power * (1 + (i % 3)) for i in range(math.ceil(minutes / 15))]
        energy = load_energy(duration, profile_kw=kw)
    else:
        energy = load_energy(duration, power_kw=power)
    grid = PriceGrid.build(slots, earliest, latest)
    ours = contiguous_windows(grid, energy, duration, earliest, latest, count=count, max_price=cap)
    expected = brute_force(slots, energy, duration, earliest, latest, count, cap)
    event(["no window", "one window"][len(expected)] if len(expected) < 2 else "several windows")
    assert [w.start for w in ours] == [w.start for w in expected]
    for got, want in zip(ours, expected, strict=True):
        assert got.end == want.end
        assert got.cost == pytest.approx(want.cost, abs=1e-9)
        assert got.mean_price == pytest.approx(want.mean_price, abs=1e-9)


@given(
    slots=price_slots(),
    power=st.integers(1, 50).map(lambda tenths: tenths / 10),
    minutes=st.integers(1, 75),
    cap=st.none() | st.integers(-20, 300).map(float),
)
def test_cheapest_quarters_equal_brute_force(
    slots: list[PriceSlot], power: float, minutes: int, cap: float | None
) -> None:
    start, end = slots[0].start, slots[-1].end
    end = min(end, start + 10 * QUARTER)  # keep the subsets few
    grid = PriceGrid.build(slots, start, end)
    duration = timedelta(minutes=minutes)
    ours = cheapest_quarters(grid, power, duration, start, end, max_price=cap)
    quarters = [(grid.at(i), float(grid.prices[i])) for i in range((end - start) // QUARTER)]
    allowed = [q for q in quarters if cap is None or q[1] <= cap]
    needed = duration / QUARTER
    if len(allowed) < math.ceil(needed):
        assert ours is None
        return
    best = math.inf
    for chosen in itertools.combinations(allowed, math.ceil(needed)):
        prices = sorted(price for _, price in chosen)
        hours = [0.25] * math.floor(needed) + ([0.25 * (needed - math.floor(needed))] if needed % 1 else [])
        best = min(best, sum(p * h * power / 1000 for p, h in zip(prices, hours, strict=True)))
    assert ours is not None
    assert sum(w.cost for w in ours) == pytest.approx(best, abs=1e-9)
    assert sum((w.end - w.start for w in ours), timedelta()) == duration
    assert all(a.end <= b.start for a, b in itertools.pairwise(ours))


def test_the_first_missing_interval_is_named() -> None:
    slots = [
        PriceSlot(DAY, DAY + timedelta(hours=1), 10.0),
        PriceSlot(DAY + timedelta(hours=3), DAY + timedelta(hours=4), 5.0),
    ]
    with pytest.raises(MissingPricesError) as caught:
        PriceGrid.build(slots, DAY, DAY + timedelta(hours=4))
    assert (caught.value.start, caught.value.end) == (DAY + timedelta(hours=1), DAY + timedelta(hours=3))


def test_the_finest_slot_wins_where_hourly_and_quarter_prices_overlap() -> None:
    hourly = PriceSlot(DAY, DAY + timedelta(hours=1), 100.0)
    quarter = PriceSlot(DAY + QUARTER, DAY + 2 * QUARTER, -20.0)
    grid = PriceGrid.build([hourly, quarter], DAY, DAY + timedelta(hours=1))
    assert grid.prices.tolist() == [100.0, -20.0, 100.0, 100.0]
    assert grid.boundary.tolist() == [True, True, False, False]
    assert grid.resolution == QUARTER


def test_negative_prices_count_as_they_are() -> None:
    slots = [
        PriceSlot(DAY + i * timedelta(hours=1), DAY + (i + 1) * timedelta(hours=1), p)
        for i, p in enumerate([50.0, -100.0, 20.0])
    ]
    grid = PriceGrid.build(slots, DAY, DAY + timedelta(hours=3))
    energy = load_energy(timedelta(hours=1), power_kw=2.0)
    best = contiguous_windows(grid, energy, timedelta(hours=1), DAY, DAY + timedelta(hours=3), count=3)
    assert [w.cost for w in best] == pytest.approx([-0.2, 0.04, 0.1])
    assert best[0].start == DAY + timedelta(hours=1)


@given(
    slots=price_slots(),
    quarters=st.integers(1, 6),
    min_run=st.integers(1, 4),
    cap=st.none() | st.integers(-20, 300).map(float),
)
def test_cheapest_runs_equal_brute_force(
    slots: list[PriceSlot], quarters: int, min_run: int, cap: float | None
) -> None:
    start = slots[0].start
    end = min(slots[-1].end, start + 10 * QUARTER)
    grid = PriceGrid.build(slots, start, end)
    ours = cheapest_runs(grid, 2.0, quarters, min_run, start, end, max_price=cap)
    size = (end - start) // QUARTER
    best = math.inf
    for chosen in itertools.combinations(range(size), quarters):
        if cap is not None and any(grid.prices[i] > cap for i in chosen):
            continue
        runs = [len(list(group)) for _, group in itertools.groupby(enumerate(chosen), lambda pair: pair[1] - pair[0])]
        if min(runs) < min_run:
            continue
        best = min(best, sum(float(grid.prices[i]) * 2.0 * 0.25 / 1000 for i in chosen))
    if best == math.inf:
        assert ours is None
        return
    assert ours is not None
    assert sum(w.cost for w in ours) == pytest.approx(best, abs=1e-9)
    assert all((w.end - w.start) >= min_run * QUARTER for w in ours)
    assert sum((w.end - w.start for w in ours), timedelta()) == quarters * QUARTER
