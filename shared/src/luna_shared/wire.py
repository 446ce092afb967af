"""Wire schemas exchanged between agent and hub.

Every top-level message is a tagged struct; the tag names the message type and its major
version (``readings.v1``). Within a major version the schema evolves by msgspec's rules:
new fields are appended with defaults, no field changes its type, and unknown fields are
ignored, so a newer agent can still reach an older hub. A change that breaks those rules
is a new tag (``readings.v2``), which an older decoder rejects with
:class:`~luna_shared.errors.UnsupportedVersionError`.

Metric, unit and reason are plain strings on the wire (see :mod:`luna_shared.vocabulary`).
"""

from __future__ import annotations

import enum
import hashlib
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final

import msgspec

from luna_shared.vocabulary import Quality

__all__ = [
    "CONTENT_HASH_MISMATCH",
    "ID_PATTERN",
    "METRIC_PATTERN",
    "AgentId",
    "AgentMessage",
    "AgentStatus",
    "BatchAck",
    "ContentHash",
    "DeviceState",
    "DeviceStatus",
    "HubMessage",
    "InstanceId",
    "MeterId",
    "MetricName",
    "QuarantinedSeq",
    "Reading",
    "ReadingBatch",
    "ReadingFields",
    "ReasonName",
    "Seq",
    "SiteId",
    "UnitName",
    "UtcTimestamp",
    "instant_problem",
    "make_batch",
    "nul_problem",
    "reading_problem",
    "readings_hash",
    "rows_hash",
    "sequence_problem",
    "utc_ms",
]

ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]*\Z"
"""Agent, site and meter ids: letters and digits, then also ``.``, ``_``, ``:`` and ``-``.

``\\Z``, not ``$``: msgspec checks a pattern with ``re.search``, and ``$`` also matches before a
trailing newline (``"meter\\n"`` was a valid id).
"""
METRIC_PATTERN: Final = r"^[a-z][a-z0-9_]*\Z"
METER_ID_MAX_LENGTH: Final = 128
METRIC_MAX_LENGTH: Final = 64
_ZERO: Final = timedelta(0)
_HASH_PREFIX: Final = "sha256:"
_hash_encoder: Final = msgspec.msgpack.Encoder()

AgentId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=ID_PATTERN)]
InstanceId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=ID_PATTERN)]
"""Which running copy of an agent (its buffer) sent a message: two copies with one agent id lose data."""
ContentHash = Annotated[str, msgspec.Meta(pattern=r"^sha256:[0-9a-f]{64}$")]
SiteId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=ID_PATTERN)]
MeterId = Annotated[str, msgspec.Meta(min_length=1, max_length=METER_ID_MAX_LENGTH, pattern=ID_PATTERN)]
MetricName = Annotated[str, msgspec.Meta(min_length=1, max_length=METRIC_MAX_LENGTH, pattern=METRIC_PATTERN)]
UnitName = Annotated[str, msgspec.Meta(max_length=16)]
ReasonName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Seq = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Count = Annotated[int, msgspec.Meta(ge=0)]
ReadingFields = tuple[str, str, datetime, float | None, str, Quality, tuple[str, ...], int]
"""A reading's fields in :class:`Reading`'s order: meter_id, metric, ts, value, unit, quality, reasons, seq."""
CONTENT_HASH_MISMATCH: Final = "content_hash does not match the readings (corrupted or altered in transit)"
UtcTimestamp = Annotated[datetime, msgspec.Meta(tz=True)]
"""A timezone-aware instant; constructors below require UTC with millisecond precision."""


def utc_ms(moment: datetime) -> datetime:
    """Normalise an aware datetime to UTC, truncated to whole milliseconds."""
    if moment.tzinfo is None:
        msg = "naive datetime: a wire timestamp needs a timezone"
        raise ValueError(msg)
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def instant_problem(name: str, moment: datetime | None) -> str | None:
    """Return the rule a wire timestamp breaks (UTC, whole milliseconds), in words, or ``None``."""
    if moment is None:
        return None
    if moment.utcoffset() != _ZERO:
        return f"{name} must be in UTC, got offset {moment.utcoffset()}"
    if moment.microsecond % 1000:
        return f"{name} must have millisecond precision (use utc_ms)"
    return None


def _check_instant(name: str, moment: datetime | None) -> None:
    problem = instant_problem(name, moment)
    if problem is not None:
        raise ValueError(problem)


def _check_range(first: int, last: int) -> None:
    if last < first:
        msg = f"last_seq {last} is before first_seq {first}"
        raise ValueError(msg)


def nul_problem(name: str, value: str | None) -> str | None:
    """Return why ``value`` cannot be stored as text (it holds U+0000, which PostgreSQL text cannot), or ``None``."""
    if value is not None and "\x00" in value:
        return f"{name} must not contain NUL (U+0000)"
    return None


def reading_problem(
    ts: datetime, value: float | None, quality: Quality, reasons: Sequence[str], unit: str = ""
) -> str | None:
    """Return the rule a reading breaks, in words, or ``None``: the invariants :class:`Reading` checks."""
    problem = instant_problem("ts", ts)
    if problem is not None:
        return problem
    problem = nul_problem("unit", unit) or next((nul_problem("reason", r) for r in reasons if "\x00" in r), None)
    if problem is not None:
        return problem
    if value is None:
        if quality is not Quality.BAD:
            return "a reading without a value must have quality 'bad'"
    elif not math.isfinite(value):
        return "value must be finite; send None with quality 'bad' instead"
    if quality is not Quality.GOOD and not reasons:
        return f"a {quality.value} reading needs at least one reason"
    return None


def sequence_problem(first_seq: int, last_seq: int, seqs: Sequence[int]) -> str | None:
    """Return the rule a batch's sequence numbers break, or ``None``: exactly ``first_seq..last_seq`` in order."""
    if last_seq < first_seq:
        return f"last_seq {last_seq} is before first_seq {first_seq}"
    expected = last_seq - first_seq + 1
    if len(seqs) != expected:
        return f"range {first_seq}..{last_seq} needs {expected} readings, got {len(seqs)}"
    if list(seqs) == list(range(first_seq, last_seq + 1)):  # the common case, compared in C
        return None
    offset = next(offset for offset, seq in enumerate(seqs) if seq != first_seq + offset)
    return f"reading {offset} has seq {seqs[offset]}, expected {first_seq + offset}"


class Reading(msgspec.Struct, frozen=True, kw_only=True):
    """One value of one metric of one meter at one instant, as the agent validated it.

    ``value`` is ``None`` only when the device gave nothing usable (NaN, a sentinel);
    such a reading is ``bad`` and its reasons say why. ``seq`` is the agent's buffer
    sequence number: unique and gap-free per agent, it is how the hub proves completeness.
    """

    meter_id: MeterId
    metric: MetricName
    ts: UtcTimestamp
    value: float | None
    unit: UnitName
    quality: Quality = Quality.GOOD
    reasons: tuple[ReasonName, ...] = ()
    seq: Seq

    def __post_init__(self) -> None:
        problem = reading_problem(self.ts, self.value, self.quality, self.reasons, self.unit)
        if problem is not None:
            raise ValueError(problem)


def readings_hash(readings: Sequence[Reading]) -> str:
    """Hash a run of readings: SHA-256 over the msgpack of their ``readings.v1`` fields.

    It covers exactly the fields this major version defines, so a newer minor version's extra
    fields (which an older hub drops on decode) do not change it. The hub compares it when the
    same range arrives twice: equal means a replay, different means the agent rewrote history.
    """
    return rows_hash([msgspec.structs.astuple(r) for r in readings])


def rows_hash(rows: Sequence[ReadingFields]) -> str:
    """:func:`readings_hash` of readings given as tuples of their fields, in :class:`Reading`'s field order."""
    return _HASH_PREFIX + hashlib.sha256(_hash_encoder.encode(rows)).hexdigest()


class ReadingBatch(msgspec.Struct, frozen=True, kw_only=True, tag="readings.v1", tag_field="type"):
    """A contiguous run of an agent's readings, ``first_seq`` to ``last_seq`` inclusive, in order."""

    agent_id: AgentId
    site_id: SiteId
    first_seq: Seq
    last_seq: Seq
    sent_at: UtcTimestamp
    """The agent's wall clock when it sent the batch; the hub derives the clock offset from it."""
    readings: tuple[Reading, ...]
    content_hash: ContentHash
    """:func:`readings_hash` of ``readings``; checked on construction and on decode."""
    instance_id: InstanceId | None = None
    """The sending buffer's id: the hub refuses (409) a second live instance of one agent id."""

    def __post_init__(self) -> None:
        _check_instant("sent_at", self.sent_at)
        problem = sequence_problem(self.first_seq, self.last_seq, [r.seq for r in self.readings])
        if problem is not None:
            raise ValueError(problem)
        if readings_hash(self.readings) != self.content_hash:
            raise ValueError(CONTENT_HASH_MISMATCH)


def make_batch(
    agent_id: str, site_id: str, readings: Sequence[Reading], sent_at: datetime, instance_id: str | None = None
) -> ReadingBatch:
    """Build a batch from a non-empty, contiguous, ordered run of readings, computing range and hash."""
    if not readings:
        msg = "a batch needs at least one reading"
        raise ValueError(msg)
    return ReadingBatch(
        agent_id=agent_id,
        site_id=site_id,
        first_seq=readings[0].seq,
        last_seq=readings[-1].seq,
        sent_at=utc_ms(sent_at),
        readings=tuple(readings),
        content_hash=readings_hash(readings),
        instance_id=instance_id,
    )


class BatchAck(msgspec.Struct, frozen=True, kw_only=True, tag="ack.v1", tag_field="type"):
    """The hub's receipt for a batch: the range is durably stored (``stored`` new, ``duplicates`` seen before)."""

    agent_id: AgentId
    first_seq: Seq
    last_seq: Seq
    stored: Count
    duplicates: Count
    received_at: UtcTimestamp
    """The hub's wall clock when it received the batch."""
    quarantined: Count = 0
    """Readings of the range the hub set aside instead of storing (e.g. later than its clock allows); the range
    is acknowledged all the same: they are recorded on the hub, not lost, and must not be sent again."""

    def __post_init__(self) -> None:
        _check_instant("received_at", self.received_at)
        _check_range(self.first_seq, self.last_seq)


class DeviceState(enum.StrEnum):
    """Health of one polled device; adding a state needs a new major version of ``status``."""

    NOT_READY = "not_ready"
    """The device has never answered since the agent started."""
    UP = "up"
    DOWN = "down"


class DeviceStatus(msgspec.Struct, frozen=True, kw_only=True):
    """Health of one device as the agent sees it."""

    device_id: MeterId
    state: DeviceState
    last_ok_at: UtcTimestamp | None = None
    error: str | None = None


class QuarantinedSeq(msgspec.Struct, frozen=True, kw_only=True):
    """A reading the agent set aside because the hub refused it on its own: its sequence number, the hub's reason."""

    seq: Seq
    reason: Annotated[str, msgspec.Meta(max_length=500)]


class AgentStatus(msgspec.Struct, frozen=True, kw_only=True, tag="status.v1", tag_field="type"):
    """An agent's report about itself: identity, clock, backlog and devices."""

    agent_id: AgentId
    site_id: SiteId
    version: str
    sent_at: UtcTimestamp
    started_at: UtcTimestamp
    clock_trusted: bool
    backlog: Count
    oldest_unsynced_at: UtcTimestamp | None = None
    last_acked_seq: Seq | None = None
    last_ack_at: UtcTimestamp | None = None
    devices: tuple[DeviceStatus, ...] = ()
    quarantined: tuple[QuarantinedSeq, ...] = ()
    """Readings set aside since the last report the hub took: not lost, so no gap in the hub's ledger."""
    instance_id: InstanceId | None = None
    """As in :class:`ReadingBatch`."""

    def __post_init__(self) -> None:
        for name in ("sent_at", "started_at", "oldest_unsynced_at", "last_ack_at"):
            _check_instant(name, getattr(self, name))
        texts: list[tuple[str, str | None]] = [("version", self.version)]
        texts += [("device_id", d.device_id) for d in self.devices] + [("error", d.error) for d in self.devices]
        texts += [("quarantined reason", q.reason) for q in self.quarantined]
        problem = next((p for name, text in texts if (p := nul_problem(name, text)) is not None), None)
        if problem is not None:
            raise ValueError(problem)


AgentMessage = ReadingBatch | AgentStatus
"""What an agent sends to the hub."""

HubMessage = BatchAck
"""What the hub sends back to an agent."""
