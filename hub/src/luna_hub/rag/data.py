"""Data-aware questions: a question naming a market or meter and a period gets the stored numbers.

Recognised: markets stored in ``market_prices`` by name (``DE-LU``, also written ``DE/LU`` or
``DELU``) or as EPEX / day-ahead / spot / Strompreis when one market is stored; meters by their
id; periods as a month and year (``March 2024``, ``März 2024``, ``2024-03``), a quarter
(``Q1 2024``), a date (``2024-10-27``, ``27.10.2024``) or a year alone. The query runs through
:func:`luna_hub.timeseries.services.run_query` and its numbers are summarised (mean, extremes and
when, first vs last part of the period, least-squares trend), cited as the query that produced them.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, Final, NamedTuple
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import asyncpg

from luna_hub.errors import UnprocessableError
from luna_hub.rag.schemas import DataCitation
from luna_hub.timeseries.schemas import Point
from luna_hub.timeseries.services import Aggregate, SeriesQuery, run_query

__all__ = [
    "DataContext",
    "ImpossiblePeriodError",
    "Period",
    "find_period",
    "names_market",
    "names_meter",
    "series_context",
]

_MONTHS: Final = {
    **{
        name: number
        for number, names in enumerate(
            [
                ("january", "jan", "januar", "jänner"),
                ("february", "feb", "februar"),
                ("march", "mar", "märz", "maerz"),
                ("april", "apr"),
                ("may", "mai"),
                ("june", "jun", "juni"),
                ("july", "jul", "juli"),
                ("august", "aug"),
                ("september", "sep", "sept"),
                ("october", "oct", "oktober", "okt"),
                ("november", "nov"),
                ("december", "dec", "dezember", "dez"),
            ],
            start=1,
        )
        for name in names
    }
}
_MONTH_YEAR: Final = re.compile(
    r"\b(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?\s+(\d{4})\b", re.IGNORECASE
)
_ID_BEFORE: Final = r"(?<![a-z0-9._:-])"
_ID_AFTER: Final = r"(?=[.:]*(?:[^a-z0-9._:-]|$))"
_ISO_MONTH: Final = re.compile(r"\b(\d{4})-(\d{2})\b(?!-\d)")
_ISO_DAY: Final = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_GERMAN_DAY: Final = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b")
_QUARTER: Final = re.compile(r"\bQ([1-4])\s*(\d{4})\b", re.IGNORECASE)
_YEAR: Final = re.compile(r"\b(20\d{2}|19\d{2})\b")
_MARKET_WORDS: Final = re.compile(
    r"\b(epex|day[- ]?ahead|spot ?(market )?prices?|spotmarktpreis\w*|börsenstrompreis\w*|strompreis\w*"
    r"|großhandelspreis\w*|(electricity|power|market|wholesale) prices?)\b",
    re.IGNORECASE,
)
_TREND_WINDOW: Final = 7
_FLAT_SHARE: Final = 0.05


class Period(NamedTuple):
    """A period named in a question, as local dates (end exclusive), the bucket to read it in, and its name."""

    start: date
    end: date
    bucket: str
    label: str


def _month_end(year: int, month: int) -> date:
    return date(year + (month == 12), month % 12 + 1, 1)  # noqa: PLR2004 - December rolls over


class ImpossiblePeriodError(UnprocessableError):
    """The question names a period no calendar has (``2024-02-30``, ``March 0000``, the year 9999's end)."""

    title = "Impossible period"

    def __init__(self, named: str) -> None:
        super().__init__(f"the question names {named!r}, which is not a period of the calendar")
        self.named = named

    def problem_extra(self) -> dict[str, Any]:
        """Name the offending text, so a client can point at it."""
        return {"reason": "impossible_period", "period": self.named}


def find_period(question: str) -> Period | None:
    """Return the first period the question names, most specific form first.

    Raises :class:`ImpossiblePeriodError` when that period is not on the calendar.
    """
    for pattern in (_ISO_DAY, _GERMAN_DAY, _MONTH_YEAR, _ISO_MONTH, _QUARTER, _YEAR):
        if (match := pattern.search(question)) is not None:
            try:
                period = _period(pattern, match)
            except (ValueError, OverflowError) as exc:
                raise ImpossiblePeriodError(match[0]) from exc
            if period is not None:
                return period
    return None


def _period(pattern: re.Pattern[str], match: re.Match[str]) -> Period | None:
    if pattern is _ISO_DAY or pattern is _GERMAN_DAY:
        year, month, day_of_month = (
            (match[1], match[2], match[3]) if pattern is _ISO_DAY else (match[3], match[2], match[1])
        )
        day = date(int(year), int(month), int(day_of_month))
        return Period(day, day + timedelta(days=1), "1h", day.isoformat())
    if pattern is _MONTH_YEAR:
        year, month = int(match[2]), _MONTHS[match[1].lower()]
        return Period(date(year, month, 1), _month_end(year, month), "1d", f"{date(year, month, 1):%B %Y}")
    if pattern is _ISO_MONTH:
        year, month = int(match[1]), int(match[2])
        if not 1 <= month <= 12:  # noqa: PLR2004 - "2024-13" is no month; read on (a year may follow)
            return None
        return Period(date(year, month, 1), _month_end(year, month), "1d", f"{date(year, month, 1):%B %Y}")
    if pattern is _QUARTER:
        year, quarter = int(match[2]), int(match[1])
        first = 3 * quarter - 2
        return Period(date(year, first, 1), _month_end(year, first + 2), "1w", f"Q{quarter} {year}")
    year = int(match[1])
    return Period(date(year, 1, 1), date(year + 1, 1, 1), "1mo", str(year))


_MARKETS: Final = """
    WITH RECURSIVE next (market) AS (
        (SELECT market FROM market_prices ORDER BY market LIMIT 1)
        UNION ALL
        SELECT (SELECT p.market FROM market_prices p WHERE p.market > next.market ORDER BY p.market LIMIT 1)
        FROM next WHERE next.market IS NOT NULL
    )
    SELECT market FROM next WHERE market IS NOT NULL
"""
"""The distinct markets, one index step each (a plain DISTINCT reads every price row, on every question)."""


class DataContext(NamedTuple):
    """Numbers for the prompt (a table) and their citation (with a one-paragraph summary)."""

    citation: DataCitation
    table: str


def names_meter(question: str, meter_id: str) -> bool:
    """Whether ``question`` names ``meter_id`` as a whole token (``e`` is not named by "energy").

    A meter id's characters (``A-Za-z0-9._:-``) around it extend the token; a trailing ``.`` or ``:``
    followed by a space or the end is punctuation ("... of main-meter.").
    """
    pattern = _ID_BEFORE + re.escape(meter_id.lower()) + _ID_AFTER
    return re.search(pattern, question.lower()) is not None


def names_market(question: str, market: str) -> bool:
    """Whether ``question`` names ``market`` as a whole token, its parts joined by nothing or one separator.

    ``DE-LU`` is named by "DE-LU", "DE/LU", "DE LU" and "DELU", not by "modeLUses".
    """
    parts = [re.escape(part) for part in re.split(r"[^a-z0-9]+", market.lower()) if part]
    if not parts:
        return False
    pattern = r"(?<![a-z0-9])" + r"[^a-z0-9]?".join(parts) + r"(?![a-z0-9])"
    return re.search(pattern, question.lower()) is not None


async def _subjects(
    connection: asyncpg.Connection, question: str, sites: Sequence[str] | None
) -> list[tuple[str, str, str, str]]:
    """Return (kind, series, metric, unit) for markets and the meters at ``sites`` (None: any) the question names."""
    lowered = question.lower()
    found: list[tuple[str, str, str, str]] = []
    markets = [row["market"] for row in await connection.fetch(_MARKETS)]
    named = [market for market in markets if names_market(question, market)]
    if not named and _MARKET_WORDS.search(question):
        named = ["DE-LU"] if "DE-LU" in markets else markets[:1] if len(markets) == 1 else []
    found += [("market", market, "price", "EUR/MWh") for market in named]
    meters = await connection.fetch(
        "SELECT m.meter_id, mm.metric, mm.unit, mm.kind FROM meters m JOIN meter_metrics mm USING (meter_id)"
        " WHERE strpos($1, lower(m.meter_id)) > 0 AND ($2::text[] IS NULL OR m.site_id = ANY($2::text[]))"
        " ORDER BY length(m.meter_id) DESC, mm.metric",
        lowered,
        None if sites is None else list(sites),
    )
    seen: set[str] = set()
    for row in meters:  # strpos found candidates; only a whole-token mention names a meter
        if row["meter_id"] in seen or not names_meter(question, row["meter_id"]):
            continue
        seen.add(row["meter_id"])
        kind = "counter" if row["kind"] == "counter" else "meter"
        found.append((kind, row["meter_id"], row["metric"], row["unit"]))
    return found


def _fmt(value: float) -> str:
    return f"{value:,.2f}"


def _summary(points: list[Point], *, label: str, unit: str, counter: bool, bucket: str) -> str:
    values = [(p.ts, p.value) for p in points if p.value is not None]
    if not values:
        return f"No stored values for {label}."
    numbers = [v for _, v in values]
    day = "%Y-%m-%d %H:%M" if bucket in {"15m", "1h"} else "%Y-%m-%d"
    low = min(values, key=lambda item: item[1])
    high = max(values, key=lambda item: item[1])
    if counter:
        mean = statistics.fmean(numbers)
        head = f"total {_fmt(sum(numbers))} {unit} over {len(numbers)} buckets ({bucket}), mean {_fmt(mean)} per bucket"
    else:
        weights = [p.count or 1 for p in points if p.value is not None]
        mean = sum(v * w for v, w in zip(numbers, weights, strict=True)) / sum(weights)
        head = f"mean {_fmt(mean)} {unit} over {len(numbers)} buckets ({bucket})"
    text = f"{head}; lowest {_fmt(low[1])} on {low[0]:{day}}, highest {_fmt(high[1])} on {high[0]:{day}}"
    window = _TREND_WINDOW if len(numbers) >= 2 * _TREND_WINDOW else max(len(numbers) // 2, 1)
    if len(numbers) >= 2:  # noqa: PLR2004
        first, last = statistics.fmean(numbers[:window]), statistics.fmean(numbers[-window:])
        slope = statistics.linear_regression(range(len(numbers)), numbers).slope
        scale = abs(statistics.fmean(numbers)) or 1.0
        direction = (
            "roughly flat" if abs(last - first) < _FLAT_SHARE * scale else "rising" if last > first else "falling"
        )
        text += (
            f"; the first {window} buckets averaged {_fmt(first)}, the last {window} {_fmt(last)} ({direction},"
            f" {_fmt(last - first)} {unit}); least-squares trend {_fmt(slope)} {unit} per bucket"
        )
    return text + "."


async def series_context(
    pool: asyncpg.Pool, question: str, *, tz: str, sites: Sequence[str] | None = None
) -> tuple[list[DataContext], list[str]]:
    """Return the numbers for every market or meter the question names with a period, and notes on what was skipped.

    Meters count only at ``sites`` (None: every site; a meter without site is read with every site only);
    markets are open to everyone.
    """
    async with pool.acquire() as connection:
        subjects = await _subjects(connection, question, sites)
    if not subjects:
        return [], []
    period = find_period(question)
    if period is None:
        return [], [f"the question names {subjects[0][1]} but no period (e.g. 'March 2024'): no data query was run"]
    zone = ZoneInfo(tz)
    start = datetime.combine(period.start, datetime.min.time(), zone)
    end = datetime.combine(period.end, datetime.min.time(), zone)
    contexts = []
    for number, (kind, series, metric, unit) in enumerate(subjects, start=1):
        aggregate: Aggregate = "delta" if kind == "counter" else "avg"
        query = SeriesQuery(
            meters=() if kind == "market" else (series,),
            metric=metric,
            market=series if kind == "market" else None,
            start=start,
            end=end,
            tz=tz,
            bucket=period.bucket,
            aggregate=aggregate,
        )
        result = await run_query(pool, query)
        points = result.series[0].points if result.series else []
        label = f"{series} {'day-ahead price' if kind == 'market' else metric}, {period.label}"
        summary = f"{label}: " + _summary(
            points, label=label, unit=unit, counter=kind == "counter", bucket=result.bucket
        )
        params = {"market": series} if kind == "market" else {"meter": series, "metric": metric}
        url = "/data/query?" + urlencode(
            {
                **params,
                "start": period.start.isoformat(),
                "end": period.end.isoformat(),
                "bucket": period.bucket,
                "aggregate": aggregate,
                "tz": tz,
            }
        )
        citation = DataCitation(
            ref=f"D{number}",
            series=series,
            metric=metric,
            unit=unit,
            start=start.isoformat(),
            end=end.isoformat(),
            bucket=result.bucket,
            aggregate=aggregate,
            query=url,
            summary=summary,
        )
        rows = "\n".join(f"{p.ts:%Y-%m-%d %H:%M} {'' if p.value is None else _fmt(p.value)}" for p in points)
        contexts.append(
            DataContext(citation=citation, table=f"{summary}\nbucket start ({tz}), value in {unit}:\n{rows}")
        )
    return contexts, []
