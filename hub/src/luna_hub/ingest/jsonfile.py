"""JSON inputs: a ``readings``/``prices`` document, or JSON Lines of reading or price objects.

JSON Lines stream row by row; a document is decoded whole (keep those to API-sized payloads;
use CSV or JSON Lines for big files).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import msgspec

from luna_hub.ingest.fields import minutes
from luna_hub.ingest.formats import (
    FileOptions,
    MalformedFileError,
    PriceRecord,
    ReadingRecord,
    Record,
    Rejected,
    default_unit,
)
from luna_hub.timeparse import FieldError, parse_instant

__all__ = ["json_records"]

_decoder = msgspec.json.Decoder()


def json_records(binary: BinaryIO, options: FileOptions) -> Iterator[Record]:
    """Yield the records of a JSON document or of JSON Lines."""
    first = binary.readline()
    try:
        head = _decoder.decode(first)
    except (msgspec.DecodeError, RecursionError):
        head = None
    if isinstance(head, dict) and "ts" in head:
        return _lines(first, binary, options)
    try:
        document = _decoder.decode(first + binary.read())
    except msgspec.DecodeError as exc:
        msg = f"not valid JSON: {exc}"
        raise MalformedFileError(msg) from exc
    except RecursionError as exc:  # nested thousands deep: no load file looks like that
        msg = "not a load file: JSON nested too deeply"
        raise MalformedFileError(msg) from exc
    return _document(document, options)


def _lines(first: bytes, binary: BinaryIO, options: FileOptions) -> Iterator[Record]:
    for line, raw in enumerate([first, *binary], start=1):
        if not raw.strip():
            continue
        try:
            item = _decoder.decode(raw)
        except (msgspec.DecodeError, RecursionError) as exc:
            yield Rejected(
                line,
                f"not valid JSON: {exc}"
                if isinstance(exc, msgspec.DecodeError)
                else "not valid JSON: nested too deeply",
            )
            continue
        yield _item(line, item, options)


def _document(document: Any, options: FileOptions) -> Iterator[Record]:  # noqa: ANN401 - decoded JSON
    if isinstance(document, dict) and isinstance(document.get("readings"), list):
        items = document["readings"]
    elif isinstance(document, dict) and isinstance(document.get("prices"), list):
        market = document.get("market", options.market)
        count = document.get("resolution_minutes")
        try:
            resolution = options.resolution if count is None else minutes(count)
        except FieldError as exc:
            raise MalformedFileError(str(exc)) from None
        options = options._replace(market=market, resolution=resolution)
        items = document["prices"]
    elif isinstance(document, list):
        items = document
    else:
        msg = 'expected {"readings": [...]}, {"market": ..., "prices": [...]} or a list of records'
        raise MalformedFileError(msg)
    for index, item in enumerate(items, start=1):
        yield _item(index, item, options)


def _item(line: int, item: Any, options: FileOptions) -> Record:  # noqa: ANN401 - decoded JSON
    if not isinstance(item, dict):
        return Rejected(line, "not a JSON object")
    try:
        ts = parse_instant(_text(item, "ts"), options.clock)
        if "price" in item:
            market = item.get("market", options.market)
            if not isinstance(market, str) or not market:
                return Rejected(line, "no market")
            count = item.get("resolution_minutes")
            resolution = options.resolution if count is None else minutes(count)
            return PriceRecord(line, market, ts, _number(item, "price"), resolution)
        value = None if item.get("value") is None else _number(item, "value")
        metric = _text(item, "metric")
        unit = item.get("unit") or options.unit or default_unit(metric)
        quality = item.get("quality")
        return ReadingRecord(
            line,
            _text(item, "meter_id"),
            metric,
            ts,
            value,
            unit if isinstance(unit, str) else "",
            quality if isinstance(quality, str) else None,
        )
    except FieldError as exc:
        return Rejected(line, str(exc))


def _text(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        msg = f"{key} missing or not a string"
        raise FieldError(msg)
    return value


def _number(item: dict[str, Any], key: str) -> float:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{key} is not a number: {value!r:.60}"
        raise FieldError(msg)
    try:
        return float(value)
    except OverflowError as exc:  # an integer of hundreds of digits: no float holds it
        msg = f"{key} is too large a number ({len(str(value))} digits)"
        raise FieldError(msg) from exc
