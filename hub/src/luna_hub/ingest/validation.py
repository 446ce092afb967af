"""Per-series checks while a file streams by: order, duplicates, gaps, units and robust outliers.

State is kept per series (meter/metric or market) and is bounded: the last timestamp, the
expected step and a window of recent values, so a year of minutes needs no more memory than a day.
Outliers use the median and the median absolute deviation (MAD) of the last values (increments,
for counters), which one spike cannot drag along the way a mean and a standard deviation would.
"""

from __future__ import annotations

import statistics
from collections import deque
from datetime import datetime, timedelta
from typing import Final

from luna_shared import rules
from luna_shared.vocabulary import Flag, MetricKind, metric_spec

__all__ = ["DUPLICATE", "GAP_BEFORE", "OUT_OF_ORDER", "Check", "Identifiers", "SeriesCheck", "unit_problem"]

DUPLICATE: Final = "duplicate"
GAP_BEFORE: Final = "gap_before"
OUT_OF_ORDER: Final = "out_of_order"
_WINDOW: Final = 96
_MIN_WINDOW: Final = 16
_OUTLIER_SCORE: Final = 10.0  # robust z-score (MAD scaled to a standard deviation)
_MAD_TO_SIGMA: Final = 1.4826
_REMEMBERED: Final = 100_000  # distinct identifiers whose verdict is kept: a hostile file cannot grow it further


def unit_problem(metric: str, unit: str) -> str | None:
    """Why ``unit`` does not fit ``metric`` (a known metric in another unit), or None."""
    spec = metric_spec(metric)
    if spec is not None and unit != spec.unit:
        return f"{Flag.UNIT_MISMATCH}: {metric} is measured in {spec.unit}, not {unit!r}"
    return None


class Identifiers:
    """The shared rules (:mod:`luna_shared.rules`) for a file's identifiers, each distinct one checked once."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, str], str | None] = {}
        self._markets: dict[tuple[str, timedelta | None], str | None] = {}

    def series_problem(self, meter_id: str, metric: str, unit: str) -> str | None:
        """Return why a reading of ``meter_id``/``metric`` in ``unit`` cannot be stored, or None."""
        key = (meter_id, metric, unit)
        try:
            return self._series[key]
        except KeyError:
            pass
        problem = (
            rules.meter_id_problem(meter_id)
            or rules.metric_problem(metric)
            or rules.unit_problem(unit)
            or unit_problem(metric, unit)
        )
        if len(self._series) < _REMEMBERED:
            self._series[key] = problem
        return problem

    def market_problem(self, market: str, resolution: timedelta | None) -> str | None:
        """Return why a price of ``market`` at ``resolution`` (None: not known yet) cannot be stored, or None."""
        key = (market, resolution)
        try:
            return self._markets[key]
        except KeyError:
            pass
        problem = rules.market_problem(market) or (None if resolution is None else rules.resolution_problem(resolution))
        if len(self._markets) < _REMEMBERED:
            self._markets[key] = problem
        return problem


class Check:
    """The outcome for one row: reasons to flag it, and the gap before it if any."""

    __slots__ = ("gap", "reasons")

    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.gap: tuple[datetime, datetime] | None = None


class SeriesCheck:
    """Checks for one series; feed its rows in file order."""

    def __init__(self, *, counter: bool, step: timedelta | None = None) -> None:
        self._counter = counter
        self.step = step
        self._last_ts: datetime | None = None
        self._last_value: float | None = None
        self._window: deque[float] = deque(maxlen=_WINDOW)
        self._centre: tuple[float, float] | None = None  # (median, scaled MAD), recomputed every few rows
        self._since_centre = 0

    @classmethod
    def for_metric(cls, metric: str) -> SeriesCheck:
        """Build a check that treats ``metric`` as a counter when the vocabulary says so."""
        spec = metric_spec(metric)
        return cls(counter=spec is not None and spec.kind == MetricKind.COUNTER)

    def check(self, ts: datetime, value: float | None) -> Check:
        """Check the next row of the series."""
        result = Check()
        last = self._last_ts
        if last is not None:
            if ts == last:
                result.reasons.append(DUPLICATE)
                return result
            if ts < last:
                result.reasons.append(OUT_OF_ORDER)
                return result
            step = ts - last
            if self.step is None:
                self.step = step
            elif step > self.step * 1.5:
                result.reasons.append(GAP_BEFORE)
                result.gap = (last, ts)
        self._last_ts = ts
        if value is not None:
            self._check_value(value, result)
        return result

    def _check_value(self, value: float, result: Check) -> None:
        sample = value
        if self._counter:
            previous, self._last_value = self._last_value, value
            if previous is None:
                return
            if value < previous:
                result.reasons.append(str(Flag.COUNTER_RESET))
                return
            sample = value - previous
        if len(self._window) >= _MIN_WINDOW:
            if self._centre is None or self._since_centre >= _MIN_WINDOW:
                median = statistics.median(self._window)
                spread = statistics.median(abs(x - median) for x in self._window) * _MAD_TO_SIGMA
                # A flat window has no spread: then a deviation of a tenth of its level stands out (a
                # window of zeros, like a PV counter at night, flags nothing: any sunrise would look odd).
                spread = max(spread, abs(median) * 0.01)
                self._centre, self._since_centre = (median, spread), 0
            self._since_centre += 1
            median, spread = self._centre
            if spread > 0 and abs(sample - median) / spread > _OUTLIER_SCORE:
                result.reasons.append(str(Flag.OUTLIER))
        self._window.append(sample)
