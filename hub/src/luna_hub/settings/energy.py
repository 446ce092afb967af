"""Settings of cheapest windows and energy actions (``[energy]``)."""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["EnergySettings"]


class EnergySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How windows are planned and actions proposed (``[energy]``)."""

    market: str = "DE-LU"
    """The market of ``/energy/windows`` without ``market=`` and of every site's actions."""
    timezone: str = "Europe/Berlin"
    """Local time of sites' devices (earliest start, deadline) and of the actions' days."""
    max_range_days: Annotated[int, msgspec.Meta(ge=1, le=366)] = 31
    """Longest earliest..latest range one ``/energy/windows`` request may plan over."""
    actions_per_day: Annotated[int, msgspec.Meta(ge=1, le=50)] = 3
    """Most actions proposed for one site and day (the largest savings first)."""
    dismiss_cooldown_hours: Annotated[float, msgspec.Meta(ge=0)] = 72.0
    """A device whose action was dismissed gets no new one for this long."""
    running_recent_minutes: Annotated[float, msgspec.Meta(gt=0)] = 15.0
    """A device meter's power above the device's threshold this recently means the load runs now."""
    min_saving_eur: Annotated[float, msgspec.Meta(ge=0)] = 0.01
    """Smaller savings are not worth an action."""
