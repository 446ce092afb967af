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
    Tariff,
    Window,
    cheapest_quarters,
    cheapest_runs,
    contiguous_windows,
    load_cost_pv,
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


@st.composite
def tariffs(draw: st.DrawFn) -> Tariff | None:
    """None (market prices only), or a grid fee, a feed-in tariff and a PV surplus forecast of some quarters."""
    if draw(st.booleans()):
        return None
    fee = draw(st.integers(0, 300)) * 1.0
    feed_in = draw(st.integers(-50, 200)) * 1.0  # negative: export costs (as under a negative-price clause)
    surplus = draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.5, 7.0]), min_size=40, max_size=40))
    return Tariff(fee, feed_in, {DAY + i * QUARTER: kw for i, kw in enumerate(surplus) if kw})


def quarter_cost(price: float, kwh: float, surplus_kwh: float, tariff: Tariff | None) -> float:
    """The definition: PV-covered energy at the feed-in tariff, the rest at market price plus fee (EUR)."""
    if tariff is None:
        return price * kwh / 1000
    own = min(kwh, surplus_kwh)
    return (own * tariff.feed_in_eur_mwh + (kwh - own) * (price + tariff.fee_eur_mwh)) / 1000


def surplus_kwh(tariff: Tariff | None, start: datetime, hours: float) -> float:
    return 0.0 if tariff is None else tariff.pv_kw.get(start, 0.0) * hours


def brute_force(  # noqa: PLR0917, PLR0913
    slots: list[PriceSlot],
    energy: list[float],
    duration: timedelta,
    earliest: datetime,
    latest: datetime,
    count: int,
    max_price: float | None,
    tariff: Tariff | None = None,
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
        cost, pv = load_cost_pv(slots, energy, start, duration, tariff)
        price_hours = sum(
            s.price * ((min(s.end, start + duration) - max(s.start, start)) / timedelta(hours=1)) for s in covered
        )
        found.append(Window(start, start + duration, price_hours / (duration / timedelta(hours=1)), cost, pv))
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
    tariff=tariffs(),
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
    tariff: Tariff | None,
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
    grid = PriceGrid.build(slots, earliest, latest, tariff)
    ours = contiguous_windows(grid, energy, duration, earliest, latest, count=count, max_price=cap)
    expected = brute_force(slots, energy, duration, earliest, latest, count, cap, tariff)
    event(["no window", "one window"][len(expected)] if len(expected) < 2 else "several windows")
    assert [w.start for w in ours] == [w.start for w in expected]
    for got, want in zip(ours, expected, strict=True):
        assert got.end == want.end
        assert got.cost == pytest.approx(want.cost, abs=1e-9)
        assert got.mean_price == pytest.approx(want.mean_price, abs=1e-9)
        assert got.pv_kwh == pytest.approx(want.pv_kwh, abs=1e-9)


@given(
    slots=price_slots(),
    power=st.integers(1, 50).map(lambda tenths: tenths / 10),
    minutes=st.integers(1, 75),
    cap=st.none() | st.integers(-20, 300).map(float),
    tariff=tariffs(),
)
def test_cheapest_quarters_equal_brute_force(
    slots: list[PriceSlot], power: float, minutes: int, cap: float | None, tariff: Tariff | None
) -> None:
    start, end = slots[0].start, slots[-1].end
    end = min(end, start + 10 * QUARTER)  # keep the subsets few
    grid = PriceGrid.build(slots, start, end, tariff)
    duration = timedelta(minutes=minutes)
    ours = cheapest_quarters(grid, power, duration, start, end, max_price=cap)
    quarters = [(grid.at(i), float(grid.prices[i])) for i in range((end - start) // QUARTER)]
    allowed = [q for q in quarters if cap is None or q[1] <= cap]
    needed = duration / QUARTER
    if len(allowed) < math.ceil(needed):
        assert ours is None
        return
    best = math.inf
    part = needed - math.floor(needed)
    for chosen in itertools.combinations(allowed, math.ceil(needed)):
        for partial in range(len(chosen)) if part else [None]:  # any one of them may be the part-quarter
            hours = [0.25 * (part if i == partial else 1.0) for i in range(len(chosen))]
            cost = sum(
                quarter_cost(p, power * h, surplus_kwh(tariff, at, h), tariff)
                for (at, p), h in zip(chosen, hours, strict=True)
            )
            best = min(best, cost)
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
    tariff=tariffs(),
)
def test_cheapest_runs_equal_brute_force(
    slots: list[PriceSlot], quarters: int, min_run: int, cap: float | None, tariff: Tariff | None
) -> None:
    start = slots[0].start
    end = min(slots[-1].end, start + 10 * QUARTER)
    grid = PriceGrid.build(slots, start, end, tariff)
    ours = cheapest_runs(grid, 2.0, quarters, min_run, start, end, max_price=cap)
    size = (end - start) // QUARTER
    best = math.inf
    for chosen in itertools.combinations(range(size), quarters):
        if cap is not None and any(grid.prices[i] > cap for i in chosen):
            continue
        runs = [len(list(group)) for _, group in itertools.groupby(enumerate(chosen), lambda pair: pair[1] - pair[0])]
        if min(runs) < min_run:
            continue
        best = min(
            best,
            sum(
                quarter_cost(float(grid.prices[i]), 2.0 * 0.25, surplus_kwh(tariff, grid.at(i), 0.25), tariff)
                for i in chosen
            ),
        )
    if best == math.inf:
        assert ours is None
        return
    assert ours is not None
    assert sum(w.cost for w in ours) == pytest.approx(best, abs=1e-9)
    assert all((w.end - w.start) >= min_run * QUARTER for w in ours)
    assert sum((w.end - w.start for w in ours), timedelta()) == quarters * QUARTER


def test_pv_covered_energy_costs_the_feed_in_tariff() -> None:
    """2 kW for an hour at 100 EUR/MWh + 200 fee; 1 kW surplus in the first half hour at 80 EUR/MWh feed-in."""
    slots = [PriceSlot(DAY, DAY + timedelta(hours=1), 100.0)]
    tariff = Tariff(200.0, 80.0, {DAY: 1.0, DAY + QUARTER: 1.0})
    energy = load_energy(timedelta(hours=1), power_kw=2.0)
    cost, pv = load_cost_pv(slots, energy, DAY, timedelta(hours=1), tariff)
    assert pv == pytest.approx(0.5)
    assert cost == pytest.approx(0.5 * 0.08 + 1.5 * 0.3)
    grid = PriceGrid.build(slots, DAY, DAY + timedelta(hours=1), tariff)
    [window] = contiguous_windows(grid, energy, timedelta(hours=1), DAY, DAY + timedelta(hours=1), count=1)
    assert (window.cost, window.pv_kwh, window.mean_price) == pytest.approx((cost, pv, 100.0))


def test_a_start_off_the_quarter_grid_shares_each_quarters_surplus_by_time() -> None:
    """A baseline at 00:05 runs 10 minutes in the first quarter: two thirds of its surplus there."""
    slots = [PriceSlot(DAY, DAY + timedelta(hours=1), 100.0)]
    tariff = Tariff(0.0, 0.0, {DAY: 4.0})  # 1 kWh in the first quarter
    energy = load_energy(timedelta(minutes=15), power_kw=8.0)  # 2 kWh over 15 minutes
    _, pv = load_cost_pv(slots, energy, DAY + timedelta(minutes=5), timedelta(minutes=15), tariff)
    assert pv == pytest.approx(4.0 * 10 / 60)
