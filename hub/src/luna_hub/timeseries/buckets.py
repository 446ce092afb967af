"""Bucket arithmetic in a time zone, the same as the SQL in :mod:`.repository` does it.

15-minute and hourly buckets are fixed lengths on a grid anchored at a local midnight
(``origin``), so the two 02:00 hours of an autumn DST switch are two buckets. Days, weeks
(starting Monday) and months are calendar units of the zone: a local day is 23, 24 or 25 hours.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

__all__ = ["BUCKETS", "Bucket", "bucket_floor", "bucket_next", "grid_origin", "offset_multiple"]

Bucket = Literal["raw", "15m", "1h", "1d", "1w", "1mo"]
BUCKETS: Final = ("raw", "15m", "1h", "1d", "1w", "1mo")
_FIXED: Final = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1)}


def grid_origin(tz: ZoneInfo) -> datetime:
    """Return the local midnight of 2000-01-01 in ``tz``, the anchor of the fixed-length grids."""
    return datetime(2000, 1, 1, tzinfo=tz).astimezone(UTC)


def offset_multiple(tz: ZoneInfo, moments: list[datetime], step: timedelta) -> bool:
    """Tell whether the zone's UTC offset is a whole number of ``step`` at all of ``moments``."""
    for moment in moments:
        offset = moment.astimezone(tz).utcoffset() or timedelta(0)
        if offset % step:
            return False
    return True


def bucket_floor(moment: datetime, bucket: str, tz: ZoneInfo) -> datetime:
    """Return the start of the bucket holding ``moment``, in UTC."""
    if bucket in _FIXED:
        step = _FIXED[bucket]
        origin = grid_origin(tz)
        return origin + ((moment - origin) // step) * step
    local = moment.astimezone(tz)
    day = local.date()
    if bucket == "1w":
        day -= timedelta(days=day.weekday())
    elif bucket == "1mo":
        day = day.replace(day=1)
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def bucket_next(start: datetime, bucket: str, tz: ZoneInfo) -> datetime:
    """Return the start of the bucket after the one starting at ``start``, in UTC."""
    if bucket in _FIXED:
        return start + _FIXED[bucket]
    day = start.astimezone(tz).date()
    if bucket == "1d":
        day += timedelta(days=1)
    elif bucket == "1w":
        day += timedelta(days=7)
    else:
        day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
