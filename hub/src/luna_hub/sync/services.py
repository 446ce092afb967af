"""Batches and status reports from agents (``POST /api/v1/ingest``): exactly once, with the clock checked.

A batch touching a meter of another site is refused (403) and nothing in it is stored: a meter
belongs to the site that registered it first (or that an operator set). A batch is stored in one
transaction under its agent's row lock: the ledger entry of its sequence range, and those of
its readings whose sequence numbers no earlier range covered
(COPY straight into the table; when some are stored already, the staged way with
``INSERT ... ON CONFLICT DO NOTHING`` on the natural key, see ``luna_hub.timeseries.writer``).
So a batch is either acknowledged and durable, or not stored at all; a replay of the same
range with the same content hash is acknowledged from the ledger, with a different hash it is
a 409; overlapping or out-of-order ranges store only what is new.

Clock: the offset is the hub's receive time minus the agent's send time. Beyond
``ingest.clock_tolerance_s`` the batch's readings become at least ``suspect`` with reason
``clock_skew``; readings the agent marked ``clock_untrusted`` or ``clock_jump`` are shifted by
the offset and marked ``timestamp_corrected`` (``ingest.correct_untrusted_clock``).

One reading never blocks its batch: a reading later than the hub's clock plus
``ingest.future_tolerance_s`` (after correction; e.g. a plug sending local time read as UTC),
earlier than ``ingest.earliest`` (1970), whose correction would leave the calendar (year 1 .. 9999),
or whose value breaks the value rule file loads follow too (:func:`luna_shared.rules.value_problem`,
within ±1e15) is set aside in ``sync_quarantine`` (side ``hub``, with the reading and the reason)
instead of being stored; the range is acknowledged with ``quarantined`` counting them. Such
timestamps are not stored as readings because one of them breaks every bucketed query and rollup
of its series; such values, because one of them swamps every sum and average of its series.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Final, NamedTuple

import asyncpg

from luna_hub.agents.services import clock_offset_ms, record_status
from luna_hub.auth.agent_keys import AgentIdentity, verify_agent_key
from luna_hub.errors import PROBLEM_TYPE_BASE, ConflictError, ForbiddenError, UnauthorizedError
from luna_hub.metrics import recorder
from luna_hub.settings import HubSettings, IngestSettings
from luna_hub.sync import repository
from luna_hub.sync.decoding import content_encoding, decode_message, read_body, wire_format
from luna_hub.timeseries.writer import BulkMethod, write_agent_readings
from luna_shared.codec import WireFormat, encode
from luna_shared.compression import ContentEncoding
from luna_shared.errors import LunaError
from luna_shared.logs import bind_in_scope, get_logger
from luna_shared.received import ReceivedBatch
from luna_shared.rules import MAX_MAGNITUDE, value_problem
from luna_shared.vocabulary import Flag, Quality
from luna_shared.wire import AgentStatus, BatchAck, ReadingFields, utc_ms

__all__ = ["IncomingMessage", "Reply", "Screened", "batch_rows", "receive", "store_batch", "uncovered"]

_CLOCK_FLAGS: Final = frozenset({Flag.CLOCK_UNTRUSTED.value, Flag.CLOCK_JUMP.value})
_NAMED_MAX: Final = 5


class DuplicateInstanceError(ConflictError):
    """A second running copy of one agent id (another buffer) sends while the first is live."""

    problem_type = PROBLEM_TYPE_BASE + "duplicate-instance"


async def check_instance(
    connection: asyncpg.Connection, agent_id: str, instance_id: str | None, now: datetime, limits: IngestSettings
) -> None:
    """Raise :class:`DuplicateInstanceError` when another copy of the agent is live (call under its row lock)."""
    takeover_s = limits.instance_takeover_s
    other = await repository.check_instance(connection, agent_id, instance_id, now, takeover_s)
    if other is not None:
        msg = (
            f"agent {agent_id!r} is already running as instance {other[0]} (last heard {other[1].isoformat()});"
            f" this is instance {instance_id}: two agents with one id would lose readings. Stop one or give it its"
            f" own agent id (a copy silent for ingest.instance_takeover_s, {takeover_s:g} s, may take over)"
        )
        raise DuplicateInstanceError(msg)


_log = get_logger(__name__)


class IncomingMessage(NamedTuple):
    """One request to the ingest endpoint, as the controller hands it over."""

    key: str | None
    content_type: str | None
    content_encoding: str | None
    content_length: int | None
    body: AsyncIterator[bytes]


class Reply(NamedTuple):
    """The answer: an encoded ack and its media type, or no body (a status report)."""

    body: bytes | None
    media_type: str


async def receive(pool: asyncpg.Pool, settings: HubSettings, incoming: IncomingMessage) -> Reply:
    """Authenticate, read, decode and store one agent message; any failure stores nothing.

    Refused messages count as ``luna_ingest_batches_total{outcome="rejected"}``; each log line
    written while handling it names the agent (``agent_id``).
    """
    try:
        fmt = wire_format(incoming.content_type)
        encoding = content_encoding(incoming.content_encoding)
        identity = await _authenticate(pool, incoming.key)
        bind_in_scope("agent_id", identity.agent_id)  # until the request ends (see observability.middleware)
        return await _receive(pool, settings, incoming, identity, (fmt, encoding))
    except LunaError:
        recorder().batch("rejected")
        raise


async def _receive(
    pool: asyncpg.Pool,
    settings: HubSettings,
    incoming: IncomingMessage,
    identity: AgentIdentity,
    wire: tuple[WireFormat, ContentEncoding],
) -> Reply:
    limits = settings.ingest
    fmt, encoding = wire
    body = await read_body(incoming.body, declared_length=incoming.content_length, limit=limits.max_body_bytes)
    received_at = utc_ms(datetime.now(UTC))
    message = decode_message(body, fmt, encoding, max_decompressed=limits.max_decompressed_bytes)
    _check_sender(identity, message.agent_id, message.site_id)
    match message:
        case ReceivedBatch():
            ack = await store_batch(pool, message, received_at, limits, method=settings.bulk_insert)
            return Reply(encode(ack, fmt), fmt.value)
        case AgentStatus():
            async with pool.acquire() as connection, connection.transaction():
                await check_instance(connection, message.agent_id, message.instance_id, received_at, limits)
                await record_status(connection, message, received_at)
            return Reply(None, fmt.value)


async def _authenticate(pool: asyncpg.Pool, key: str | None) -> AgentIdentity:
    if key is None:
        msg = "the ingest endpoint needs the agent's key: send 'Authorization: Bearer <key>' (luna-hub create-agent)"
        raise UnauthorizedError(msg)
    async with pool.acquire() as connection:
        identity = await verify_agent_key(connection, key)
    if identity is None:
        msg = "the agent key is unknown or revoked"
        raise UnauthorizedError(msg)
    return identity


def _check_sender(identity: AgentIdentity, agent_id: str, site_id: str) -> None:
    if agent_id != identity.agent_id:
        msg = f"this key belongs to agent {identity.agent_id!r}, not {agent_id!r}"
        raise ForbiddenError(msg)
    if site_id != identity.site_id:
        msg = f"agent {agent_id!r} belongs to site {identity.site_id!r}, not {site_id!r}"
        raise ForbiddenError(msg)


class Screened(NamedTuple):
    """A batch's rows, flagged and corrected for the agent's clock, and the readings to set aside, by seq."""

    rows: list[ReadingFields]
    """Every row of the batch, in sequence order (those set aside too: ledger arithmetic needs them all)."""
    aside: dict[int, str]
    """Seq -> why the reading is set aside instead of stored."""


def batch_rows(rows: list[ReadingFields], offset: timedelta, limits: IngestSettings, received_at: datetime) -> Screened:
    """Flag and correct ``rows`` for the agent's clock, and pick those to set aside (module docstring)."""
    skewed = abs(offset.total_seconds()) > limits.clock_tolerance_s
    correct = limits.correct_untrusted_clock and any(row[6] and not _CLOCK_FLAGS.isdisjoint(row[6]) for row in rows)
    aside: dict[int, str] = {}
    if skewed or correct:
        rows = _flagged(rows, offset, skewed=skewed, correct=correct, aside=aside)
    horizon, earliest = received_at + timedelta(seconds=limits.future_tolerance_s), limits.earliest
    if max(row[2] for row in rows) > horizon or min(row[2] for row in rows) < earliest:  # rare: look at each
        for row in rows:
            if row[2] > horizon:
                aside.setdefault(
                    row[7],
                    f"ts {row[2].isoformat()} is later than the hub's clock ({received_at.isoformat()}) plus"
                    f" ingest.future_tolerance_s ({limits.future_tolerance_s:g} s): set aside, not stored",
                )
            elif row[2] < earliest:
                aside.setdefault(
                    row[7],
                    f"ts {row[2].isoformat()} is before ingest.earliest ({earliest.isoformat()}):"
                    " set aside, not stored",
                )
    if max((abs(row[3]) for row in rows if row[3] is not None), default=0.0) > MAX_MAGNITUDE:  # rare: look at each
        for row in rows:
            problem = value_problem(row[3])
            if problem is not None:
                aside.setdefault(row[7], f"{problem}: set aside, not stored")
    return Screened(rows, aside)


def _flagged(
    rows: list[ReadingFields], offset: timedelta, *, skewed: bool, correct: bool, aside: dict[int, str]
) -> list[ReadingFields]:
    flagged: list[ReadingFields] = []
    for meter, metric, ts, value, unit, quality, reasons, seq in rows:
        if correct and reasons and not _CLOCK_FLAGS.isdisjoint(reasons):
            try:
                moved = ts + offset
            except OverflowError:  # year 1 or 9999 shifted beyond the calendar
                aside[seq] = f"ts {ts.isoformat()} shifted by the agent's clock offset {offset} leaves the calendar"
                moved = ts
            flagged.append(
                (meter, metric, moved, value, unit, quality, (*reasons, Flag.TIMESTAMP_CORRECTED.value), seq)
            )
        elif skewed:
            worse = quality.worst(Quality.SUSPECT)
            flagged.append((meter, metric, ts, value, unit, worse, (*reasons, Flag.CLOCK_SKEW.value), seq))
        else:
            flagged.append((meter, metric, ts, value, unit, quality, reasons, seq))
    return flagged


def uncovered(rows: list[ReadingFields], first_seq: int, covered: list[tuple[int, int]]) -> list[ReadingFields]:
    """Return the rows (in sequence order from ``first_seq``) whose sequence numbers no covered range includes."""
    if not covered:
        return rows
    kept: list[ReadingFields] = []
    start = 0
    for low, high in covered:
        kept.extend(rows[start : max(start, low - first_seq)])
        start = max(start, high - first_seq + 1)
    kept.extend(rows[start:])
    return kept


async def store_batch(
    pool: asyncpg.Pool, batch: ReceivedBatch, received_at: datetime, limits: IngestSettings, *, method: BulkMethod
) -> BatchAck:
    """Store a batch exactly once and return its ack (see the module docstring)."""
    offset = received_at - batch.sent_at
    offset_ms = clock_offset_ms(received_at, batch.sent_at)
    size = batch.last_seq - batch.first_seq + 1
    rows, aside = batch_rows(batch.rows, offset, limits, received_at)
    async with pool.acquire() as connection, connection.transaction():
        agent = await repository.lock_agent(connection, batch.agent_id)
        await check_instance(connection, batch.agent_id, batch.instance_id, received_at, limits)
        foreign = await repository.claim_meters(
            connection, list({row[0] for row in rows}), batch.site_id, batch.agent_id
        )
        if foreign:
            named = ", ".join(f"{meter!r} (site {site!r})" for meter, site in foreign[:_NAMED_MAX])
            more = " ..." if len(foreign) > _NAMED_MAX else ""
            msg = (
                f"meters of another site: {named}{more}; a meter belongs to the site that registered it first,"
                f" agent {batch.agent_id!r} is at site {batch.site_id!r}: nothing stored"
            )
            raise ForbiddenError(msg)
        earlier = await repository.overlapping_entries(connection, batch.agent_id, batch.first_seq, batch.last_seq)
        known = next((e for e in earlier if (e.first_seq, e.last_seq) == (batch.first_seq, batch.last_seq)), None)
        if known is not None:
            if known.content_hash != batch.content_hash:
                msg = (
                    f"range {batch.first_seq}..{batch.last_seq} of agent {batch.agent_id!r} was stored on"
                    f" {known.received_at.isoformat()} with content hash {known.content_hash};"
                    f" this batch has {batch.content_hash}: the agent rewrote history"
                )
                raise ConflictError(msg)
            await repository.record_replay(connection, batch.agent_id, received_at, offset_ms, size)
            recorder().batch("replayed")
            return _ack(batch, received_at, stored=0, duplicates=size)
        if agent.last_acked_seq is not None and batch.first_seq > agent.last_acked_seq + 1:
            _log.warning(
                "sequence gap",
                agent_id=batch.agent_id,
                missing_first=agent.last_acked_seq + 1,
                missing_last=batch.first_seq - 1,
            )
        covered = [(max(e.first_seq, batch.first_seq), min(e.last_seq, batch.last_seq)) for e in earlier]
        fresh = uncovered(rows, batch.first_seq, sorted(covered))
        set_aside = [row for row in fresh if row[7] in aside] if aside else []
        if set_aside:
            fresh = [row for row in fresh if row[7] not in aside]
            await repository.set_aside(connection, batch.agent_id, [(row, aside[row[7]]) for row in set_aside])
            _log.warning(
                "readings set aside", agent_id=batch.agent_id, count=len(set_aside), first=aside[set_aside[0][7]]
            )
        stored, backfilled, latest = 0, 0, agent.max_reading_ts
        if fresh:
            stored = (await write_agent_readings(connection, fresh, batch.agent_id, method=method)).stored
            if latest is not None:
                previous = latest
                backfilled = sum(1 for row in fresh if row[2] < previous)
            newest = max(row[2] for row in fresh)
            latest = newest if latest is None else max(latest, newest)
        await repository.record_batch(
            connection,
            batch.agent_id,
            first_seq=batch.first_seq,
            last_seq=batch.last_seq,
            content_hash=batch.content_hash,
            sent_at=batch.sent_at,
            received_at=received_at,
            stored=stored,
            duplicates=size - stored - len(set_aside),
            backfilled=backfilled,
            clock_offset_ms=offset_ms,
            max_reading_ts=latest,
        )
    recorder().batch("stored", stored=stored, received_at=received_at, timestamps=[row[2] for row in fresh])
    return _ack(
        batch, received_at, stored=stored, duplicates=size - stored - len(set_aside), quarantined=len(set_aside)
    )


def _ack(
    batch: ReceivedBatch, received_at: datetime, *, stored: int, duplicates: int, quarantined: int = 0
) -> BatchAck:
    return BatchAck(
        agent_id=batch.agent_id,
        first_seq=batch.first_seq,
        last_seq=batch.last_seq,
        stored=stored,
        duplicates=duplicates,
        received_at=received_at,
        quarantined=quarantined,
    )
