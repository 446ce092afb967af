"""``GET /energy/windows`` and a site's devices and actions (``/sites/{site}/...``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import asyncpg
from litestar import Controller, Request, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from luna_hub.auth.guards import actor_of
from luna_hub.energy.schemas import (
    ActionsAnswer,
    ActionView,
    DeviceSpec,
    DeviceView,
    OutcomeView,
    SiteEnergy,
    SiteEnergyView,
    WindowsAnswer,
)
from luna_hub.energy.services import (
    ActionsPublisher,
    WindowsQuery,
    action_outcome,
    dismiss_action,
    get_site_energy,
    list_devices,
    plan_windows,
    propose_actions,
    remove_device,
    save_device,
    save_site_energy,
)
from luna_hub.errors import BadRequestError
from luna_hub.settings import HubSettings

__all__ = ["EnergyController", "SiteEnergyController"]

_Request = Request[Any, Any, Any]
_Local = Annotated[str, QueryParameter(description="ISO 8601; without offset it is local time in tz")]


def _profile(values: list[str] | None) -> list[float]:
    """``profile_kw`` repeated or comma-separated."""
    try:
        return [float(part) for value in values or [] for part in value.split(",") if part.strip()]
    except ValueError as exc:
        msg = f"profile_kw: not a list of numbers: {values}"
        raise BadRequestError(msg) from exc


class EnergyController(Controller):
    """Cheapest windows over a market's stored prices."""

    path = "/energy"
    tags = ["energy"]  # noqa: RUF012 - Litestar's declared type

    @get("/windows", summary="The cheapest windows to run a load, and the saving against a baseline")
    async def windows(  # noqa: PLR0913, PLR0917 - one parameter per dimension of the question
        self,
        db_pool: NamedDependency[asyncpg.Pool],
        settings: NamedDependency[HubSettings],
        earliest: _Local,
        latest: _Local,
        market: FromQuery[str | None] = None,
        tz: FromQuery[str] = "Europe/Berlin",
        duration_min: Annotated[int | None, QueryParameter(ge=1, le=2880)] = None,
        power_kw: Annotated[float | None, QueryParameter(gt=0, le=1000)] = None,
        profile_kw: Annotated[list[str] | None, QueryParameter(description="kW per 15 minutes")] = None,
        count: Annotated[int, QueryParameter(ge=1, le=100)] = 3,
        contiguous: FromQuery[bool] = True,
        max_price_eur_mwh: FromQuery[float | None] = None,
        baseline: Annotated[str, QueryParameter(description="'earliest' or a local time")] = "earliest",
    ) -> WindowsAnswer:
        """Rank windows by cost then start; 422 names the first interval without a price."""
        query = WindowsQuery(
            market=market or settings.energy.market,
            earliest=earliest,
            latest=latest,
            tz=tz,
            duration_min=duration_min,
            power_kw=power_kw,
            profile_kw=_profile(profile_kw),
            count=count,
            contiguous=contiguous,
            max_price_eur_mwh=max_price_eur_mwh,
            baseline=baseline,
        )
        return await plan_windows(db_pool, query, settings)


class SiteEnergyController(Controller):
    """A site's flexible devices and the actions proposed for them."""

    path = "/sites/{site:str}"
    tags = ["energy"]  # noqa: RUF012

    @get("/energy", summary="The site's PV meter, feed-in tariff and grid fee")
    async def energy(self, site: FromPath[str], db_pool: NamedDependency[asyncpg.Pool]) -> SiteEnergyView:
        """404 when none are set."""
        return await get_site_energy(db_pool, site)

    @put("/energy", summary="Set the site's PV meter, feed-in tariff and grid fee (actions value PV with them)")
    async def save_energy(
        self, request: _Request, site: FromPath[str], data: JSONBody[SiteEnergy], db_pool: NamedDependency[asyncpg.Pool]
    ) -> SiteEnergyView:
        """Create or replace; the meters must be the site's."""
        return await save_site_energy(db_pool, site, data, actor_of(request))

    @get("/devices", summary="The site's flexible devices")
    async def devices(self, site: FromPath[str], db_pool: NamedDependency[asyncpg.Pool]) -> list[DeviceView]:
        """List the devices by id."""
        return await list_devices(db_pool, site)

    @post("/devices", summary="Describe a flexible device (replaces one of the same id)")
    async def save_device(
        self, request: _Request, site: FromPath[str], data: JSONBody[DeviceSpec], db_pool: NamedDependency[asyncpg.Pool]
    ) -> DeviceView:
        """Create or replace the device."""
        return await save_device(db_pool, site, data, actor_of(request))

    @delete("/devices/{device_id:str}", summary="Remove a device (its past actions stay)")
    async def remove_device(
        self, site: FromPath[str], device_id: FromPath[str], db_pool: NamedDependency[asyncpg.Pool]
    ) -> None:
        """404 when the site has no such device."""
        await remove_device(db_pool, site, device_id)

    @get("/actions", summary="Actions for a day's prices: when to run which device, and what it saves")
    async def actions(
        self,
        site: FromPath[str],
        db_pool: NamedDependency[asyncpg.Pool],
        settings: NamedDependency[HubSettings],
        energy_action_items: NamedDependency[ActionsPublisher],
        day: Annotated[date | None, QueryParameter(description="local day (default: tomorrow)")] = None,
    ) -> ActionsAnswer:
        """At most ``energy.actions_per_day``, each with its baseline; skipped devices say why; actions become items."""
        return await propose_actions(db_pool, site, day, settings, publish=energy_action_items)

    @post("/actions/{action_id:int}/dismiss", summary="Dismiss an action (its device rests for the cooldown)")
    async def dismiss(
        self,
        request: _Request,
        site: FromPath[str],
        action_id: FromPath[int],
        db_pool: NamedDependency[asyncpg.Pool],
        settings: NamedDependency[HubSettings],
    ) -> ActionView:
        """404 when the site has no such action."""
        return await dismiss_action(db_pool, site, action_id, actor_of(request), settings)

    @get("/actions/{action_id:int}/outcome", summary="Did it run, and did it save? From the device meter and prices")
    async def outcome(
        self, site: FromPath[str], action_id: FromPath[int], db_pool: NamedDependency[asyncpg.Pool]
    ) -> OutcomeView:
        """Done / not_done from the meter's energy in the window; realised saving against the baseline."""
        return await action_outcome(db_pool, site, action_id)
