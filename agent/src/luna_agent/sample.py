"""What flows through the pipeline: a :class:`Sample` from a source, checked by validation, stored by the buffer.

A sample is a :class:`luna_shared.wire.Reading` without its ``seq``: the buffer assigns that.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from luna_shared.vocabulary import Quality
from luna_shared.wire import MeterId, MetricName, Reading

__all__ = ["Sample"]


class Sample(msgspec.Struct, frozen=True, kw_only=True):
    """One value of one metric of one meter at one instant; ``reasons`` explain a quality below good."""

    meter_id: MeterId
    metric: MetricName
    ts: datetime
    value: float | None
    unit: str
    quality: Quality = Quality.GOOD
    reasons: tuple[str, ...] = ()

    def flagged(self, quality: Quality, reason: str, *, value: float | None = None, clear: bool = False) -> Sample:
        """Return a copy with ``reason`` added and the quality lowered to ``quality`` if that is worse.

        ``clear`` also removes the value (it cannot be stored as a number, e.g. NaN).
        """
        worst = self.quality.worst(quality)
        reasons = self.reasons if reason in self.reasons else (*self.reasons, reason)
        new_value = None if clear else (self.value if value is None else value)
        return msgspec.structs.replace(self, quality=worst, reasons=reasons, value=new_value)

    def to_reading(self, seq: int) -> Reading:
        """Return the wire form, once the buffer has numbered the sample."""
        return Reading(
            meter_id=self.meter_id,
            metric=self.metric,
            ts=self.ts,
            value=self.value,
            unit=self.unit,
            quality=self.quality,
            reasons=self.reasons,
            seq=seq,
        )
