"""Cumulative counters: never decrease; a reset or rollover is an event, not negative consumption."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from luna_agent.sample import Sample
from luna_shared.vocabulary import Flag, Quality

__all__ = ["CounterEvent", "CounterTracker"]


class CounterEvent(NamedTuple):
    """A discontinuity of a counter, for the buffer's events table and the hub's events domain."""

    ts: datetime
    meter_id: str
    metric: str
    kind: str
    previous: float
    value: float


class _State(NamedTuple):
    base: float
    decreases: int


class CounterTracker:
    """Tracks the last accepted value of every (meter, counter metric)."""

    def __init__(self, *, reset_fraction: float, decreases_before_reset: int) -> None:
        self._reset_fraction = reset_fraction
        self._decreases_before_reset = decreases_before_reset
        self._last: dict[tuple[str, str], _State] = {}

    def check(self, sample: Sample, rollover_at: float | None = None) -> tuple[Sample, CounterEvent | None]:
        """Flag a decrease; return the event when it is a reset or rollover."""
        if sample.value is None or sample.quality is Quality.BAD:
            return sample, None
        key = (sample.meter_id, sample.metric)
        state = self._last.get(key)
        value = sample.value
        if state is None or value >= state.base:
            self._last[key] = _State(value, 0)
            return sample, None
        previous = state.base
        if rollover_at is not None and previous >= rollover_at / 2 > value:
            kind = Flag.COUNTER_ROLLOVER
        elif value < previous * self._reset_fraction or state.decreases + 1 >= self._decreases_before_reset:
            kind = Flag.COUNTER_RESET
        else:
            # A small dip (a glitch, a float read mid-update): flagged, the base is kept.
            self._last[key] = _State(previous, state.decreases + 1)
            return sample.flagged(Quality.SUSPECT, Flag.COUNTER_DECREASE), None
        self._last[key] = _State(value, 0)
        event = CounterEvent(sample.ts, sample.meter_id, sample.metric, kind.value, previous, value)
        return sample.flagged(Quality.SUSPECT, kind), event
