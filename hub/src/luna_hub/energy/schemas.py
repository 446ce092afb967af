"""Wire types of ``/energy/windows`` and of a site's devices and actions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

__all__ = [
    "ActionView",
    "ActionsAnswer",
    "BaselineView",
    "DeviceSpec",
    "DeviceType",
    "DeviceView",
    "OutcomeView",
    "SiteEnergy",
    "SiteEnergyView",
    "Skipped",
    "WindowView",
    "WindowsAnswer",
]

DeviceType = Literal["dishwasher", "washing_machine", "dryer", "ev", "heat_pump", "battery", "other"]
_DeviceId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
_LocalTime = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM local")]
_Kw = Annotated[float, msgspec.Meta(ge=0, le=1000)]
_MINUTES_PER_QUARTER = 15


class WindowView(msgspec.Struct, frozen=True, kw_only=True):
    """One window: local start and end (with offset), mean price and cost."""

    start: datetime
    end: datetime
    mean_price_eur_mwh: float
    cost_eur: float


class BaselineView(msgspec.Struct, frozen=True, kw_only=True):
    """The run the saving is measured against."""

    start: datetime
    end: datetime
    cost_eur: float


class WindowsAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /energy/windows``."""

    market: str
    tz: str
    resolution_min: int
    windows: list[WindowView]
    baseline: BaselineView
    saving_eur: float | None
    """Baseline cost minus the best window's (or, not contiguous, the chosen slots'); null without a window."""


class DeviceSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A flexible device of a site (``POST /sites/{site}/devices``).

    Its run: ``profile_kw`` (kW per 15 minutes), or ``power_kw`` for ``duration_min``, or
    ``energy_kwh`` at ``power_kw``. It may start from ``earliest_start`` and must end by
    ``deadline`` (local times; a deadline at or before the earliest start is on the next day).
    """

    device_id: _DeviceId
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    type: DeviceType
    power_kw: Annotated[float, msgspec.Meta(gt=0, le=1000)] | None = None
    duration_min: Annotated[int, msgspec.Meta(ge=1, le=2880)] | None = None
    energy_kwh: Annotated[float, msgspec.Meta(gt=0, le=10_000)] | None = None
    profile_kw: Annotated[list[_Kw], msgspec.Meta(max_length=192)] = msgspec.field(default_factory=list)
    earliest_start: _LocalTime = "00:00"
    deadline: _LocalTime = "00:00"
    contiguous: bool = True
    min_run_min: Annotated[int, msgspec.Meta(ge=0, le=1440)] = 0
    """Not contiguous: each run lasts at least this long (whole quarters are planned)."""
    max_price_eur_mwh: float | None = None
    """Cost cap: no quarter the device runs in may cost more."""
    baseline: _LocalTime | None = None
    """When the device would run without advice (the saving is measured against it); default earliest_start."""
    meter_id: str | None = None
    """A meter measuring the device's power_w: recent power above the threshold means it runs now."""
    running_threshold_w: Annotated[float, msgspec.Meta(ge=0)] = 50.0

    def __post_init__(self) -> None:
        if self.profile_kw:
            if self.contiguous is False:
                msg = "a profile_kw programme runs in one piece: contiguous must be true"
                raise ValueError(msg)
            return
        if self.power_kw is None:
            msg = "give profile_kw, or power_kw with duration_min or energy_kwh"
            raise ValueError(msg)
        if (self.duration_min is None) == (self.energy_kwh is None):
            msg = "give exactly one of duration_min and energy_kwh with power_kw"
            raise ValueError(msg)
        if self.run_minutes() > 2880:  # noqa: PLR2004 - two days, as duration_min's limit
            msg = "the run (energy_kwh / power_kw) must not exceed 2880 minutes"
            raise ValueError(msg)

    def run_minutes(self) -> int:
        """How long one run lasts, in whole minutes (rounded up)."""
        if self.profile_kw:
            return len(self.profile_kw) * _MINUTES_PER_QUARTER
        if self.duration_min is not None:
            return self.duration_min
        return -int(-(self.energy_kwh or 0) * 60 // (self.power_kw or 1))


class SiteEnergy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A site's PV and tariff (``PUT /sites/{site}/energy``): what its actions value energy at.

    With ``pv_meter_id``, tomorrow's PV surplus is forecast from that meter's ``power_w`` of the last
    ``pv_history_days`` days (minus the base load of ``load_meter_id``, when given); the part of a
    load it covers is valued at ``feed_in_eur_kwh``, the rest at the market price plus ``grid_fee_eur_kwh``.
    """

    pv_meter_id: str | None = None
    """A meter of the site measuring the PV production as ``power_w``."""
    load_meter_id: str | None = None
    """A meter of the site measuring the household's base load (without the flexible devices) as ``power_w``."""
    feed_in_eur_kwh: Annotated[float, msgspec.Meta(ge=-1, le=2)] = 0.0
    """What an exported kWh earns (e.g. 0.082 for 8.2 ct/kWh)."""
    grid_fee_eur_kwh: Annotated[float, msgspec.Meta(ge=0, le=2)] = 0.0
    """Added to the market price of every kWh bought (grid fees, levies, taxes)."""
    pv_history_days: Annotated[int, msgspec.Meta(ge=1, le=60)] = 7
    """Days of PV history the forecast looks back on."""

    def __post_init__(self) -> None:
        if self.load_meter_id is not None and self.pv_meter_id is None:
            msg = "load_meter_id is subtracted from the PV forecast: it needs pv_meter_id"
            raise ValueError(msg)


class SiteEnergyView(msgspec.Struct, frozen=True, kw_only=True):
    """A site's stored energy settings."""

    site: str
    energy: SiteEnergy
    updated_by: str
    updated_at: datetime


class DeviceView(msgspec.Struct, frozen=True, kw_only=True):
    """A stored device."""

    site: str
    device: DeviceSpec
    created_by: str
    created_at: datetime


class ActionView(msgspec.Struct, frozen=True, kw_only=True):
    """One proposed action: when to run a device, and what it saves against the named baseline."""

    action_id: int
    device_id: str
    day: date
    title: str
    """E.g. ``Dishwasher tomorrow 13:00–15:00: 0.42 € cheaper than at 19:00``."""  # noqa: RUF001
    windows: list[WindowView]
    """The runs (one unless the device need not run in one piece)."""
    cost_eur: float
    baseline: BaselineView
    saving_eur: float
    dismissed: bool = False
    pv_kwh: float = 0.0
    """The energy of the planned runs that the forecast PV surplus covers (valued at the feed-in tariff)."""


class Skipped(msgspec.Struct, frozen=True, kw_only=True):
    """A device without an action today, and why."""

    device_id: str
    reason: str


class ActionsAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /sites/{site}/actions``."""

    site: str
    day: date
    market: str
    tz: str
    actions: list[ActionView]
    skipped: list[Skipped]


class OutcomeView(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /sites/{site}/actions/{id}/outcome``: whether the device ran in the window, and what it saved."""

    action_id: int
    status: Literal["pending", "done", "not_done", "no_meter", "no_data"]
    """pending: the window is not over; no_meter: the device names none; no_data: its meter sent nothing then."""
    planned_kwh: float
    measured_kwh: float | None = None
    cost_eur: float | None = None
    """What the measured energy cost at the window's prices."""
    baseline_cost_eur: float | None = None
    """What the same energy would have cost run from the baseline start."""
    saving_eur: float | None = None
    pv_kwh: float | None = None
    """Of the measured energy, the kWh the PV surplus measured then covered (valued at the feed-in tariff)."""
