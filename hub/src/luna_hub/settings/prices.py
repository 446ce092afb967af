"""Settings of the automatic day-ahead price import (``[prices]``)."""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Literal

import msgspec

__all__ = ["PriceImportSettings"]


class PriceImportSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where tomorrow's prices come from and when (``[prices]``); off unless ``enabled``."""

    enabled: bool = False
    source: Literal["smard", "entsoe"] = "smard"
    market: str = "DE-LU"
    """The hub's market id the prices are stored under (SMARD region / ENTSO-E bidding zone of the same name)."""
    timezone: str = "Europe/Berlin"
    """Delivery days are local days of this zone (23 and 25 hours at the DST switches)."""
    quarter_hour_from: date = date(2025, 10, 1)
    """First delivery day of 15-minute day-ahead products; hourly before it."""
    published_at: time = time(13, 0)
    """Local time after which tomorrow's auction results are expected (EPEX/SMARD publish about 13:00 CET).

    The scheduler fetches then every day (a cron trigger in ``timezone``), retrying with backoff until stored.
    """
    missing_alert_at: time = time(18, 0)
    """Local time after which tomorrow's prices still missing is a condition (:func:`tomorrow_missing`)."""
    lookback_days: Annotated[int, msgspec.Meta(ge=0, le=366)] = 7
    """Days before today that are fetched again when their prices are incomplete (backfill)."""
    check_every_s: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    """How often a replica confirms it holds the import's scheduler, or checks whether it may take it over."""
    retry_initial_s: Annotated[float, msgspec.Meta(ge=0)] = 60.0
    """Wait after a failed fetch of a day; doubles with every further failure ..."""
    retry_max_s: Annotated[float, msgspec.Meta(ge=0)] = 3600.0
    """... up to this."""
    timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    smard_url: str = "https://www.smard.de/app/chart_data"
    smard_filter: int = 4169
    """SMARD's chart-data filter of the day-ahead price (4169: Marktpreis Deutschland/Luxemburg)."""
    entsoe_url: str = "https://web-api.tp.entsoe.eu/api"
    entsoe_token_file: str | None = None
    """A file holding the ENTSO-E security token (never the token itself in the settings file)."""
