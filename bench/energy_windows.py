"""Cheapest windows over a year of 15-minute prices: the grid planner against a brute-force search.

Data: the real 2024 DE-LU day-ahead prices (SMARD hourly CSV in ``../shared/data/prices``), each
hour's price on its four quarters, every quarter a price slot of its own (35,136 slots: a year of a
15-minute market). The question: the 3 cheapest starts of a 2-hour load over the whole year, at a
constant 2 kW and as a washing programme (kW per quarter). The baseline, in the same run, costs every
slot start one by one with :func:`luna_hub.energy.windows.load_cost` and sorts (what the property
tests compare against); both must give the same windows.

With PV: the same year at a site's tariff (8.2 ct/kWh feed-in, 20 ct/kWh grid fee) whose PV surplus
is EMHASS's measured PV minus house load (``../shared/data/load/emhass``, 30-minute means on both
quarters, 2024-02-28 onwards): the grid costs every start's quarters one by one (not a correlation).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from bench.report import Result
from luna_hub.energy.windows import (
    QUARTER,
    PriceGrid,
    PriceSlot,
    Tariff,
    Window,
    contiguous_windows,
    load_cost,
    load_energy,
    rank_key,
)

PRICES = (
    Path(__file__).resolve().parents[1].parent
    / "shared/data/prices/smard/Gro_handelspreise_202401010000_202501010000_Stunde.csv"
)
PV = Path(__file__).resolve().parents[1].parent / "shared/data/load/emhass/long_train_data_30min.csv"
DURATION = timedelta(hours=2)
ROUNDS = 5


def _year_of_quarters() -> list[PriceSlot]:
    if not PRICES.is_file():
        msg = f"benchmark data missing: {PRICES}"
        raise SystemExit(msg)
    text = PRICES.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))[1:]
    start = datetime(2023, 12, 31, 23, 0, tzinfo=UTC)  # 2024-01-01 00:00 CET; rows are hours in file order
    slots = []
    for hour, row in enumerate(rows):
        price = float(row[2].replace(".", "").replace(",", "."))
        for quarter in range(4):
            begin = start + timedelta(hours=hour) + quarter * QUARTER
            slots.append(PriceSlot(begin, begin + QUARTER, price))
    return slots


def _site_tariff() -> Tariff:
    if not PV.is_file():
        msg = f"benchmark data missing: {PV}"
        raise SystemExit(msg)
    surplus: dict[datetime, float] = {}
    with PV.open(newline="") as file:
        for row in csv.DictReader(file):
            pv, load = row["sensor.power_photovoltaics"], row["sensor.power_load_no_var_loads"]
            if pv and float(pv) > float(load or 0.0):
                start = datetime.fromisoformat(row["timestamp_utc"])
                for quarter in (start, start + QUARTER):
                    surplus[quarter] = (float(pv) - float(load or 0.0)) / 1000.0
    return Tariff(200.0, 82.0, surplus)


def _brute_force(slots: list[PriceSlot], energy: list[float], tariff: Tariff | None = None) -> list[Window]:
    end = slots[-1].end
    found = [
        Window(slot.start, slot.start + DURATION, 0.0, load_cost(slots, energy, slot.start, DURATION, tariff))
        for slot in slots
        if slot.start + DURATION <= end
    ]
    return sorted(found, key=rank_key)[:3]


def _best(work: Callable[[], object], rounds: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(rounds):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def run() -> list[Result]:
    """Plan the year with the grid and by brute force; check they agree; report plans per hour."""
    slots = _year_of_quarters()
    start, end = slots[0].start, slots[-1].end
    results = []
    programme = load_energy(DURATION, profile_kw=[2.0, 2.0, 0.3, 0.3, 0.3, 1.8, 1.8, 0.2])
    for label, energy, tariff in (
        ("2 kW for 2 h", load_energy(DURATION, power_kw=2.0), None),
        ("programme 8 quarters", programme, None),
        ("programme 8 quarters, PV at feed-in + grid fee", programme, _site_tariff()),
    ):

        def ours(energy: list[float] = energy, tariff: Tariff | None = tariff) -> list[Window]:
            grid = PriceGrid.build(slots, start, end, tariff)
            return contiguous_windows(grid, energy, DURATION, start, end, count=3)

        ours_s, planned = _best(ours, ROUNDS)
        brute_s, expected = _best(partial(_brute_force, slots, energy, tariff), 1)
        assert isinstance(planned, list)
        assert isinstance(expected, list)
        assert [w.start for w in planned] == [w.start for w in expected], "grid and brute force disagree"
        results.append(
            Result(
                group="energy windows",
                name=f"3 cheapest of a year of 15-min prices ({len(slots):,} slots), {label}",
                value=3600 / ours_s,
                unit="plans/h",
                baseline=3600 / brute_s,
                note=f"{ours_s * 1000:.0f} ms vs {brute_s:.1f} s costing every slot start one by one (load_cost)"
                " and sorting; same windows",
            )
        )
    return results
