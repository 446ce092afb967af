"""Load a readings or prices file: parse, validate, bulk-write in one transaction, refresh rollups."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, Final, NamedTuple

import asyncpg
import msgspec

from luna_hub import audit
from luna_hub.agents.repository import ensure_site
from luna_hub.errors import BadRequestError, ForbiddenError
from luna_hub.ingest.formats import (
    FileOptions,
    MalformedFileError,
    PriceRecord,
    ReadingRecord,
    Record,
    Rejected,
    csv_records,
)
from luna_hub.ingest.jsonfile import json_records
from luna_hub.ingest.schemas import Gap, LoadReport, RowIssue
from luna_hub.ingest.validation import Identifiers, SeriesCheck
from luna_hub.metrics import recorder
from luna_hub.settings import LoadSettings
from luna_hub.sync.repository import claim_meters
from luna_hub.timeparse import LocalClock, zone
from luna_hub.timeseries.repository import refresh_dirty
from luna_hub.timeseries.writer import BulkMethod, PriceRow, PriceWriter, ReadingRow, ReadingWriter
from luna_shared import rules
from luna_shared.logs import get_logger
from luna_shared.vocabulary import Flag, Quality

__all__ = ["LoadOptions", "LoadRejectedError", "load_file"]

_BATCH: Final = 10_000
_YIELD_EVERY: Final = 2_000
_LISTED: Final = 100
_RESOLUTIONS: Final = frozenset(timedelta(minutes=m) for m in (5, 15, 30, 60))
_QUALITIES: Final = frozenset(quality.value for quality in Quality)
_NAMED_MAX: Final = 5
_log = get_logger(__name__)


class LoadRejectedError(BadRequestError):
    """``strict=true`` and some rows were rejected: nothing was stored."""

    status = 422
    title = "Rows rejected"

    def __init__(self, message: str, report: LoadReport) -> None:
        super().__init__(message)
        self.report = report

    def problem_extra(self) -> dict[str, Any]:
        """Return the load report, so the client sees every rejected row and why."""
        return {"report": msgspec.to_builtins(self.report)}


class LoadOptions(NamedTuple):
    """How to read and store one file."""

    name: str = "upload"
    timezone: str = "Europe/Berlin"
    """Zone of timestamps written without an offset (German CSV files)."""
    market: str | None = None
    meter_id: str | None = None
    metric: str | None = None
    unit: str | None = None
    resolution_minutes: int | None = None
    strict: bool = False
    """Any rejected row aborts the whole load (nothing stored)."""
    sha256: str | None = None
    """Content hash; when given, the load is recorded in ``loaded_files``."""
    actor: str = "system"
    """Who loads the file, for the audit log (the API key's user, ``anonymous``, ``cli:<login>``)."""
    site: str | None = None
    """The site the file's meters belong to (created when missing); None: meters it creates have no site."""
    reader_sites: tuple[str, ...] | None = None
    """The sites of a loader limited to some (None: every site): its readings must go to meters of those."""


class _Window(NamedTuple):
    """The instants a load accepts, fixed when it starts (see :class:`~luna_hub.settings.LoadSettings`)."""

    earliest: datetime
    latest_reading: datetime
    latest_price: datetime

    @classmethod
    def of(cls, limits: LoadSettings) -> _Window:
        now = datetime.now(UTC)
        return cls(
            limits.earliest.astimezone(UTC),
            now + timedelta(seconds=limits.reading_future_s),
            now + timedelta(days=limits.price_future_days),
        )

    def problem(self, ts: datetime, latest: datetime, setting: str) -> str | None:
        """Why ``ts`` is outside [earliest, latest], or None."""
        if self.earliest <= ts <= latest:
            return None
        bound = (
            f"before {self.earliest.isoformat()} (load.earliest)"
            if ts < self.earliest
            else (f"after {latest.isoformat(timespec='seconds')} (now + load.{setting})")
        )
        return f"ts {ts.isoformat()} is {bound}"


class _Tally:
    """Counts and the first few issues of one load."""

    def __init__(self) -> None:
        self.accepted = 0
        self.rejected = 0
        self.flagged = 0
        self.rejections: list[RowIssue] = []
        self.flags: list[RowIssue] = []
        self.gaps: list[Gap] = []
        self.series: set[str] = set()
        self.meters: set[str] = set()

    def reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        if len(self.rejections) < _LISTED:
            self.rejections.append(RowIssue(line=line, reasons=[reason]))

    def flag(self, line: int, reasons: list[str]) -> None:
        self.flagged += 1
        if len(self.flags) < _LISTED:
            self.flags.append(RowIssue(line=line, reasons=reasons))


async def load_file(
    pool: asyncpg.Pool,
    binary: BinaryIO,
    options: LoadOptions,
    *,
    method: BulkMethod = "copy",
    limits: LoadSettings | None = None,
) -> LoadReport:
    """Load ``binary`` (CSV or JSON, detected) in one transaction; a malformed file stores nothing."""
    _check_options(options)
    limits = limits or LoadSettings()
    records = _records(binary, options, limits.max_columns)
    tally = _Tally()
    window = _Window.of(limits)
    async with pool.acquire() as connection:
        async with connection.transaction():
            readings, prices = ReadingWriter(connection, method), PriceWriter(connection, method)
            await readings.open()
            await prices.open()
            reading_rows: list[ReadingRow] = []
            price_rows: list[PriceRow] = []
            for count, row in enumerate(_validated(records, tally, window), start=1):
                if not count % _YIELD_EVERY:
                    await asyncio.sleep(0)  # parsing is CPU work: let other requests in between
                if len(row) == _PRICE_ROW_LENGTH:
                    price_rows.append(row)
                else:
                    reading_rows.append(row)
                if len(reading_rows) >= _BATCH:
                    await readings.add(reading_rows)
                    reading_rows = []
                if len(price_rows) >= _BATCH:
                    await prices.add(price_rows)
                    price_rows = []
            await readings.add(reading_rows)
            await prices.add(price_rows)
            if options.site is not None:
                await _claim_for_site(connection, sorted(tally.meters), options.site)
            if options.reader_sites is not None:
                await _check_reader_sites(connection, sorted(tally.meters), options.reader_sites)
            report = _report(options.name, tally, stored=0, duplicates=0)
            if options.strict and tally.rejected:
                recorder().load(stored=0, duplicates=0, rejected=tally.rejected)
                msg = f"{tally.rejected} rows rejected and strict=true: nothing stored (first: line "
                msg += f"{tally.rejections[0].line}: {tally.rejections[0].reasons[0]})"
                raise LoadRejectedError(msg, report)
            written = [await readings.finish(), await prices.finish()]
            stored = sum(result.stored for result in written)
            duplicates = sum(result.duplicates for result in written)
            report = _report(options.name, tally, stored=stored, duplicates=duplicates)
            await _record_load(connection, options, report)
        refreshed = await refresh_dirty(connection)
    recorder().load(stored=stored, duplicates=duplicates, rejected=tally.rejected)
    _log.info(
        "file loaded",
        file=options.name,
        stored=stored,
        duplicates=duplicates,
        rejected=tally.rejected,
        flagged=tally.flagged,
        rollups_refreshed=refreshed,
    )
    return report


def _check_options(options: LoadOptions) -> None:
    """Refuse (400) names given with the request that break the shared rules, before reading the file."""
    checks = [
        (options.market, rules.market_problem),
        (options.meter_id, rules.meter_id_problem),
        (options.metric, rules.metric_problem),
        (options.unit, rules.unit_problem),
        (options.site, rules.site_id_problem),
    ]
    for value, rule in checks:
        problem = None if value is None else rule(value)
        if problem is not None:
            raise BadRequestError(problem)
    if options.resolution_minutes is not None:
        problem = rules.resolution_problem(timedelta(minutes=options.resolution_minutes))
        if problem is not None:
            raise BadRequestError(problem)


async def _claim_for_site(connection: asyncpg.Connection, meters: list[str], site: str) -> None:
    """Make the site's the meters without one (created now or by earlier loads); 403 if one is another site's."""
    await ensure_site(connection, site)
    foreign = await claim_meters(connection, meters, site, None)
    if foreign:
        named = ", ".join(f"{meter!r} (site {owner!r})" for meter, owner in foreign[:_NAMED_MAX])
        more = " ..." if len(foreign) > _NAMED_MAX else ""
        msg = f"meters of another site: {named}{more}; this load is for site {site!r}: nothing stored"
        raise ForbiddenError(msg)


async def _check_reader_sites(connection: asyncpg.Connection, meters: list[str], sites: tuple[str, ...]) -> None:
    """403 unless every meter is at one of ``sites`` already (or just claimed for one of them by ``site=``)."""
    rows = await connection.fetch("SELECT meter_id, site_id FROM meters WHERE meter_id = ANY($1::text[])", meters)
    at = {row["meter_id"]: row["site_id"] for row in rows}
    outside = [meter for meter in meters if at.get(meter) not in sites]
    if outside:
        named = ", ".join(repr(meter) for meter in outside[:_NAMED_MAX]) + (" ..." if len(outside) > _NAMED_MAX else "")
        msg = f"meters not at a site of yours: {named}; load them with site= naming one of yours: nothing stored"
        raise ForbiddenError(msg)


async def _record_load(connection: asyncpg.Connection, options: LoadOptions, report: LoadReport) -> None:
    counts = {
        "stored": report.stored,
        "duplicates": report.duplicates,
        "rejected": report.rejected,
        "flagged": report.flagged,
        "sha256": options.sha256,
        "site": options.site,
    }
    await audit.record(connection, actor=options.actor, action="data.load", target=options.name, details=counts)
    if options.sha256 is not None:
        await connection.execute(
            "INSERT INTO loaded_files (sha256, name, report, site_id) VALUES ($1, $2, $3::jsonb, $4)"
            " ON CONFLICT (sha256) DO NOTHING",
            options.sha256,
            options.name,
            msgspec.json.encode(report).decode(),
            options.site,
        )


_PRICE_ROW_LENGTH: Final = 6


def _records(binary: BinaryIO, options: LoadOptions, max_columns: int) -> Iterator[Record]:
    clock = LocalClock(zone(options.timezone))
    resolution = timedelta(minutes=options.resolution_minutes) if options.resolution_minutes else None
    file_options = FileOptions(
        clock, options.market, options.meter_id, options.metric, options.unit, resolution, max_columns
    )
    start = binary.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    binary.seek(0)  # uploads are spooled to a file, and the CLI opens one: both seek
    if start[:1] in {b"{", b"["}:
        return json_records(binary, file_options)
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    return _decoding(text, file_options)


def _decoding(text: io.TextIOWrapper, options: FileOptions) -> Iterator[Record]:
    try:
        yield from csv_records(text, options)
    except UnicodeDecodeError as exc:
        msg = f"not UTF-8 text: {exc}"
        raise MalformedFileError(msg) from exc
    except csv.Error as exc:  # a field beyond csv's limit (128 KiB), a NUL byte
        msg = f"not a readable CSV file: {exc}"
        raise MalformedFileError(msg) from exc
    finally:
        text.detach()  # the caller owns the binary file: the wrapper must not close it


def _validated(records: Iterator[Record], tally: _Tally, window: _Window) -> Iterator[ReadingRow | PriceRow]:
    checks: dict[tuple[str, str], SeriesCheck] = {}
    identifiers = Identifiers()
    pending: dict[str, PriceRecord] = {}  # first price of a market until its resolution is known
    for record in records:
        if isinstance(record, Rejected):
            tally.reject(record.line, record.reason)
        elif isinstance(record, ReadingRecord):
            row = _reading_row(record, checks, tally, window, identifiers)
            if row is not None:
                yield row
        else:
            problem = (
                window.problem(record.ts, window.latest_price, "price_future_days")
                or identifiers.market_problem(record.market, record.resolution)
                or rules.value_problem(record.price)
            )
            if problem is not None:
                tally.reject(record.line, problem)
                continue
            yield from _price_rows(record, checks, pending, tally)
    for record in pending.values():  # a one-row file: fall back to hourly
        yield from _price_rows(record._replace(resolution=timedelta(hours=1)), checks, {}, tally)


def _reading_row(
    record: ReadingRecord,
    checks: dict[tuple[str, str], SeriesCheck],
    tally: _Tally,
    window: _Window,
    identifiers: Identifiers,
) -> ReadingRow | None:
    problem = window.problem(record.ts, window.latest_reading, "reading_future_s") or identifiers.series_problem(
        record.meter_id, record.metric, record.unit
    )
    stated: Quality | None = None
    if problem is None and record.quality is not None:
        if record.quality in _QUALITIES:
            stated = Quality(record.quality)
        else:
            problem = f"quality must be good, suspect or bad, not {record.quality!r}"
    problem = problem or rules.value_problem(record.value, stated)
    if problem is not None:
        tally.reject(record.line, problem)
        return None
    key = (record.meter_id, record.metric)
    check = checks.get(key)
    if check is None:
        check = checks[key] = SeriesCheck.for_metric(record.metric)
    outcome = check.check(record.ts, record.value)
    reasons = outcome.reasons
    quality = stated or Quality.GOOD
    if record.value is None and stated is None:  # a missing value is never good (the wire's rule)
        reasons, quality = [Flag.NOT_A_NUMBER.value, *reasons], Quality.BAD
    if reasons:
        tally.flag(record.line, reasons)
        quality = quality.worst(Quality.SUSPECT)
    if outcome.gap is not None and len(tally.gaps) < _LISTED:
        tally.gaps.append(Gap(series=f"{record.meter_id}/{record.metric}", after=outcome.gap[0], before=outcome.gap[1]))
    tally.accepted += 1
    tally.series.add(f"{record.meter_id}/{record.metric}")
    tally.meters.add(record.meter_id)
    return (record.meter_id, record.metric, record.ts, record.value, record.unit, quality.value, reasons, None, None)


def _price_rows(
    record: PriceRecord, checks: dict[tuple[str, str], SeriesCheck], pending: dict[str, PriceRecord], tally: _Tally
) -> Iterator[PriceRow]:
    if record.resolution is None:
        known = checks.get((record.market, "price"))
        if known is not None and known.step is not None:
            record = record._replace(resolution=known.step)
        else:
            first = pending.pop(record.market, None)
            if first is None:
                pending[record.market] = record
                return
            # The first step between valued rows decides (SMARD's quarter-hour grid holds hourly DE-LU prices).
            step = record.ts - first.ts
            resolution = step if step in _RESOLUTIONS else timedelta(hours=1)
            yield from _price_rows(first._replace(resolution=resolution), checks, pending, tally)
            record = record._replace(resolution=resolution)
    resolution = record.resolution or timedelta(hours=1)
    key = (record.market, "price")
    check = checks.get(key)
    if check is None:
        check = checks[key] = SeriesCheck(counter=False, step=resolution)
    outcome = check.check(record.ts, record.price)
    if outcome.reasons:
        tally.flag(record.line, outcome.reasons)
    if outcome.gap is not None and len(tally.gaps) < _LISTED:
        tally.gaps.append(Gap(series=f"market {record.market}", after=outcome.gap[0], before=outcome.gap[1]))
    tally.accepted += 1
    tally.series.add(f"market {record.market}")
    yield (record.market, record.ts, resolution, record.price, "EUR/MWh", "file")


def _report(name: str, tally: _Tally, *, stored: int, duplicates: int) -> LoadReport:
    return LoadReport(
        file=name,
        accepted=tally.accepted,
        stored=stored,
        duplicates=duplicates,
        rejected=tally.rejected,
        flagged=tally.flagged,
        series=sorted(tally.series),
        rejections=tally.rejections,
        flags=tally.flags,
        gaps=tally.gaps,
    )
