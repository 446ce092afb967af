"""Day-ahead price sources: SMARD's chart data and the ENTSO-E transparency API.

Parsing is pure (bytes in, :class:`SourcePrice` out) and kept apart from fetching. Each source
answers one question: the prices of one local delivery day, and whether they are all there.

::

    PriceSourceError (UnavailableError, 503)   the source could not be read or answered nonsense
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Protocol
from zoneinfo import ZoneInfo

import httpx
import msgspec

from luna_hub.errors import UnavailableError

__all__ = [
    "DayPrices",
    "EntsoeSource",
    "PriceSource",
    "PriceSourceError",
    "SmardSource",
    "SourcePrice",
    "day_bounds",
    "parse_entsoe",
    "parse_smard_index",
    "parse_smard_series",
]

ENTSOE_ZONES: Final = {"DE-LU": "10Y1001A1001A82H", "AT": "10YAT-APG------L", "NL": "10YNL----------L"}
"""EIC codes of the bidding zones a market id may name for ENTSO-E."""
_RESOLUTIONS: Final = {"PT15M": timedelta(minutes=15), "PT30M": timedelta(minutes=30), "PT60M": timedelta(hours=1)}
_SMARD_STEP: Final = {"hour": timedelta(hours=1), "quarterhour": timedelta(minutes=15)}


class PriceSourceError(UnavailableError):
    """A price source could not be read, or its answer is not in the documented shape."""

    title = "Price source unavailable"


@dataclass(frozen=True, slots=True)
class SourcePrice:
    """One price as a source gives it: EUR/MWh from ``ts`` (UTC) for ``resolution``."""

    ts: datetime
    resolution: timedelta
    price: float


@dataclass(frozen=True, slots=True)
class DayPrices:
    """The prices of one local day; ``complete``: every slot of the day at one resolution has its price."""

    day: date
    prices: list[SourcePrice]
    complete: bool


class PriceSource(Protocol):
    """Where prices come from."""

    @property
    def name(self) -> str:
        """Return the name runs and stored prices carry (``smard``, ``entsoe``)."""
        ...

    async def fetch_day(self, client: httpx.AsyncClient, day: date) -> DayPrices:
        """Return the day's prices (possibly none yet); raise :class:`PriceSourceError` when unreadable."""
        ...


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Return the UTC start and end of local ``day`` (23 or 25 hours apart at the DST switches)."""
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


def _complete(prices: Sequence[SourcePrice], start: datetime, end: datetime) -> bool:
    by_resolution: dict[timedelta, set[datetime]] = {}
    for price in prices:
        by_resolution.setdefault(price.resolution, set()).add(price.ts)
    return any(len(stamps) == (end - start) // step for step, stamps in by_resolution.items())


async def _get(client: httpx.AsyncClient, url: str, params: dict[str, str] | None = None) -> httpx.Response:
    try:
        return await client.get(url, params=params)
    except httpx.HTTPError as exc:
        msg = f"{url}: {type(exc).__name__}: {exc}"
        raise PriceSourceError(msg) from exc


# --- SMARD ------------------------------------------------------------------------------------------


class _SmardIndex(msgspec.Struct, frozen=True):
    timestamps: list[int]


class _SmardSeries(msgspec.Struct, frozen=True):
    series: list[tuple[int, float | None]]


def parse_smard_index(body: bytes) -> list[int]:
    """Return the timestamps (ms since the epoch, UTC) of the weekly files of an ``index_{resolution}.json``."""
    try:
        return sorted(msgspec.json.decode(body, type=_SmardIndex).timestamps)
    except msgspec.DecodeError as exc:
        msg = f"SMARD index is not in the documented shape: {exc}"
        raise PriceSourceError(msg) from exc


def parse_smard_series(body: bytes, step: timedelta) -> list[SourcePrice]:
    """Return the published prices of a SMARD series file (nulls, not yet published, left out)."""
    try:
        series = msgspec.json.decode(body, type=_SmardSeries).series
    except msgspec.DecodeError as exc:
        msg = f"SMARD series is not in the documented shape: {exc}"
        raise PriceSourceError(msg) from exc
    return [
        SourcePrice(datetime.fromtimestamp(ms / 1000, UTC), step, value) for ms, value in series if value is not None
    ]


@dataclass(frozen=True, slots=True)
class SmardSource:
    """SMARD chart data: filter 4169 (day-ahead price) of a region, hourly before ``quarter_hour_from``."""

    base_url: str
    region: str
    tz: ZoneInfo
    quarter_hour_from: date
    filter_id: int = 4169
    name: str = "smard"

    async def fetch_day(self, client: httpx.AsyncClient, day: date) -> DayPrices:
        """Read the weekly files covering ``day`` and keep the day's prices."""
        resolution = "quarterhour" if day >= self.quarter_hour_from else "hour"
        folder = f"{self.base_url.rstrip('/')}/{self.filter_id}/{self.region}"
        response = await _get(client, f"{folder}/index_{resolution}.json")
        _raise_for_status(response, "SMARD index")
        stamps = parse_smard_index(response.content)
        start, end = day_bounds(day, self.tz)
        start_ms, end_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
        earlier = [stamp for stamp in stamps if stamp <= start_ms]
        wanted = ([earlier[-1]] if earlier else []) + [stamp for stamp in stamps if start_ms < stamp < end_ms]
        prices: list[SourcePrice] = []
        for stamp in wanted:
            response = await _get(client, f"{folder}/{self.filter_id}_{self.region}_{resolution}_{stamp}.json")
            if response.status_code == httpx.codes.NOT_FOUND:
                continue  # listed in the index but not there (yet): nothing published
            _raise_for_status(response, "SMARD series")
            prices += [p for p in parse_smard_series(response.content, _SMARD_STEP[resolution]) if start <= p.ts < end]
        return DayPrices(day, prices, _complete(prices, start, end))


def _raise_for_status(response: httpx.Response, what: str) -> None:
    if response.status_code != httpx.codes.OK:
        msg = f"{what}: HTTP {response.status_code} from {response.request.url.copy_with(query=None)}"
        raise PriceSourceError(msg)


# --- ENTSO-E ----------------------------------------------------------------------------------------

_DTD = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


def _refuse_dtd(body: bytes) -> None:
    """No document type declarations: no entity expansion, no external entities (A44 documents have none)."""
    if _DTD.search(body):
        msg = "ENTSO-E answer holds a DTD or entity declaration: refused"
        raise PriceSourceError(msg)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((child for child in element if _local(child.tag) == name), None)


def _text(element: ET.Element, *path: str) -> str:
    node: ET.Element | None = element
    for name in path:
        node = None if node is None else _child(node, name)
    if node is None or node.text is None:
        msg = f"ENTSO-E document lacks {'/'.join(path)}"
        raise PriceSourceError(msg)
    return node.text.strip()


def _instant(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError as exc:
        msg = f"ENTSO-E time {text!r} is not ISO 8601"
        raise PriceSourceError(msg) from exc


def parse_entsoe(body: bytes) -> list[SourcePrice]:
    """Return the prices of an A44 ``Publication_MarketDocument``; none for an ``Acknowledgement_MarketDocument``.

    Curve type A03 ("variable sized block") leaves out a point whose price repeats the previous
    one: every position of a period gets the last price given at or before it. A time series of
    another classification sequence than the first (DE-LU: EXAA's auction beside SDAC's) is left out.
    """
    _refuse_dtd(body)
    try:
        root = ET.fromstring(body)  # noqa: S314 - DTDs refused above
    except ET.ParseError as exc:
        msg = f"ENTSO-E answer is not XML: {exc}"
        raise PriceSourceError(msg) from exc
    kind = _local(root.tag)
    if kind == "Acknowledgement_MarketDocument":
        return []
    if kind != "Publication_MarketDocument":
        msg = f"ENTSO-E answer is a {kind}, not a Publication_MarketDocument"
        raise PriceSourceError(msg)
    prices: list[SourcePrice] = []
    for series in (child for child in root if _local(child.tag) == "TimeSeries"):
        sequence = _child(series, "classificationSequence_AttributeInstanceComponent.position")
        if sequence is not None and (sequence.text or "").strip() not in {"", "1"}:
            continue
        curve = _child(series, "curveType")
        filled = curve is not None and (curve.text or "").strip() == "A03"
        for period in (child for child in series if _local(child.tag) == "Period"):
            prices += _period_prices(period, filled=filled)
    return prices


def _period_prices(period: ET.Element, *, filled: bool) -> list[SourcePrice]:
    start = _instant(_text(period, "timeInterval", "start"))
    end = _instant(_text(period, "timeInterval", "end"))
    code = _text(period, "resolution")
    step = _RESOLUTIONS.get(code)
    if step is None:
        msg = f"ENTSO-E resolution {code!r} is not one of {sorted(_RESOLUTIONS)}"
        raise PriceSourceError(msg)
    given: dict[int, float] = {}
    for point in (child for child in period if _local(child.tag) == "Point"):
        try:
            given[int(_text(point, "position"))] = float(_text(point, "price.amount"))
        except ValueError as exc:
            msg = f"ENTSO-E point is not a number: {exc}"
            raise PriceSourceError(msg) from exc
    positions = (end - start) // step
    prices, last = [], None
    for position in range(1, positions + 1):
        price = given.get(position)
        if price is None and filled:
            price = last
        if price is not None:
            prices.append(SourcePrice(start + (position - 1) * step, step, price))
            last = price
    return prices


@dataclass(frozen=True, slots=True)
class EntsoeSource:
    """The ENTSO-E transparency API: document type A44 (day-ahead prices) of a bidding zone."""

    base_url: str
    zone_code: str
    token: str
    tz: ZoneInfo
    quarter_hour_from: date
    """Before it, 15-minute DE-LU series are EXAA's, not the day-ahead auction's: only PT60M is kept."""
    name: str = "entsoe"

    async def fetch_day(self, client: httpx.AsyncClient, day: date) -> DayPrices:
        """Ask for the day's A44 document (UTC bounds of the local day)."""
        start, end = day_bounds(day, self.tz)
        params = {
            "securityToken": self.token,
            "documentType": "A44",
            "in_Domain": self.zone_code,
            "out_Domain": self.zone_code,
            "periodStart": start.strftime("%Y%m%d%H%M"),
            "periodEnd": end.strftime("%Y%m%d%H%M"),
        }
        response = await _get(client, self.base_url, params)
        # "no matching data" comes as an acknowledgement document, also with HTTP 400
        if response.status_code not in {httpx.codes.OK, httpx.codes.BAD_REQUEST}:
            _raise_for_status(response, "ENTSO-E")
        if (
            response.status_code == httpx.codes.BAD_REQUEST
            and b"Acknowledgement_MarketDocument" not in response.content
        ):
            _raise_for_status(response, "ENTSO-E")
        hourly_only = day < self.quarter_hour_from
        prices = [
            p
            for p in parse_entsoe(response.content)
            if start <= p.ts < end and not (hourly_only and p.resolution < _RESOLUTIONS["PT60M"])
        ]
        return DayPrices(day, prices, _complete(prices, start, end))
