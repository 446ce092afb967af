"""Cheapest windows for a load, as pure functions of prices: no database, no HTTP, no clock.

Everything runs in UTC on a grid of 15-minute quarters (every price slot of the day-ahead
markets, hourly or quarter-hourly, starts on one, also across the DST switches). A load is a
list of kWh per quarter from its start (:func:`load_energy`); a window's cost is
Σ price/1000 * kWh of each quarter it covers. Windows start on price-slot boundaries only.

::

    PriceGrid.build(slots, start, end)  -> the quarters' prices, or MissingPricesError
    contiguous_windows(grid, load, ...) -> the ``count`` cheapest windows, by cost then start
    cheapest_quarters(grid, load, ...)  -> the cheapest quarters in any order, as runs

A site with PV (a :class:`Tariff`) pays another price per kWh: the part of a quarter's load that
the forecast PV surplus covers costs the feed-in tariff (the export it replaces: the opportunity
cost of self-consumption), the rest the market price plus the site's grid fee. A quarter's cost
is then ``(e * (p + fee) - min(e, s) * (p + fee - feed_in)) / 1000`` for ``e`` kWh of load and
``s`` kWh of surplus there; without a tariff it is ``e * p / 1000``.
    load_cost(slots, load, start)       -> the exact cost of a load started at any instant
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "QUARTER",
    "MissingPricesError",
    "PriceGrid",
    "PriceSlot",
    "Tariff",
    "Window",
    "cheapest_quarters",
    "cheapest_runs",
    "contiguous_windows",
    "floor_quarter",
    "load_cost",
    "load_cost_pv",
    "load_energy",
    "rank_key",
]

QUARTER: Final = timedelta(minutes=15)
_QUARTER_H: Final = 0.25
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_RANK_DIGITS: Final = 9
"""Costs are ranked rounded to a nano-euro, so two ways of summing the same numbers rank alike."""


@dataclass(frozen=True, slots=True)
class PriceSlot:
    """One market price: ``price`` EUR/MWh from ``start`` (UTC) to ``end``."""

    start: datetime
    end: datetime
    price: float


@dataclass(frozen=True, slots=True)
class Tariff:
    """What a site pays and is paid besides the market price: grid fee, feed-in tariff, forecast PV surplus."""

    fee_eur_mwh: float = 0.0
    """Added to every market price the site buys at (grid fees, levies, taxes)."""
    feed_in_eur_mwh: float = 0.0
    """What an exported kWh earns: the value of a self-consumed one."""
    pv_kw: Mapping[datetime, float] = field(default_factory=dict)
    """Forecast PV surplus (production minus base load), mean kW of each quarter by its start (UTC); absent: 0."""


@dataclass(frozen=True, slots=True)
class Window:
    """When a load runs and what it costs there (UTC)."""

    start: datetime
    end: datetime
    mean_price: float
    """Time-weighted mean market price over the window, EUR/MWh."""
    cost: float
    """EUR (with a tariff: its fee, and PV-covered energy at the feed-in tariff)."""
    pv_kwh: float = 0.0
    """The energy of the load the forecast PV surplus covers."""


class MissingPricesError(Exception):
    """No price from ``start`` to ``end`` (the first such interval of the range asked for)."""

    def __init__(self, start: datetime, end: datetime) -> None:
        super().__init__(f"no price from {start.isoformat()} to {end.isoformat()}")
        self.start = start
        self.end = end


def rank_key(window: Window) -> tuple[float, datetime]:
    """Order of windows: cheapest first, then earliest."""
    return (round(window.cost, _RANK_DIGITS), window.start)


def floor_quarter(moment: datetime) -> datetime:
    """Return the start of the quarter holding ``moment``."""
    return moment - (moment - _EPOCH) % QUARTER


def ceil_quarter(moment: datetime) -> datetime:
    """Return the first quarter boundary at or after ``moment``."""
    floor = floor_quarter(moment)
    return floor if floor == moment else floor + QUARTER


def load_energy(duration: timedelta, *, power_kw: float | None = None, profile_kw: Sequence[float] = ()) -> list[float]:
    """KWh per quarter of a load running ``duration`` at ``power_kw``, or following ``profile_kw`` (kW per quarter).

    A duration that is not a whole number of quarters ends with a part of one.
    """
    quarters = math.ceil(duration / QUARTER)
    powers = list(profile_kw) if profile_kw else [power_kw or 0.0] * quarters
    energy = []
    for index, power in enumerate(powers[:quarters]):
        part = min(QUARTER, duration - index * QUARTER) / QUARTER
        energy.append(power * _QUARTER_H * part)
    return energy


@dataclass(frozen=True, slots=True)
class PriceGrid:
    """Prices of consecutive quarters from ``start``; ``boundary[i]``: a price slot starts at quarter ``i``."""

    start: datetime
    prices: npt.NDArray[np.float64]
    boundary: npt.NDArray[np.bool_]
    resolution: timedelta
    """The finest slot length used."""
    surplus: npt.NDArray[np.float64] | None = None
    """kWh of forecast PV surplus in each quarter (None: no PV)."""
    fee: float = 0.0
    """EUR/MWh added to every price bought at."""
    feed_in: float = 0.0
    """EUR/MWh a kWh of the surplus is worth."""

    @classmethod
    def build(
        cls, slots: Iterable[PriceSlot], start: datetime, end: datetime, tariff: Tariff | None = None
    ) -> PriceGrid:
        """Return the quarters from ``start`` to ``end`` (widened to quarter boundaries); the finest slot wins.

        Raises :class:`MissingPricesError` naming the first interval no slot covers.
        """
        first, last = floor_quarter(start), ceil_quarter(end)
        size = (last - first) // QUARTER
        prices = np.zeros(size)
        boundary = np.zeros(size, dtype=np.bool_)
        filled = np.zeros(size, dtype=np.bool_)
        finest = None
        by_length: dict[timedelta, list[PriceSlot]] = {}
        for slot in slots:
            by_length.setdefault(slot.end - slot.start, []).append(slot)
        origin = first.timestamp()
        for length in sorted(by_length):  # the finest slots first: a coarser one fills only what is left
            group = sorted(by_length[length], key=lambda slot: slot.start)
            offsets = (np.array([slot.start.timestamp() for slot in group]) - origin) / QUARTER.total_seconds()
            lows = np.ceil(offsets).astype(np.int64)
            span = -(-length // QUARTER)
            highs = np.minimum(np.floor(offsets).astype(np.int64) + span, size)
            lows = np.maximum(lows, 0)
            keep = lows < highs
            if not keep.any():
                continue
            lows, highs = lows[keep], highs[keep]
            values = np.array([slot.price for slot in group])[keep]
            aligned = offsets[keep] == lows
            counts = highs - lows
            cells = np.repeat(lows, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
            free = ~filled[cells]
            prices[cells[free]] = np.repeat(values, counts)[free]
            boundary[lows[aligned & ~filled[lows]]] = True
            filled[cells] = True
            finest = length if finest is None else min(finest, length)
        missing = np.flatnonzero(~filled)
        if missing.size:
            gap_start = int(missing[0])
            gap_end = gap_start
            while gap_end < size and not filled[gap_end]:
                gap_end += 1
            raise MissingPricesError(max(start, first + gap_start * QUARTER), min(end, first + gap_end * QUARTER))
        if tariff is None:
            return cls(first, prices, boundary, finest or QUARTER)
        surplus = None
        if tariff.pv_kw:
            kw = [max(0.0, tariff.pv_kw.get(first + i * QUARTER, 0.0)) for i in range(size)]
            surplus = np.asarray(kw, dtype=np.float64) * _QUARTER_H
        return cls(first, prices, boundary, finest or QUARTER, surplus, tariff.fee_eur_mwh, tariff.feed_in_eur_mwh)

    def costs(
        self,
        indices: npt.NDArray[np.int64],
        energy: npt.NDArray[np.float64],
        share: npt.NDArray[np.float64] | float = 1.0,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """EUR and PV-covered kWh of ``energy`` kWh in quarters ``indices`` (running ``share`` of each quarter)."""
        price = self.prices[indices] + self.fee
        if self.surplus is None:
            return energy * price / 1000.0, np.zeros(np.shape(price))
        covered = np.minimum(energy, self.surplus[indices] * share)
        return (energy * price - covered * (price - self.feed_in)) / 1000.0, covered

    def index(self, moment: datetime) -> int:
        """Return the quarter holding ``moment``."""
        return (moment - self.start) // QUARTER

    def at(self, index: int) -> datetime:
        """Return the start of quarter ``index``."""
        return self.start + index * QUARTER


def contiguous_windows(  # noqa: PLR0913 - the planning problem has these dimensions
    grid: PriceGrid,
    energy: Sequence[float],
    duration: timedelta,
    earliest: datetime,
    latest: datetime,
    *,
    count: int,
    max_price: float | None = None,
) -> list[Window]:
    """Return the ``count`` cheapest windows of the load starting on a slot boundary in [earliest, latest - duration].

    With ``max_price``, no quarter the load runs in may cost more.
    """
    quarters = len(energy)
    first = grid.index(ceil_quarter(earliest))
    last_start = grid.index(floor_quarter(latest - duration)) if latest - duration >= grid.start else -1
    if quarters == 0 or last_start < first:
        return []
    span = grid.prices[first : last_start + quarters]
    weights = np.asarray(energy, dtype=np.float64)
    starts = np.arange(first, last_start + 1)
    pv: npt.NDArray[np.float64] | None = None
    if grid.surplus is None:
        costs = np.correlate(span + grid.fee, weights, mode="valid") / 1000.0
    else:  # not linear in the load: each start's quarters costed one by one (starts x quarters)
        full, rest = divmod(duration, QUARTER)
        share = np.ones(quarters)
        if rest:
            share[full] = rest / QUARTER
        each, covered = grid.costs(starts[:, None] + np.arange(quarters)[None, :], weights[None, :], share[None, :])
        costs, pv = each.sum(axis=1), covered.sum(axis=1)
    eligible = grid.boundary[first : last_start + 1].copy()
    if max_price is not None:
        windows_max = np.lib.stride_tricks.sliding_window_view(span, quarters).max(axis=1)
        eligible &= windows_max <= max_price
    candidates = np.flatnonzero(eligible)
    if candidates.size == 0:
        return []
    rounded = np.round(costs[candidates], _RANK_DIGITS)
    order = np.lexsort((starts[candidates], rounded))[:count]
    chosen = candidates[order]
    hours = duration / timedelta(hours=1)
    return [
        _window(grid, int(starts[i]), duration, float(costs[i]), hours, 0.0 if pv is None else float(pv[i]))
        for i in chosen
    ]


def _window(  # noqa: PLR0913, PLR0917
    grid: PriceGrid, index: int, duration: timedelta, cost: float, hours: float, pv_kwh: float
) -> Window:
    start = grid.at(index)
    return Window(start, start + duration, _mean_price(grid, index, duration, hours), cost, pv_kwh)


def _mean_price(grid: PriceGrid, index: int, duration: timedelta, hours: float) -> float:
    full, rest = divmod(duration, QUARTER)
    total = float(grid.prices[index : index + full].sum()) * _QUARTER_H
    if rest:
        total += float(grid.prices[index + full]) * (rest / timedelta(hours=1))
    return total / hours


def cheapest_quarters(  # noqa: PLR0913
    grid: PriceGrid,
    power_kw: float,
    duration: timedelta,
    earliest: datetime,
    latest: datetime,
    *,
    max_price: float | None = None,
) -> list[Window] | None:
    """Return the cheapest quarters in [earliest, latest) adding up to ``duration`` at ``power_kw``, as runs.

    Quarters are taken by cost (the grid's, with its tariff) then start (so an hourly slot's
    quarters go together); a duration that is not whole quarters takes part of the last (dearest)
    one chosen. None when too few quarters are allowed (range or ``max_price``).
    """
    first = grid.index(ceil_quarter(earliest))
    end = grid.index(floor_quarter(latest)) if latest >= grid.start else 0
    indices = np.arange(first, max(first, end))
    if max_price is not None:
        indices = indices[grid.prices[indices] <= max_price]
    needed = duration / QUARTER
    if indices.size < math.ceil(needed) or needed == 0:
        return None
    full_cost, _ = grid.costs(indices, np.full(indices.size, power_kw * _QUARTER_H))
    order = indices[np.lexsort((indices, full_cost))][: math.ceil(needed)]
    part = needed - math.floor(needed)
    share = {int(index): 1.0 for index in order}
    if part:
        share[int(order[-1])] = part
    runs: list[Window] = []
    run: list[int] = []
    for index in sorted(share):
        if run and (index != run[-1] + 1 or share[run[-1]] < 1.0):
            runs.append(_run(grid, run, share, power_kw))
            run = []
        run.append(index)
    runs.append(_run(grid, run, share, power_kw))
    return runs


def _run(grid: PriceGrid, run: list[int], share: dict[int, float], power_kw: float) -> Window:
    hours = sum(share[index] for index in run) * _QUARTER_H
    price_hours = sum(float(grid.prices[index]) * share[index] * _QUARTER_H for index in run)
    indices = np.asarray(run, dtype=np.int64)
    shares = np.asarray([share[index] for index in run])
    cost, covered = grid.costs(indices, power_kw * _QUARTER_H * shares, shares)
    start = grid.at(run[0])
    end = grid.at(run[-1]) + QUARTER * share[run[-1]]
    return Window(start, end, price_hours / hours, float(cost.sum()), float(covered.sum()))


def load_cost(
    slots: Sequence[PriceSlot],
    energy: Sequence[float],
    start: datetime,
    duration: timedelta,
    tariff: Tariff | None = None,
) -> float:
    """Return the exact cost in EUR of a load (kWh per quarter from ``start``, ``duration`` long) at any start.

    ``slots`` must be sorted by start and not overlap; each quarter's energy is spread evenly over
    the time the load runs in it, and so is each quarter's PV surplus (``tariff``).
    Raises :class:`MissingPricesError` where the load runs without a price.
    """
    return load_cost_pv(slots, energy, start, duration, tariff)[0]


def load_cost_pv(
    slots: Sequence[PriceSlot],
    energy: Sequence[float],
    start: datetime,
    duration: timedelta,
    tariff: Tariff | None = None,
) -> tuple[float, float]:
    """Return :func:`load_cost` and the kWh of the load the tariff's PV surplus covers."""
    starts = [slot.start for slot in slots]
    fee, feed_in = (tariff.fee_eur_mwh, tariff.feed_in_eur_mwh) if tariff is not None else (0.0, 0.0)
    pv_kw = tariff.pv_kw if tariff is not None else {}
    cost = pv = 0.0
    for offset, kwh in enumerate(energy):
        piece_start = start + offset * QUARTER
        piece_end = min(piece_start + QUARTER, start + duration)
        length = piece_end - piece_start
        position = max(0, bisect.bisect_right(starts, piece_start) - 1)
        covered = piece_start
        while covered < piece_end:
            slot = slots[position] if position < len(slots) else None
            if slot is None or slot.start > covered or slot.end <= covered:
                raise MissingPricesError(covered, piece_end)
            upto = min(piece_end, slot.end, floor_quarter(covered) + QUARTER)  # one slot, one surplus quarter
            part = kwh * ((upto - covered) / length)
            surplus = max(0.0, pv_kw.get(floor_quarter(covered), 0.0)) * ((upto - covered) / timedelta(hours=1))
            own = min(part, surplus)
            cost += ((part - own) * (slot.price + fee) + own * feed_in) / 1000.0
            pv += own
            covered = upto
            if upto >= slot.end:
                position += 1
    return cost, pv


def cheapest_runs(  # noqa: PLR0917, PLR0912, C901, PLR0913
    grid: PriceGrid,
    power_kw: float,
    quarters: int,
    min_run: int,
    earliest: datetime,
    latest: datetime,
    *,
    max_price: float | None = None,
) -> list[Window] | None:
    """Return the cheapest ``quarters`` whole quarters in [earliest, latest) in runs of at least ``min_run`` quarters.

    Dynamic programming over (quarters taken, length of the current run, capped at ``min_run``);
    on equal cost the earlier quarters win. None when no such choice exists.
    """
    first = grid.index(ceil_quarter(earliest))
    end = grid.index(floor_quarter(latest)) if latest >= grid.start else 0
    need, least = quarters, max(1, min_run)
    if need <= 0 or end - first < need:
        return None
    inf = math.inf
    # best[k][r]: cheapest cost with k quarters taken, r = current run length (0: not in a run), capped at ``least``
    best = [[inf] * (least + 1) for _ in range(need + 1)]
    best[0][0] = 0.0
    trail: list[list[list[tuple[int, int, bool] | None]]] = []
    quarter_costs, _ = grid.costs(np.arange(first, end), np.full(end - first, power_kw * _QUARTER_H))
    for index in range(first, end):
        price = float(grid.prices[index])
        allowed = max_price is None or price <= max_price
        nxt = [[inf] * (least + 1) for _ in range(need + 1)]
        back: list[list[tuple[int, int, bool] | None]] = [[None] * (least + 1) for _ in range(need + 1)]
        for taken in range(need + 1):
            for run in range(least + 1):
                cost = best[taken][run]
                if cost == inf:
                    continue
                if (run == 0 or run >= least) and cost < nxt[taken][0]:  # skip this quarter (ends a run)
                    nxt[taken][0], back[taken][0] = cost, (taken, run, False)
                if allowed and taken < need:
                    grown = min(run + 1, least)
                    added = cost + float(quarter_costs[index - first])
                    if added < nxt[taken + 1][grown] - 1e-12:
                        nxt[taken + 1][grown], back[taken + 1][grown] = added, (taken, run, True)
        best = nxt
        trail.append(back)
    finals = [(best[need][run], run) for run in (0, least) if best[need][run] < inf]
    if not finals:
        return None
    _, run = min(finals)
    taken, chosen = need, []
    for offset in range(len(trail) - 1, -1, -1):
        step = trail[offset][taken][run]
        if step is None:
            return None
        if step[2]:
            chosen.append(first + offset)
        taken, run = step[0], step[1]
    chosen.reverse()
    share = dict.fromkeys(chosen, 1.0)
    runs: list[Window] = []
    current: list[int] = []
    for index in chosen:
        if current and index != current[-1] + 1:
            runs.append(_run(grid, current, share, power_kw))
            current = []
        current.append(index)
    runs.append(_run(grid, current, share, power_kw))
    return runs
