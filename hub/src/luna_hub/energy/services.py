"""Cheapest windows over stored prices, and energy actions for a site's devices (with their outcome).

:func:`plan_load` is the pure core: a load and prices in, windows and the baseline out. The rest
reads the database around it.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from luna_hub.energy import repository
from luna_hub.energy.pv import PvForecast, persistence_forecast
from luna_hub.energy.schemas import (
    ActionsAnswer,
    ActionView,
    BaselineView,
    DeviceSpec,
    DeviceView,
    OutcomeView,
    SiteEnergy,
    SiteEnergyView,
    Skipped,
    WindowsAnswer,
    WindowView,
)
from luna_hub.energy.windows import (
    QUARTER,
    MissingPricesError,
    PriceGrid,
    PriceSlot,
    Tariff,
    Window,
    cheapest_quarters,
    cheapest_runs,
    contiguous_windows,
    floor_quarter,
    load_cost,
    load_cost_pv,
    load_energy,
)
from luna_hub.errors import PROBLEM_TYPE_BASE, BadRequestError, NotFoundError, UnprocessableError
from luna_hub.settings import HubSettings
from luna_hub.timeparse import FieldError, LocalClock, parse_instant, zone
from luna_shared import rules

__all__ = [
    "ActionsPublisher",
    "LoadPlan",
    "PricesMissingError",
    "WindowsQuery",
    "action_outcome",
    "dismiss_action",
    "get_site_energy",
    "list_devices",
    "plan_load",
    "plan_windows",
    "propose_actions",
    "remove_device",
    "save_device",
    "save_site_energy",
    "site_tariff",
]

_MAX_RUN = timedelta(days=2)
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)
"""Instants a plan may name: far from the calendar's ends, so no arithmetic on them overflows."""
_MAX_COUNT = 100
_UTC = ZoneInfo("UTC")
_PV_MOSTLY = 0.5
_PV_PARTLY = 0.05
"""A title names the PV when the forecast surplus covers at least this share of the load ("mostly" from half)."""
_DONE_SHARE = 0.5
"""A device that used at least this share of the planned energy in its window ran there."""


class PricesMissingError(UnprocessableError):
    """The range asked for has no price for some interval: named, never guessed."""

    title = "Prices missing"
    problem_type = PROBLEM_TYPE_BASE + "prices-missing"

    def __init__(self, market: str, missing: MissingPricesError, tz: ZoneInfo) -> None:
        self.start = missing.start.astimezone(tz)
        self.end = missing.end.astimezone(tz)
        super().__init__(f"no {market} price from {self.start.isoformat()} to {self.end.isoformat()}")

    def problem_extra(self) -> dict[str, Any]:
        """Name the missing interval as data too."""
        return {"missing": {"start": self.start.isoformat(), "end": self.end.isoformat()}}


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """One planning question in UTC (see :func:`plan_load`)."""

    earliest: datetime
    latest: datetime
    duration: timedelta
    energy: list[float]
    """kWh per quarter from the start."""
    power_kw: float
    contiguous: bool = True
    min_run: int = 0
    """Quarters each run lasts at least (not contiguous)."""
    count: int = 3
    max_price: float | None = None
    baseline_start: datetime | None = None
    """None: ``earliest``."""


@dataclass(frozen=True, slots=True)
class Planned:
    """The answer to a :class:`LoadPlan`."""

    windows: list[Window]
    baseline: Window
    saving: float | None
    resolution: timedelta


def plan_load(plan: LoadPlan, slots: Sequence[PriceSlot], tariff: Tariff | None = None) -> Planned:
    """Plan ``plan`` over ``slots`` (at the site's ``tariff``: fee, feed-in, forecast PV surplus).

    Raises :class:`MissingPricesError` for a gap in the range or the baseline.
    """
    grid = PriceGrid.build(slots, plan.earliest, plan.latest, tariff)
    if plan.contiguous:
        windows = contiguous_windows(
            grid, plan.energy, plan.duration, plan.earliest, plan.latest, count=plan.count, max_price=plan.max_price
        )
        best = windows[0].cost if windows else None
    else:
        if plan.min_run > 1:
            runs = cheapest_runs(
                grid,
                plan.power_kw,
                math.ceil(plan.duration / QUARTER),
                plan.min_run,
                plan.earliest,
                plan.latest,
                max_price=plan.max_price,
            )
        else:
            runs = cheapest_quarters(
                grid, plan.power_kw, plan.duration, plan.earliest, plan.latest, max_price=plan.max_price
            )
        windows = runs or []
        best = sum(window.cost for window in windows) if runs else None
    start = plan.baseline_start or plan.earliest
    baseline_grid = PriceGrid.build(slots, start, start + plan.duration)
    quarters = [
        PriceSlot(baseline_grid.at(i), baseline_grid.at(i + 1), float(price))
        for i, price in enumerate(baseline_grid.prices)
    ]
    baseline_cost, baseline_pv = load_cost_pv(quarters, plan.energy, start, plan.duration, tariff)
    baseline = Window(start, start + plan.duration, math.nan, baseline_cost, baseline_pv)
    saving = None if best is None else baseline_cost - best
    return Planned(windows, baseline, saving, grid.resolution)


@dataclass(frozen=True, slots=True)
class WindowsQuery:
    """The parameters of ``GET /energy/windows`` as sent."""

    market: str
    earliest: str
    latest: str
    tz: str = "Europe/Berlin"
    duration_min: int | None = None
    power_kw: float | None = None
    profile_kw: Sequence[float] = ()
    count: int = 3
    contiguous: bool = True
    max_price_eur_mwh: float | None = None
    baseline: str = "earliest"


def _instant(text: str, tz: ZoneInfo, name: str) -> datetime:
    try:
        moment = parse_instant(text, LocalClock(tz))
    except FieldError as exc:
        msg = f"{name}: {exc}"
        raise BadRequestError(msg) from exc
    if not _EARLIEST <= moment < _LATEST:
        msg = f"{name}: {text!r} is outside 1970..9000"
        raise BadRequestError(msg)
    return moment


def _load_plan(query: WindowsQuery, tz: ZoneInfo, max_range: timedelta) -> LoadPlan:  # noqa: C901
    earliest, latest = _instant(query.earliest, tz, "earliest"), _instant(query.latest, tz, "latest")
    if latest <= earliest:
        msg = "latest must be after earliest"
        raise BadRequestError(msg)
    if latest - earliest > max_range:
        msg = f"earliest..latest spans more than {max_range.days} days (energy.max_range_days)"
        raise BadRequestError(msg)
    profile = list(query.profile_kw)
    if profile:
        if not query.contiguous:
            msg = "profile_kw is a programme that runs in one piece: it needs contiguous=true"
            raise BadRequestError(msg)
        duration = len(profile) * QUARTER
        if query.duration_min is not None and timedelta(minutes=query.duration_min) != duration:
            msg = f"duration_min={query.duration_min} does not match profile_kw ({len(profile)} quarters)"
            raise BadRequestError(msg)
        if any(not 0 <= kw <= 1000 for kw in profile):  # noqa: PLR2004
            msg = "each profile_kw value must be between 0 and 1000 kW"
            raise BadRequestError(msg)
        energy, power = load_energy(duration, profile_kw=profile), max(profile)
    else:
        if query.duration_min is None or query.power_kw is None:
            msg = "pass duration_min and power_kw, or profile_kw (kW per 15 minutes)"
            raise BadRequestError(msg)
        duration, power = timedelta(minutes=query.duration_min), query.power_kw
        energy = load_energy(duration, power_kw=power)
    if not timedelta(0) < duration <= _MAX_RUN:
        msg = "the run must last from 1 minute to 2 days"
        raise BadRequestError(msg)
    if duration > latest - earliest:
        msg = f"a run of {duration // timedelta(minutes=1)} minutes does not fit between earliest and latest"
        raise BadRequestError(msg)
    if not 1 <= query.count <= _MAX_COUNT:
        msg = f"count must be from 1 to {_MAX_COUNT}"
        raise BadRequestError(msg)
    baseline = None if query.baseline == "earliest" else _instant(query.baseline, tz, "baseline")
    return LoadPlan(
        earliest=earliest,
        latest=latest,
        duration=duration,
        energy=energy,
        power_kw=power,
        contiguous=query.contiguous,
        count=query.count,
        max_price=query.max_price_eur_mwh,
        baseline_start=baseline,
    )


def _window_view(window: Window, tz: ZoneInfo) -> WindowView:
    return WindowView(
        start=window.start.astimezone(tz),
        end=window.end.astimezone(tz),
        mean_price_eur_mwh=round(window.mean_price, 4),
        cost_eur=round(window.cost, 6),
    )


def _baseline_view(window: Window, tz: ZoneInfo) -> BaselineView:
    return BaselineView(
        start=window.start.astimezone(tz), end=window.end.astimezone(tz), cost_eur=round(window.cost, 6)
    )


async def _slots(pool: asyncpg.Pool, market: str, plan: LoadPlan) -> list[PriceSlot]:
    start = min(plan.earliest, plan.baseline_start or plan.earliest)
    end = max(plan.latest, (plan.baseline_start or plan.earliest) + plan.duration)
    async with pool.acquire() as connection:
        return await repository.price_slots(connection, market, start, end)


async def plan_windows(pool: asyncpg.Pool, query: WindowsQuery, settings: HubSettings) -> WindowsAnswer:
    """Answer ``GET /energy/windows``: 400 for a bad question, 422 naming the first missing price interval."""
    problem = rules.market_problem(query.market)
    if problem is not None:
        raise BadRequestError(problem)
    tz = zone(query.tz)
    plan = _load_plan(query, tz, timedelta(days=settings.energy.max_range_days))
    try:
        planned = plan_load(plan, await _slots(pool, query.market, plan))
    except MissingPricesError as exc:
        raise PricesMissingError(query.market, exc, tz) from exc
    return WindowsAnswer(
        market=query.market,
        tz=query.tz,
        resolution_min=planned.resolution // timedelta(minutes=1),
        windows=[_window_view(window, tz) for window in planned.windows],
        baseline=_baseline_view(planned.baseline, tz),
        saving_eur=None if planned.saving is None else round(planned.saving, 6),
    )


# --- energy actions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Candidate:
    device: DeviceSpec
    planned: Planned


def _local(day: date, hhmm: str, tz: ZoneInfo) -> datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return LocalClock(tz).to_utc(datetime.combine(day, time(hour, minute)))


def _device_plan(device: DeviceSpec, day: date, tz: ZoneInfo) -> LoadPlan:
    """Return the device's question for ``day`` (raises FieldError for a local time the DST switch skips)."""
    earliest = _local(day, device.earliest_start, tz)
    deadline_day = day if device.deadline > device.earliest_start else day + timedelta(days=1)
    latest = _local(deadline_day, device.deadline, tz)
    minutes = device.run_minutes()
    min_run = -(-device.min_run_min // 15)
    if not device.contiguous and min_run > 1:
        minutes = -(-minutes // 15) * 15  # runs of whole quarters
    duration = timedelta(minutes=minutes)
    if device.profile_kw:
        energy, power = load_energy(duration, profile_kw=device.profile_kw), max(device.profile_kw)
    else:
        power = device.power_kw or 0.0
        energy = load_energy(duration, power_kw=power)
    baseline = _local(day, device.baseline, tz) if device.baseline is not None else earliest
    return LoadPlan(
        earliest=earliest,
        latest=latest,
        duration=duration,
        energy=energy,
        power_kw=power,
        contiguous=device.contiguous,
        min_run=min_run,
        count=1,
        max_price=device.max_price_eur_mwh,
        baseline_start=baseline,
    )


def _title(  # noqa: PLR0917, PLR0913
    device: DeviceSpec,
    windows: list[Window],
    saving: float,
    baseline: datetime,
    day_word: str,
    tz: ZoneInfo,
    pv_share: float = 0.0,
    feed_in_eur_kwh: float = 0.0,
) -> str:
    spans = " and ".join(f"{w.start.astimezone(tz):%H:%M}–{w.end.astimezone(tz):%H:%M}" for w in windows)  # noqa: RUF001
    pv = ""
    if pv_share >= _PV_MOSTLY:
        pv = f"runs mostly on your PV (valued at {feed_in_eur_kwh * 100:.1f} ct/kWh feed-in), "
    elif pv_share >= _PV_PARTLY:
        pv = f"runs {pv_share:.0%} on your PV (valued at {feed_in_eur_kwh * 100:.1f} ct/kWh feed-in), "
    return f"{device.name} {day_word} {spans}: {pv}{saving:.2f} € cheaper than at {baseline.astimezone(tz):%H:%M}"


def _day_word(day: date, today: date) -> str:
    if day == today:
        return "today"
    if day == today + timedelta(days=1):
        return "tomorrow"
    return f"on {day.isoformat()}"


async def _skip_reason(
    connection: asyncpg.Connection, device: DeviceSpec, dismissed: set[str], now: datetime, recent: timedelta
) -> str | None:
    if device.device_id in dismissed:
        return "an action was dismissed recently (energy.dismiss_cooldown_hours)"
    if device.meter_id is not None:
        power = await repository.max_recent_power(connection, device.meter_id, now - recent)
        if power is not None and power > device.running_threshold_w:
            return f"running now: meter {device.meter_id} shows {power:.0f} W"
    return None


ActionsPublisher = Callable[[ActionsAnswer], Awaitable[None]]
"""Passes proposed actions on (the events domain makes them items; it never raises for the answer's sake)."""


async def propose_actions(  # noqa: PLR0913 - the question, and where its answer goes
    pool: asyncpg.Pool,
    site: str,
    day: date | None,
    settings: HubSettings,
    *,
    now: datetime | None = None,
    publish: ActionsPublisher | None = None,
) -> ActionsAnswer:
    """Turn the day's prices into at most ``energy.actions_per_day`` actions for the site's devices.

    Never an infeasible window, never a device in its dismissal cooldown or running now, always
    with the baseline named; the largest savings first. ``publish`` receives the answer.
    """
    energy = settings.energy
    now = now or datetime.now(UTC)
    skipped: list[Skipped] = []
    candidates: list[_Candidate] = []
    async with pool.acquire() as connection:
        tz_name = await repository.site_timezone(connection, site) or energy.timezone
        tz = zone(tz_name)
        today = now.astimezone(tz).date()
        day = day or today + timedelta(days=1)
        if not _EARLIEST.date() <= day < _LATEST.date():
            msg = f"day {day.isoformat()} is outside 1970..9000"
            raise BadRequestError(msg)
        devices = await repository.devices(connection, site)
        site_energy = await repository.site_energy(connection, site)
        tariff, _ = await site_tariff(connection, site_energy.energy if site_energy else None, day, tz)
        dismissed = await repository.dismissed_devices(
            connection, site, now - timedelta(hours=energy.dismiss_cooldown_hours)
        )
        for view in devices:
            device = view.device
            reason = await _skip_reason(
                connection, device, dismissed, now, timedelta(minutes=energy.running_recent_minutes)
            )
            if reason is None:
                reason, candidate = await _plan_device(connection, device, day, tz, energy.market, tariff)
                if candidate is not None and candidate.planned.saving is not None:
                    if candidate.planned.saving >= energy.min_saving_eur:
                        candidates.append(candidate)
                        continue
                    reason = f"no saving over the baseline ({candidate.planned.saving:.2f} €)"
            skipped.append(Skipped(device_id=device.device_id, reason=reason or "no feasible window"))
        candidates.sort(key=lambda c: (-(c.planned.saving or 0.0), c.device.device_id))
        skipped += [
            Skipped(device_id=extra.device.device_id, reason="beyond energy.actions_per_day")
            for extra in candidates[energy.actions_per_day :]
        ]
        actions = []
        for candidate in candidates[: energy.actions_per_day]:
            row = await repository.save_action(
                connection, _action_row(site, day, candidate, energy.market, tz, today, tariff)
            )
            actions.append(_action_view(row, tz))
    answer = ActionsAnswer(site=site, day=day, market=energy.market, tz=tz_name, actions=actions, skipped=skipped)
    if publish is not None:
        await publish(answer)
    return answer


async def site_tariff(
    connection: asyncpg.Connection, energy: SiteEnergy | None, day: date, tz: ZoneInfo
) -> tuple[Tariff | None, PvForecast | None]:
    """Return the site's tariff for local ``day``: its grid fee, feed-in tariff and forecast PV surplus.

    None without settings; no PV forecast without a PV meter.
    """
    if energy is None:
        return None, None
    fee, feed_in = energy.grid_fee_eur_kwh * 1000.0, energy.feed_in_eur_kwh * 1000.0
    if energy.pv_meter_id is None:
        return Tariff(fee, feed_in), None
    start = LocalClock(tz).to_utc(datetime.combine(day - timedelta(days=energy.pv_history_days), time(0)))
    end = LocalClock(tz).to_utc(datetime.combine(day, time(0)))
    pv = await repository.quarter_power(connection, energy.pv_meter_id, start - timedelta(hours=1), end)
    load = None
    if energy.load_meter_id is not None:
        load = await repository.quarter_power(connection, energy.load_meter_id, start - timedelta(hours=1), end)
    forecast = persistence_forecast(pv, load, day, tz, history_days=energy.pv_history_days)
    return Tariff(fee, feed_in, forecast.surplus_kw), forecast


async def _plan_device(  # noqa: PLR0913, PLR0917
    connection: asyncpg.Connection, device: DeviceSpec, day: date, tz: ZoneInfo, market: str, tariff: Tariff | None
) -> tuple[str | None, _Candidate | None]:
    try:
        plan = _device_plan(device, day, tz)
    except FieldError as exc:
        return str(exc), None
    if plan.duration > plan.latest - plan.earliest:
        return "the run does not fit between earliest_start and deadline", None
    start = min(plan.earliest, plan.baseline_start or plan.earliest)
    end = max(plan.latest, (plan.baseline_start or plan.earliest) + plan.duration)
    slots = await repository.price_slots(connection, market, start, end)
    try:
        planned = plan_load(plan, slots, tariff)
    except MissingPricesError as exc:
        start, end = exc.start.astimezone(tz), exc.end.astimezone(tz)
        return f"no {market} price from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} yet", None
    if not planned.windows:
        return "no feasible window (range or max_price_eur_mwh)", None
    return None, _Candidate(device, planned)


def _action_row(  # noqa: PLR0913, PLR0917
    site: str, day: date, candidate: _Candidate, market: str, tz: ZoneInfo, today: date, tariff: Tariff | None
) -> repository.ActionRow:
    planned, device = candidate.planned, candidate.device
    saving = planned.saving or 0.0
    energy = sum(_plan_energy(device))
    pv = sum(w.pv_kwh for w in planned.windows)
    feed_in = tariff.feed_in_eur_mwh / 1000.0 if tariff is not None else 0.0
    share = pv / energy if energy > 0 else 0.0
    day_word = _day_word(day, today)
    return repository.ActionRow(
        action_id=0,
        site_id=site,
        device_id=device.device_id,
        day=day,
        market=market,
        title=_title(device, planned.windows, saving, planned.baseline.start, day_word, tz, share, feed_in),
        runs=[(w.start, w.end, w.mean_price, w.cost) for w in planned.windows],
        cost_eur=sum(w.cost for w in planned.windows),
        baseline_start=planned.baseline.start,
        baseline_end=planned.baseline.end,
        baseline_cost_eur=planned.baseline.cost,
        saving_eur=saving,
        energy_kwh=energy,
        meter_id=device.meter_id,
        running_threshold_w=device.running_threshold_w,
        dismissed_at=None,
        pv_kwh=pv,
    )


def _plan_energy(device: DeviceSpec) -> list[float]:
    duration = timedelta(minutes=device.run_minutes())
    if device.profile_kw:
        return load_energy(duration, profile_kw=device.profile_kw)
    return load_energy(duration, power_kw=device.power_kw or 0.0)


def _action_view(row: repository.ActionRow, tz: ZoneInfo) -> ActionView:
    return ActionView(
        action_id=row.action_id,
        device_id=row.device_id,
        day=row.day,
        title=row.title,
        windows=[_window_view(Window(start, end, mean, cost), tz) for start, end, mean, cost in row.runs],
        cost_eur=round(row.cost_eur, 6),
        baseline=_baseline_view(Window(row.baseline_start, row.baseline_end, math.nan, row.baseline_cost_eur), tz),
        saving_eur=round(row.saving_eur, 6),
        dismissed=row.dismissed_at is not None,
        pv_kwh=round(row.pv_kwh, 6),
    )


def _no_such_action(site: str, action_id: int) -> NotFoundError:
    return NotFoundError(f"site {site!r} has no action {action_id}")


def _check_action_id(site: str, action_id: int) -> None:
    if not 0 < action_id < 2**63:  # a bigint identity: anything else names no action
        raise _no_such_action(site, action_id)


async def dismiss_action(
    pool: asyncpg.Pool, site: str, action_id: int, actor: str, settings: HubSettings
) -> ActionView:
    """Dismiss an action: its device gets no new one during the cooldown; 404 for an action of no such site."""
    _check_action_id(site, action_id)
    async with pool.acquire() as connection:
        row = await repository.dismiss(connection, site, action_id, actor)
        if row is None:
            raise _no_such_action(site, action_id)
        tz_name = await repository.site_timezone(connection, site) or settings.energy.timezone
    return _action_view(row, zone(tz_name))


async def action_outcome(pool: asyncpg.Pool, site: str, action_id: int, *, now: datetime | None = None) -> OutcomeView:
    """Tell whether the device ran in the action's window (its meter's energy there) and what that saved.

    Realised cost: the measured kWh of each quarter at that quarter's price; baseline: the same
    kWh, in the same order, run from the baseline start. With the site's energy settings both are
    valued as the plan was: its grid fee on bought energy, and the part the PV surplus *measured*
    then (PV meter minus base-load meter) covered at the feed-in tariff.
    """
    _check_action_id(site, action_id)
    now = now or datetime.now(UTC)
    async with pool.acquire() as connection:
        row = await repository.action(connection, site, action_id)
        if row is None:
            raise _no_such_action(site, action_id)
        planned = round(row.energy_kwh, 6)
        end = max(run[1] for run in row.runs)
        if now < end:
            return OutcomeView(action_id=action_id, status="pending", planned_kwh=planned)
        if row.meter_id is None:
            return OutcomeView(action_id=action_id, status="no_meter", planned_kwh=planned)
        spans = [(start, stop) for start, stop, _, _ in row.runs]
        measured = await repository.device_energy(connection, row.meter_id, spans)
        if measured is None:
            return OutcomeView(action_id=action_id, status="no_data", planned_kwh=planned)
        used = sum(kwh for _, kwh in measured)
        if used < _DONE_SHARE * row.energy_kwh:
            return OutcomeView(action_id=action_id, status="not_done", planned_kwh=planned, measured_kwh=round(used, 6))
        first, last = min(start for start, _ in spans), end
        base_end = row.baseline_start + QUARTER * len(measured)
        span_start, span_end = min(first, row.baseline_start), max(last, base_end)
        slots = await repository.price_slots(connection, row.market, span_start, span_end)
        site_energy = await repository.site_energy(connection, site)
        tariff = await _measured_tariff(connection, site_energy.energy if site_energy else None, span_start, span_end)
    try:
        grid = PriceGrid.build(slots, span_start, span_end)
    except MissingPricesError as exc:
        raise PricesMissingError(row.market, exc, _UTC) from exc
    cost, pv_kwh = _measured_cost(grid, measured, tariff)
    quarters = [PriceSlot(grid.at(i), grid.at(i + 1), float(p)) for i, p in enumerate(grid.prices)]
    energy = [kwh for _, kwh in measured]
    baseline = load_cost(quarters, energy, row.baseline_start, QUARTER * len(measured), tariff)
    return OutcomeView(
        action_id=action_id,
        status="done",
        planned_kwh=planned,
        measured_kwh=round(used, 6),
        cost_eur=round(cost, 6),
        baseline_cost_eur=round(baseline, 6),
        saving_eur=round(baseline - cost, 6),
        pv_kwh=None if tariff is None or not tariff.pv_kw else round(pv_kwh, 6),
    )


async def _measured_tariff(
    connection: asyncpg.Connection, energy: SiteEnergy | None, start: datetime, end: datetime
) -> Tariff | None:
    """Return the site's tariff over [start, end) with the PV surplus its meters measured (None: no settings)."""
    if energy is None:
        return None
    fee, feed_in = energy.grid_fee_eur_kwh * 1000.0, energy.feed_in_eur_kwh * 1000.0
    if energy.pv_meter_id is None:
        return Tariff(fee, feed_in)
    pv = await repository.quarter_power(connection, energy.pv_meter_id, start, end)
    load: dict[datetime, float] = {}
    if energy.load_meter_id is not None:
        load = await repository.quarter_power(connection, energy.load_meter_id, start, end)
    surplus = {quarter: (watts - load.get(quarter, 0.0)) / 1000.0 for quarter, watts in pv.items()}
    return Tariff(fee, feed_in, {quarter: kw for quarter, kw in surplus.items() if kw > 0})


def _measured_cost(
    grid: PriceGrid, measured: Sequence[tuple[datetime, float]], tariff: Tariff | None
) -> tuple[float, float]:
    """EUR of the measured kWh per quarter, and the kWh of it the measured PV surplus covered."""
    fee, feed_in = (tariff.fee_eur_mwh, tariff.feed_in_eur_mwh) if tariff is not None else (0.0, 0.0)
    surplus_kw = tariff.pv_kw if tariff is not None else {}
    cost = pv_kwh = 0.0
    for moment, kwh in measured:
        own = min(kwh, max(0.0, surplus_kw.get(floor_quarter(moment), 0.0)) * (QUARTER / timedelta(hours=1)))
        cost += ((kwh - own) * (float(grid.prices[grid.index(moment)]) + fee) + own * feed_in) / 1000.0
        pv_kwh += own
    return cost, pv_kwh


async def list_devices(pool: asyncpg.Pool, site: str) -> list[DeviceView]:
    """Return the site's flexible devices."""
    async with pool.acquire() as connection:
        return await repository.devices(connection, site)


async def save_device(pool: asyncpg.Pool, site: str, spec: DeviceSpec, actor: str) -> DeviceView:
    """Create or replace a device of ``site``."""
    problem = rules.meter_id_problem(spec.meter_id) if spec.meter_id is not None else None
    if problem is not None:
        raise BadRequestError(problem)
    async with pool.acquire() as connection:
        if spec.meter_id is not None:
            at = await connection.fetchval("SELECT site_id FROM meters WHERE meter_id = $1", spec.meter_id)
            if at != site:
                msg = f"meter {spec.meter_id!r} is not a meter of site {site!r}"
                raise BadRequestError(msg)
        return await repository.save_device(connection, site, spec, actor)


async def remove_device(pool: asyncpg.Pool, site: str, device_id: str) -> None:
    """Delete a device (404 when the site has none of that id); its past actions and outcomes stay."""
    async with pool.acquire() as connection:
        if not await repository.delete_device(connection, site, device_id):
            msg = f"site {site!r} has no device {device_id!r}"
            raise NotFoundError(msg)


async def get_site_energy(pool: asyncpg.Pool, site: str) -> SiteEnergyView:
    """Return the site's energy settings (404 when none are set)."""
    async with pool.acquire() as connection:
        found = await repository.site_energy(connection, site)
    if found is None:
        msg = f"site {site!r} has no energy settings (PUT /sites/{site}/energy)"
        raise NotFoundError(msg)
    return found


async def save_site_energy(pool: asyncpg.Pool, site: str, spec: SiteEnergy, actor: str) -> SiteEnergyView:
    """Set the site's PV meter, base-load meter, feed-in tariff and grid fee (meters must be the site's)."""
    for name, meter in (("pv_meter_id", spec.pv_meter_id), ("load_meter_id", spec.load_meter_id)):
        problem = rules.meter_id_problem(meter) if meter is not None else None
        if problem is not None:
            msg = f"{name}: {problem}"
            raise BadRequestError(msg)
    async with pool.acquire() as connection:
        for name, meter in (("pv_meter_id", spec.pv_meter_id), ("load_meter_id", spec.load_meter_id)):
            if meter is not None:
                at = await connection.fetchval("SELECT site_id FROM meters WHERE meter_id = $1", meter)
                if at != site:
                    msg = f"{name}: meter {meter!r} is not a meter of site {site!r}"
                    raise BadRequestError(msg)
        return await repository.save_site_energy(connection, site, spec, actor)
