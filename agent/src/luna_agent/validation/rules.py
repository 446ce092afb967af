"""Stateless checks: format (NaN, infinity, magnitude, unit) and physical range."""

from __future__ import annotations

import math
from collections.abc import Mapping

from luna_agent.sample import Sample
from luna_agent.validation.settings import Range
from luna_shared.rules import value_problem
from luna_shared.vocabulary import Flag, Quality, check_unit

__all__ = ["DEFAULT_RANGES", "check_format", "check_range", "default_range"]

_LINE_TO_LINE = ("voltage_l1_l2", "voltage_l2_l3", "voltage_l3_l1", "voltage_ll")
DEFAULT_RANGES: dict[str, Range] = {
    "voltage_ll": (0.0, 520.0),
    "voltage": (0.0, 300.0),
    "frequency": (45.0, 65.0),
    "power_factor": (-1.0, 1.0),
    "current": (-10_000.0, 10_000.0),
    "phase_angle": (-360.0, 360.0),
    "thd": (0.0, 1000.0),
    "battery_soc": (0.0, 100.0),
    "temperature": (-50.0, 150.0),
}
_COUNTER_RANGE: Range = (0.0, math.inf)


def default_range(metric: str) -> Range | None:
    """Return the built-in physical range of ``metric`` (by name prefix), if any."""
    if metric.startswith(_LINE_TO_LINE):
        return DEFAULT_RANGES["voltage_ll"]
    if metric.endswith(("_kwh", "_kvarh", "_kvah", "_ah")):
        return _COUNTER_RANGE
    for prefix, bounds in DEFAULT_RANGES.items():
        if metric.startswith(prefix):
            return bounds
    return None


def check_format(sample: Sample) -> Sample:
    """NaN/infinity lose their value (bad), as does one the hub would set aside; a unit not the metric's is bad.

    The value rule is the one both ingest paths of the hub apply (:func:`luna_shared.rules.value_problem`,
    within ±1e15): such a value is a decoding error, not a measurement, and is not shipped.
    """
    value = sample.value
    if value is not None and value_problem(value) is not None:
        reason = Flag.NOT_A_NUMBER if not math.isfinite(value) else Flag.OUT_OF_RANGE
        sample = sample.flagged(Quality.BAD, reason, clear=True)
    if not check_unit(sample.metric, sample.unit):
        sample = sample.flagged(Quality.BAD, Flag.UNIT_MISMATCH)
    return sample


def check_range(sample: Sample, overrides: Mapping[str, Range]) -> Sample:
    """Flag a value outside the metric's physical range as bad (and keep it, for diagnosis)."""
    if sample.value is None:
        return sample
    bounds = overrides.get(sample.metric) or default_range(sample.metric)
    if bounds is not None and not bounds[0] <= sample.value <= bounds[1]:
        return sample.flagged(Quality.BAD, Flag.OUT_OF_RANGE)
    return sample
