"""The one pipeline every sample passes through; it flags, it never drops."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from luna_agent.sample import Sample
from luna_agent.validation.clock import ClockGuard
from luna_agent.validation.counters import CounterEvent, CounterTracker
from luna_agent.validation.rules import check_format, check_range
from luna_agent.validation.settings import Range, ValidationSettings
from luna_agent.validation.statistics import ConsistencyCheck, HampelFilter, SpikeCheck
from luna_shared.vocabulary import MetricKind, Quality, metric_spec

__all__ = ["Checked", "Pipeline"]


class Checked(NamedTuple):
    """The samples of one batch, flagged, in their original order; plus counter events."""

    samples: list[Sample]
    events: list[CounterEvent]


class Pipeline:
    """Format -> range -> counters -> spikes -> outliers -> consistency -> clock, with state per meter and metric."""

    def __init__(
        self,
        settings: ValidationSettings,
        *,
        meter_ranges: Mapping[str, Mapping[str, Range]] | None = None,
        clock: ClockGuard | None = None,
    ) -> None:
        self._ranges = settings.ranges
        self._meter_ranges = meter_ranges or {}
        self._counters = CounterTracker(
            reset_fraction=settings.reset_fraction, decreases_before_reset=settings.decreases_before_reset
        )
        self._spikes = SpikeCheck(settings.max_rate)
        self._outliers = HampelFilter(window=settings.outlier_window, threshold=settings.outlier_threshold)
        self._consistency = ConsistencyCheck(factor=settings.consistency_factor, slack_kw=settings.consistency_slack_kw)
        self._clock = clock or ClockGuard(
            sync_required=settings.clock_sync_required,
            jump_tolerance_s=settings.clock_jump_tolerance_s,
            hold_s=settings.clock_jump_hold_s,
        )

    @property
    def clock_trusted(self) -> bool:
        """Whether the wall clock was trustworthy at the last check (reported to the hub in ``status.v1``)."""
        return self._clock.trusted

    def check(self, samples: Sequence[Sample], rollover_at: Mapping[str, float] | None = None) -> Checked:
        """Validate one batch (typically one poll of one device); ``rollover_at`` by metric for wrapping counters."""
        clock_flags = self._clock.flags()
        for sample in samples:
            self._consistency.observe_power(sample)
        out: list[Sample] = []
        events: list[CounterEvent] = []
        for original in samples:
            sample = check_format(original)
            ranges = {**self._ranges, **self._meter_ranges.get(sample.meter_id, {})}
            sample = check_range(sample, ranges)
            spec = metric_spec(sample.metric)
            if spec is not None and spec.kind is MetricKind.COUNTER:
                sample, event = self._counters.check(sample, (rollover_at or {}).get(sample.metric))
                if event is not None:
                    events.append(event)
                sample = self._consistency.check(sample)
            elif spec is not None and spec.kind is MetricKind.GAUGE:
                sample = self._spikes.check(sample)
                sample = self._outliers.check(sample)
            for flag in clock_flags:
                sample = sample.flagged(Quality.SUSPECT, flag)
            out.append(sample)
        return Checked(out, events)
