"""SQL of the energy domain: market prices as slots, devices, actions, and device meters' power."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
import msgspec

from luna_hub.energy.schemas import DeviceSpec, DeviceView, SiteEnergy, SiteEnergyView
from luna_hub.energy.windows import PriceSlot

__all__ = [
    "ActionRow",
    "action",
    "delete_device",
    "device_energy",
    "devices",
    "dismiss",
    "dismissed_devices",
    "max_recent_power",
    "price_slots",
    "quarter_power",
    "save_action",
    "save_device",
    "save_site_energy",
    "site_energy",
    "site_timezone",
]

_LONGEST_SLOT = timedelta(days=1)


async def price_slots(connection: asyncpg.Connection, market: str, start: datetime, end: datetime) -> list[PriceSlot]:
    """Every price of ``market`` overlapping [start, end), of every resolution stored."""
    rows = await connection.fetch(
        "SELECT ts, resolution, price FROM market_prices"
        " WHERE market = $1 AND ts >= $2 AND ts < $3 AND ts + resolution > $4 ORDER BY ts",
        market,
        start - _LONGEST_SLOT,
        end,
        start,
    )
    return [PriceSlot(row["ts"], row["ts"] + row["resolution"], row["price"]) for row in rows]


def _device_view(row: asyncpg.Record) -> DeviceView:
    spec = msgspec.json.decode(row["spec"], type=DeviceSpec)
    return DeviceView(site=row["site_id"], device=spec, created_by=row["created_by"], created_at=row["created_at"])


async def devices(connection: asyncpg.Connection, site: str) -> list[DeviceView]:
    """Return the site's devices by id."""
    rows = await connection.fetch(
        "SELECT site_id, spec::text AS spec, created_by, created_at FROM energy_devices"
        " WHERE site_id = $1 ORDER BY device_id",
        site,
    )
    return [_device_view(row) for row in rows]


async def save_device(connection: asyncpg.Connection, site: str, spec: DeviceSpec, actor: str) -> DeviceView:
    """Create or replace the device ``spec.device_id`` of ``site``."""
    row = await connection.fetchrow(
        "INSERT INTO energy_devices (site_id, device_id, spec, created_by) VALUES ($1, $2, $3::jsonb, $4)"
        " ON CONFLICT (site_id, device_id) DO UPDATE SET spec = excluded.spec, created_by = excluded.created_by,"
        " created_at = now() RETURNING site_id, spec::text AS spec, created_by, created_at",
        site,
        spec.device_id,
        msgspec.json.encode(spec).decode(),
        actor,
    )
    return _device_view(row)


async def delete_device(connection: asyncpg.Connection, site: str, device_id: str) -> bool:
    """Remove a device; whether it existed (its past actions stay)."""
    result: str = await connection.execute(
        "DELETE FROM energy_devices WHERE site_id = $1 AND device_id = $2", site, device_id
    )
    return result.endswith(" 1")


async def site_energy(connection: asyncpg.Connection, site: str) -> SiteEnergyView | None:
    """Return the site's energy settings, if set."""
    row = await connection.fetchrow(
        "SELECT site_id, spec::text AS spec, updated_by, updated_at FROM site_energy WHERE site_id = $1", site
    )
    return None if row is None else _site_energy_view(row)


def _site_energy_view(row: asyncpg.Record) -> SiteEnergyView:
    spec = msgspec.json.decode(row["spec"], type=SiteEnergy)
    return SiteEnergyView(site=row["site_id"], energy=spec, updated_by=row["updated_by"], updated_at=row["updated_at"])


async def save_site_energy(connection: asyncpg.Connection, site: str, spec: SiteEnergy, actor: str) -> SiteEnergyView:
    """Create or replace the site's energy settings."""
    row = await connection.fetchrow(
        "INSERT INTO site_energy (site_id, spec, updated_by) VALUES ($1, $2::jsonb, $3)"
        " ON CONFLICT (site_id) DO UPDATE SET spec = excluded.spec, updated_by = excluded.updated_by,"
        " updated_at = now() RETURNING site_id, spec::text AS spec, updated_by, updated_at",
        site,
        msgspec.json.encode(spec).decode(),
        actor,
    )
    return _site_energy_view(row)


async def quarter_power(
    connection: asyncpg.Connection, meter_id: str, start: datetime, end: datetime
) -> dict[datetime, float]:
    """Mean good or suspect ``power_w`` of ``meter_id`` per quarter (by its UTC start) in [start, end)."""
    rows = await connection.fetch(
        "SELECT date_bin('15 minutes', ts, timestamptz '2000-01-01 00:00+00') AS quarter, avg(value) AS watts"
        " FROM smart_meter_readings WHERE meter_id = $1 AND metric = 'power_w' AND ts >= $2 AND ts < $3"
        " AND value IS NOT NULL AND quality <> 'bad' GROUP BY 1",
        meter_id,
        start,
        end,
    )
    return {row["quarter"]: row["watts"] for row in rows}


async def site_timezone(connection: asyncpg.Connection, site: str) -> str | None:
    """Return the site's time zone, if the hub knows the site."""
    found: str | None = await connection.fetchval("SELECT timezone FROM sites WHERE site_id = $1", site)
    return found


async def dismissed_devices(connection: asyncpg.Connection, site: str, since: datetime) -> set[str]:
    """Devices of ``site`` with an action dismissed at or after ``since``."""
    rows = await connection.fetch(
        "SELECT DISTINCT device_id FROM energy_actions WHERE site_id = $1 AND dismissed_at >= $2", site, since
    )
    return {row["device_id"] for row in rows}


async def max_recent_power(connection: asyncpg.Connection, meter_id: str, since: datetime) -> float | None:
    """Return the highest good or suspect ``power_w`` of ``meter_id`` since ``since`` (None: no reading)."""
    value: float | None = await connection.fetchval(
        "SELECT max(value) FROM smart_meter_readings WHERE meter_id = $1 AND metric = 'power_w'"
        " AND ts >= $2 AND value IS NOT NULL AND quality <> 'bad'",
        meter_id,
        since,
    )
    return value


async def device_energy(
    connection: asyncpg.Connection, meter_id: str, runs: Sequence[tuple[datetime, datetime]]
) -> list[tuple[datetime, float]] | None:
    """KWh per quarter the meter measured in ``runs`` (mean power_w * time), in time order; None: no reading at all.

    A quarter without a reading counts as zero.
    """
    found: dict[datetime, float] = {}
    for start, end in runs:
        found.update(await quarter_power(connection, meter_id, start, end))
    if not found:
        return None
    energy = []
    quarter = timedelta(minutes=15)
    for start, end in runs:
        moment = start
        while moment < end:
            upto = min(end, moment + quarter)
            hours = (upto - moment) / timedelta(hours=1)
            energy.append((moment, found.get(moment, 0.0) / 1000.0 * hours))
            moment = upto
    return energy


class ActionRow(msgspec.Struct, frozen=True, kw_only=True):
    """An action as stored."""

    action_id: int
    site_id: str
    device_id: str
    day: date
    market: str
    title: str
    runs: list[tuple[datetime, datetime, float, float]]
    """start, end, mean price, cost of each run."""
    cost_eur: float
    baseline_start: datetime
    baseline_end: datetime
    baseline_cost_eur: float
    saving_eur: float
    energy_kwh: float
    meter_id: str | None
    running_threshold_w: float
    dismissed_at: datetime | None
    pv_kwh: float = 0.0


_ACTION_COLUMNS = (
    "action_id, site_id, device_id, day, market, title, runs::text AS runs, cost_eur, baseline_start, baseline_end,"
    " baseline_cost_eur, saving_eur, energy_kwh, meter_id, running_threshold_w, dismissed_at, pv_kwh"
)


def _action_row(row: asyncpg.Record) -> ActionRow:
    fields: dict[str, Any] = dict(row)
    fields["runs"] = msgspec.json.decode(row["runs"], type=list[tuple[datetime, datetime, float, float]])
    return ActionRow(**fields)


async def save_action(connection: asyncpg.Connection, action: ActionRow) -> ActionRow:
    """Store the action of its site, device and day, replacing an earlier plan but keeping its id."""
    row = await connection.fetchrow(
        f"""
        INSERT INTO energy_actions (site_id, device_id, day, market, title, runs, cost_eur, baseline_start,
            baseline_end, baseline_cost_eur, saving_eur, energy_kwh, meter_id, running_threshold_w, pv_kwh)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12, $13, $14, $15)
        ON CONFLICT (site_id, device_id, day) DO UPDATE SET market = excluded.market, title = excluded.title,
            runs = excluded.runs, cost_eur = excluded.cost_eur, baseline_start = excluded.baseline_start,
            baseline_end = excluded.baseline_end, baseline_cost_eur = excluded.baseline_cost_eur,
            saving_eur = excluded.saving_eur, energy_kwh = excluded.energy_kwh, meter_id = excluded.meter_id,
            running_threshold_w = excluded.running_threshold_w, pv_kwh = excluded.pv_kwh, updated_at = now()
        RETURNING {_ACTION_COLUMNS}
        """,  # noqa: S608 - fixed column list
        action.site_id,
        action.device_id,
        action.day,
        action.market,
        action.title,
        msgspec.json.encode(action.runs).decode(),
        action.cost_eur,
        action.baseline_start,
        action.baseline_end,
        action.baseline_cost_eur,
        action.saving_eur,
        action.energy_kwh,
        action.meter_id,
        action.running_threshold_w,
        action.pv_kwh,
    )
    return _action_row(row)


async def action(connection: asyncpg.Connection, site: str, action_id: int) -> ActionRow | None:
    """Return the action ``action_id`` of ``site``."""
    row = await connection.fetchrow(
        f"SELECT {_ACTION_COLUMNS} FROM energy_actions WHERE site_id = $1 AND action_id = $2",  # noqa: S608
        site,
        action_id,
    )
    return None if row is None else _action_row(row)


async def dismiss(connection: asyncpg.Connection, site: str, action_id: int, actor: str) -> ActionRow | None:
    """Mark the action dismissed (the first dismissal counts); None when there is no such action."""
    row = await connection.fetchrow(
        "UPDATE energy_actions SET dismissed_at = coalesce(dismissed_at, now()),"  # noqa: S608
        " dismissed_by = coalesce(dismissed_by, $3)"
        f" WHERE site_id = $1 AND action_id = $2 RETURNING {_ACTION_COLUMNS}",
        site,
        action_id,
        actor,
    )
    return None if row is None else _action_row(row)
