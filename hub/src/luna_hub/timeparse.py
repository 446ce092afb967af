"""Time zones and timestamps as files and queries write them, shared by ingest and timeseries.

Local wall times (German CSV files carry no offset) become UTC through :class:`LocalClock`,
which resolves the repeated hour of the autumn DST switch by file order: the first 02:00 is
summer time, the second winter time. A wall time that does not exist (spring switch) is an error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from luna_hub.errors import BadRequestError

__all__ = ["FieldError", "LocalClock", "parse_instant", "zone"]


class FieldError(ValueError):
    """One field of one row cannot be read; the message is the row's rejection reason."""


def zone(name: str) -> ZoneInfo:
    """Return the IANA time zone ``name``, or raise a 400 naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        msg = f"unknown time zone {name!r}"
        raise BadRequestError(msg) from exc


def parse_instant(text: str, clock: LocalClock) -> datetime:
    """Parse an ISO 8601 timestamp; without an offset it is local time on ``clock``."""
    text = text.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        msg = f"not an ISO 8601 timestamp: {text!r}"
        raise FieldError(msg) from None
    if moment.tzinfo is None:
        return clock.to_utc(moment)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise FieldError(_beyond_calendar(text)) from None


def _beyond_calendar(text: object) -> str:
    return f"{text} is beyond the calendar (years 1 to 9999 in UTC)"


class LocalClock:
    """Turn naive wall times of one zone into UTC, in file order (see the module docstring)."""

    def __init__(self, tz: ZoneInfo) -> None:
        self._tz = tz
        self._last: datetime | None = None

    def parse_german(self, text: str) -> datetime:
        """Parse ``DD.MM.YYYY HH:MM`` local time."""
        try:
            naive = datetime.strptime(text.strip(), "%d.%m.%Y %H:%M")  # noqa: DTZ007 - local, resolved below
        except ValueError:
            msg = f"not a DD.MM.YYYY HH:MM time: {text!r}"
            raise FieldError(msg) from None
        return self.to_utc(naive)

    def to_utc(self, naive: datetime) -> datetime:
        """Return the UTC instant of wall time ``naive``; the repeated hour resolves by order."""
        first = naive.replace(tzinfo=self._tz, fold=0)
        second = naive.replace(tzinfo=self._tz, fold=1)
        try:
            chosen = first.astimezone(UTC)
            later = second.astimezone(UTC)
            exists = chosen.astimezone(self._tz).replace(tzinfo=None) == naive
        except OverflowError:
            raise FieldError(_beyond_calendar(naive.isoformat())) from None
        if not exists:
            msg = f"local time {naive:%Y-%m-%d %H:%M} does not exist in {self._tz.key} (DST switch)"
            raise FieldError(msg)
        if later != chosen and self._last is not None and chosen <= self._last:
            chosen = later
        self._last = chosen
        return chosen
