"""Recognise a file's format from its header and turn its rows into records, one at a time.

Formats (each from a real download, see ``../shared/data/*/README.md``):

- ``smard``: SMARD CSV (BOM, ``;``, decimal comma, ``DD.MM.YYYY HH:MM`` Europe/Berlin wall time);
  the ``Deutschland/Luxemburg [€/MWh]`` column becomes market ``DE-LU``.
- ``entsoe``: ENTSO-E Transparency CSV (``"MTU (CET/CEST)"``, ``BZN|<zone>`` names the market).
- ``opsd``: Open Power System Data household CSV, one cumulative kWh counter per column.
- ``wide``: a time column (``timestamp``, ``timestamp_utc``, ``time``, ``ts``) and one column per
  meter; the metric comes from the request (default ``power_w``).
- ``readings``: long CSV with ``meter_id,metric,ts,value`` (optional ``unit``, ``quality``).
- ``prices``: long CSV with ``ts,price`` (optional ``market``, ``resolution_minutes``).
- JSON (``readings`` / ``prices`` documents, or JSON Lines of either record) in :mod:`.jsonfile`.

A header that fits no format is a :class:`MalformedFileError` (400, nothing stored); a bad row
becomes a :class:`Rejected` with its line number and reason, and the rest goes on.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import NamedTuple, TextIO

from luna_hub.errors import BadRequestError
from luna_hub.ingest.fields import minutes as parse_minutes
from luna_hub.ingest.fields import parse_number
from luna_hub.timeparse import FieldError, LocalClock, parse_instant
from luna_shared.vocabulary import Metric, metric_spec

__all__ = [
    "FileOptions",
    "MalformedFileError",
    "PriceRecord",
    "ReadingRecord",
    "Record",
    "Rejected",
    "csv_records",
    "default_unit",
]

_TIME_COLUMNS = ("timestamp", "timestamp_utc", "utc_timestamp", "time", "ts")
_SMARD_DE_LU = "Deutschland/Luxemburg [€/MWh]"
_HOUR = timedelta(hours=1)


class MalformedFileError(BadRequestError):
    """The file as a whole cannot be read (unknown header, wrong encoding, broken JSON)."""

    title = "Malformed file"


class FileOptions(NamedTuple):
    """What the request says about the file: defaults for what the file itself does not say."""

    clock: LocalClock
    market: str | None = None
    meter_id: str | None = None
    metric: str | None = None
    unit: str | None = None
    resolution: timedelta | None = None
    max_columns: int = 1000
    """Most columns a CSV file may have (``load.max_columns``); a wider header is a 400."""


class ReadingRecord(NamedTuple):
    """One meter reading from line ``line`` of the file."""

    line: int
    meter_id: str
    metric: str
    ts: datetime
    value: float | None
    unit: str
    quality: str | None = None


class PriceRecord(NamedTuple):
    """One market price (EUR/MWh) from line ``line``; ``resolution`` None until inferred."""

    line: int
    market: str
    ts: datetime
    price: float
    resolution: timedelta | None


class Rejected(NamedTuple):
    """A row that was not stored, and why."""

    line: int
    reason: str


Record = ReadingRecord | PriceRecord | Rejected


def csv_records(text: TextIO, options: FileOptions) -> Iterator[Record]:
    """Detect the CSV flavour from the header line and yield the file's records."""
    header_line = text.readline().lstrip("\ufeff").rstrip("\r\n")
    if not header_line.strip():
        msg = "the file is empty or has no header line"
        raise MalformedFileError(msg)
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    header = next(csv.reader([header_line], delimiter=delimiter))
    if len(header) > options.max_columns:
        msg = (
            f"{len(header)} columns, at most load.max_columns ({options.max_columns}) allowed:"
            " split the file, or use the long format (meter_id,metric,ts,value) for many meters"
        )
        raise MalformedFileError(msg)
    rows = csv.reader(text, delimiter=delimiter)
    german = delimiter == ";"
    first = header[0].strip()
    if first == "Datum von":
        return _smard(header, rows, options)
    if first.startswith("MTU"):
        return _entsoe(header, rows, options)
    if first == "utc_timestamp" and len(header) > 1 and header[1] == "cet_cest_timestamp":
        return _opsd(header, rows, options)
    names = [name.strip() for name in header]
    if {"meter_id", "metric", "ts", "value"} <= set(names):
        return _long_readings(names, rows, options, german=german)
    if {"ts", "price"} <= set(names):
        return _long_prices(names, rows, options, german=german)
    if first in _TIME_COLUMNS and len(names) > 1:
        return _wide(names, rows, options, german=german)
    msg = f"unrecognised header {header_line[:120]!r}: see the formats listed in the API docs of POST /data/load"
    raise MalformedFileError(msg)


def _line(rows: object) -> int:
    line: int = rows.line_num + 1  # type: ignore[attr-defined]  # csv counts the header we read first
    return line


def _smard(header: list[str], rows: Iterator[list[str]], options: FileOptions) -> Iterator[Record]:
    column = next((i for i, name in enumerate(header) if name.startswith(_SMARD_DE_LU)), None)
    if column is None:
        msg = f"SMARD file without a column starting with {_SMARD_DE_LU!r}"
        raise MalformedFileError(msg)
    market = options.market or "DE-LU"
    for row in rows:
        line = _line(rows)
        try:
            if len(row) <= column:
                _fail(f"{len(row)} fields, expected at least {column + 1}")
            price = parse_number(row[column], decimal_comma=True)
            ts = options.clock.parse_german(row[0])  # every row, so the DST repeat resolves by order
        except FieldError as exc:
            yield Rejected(line, str(exc))
            continue
        if price is not None:
            yield PriceRecord(line, market, ts, price, options.resolution)


def _entsoe(header: list[str], rows: Iterator[list[str]], options: FileOptions) -> Iterator[Record]:
    zone = next((name.split("|", 1)[1] for name in header if name.startswith("BZN|")), None)
    market = options.market or zone
    if market is None:
        msg = "ENTSO-E file without a 'BZN|<zone>' header cell: pass market=..."
        raise MalformedFileError(msg)
    for row in rows:
        line = _line(rows)
        if len(row) >= 2 and row[1].strip() == "" and (len(row) < 3 or not row[2].strip()):  # noqa: PLR2004
            continue  # the listed hour that does not exist (spring DST switch), or not yet published
        try:
            if len(row) < 2:  # noqa: PLR2004
                _fail(f"{len(row)} fields, expected 3")
            start_text, _, end_text = row[0].partition(" - ")
            ts = options.clock.parse_german(start_text)
            price = parse_number(row[1], decimal_comma=False)
            resolution = options.resolution or _naive_span(start_text, end_text)
        except FieldError as exc:
            yield Rejected(line, str(exc))
            continue
        if price is not None:
            yield PriceRecord(line, market, ts, price, resolution)


def _naive_span(start: str, end: str) -> timedelta:
    try:
        span = datetime.strptime(end.strip(), "%d.%m.%Y %H:%M") - datetime.strptime(start.strip(), "%d.%m.%Y %H:%M")  # noqa: DTZ007
    except ValueError:
        return _HOUR
    return span if timedelta(0) < span <= _HOUR else _HOUR


def _opsd(header: list[str], rows: Iterator[list[str]], options: FileOptions) -> Iterator[Record]:
    series = [(i, name) for i, name in enumerate(header) if i >= 2 and name != "interpolated_values"]  # noqa: PLR2004
    marker = header.index("interpolated_values") if "interpolated_values" in header else None
    meters = [
        (
            index,
            name,
            str(Metric.ENERGY_EXPORT_KWH if name.endswith(("grid_export", "_pv")) else Metric.ENERGY_IMPORT_KWH),
        )
        for index, name in series
    ]
    for row in rows:
        line = _line(rows)
        try:
            ts = parse_instant(row[0], options.clock)
        except (FieldError, IndexError) as exc:
            yield Rejected(line, str(exc) or "missing timestamp")
            continue
        interpolated = row[marker] if marker is not None and marker < len(row) else ""
        for index, name, metric in meters:
            try:
                value = parse_number(row[index], decimal_comma=False) if index < len(row) else None
            except FieldError as exc:
                yield Rejected(line, f"{name}: {exc}")
                continue
            if value is None:
                continue
            # OPSD filled this value in where the raw data was missing: keep it, but not as measured.
            quality = "suspect" if name in interpolated.split(" | ") else None
            yield ReadingRecord(line, name, metric, ts, value, "kWh", quality)


def _wide(names: list[str], rows: Iterator[list[str]], options: FileOptions, *, german: bool) -> Iterator[Record]:
    metric = options.metric or str(Metric.POWER_W)
    unit = options.unit or default_unit(metric)
    for row in rows:
        line = _line(rows)
        try:
            ts = parse_instant(row[0], options.clock)
        except (FieldError, IndexError) as exc:
            yield Rejected(line, str(exc) or "missing timestamp")
            continue
        for index in range(1, len(names)):
            try:
                value = parse_number(row[index], decimal_comma=german) if index < len(row) else None
            except FieldError as exc:
                yield Rejected(line, f"{names[index]}: {exc}")
                continue
            if value is not None:
                yield ReadingRecord(line, names[index], metric, ts, value, unit)


def _long(
    names: list[str], rows: Iterator[list[str]], parse: Callable[[int, dict[str, str]], Record | None]
) -> Iterator[Record]:
    """Rows of a long file (one value per row, columns by name): blank rows skipped, a bad one rejected."""
    for row in rows:
        line = _line(rows)
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            yield Rejected(line, f"{len(row)} fields, expected {len(names)}")
            continue
        try:
            record = parse(line, dict(zip(names, row, strict=True)))
        except (FieldError, ValueError) as exc:
            yield Rejected(line, str(exc))
            continue
        if record is not None:
            yield record


def _long_readings(
    names: list[str], rows: Iterator[list[str]], options: FileOptions, *, german: bool
) -> Iterator[Record]:
    def parse(line: int, cells: dict[str, str]) -> Record:
        meter_id = cells.get("meter_id", "").strip() or _fail("empty meter_id")
        metric = cells.get("metric", "").strip() or _fail("empty metric")
        ts = parse_instant(cells.get("ts", ""), options.clock)
        value = parse_number(cells.get("value", ""), decimal_comma=german)
        unit = cells.get("unit", "").strip() or options.unit or default_unit(metric)
        quality = cells.get("quality", "").strip() or None
        return ReadingRecord(line, meter_id, metric, ts, value, unit, quality)

    return _long(names, rows, parse)


def _long_prices(
    names: list[str], rows: Iterator[list[str]], options: FileOptions, *, german: bool
) -> Iterator[Record]:
    def parse(line: int, cells: dict[str, str]) -> Record | None:
        market = cells.get("market", "").strip() or options.market or _fail("no market")
        ts = parse_instant(cells.get("ts", ""), options.clock)
        price = parse_number(cells.get("price", ""), decimal_comma=german)
        minutes = cells.get("resolution_minutes", "").strip()
        resolution = parse_minutes(minutes) if minutes else options.resolution
        return None if price is None else PriceRecord(line, market, ts, price, resolution)

    return _long(names, rows, parse)


def default_unit(metric: str) -> str:
    """Return the vocabulary's unit of ``metric``, or ``1`` for a metric it does not know."""
    spec = metric_spec(metric)
    return str(spec.unit) if spec else "1"


def _fail(reason: str) -> str:
    raise FieldError(reason)
