"""Checks over time: spikes by rate of change, Hampel outliers, power against energy delta."""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Mapping
from datetime import datetime

from luna_agent.sample import Sample
from luna_shared.vocabulary import Flag, Quality

__all__ = ["ConsistencyCheck", "HampelFilter", "SpikeCheck"]

_MAD_TO_SIGMA = 1.4826
_RELATIVE_FLOOR = 1e-3  # a perfectly flat window still tolerates 0.1 % noise
_MIN_WINDOW = 5
_HOURS = 3600.0


class SpikeCheck:
    """Flags a gauge that changed faster than its configured maximum rate."""

    def __init__(self, max_rate: Mapping[str, float]) -> None:
        self._max_rate = max_rate
        self._last: dict[tuple[str, str], tuple[datetime, float]] = {}

    def check(self, sample: Sample) -> Sample:
        """Compare with the previous good-enough value of the same meter and metric."""
        limit = self._max_rate.get(sample.metric)
        if limit is None or sample.value is None or sample.quality is Quality.BAD:
            return sample
        key = (sample.meter_id, sample.metric)
        previous = self._last.get(key)
        self._last[key] = (sample.ts, sample.value)
        if previous is None:
            return sample
        seconds = (sample.ts - previous[0]).total_seconds()
        if seconds > 0 and abs(sample.value - previous[1]) / seconds > limit:
            return sample.flagged(Quality.SUSPECT, Flag.SPIKE)
        return sample


class HampelFilter:
    """Rolling median/MAD per meter and metric; a value far from the median is an outlier."""

    def __init__(self, *, window: int, threshold: float) -> None:
        self._window = window
        self._threshold = threshold
        self._history: dict[tuple[str, str], deque[float]] = {}

    def check(self, sample: Sample) -> Sample:
        """Flag an outlier; every usable value joins the window (the median absorbs a level shift)."""
        if sample.value is None or sample.quality is Quality.BAD:
            return sample
        history = self._history.setdefault((sample.meter_id, sample.metric), deque(maxlen=self._window))
        flagged = sample
        if len(history) >= min(self._window, _MIN_WINDOW):
            median = statistics.median(history)
            mad = statistics.median(abs(x - median) for x in history)
            sigma = max(_MAD_TO_SIGMA * mad, abs(median) * _RELATIVE_FLOOR, 1e-9)
            if abs(sample.value - median) > self._threshold * sigma:
                flagged = sample.flagged(Quality.SUSPECT, Flag.OUTLIER)
        history.append(sample.value)
        return flagged


class ConsistencyCheck:
    """Energy imported over an interval must fit the power measured at its ends."""

    def __init__(self, *, factor: float, slack_kw: float) -> None:
        self._factor = factor
        self._slack_kw = slack_kw
        self._power: dict[str, float] = {}
        self._energy: dict[str, tuple[datetime, float, float]] = {}

    def observe_power(self, sample: Sample) -> None:
        """Remember the meter's latest total power (W)."""
        if sample.metric == "power_w" and sample.value is not None and sample.quality is not Quality.BAD:
            self._power[sample.meter_id] = sample.value

    def check(self, sample: Sample) -> Sample:
        """Flag an import energy step implying far more power than was measured."""
        if sample.metric != "energy_import_kwh" or sample.value is None or sample.quality is Quality.BAD:
            return sample
        power = self._power.get(sample.meter_id)
        previous = self._energy.get(sample.meter_id)
        if power is None:
            return sample
        self._energy[sample.meter_id] = (sample.ts, sample.value, power)
        if previous is None or sample.value < previous[1]:
            return sample
        hours = (sample.ts - previous[0]).total_seconds() / _HOURS
        if hours <= 0:
            return sample
        implied_kw = (sample.value - previous[1]) / hours
        allowed_kw = self._factor * max(abs(power), abs(previous[2])) / 1000 + self._slack_kw
        if implied_kw > allowed_kw:
            return sample.flagged(Quality.SUSPECT, Flag.INCONSISTENT)
        return sample
