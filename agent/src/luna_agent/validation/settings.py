"""What validation is configured with (``[validation]``; per-device ranges in ``[[devices]] ranges``)."""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["Range", "ValidationSettings"]

Range = tuple[float, float]


class ValidationSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Thresholds of the validation pipeline; defaults suit a 230/400 V, 50 Hz installation."""

    ranges: dict[str, Range] = msgspec.field(default_factory=dict)
    """Physical range per metric, ``[min, max]``, over the built-in defaults."""
    max_rate: dict[str, float] = msgspec.field(default_factory=lambda: {"frequency_hz": 2.0, "voltage_l1_v": 150.0})
    """Largest believable change per second per metric; faster is a spike."""
    outlier_window: Annotated[int, msgspec.Meta(ge=5, le=1000)] = 15
    outlier_threshold: Annotated[float, msgspec.Meta(gt=0)] = 6.0
    """Hampel: flag a value further than this many robust sigmas (1.4826 x MAD) from the rolling median."""
    reset_fraction: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.1
    """A counter falling below this fraction of its previous value was reset."""
    decreases_before_reset: Annotated[int, msgspec.Meta(ge=1)] = 3
    """Consecutive smaller decreases after which the counter is taken as reset to a new base."""
    consistency_factor: Annotated[float, msgspec.Meta(gt=1)] = 2.0
    consistency_slack_kw: Annotated[float, msgspec.Meta(ge=0)] = 0.5
    """Energy delta over an interval may imply at most ``factor x max(|power|) + slack`` kW."""
    clock_sync_required: bool = False
    """Flag readings while the kernel reports the clock unsynchronised (NTP not yet synced)."""
    clock_jump_tolerance_s: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    clock_jump_hold_s: Annotated[float, msgspec.Meta(ge=0)] = 60.0
    """After a backward clock jump, readings stay flagged this long."""
