"""Tomorrow's PV surplus from the PV meter's own history: a persistence forecast, no weather data.

For each quarter-hour of the local day (its local clock time), the forecast PV power is the mean
of that quarter over the *clear-ish* days among the last ``history_days`` days (the half of the
days with data that produced the most energy, rounded up); the forecast base load is the median
of that quarter over all those days (from the base-load meter, when the site names one). The
surplus is PV minus base load, never below zero.

Why clear-ish days: a persistence forecast from all days is dragged down by one overcast day and
then plans nothing onto the PV; taking the better half assumes tomorrow is a fair day. It is
optimistic in changeable weather (a load planned onto PV that does not come runs on the grid at
that quarter's market price), so the action says "forecast" and its outcome is measured later.

Readings are averaged per quarter; a quarter without a reading keeps the last one for
``HOLD_QUARTERS`` quarters (a meter reporting every 30 minutes, as Home Assistant history does,
still fills every quarter), after that it is unknown: 0 W for PV (PV sensors often report nothing
at night), left out of the base-load median. A day without any PV reading is left out (an outage).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from luna_hub.energy.windows import QUARTER

__all__ = ["HOLD_QUARTERS", "PvForecast", "day_profile", "persistence_forecast"]

HOLD_QUARTERS: Final = 1
"""A reading stands for the quarter after its own too (a meter averaging over 30 minutes fills both)."""


@dataclass(frozen=True, slots=True)
class PvForecast:
    """Forecast surplus of one local day: mean kW of each quarter by its UTC start, and the days it stands on."""

    day: date
    surplus_kw: dict[datetime, float]
    clear_days: list[date]
    """The history days whose profile the PV forecast averages."""
    history_days: list[date]
    """Every history day with PV data."""

    @property
    def energy_kwh(self) -> float:
        """The day's forecast surplus."""
        return sum(self.surplus_kw.values()) * (QUARTER / timedelta(hours=1))


def _quarters(day: date, tz: ZoneInfo) -> list[datetime]:
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return [start + i * QUARTER for i in range((end - start) // QUARTER)]


def day_profile(watts: Mapping[datetime, float], day: date, tz: ZoneInfo) -> dict[time, float | None] | None:
    """Return the day's mean W per quarter by local clock time (None: unknown); None when the day has no reading."""
    quarters = _quarters(day, tz)
    held_from = quarters[0] - HOLD_QUARTERS * QUARTER
    if not any(held_from <= moment < quarters[-1] + QUARTER for moment in watts):
        return None
    last: float | None = None
    age = 0
    for back in range(HOLD_QUARTERS, 0, -1):  # a reading just before midnight holds into the day
        moment = quarters[0] - back * QUARTER
        if moment in watts:
            last, age = watts[moment], back - 1
    profile: dict[time, float | None] = {}
    for moment in quarters:
        if moment in watts:
            last, age = watts[moment], 0
        elif last is not None and age < HOLD_QUARTERS:
            age += 1
        else:
            last = None
        profile[moment.astimezone(tz).time()] = last
    return profile


def persistence_forecast(
    pv_watts: Mapping[datetime, float],
    load_watts: Mapping[datetime, float] | None,
    day: date,
    tz: ZoneInfo,
    *,
    history_days: int = 7,
) -> PvForecast:
    """Forecast ``day``'s PV surplus from the ``history_days`` days before it (quarter means in W by UTC start)."""
    history = [day - timedelta(days=back) for back in range(history_days, 0, -1)]
    pv_days: dict[date, dict[time, float]] = {}
    for past in history:
        profile = day_profile(pv_watts, past, tz)
        if profile is not None:
            pv_days[past] = {clock: max(0.0, value or 0.0) for clock, value in profile.items()}
    ranked = sorted(pv_days, key=lambda past: (-sum(pv_days[past].values()), past))
    clear = sorted(ranked[: math.ceil(len(ranked) / 2)])
    load_days = [] if load_watts is None else [day_profile(load_watts, past, tz) for past in history]
    surplus: dict[datetime, float] = {}
    for moment in _quarters(day, tz):
        clock = moment.astimezone(tz).time()
        pv = statistics.fmean(pv_days[past].get(clock, 0.0) for past in clear) if clear else 0.0
        seen = [value for profile in load_days if profile is not None and (value := profile.get(clock)) is not None]
        load = statistics.median(seen) if seen else 0.0
        if pv > load:
            surplus[moment] = (pv - load) / 1000.0
    return PvForecast(day=day, surplus_kw=surplus, clear_days=clear, history_days=sorted(pv_days))
