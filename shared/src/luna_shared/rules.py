"""The rules every identifier and value follows, whichever way it reaches the hub (agent batch or file load).

Identifiers are checked against the constraints of the wire types in :mod:`luna_shared.wire`
(``MeterId``, ``MetricName``, ``UnitName``, ``SiteId``), read off their ``msgspec.Meta``, so the
two paths cannot drift apart; property tests hold these functions to msgspec's own checks. They
are stricter in one place: a pattern must match the whole text, so an id ending in a newline
(which ``$`` lets through a regex search) is refused. Each function returns the rule broken, in words, or
``None``; callers check each distinct identifier once per batch, not once per row.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any, Final, get_args

import msgspec

from luna_shared.vocabulary import Quality
from luna_shared.wire import MeterId, MetricName, SiteId, UnitName

__all__ = [
    "MAX_MAGNITUDE",
    "market_problem",
    "meter_id_problem",
    "metric_problem",
    "resolution_problem",
    "site_id_problem",
    "unit_problem",
    "value_problem",
]

MAX_MAGNITUDE: Final = 1e15
"""Largest absolute value of a reading or price: beyond any meter, and far from where a float sum overflows."""
_DAY: Final = timedelta(days=1)
_MINUTE: Final = timedelta(minutes=1)
_SHOWN: Final = 40


class _TextRule:
    """The length and pattern constraints of one ``Annotated[str, msgspec.Meta(...)]`` wire type."""

    def __init__(self, what: str, annotated: Any) -> None:  # noqa: ANN401 - a typing.Annotated alias
        meta: msgspec.Meta = get_args(annotated)[1]
        self._what = what
        self._min = meta.min_length or 0
        self._max = meta.max_length
        self._pattern = re.compile(meta.pattern) if meta.pattern else None
        self._shape = _describe(meta.pattern) if meta.pattern else ""

    def problem(self, text: str) -> str | None:
        if len(text) < self._min:
            return f"{self._what} is empty"
        if self._max is not None and len(text) > self._max:
            return f"{self._what} is {len(text)} characters long, at most {self._max} allowed"
        if self._pattern is not None and not self._pattern.fullmatch(text):
            return f"{self._what} {_shown(text)} is not {self._shape}"
        return None


def _describe(pattern: str) -> str:
    return f"of the form {pattern.removeprefix('^').removesuffix('$')}"


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


_METER: Final = _TextRule("meter id", MeterId)
_METRIC: Final = _TextRule("metric", MetricName)
_UNIT: Final = _TextRule("unit", UnitName)
_SITE: Final = _TextRule("site id", SiteId)
_MARKET: Final = _TextRule("market", SiteId)  # no wire type of its own: the same shape as a site's id


def meter_id_problem(meter_id: str) -> str | None:
    """Return why ``meter_id`` is not a meter id (``luna_shared.wire.MeterId``), or None."""
    return _METER.problem(meter_id)


def metric_problem(metric: str) -> str | None:
    """Return why ``metric`` is not a metric name (``luna_shared.wire.MetricName``), or None."""
    return _METRIC.problem(metric)


def unit_problem(unit: str) -> str | None:
    """Return why ``unit`` is not a unit name (``luna_shared.wire.UnitName``), or None."""
    return _UNIT.problem(unit)


def site_id_problem(site_id: str) -> str | None:
    """Return why ``site_id`` is not a site id (``luna_shared.wire.SiteId``), or None."""
    return _SITE.problem(site_id)


def market_problem(market: str) -> str | None:
    """Return why ``market`` is not a market id (letters and digits, then ``._:-``; at most 64), or None."""
    return _MARKET.problem(market)


def value_problem(value: float | None, quality: Quality | None = None) -> str | None:
    """Return why ``value`` (with ``quality``, when known) cannot be stored, or None.

    The wire's rules (:func:`luna_shared.wire.reading_problem`): no value means quality ``bad``, a
    value is finite. Also: at most :data:`MAX_MAGNITUDE` either way.
    """
    if value is None:
        if quality is not None and quality is not Quality.BAD:
            return f"a reading without a value must have quality 'bad', not {quality.value!r}"
        return None
    if not math.isfinite(value):
        return "value must be finite"
    if abs(value) > MAX_MAGNITUDE:
        return f"value {value!r} is beyond ±{MAX_MAGNITUDE:g}"
    return None


def resolution_problem(resolution: timedelta) -> str | None:
    """Return why ``resolution`` is not a price interval (whole minutes that divide a day), or None."""
    if resolution <= timedelta(0) or resolution > _DAY or resolution % _MINUTE or _DAY % resolution:
        minutes = resolution / _MINUTE
        return f"resolution of {minutes:g} minutes: it must be whole minutes that divide a day (1 to 1440)"
    return None
