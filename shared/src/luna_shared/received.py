"""Decoding ``readings.v1`` batches for bulk storage: the checks of the wire structs, done per batch.

A hub receives readings by the hundred thousand a second, and building a validated
:class:`~luna_shared.wire.Reading` for each costs more than storing it. This decoder reads the
same messages into one tuple of fields per reading and applies the same rules: field types and
lengths while decoding (in C), then id and metric patterns once per distinct value, timestamps,
values, quality and reasons in one screening pass (the exact rule, :func:`reading_problem`, runs
only on the readings the screen flags), the contiguous sequence and the content hash. A property
test holds it to the struct decoder: it accepts exactly what that accepts, with the same fields.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Final

import msgspec

from luna_shared.codec import WireFormat, explain_decode_error
from luna_shared.errors import MalformedMessageError
from luna_shared.vocabulary import Quality
from luna_shared.wire import (
    CONTENT_HASH_MISMATCH,
    ID_PATTERN,
    METRIC_PATTERN,
    AgentId,
    AgentStatus,
    ContentHash,
    InstanceId,
    ReadingBatch,
    ReadingFields,
    ReasonName,
    Seq,
    SiteId,
    UnitName,
    UtcTimestamp,
    instant_problem,
    reading_problem,
    rows_hash,
    sequence_problem,
)

__all__ = ["ReceivedBatch", "decode_for_storage"]

_GOOD: Final = Quality.GOOD
_ID: Final = re.compile(ID_PATTERN)
_METRIC: Final = re.compile(METRIC_PATTERN)


class _IncomingReading(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """:class:`~luna_shared.wire.Reading`'s fields in its order; patterns and invariants are checked per batch."""

    meter_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    metric: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    ts: UtcTimestamp
    value: float | None
    unit: UnitName
    quality: Quality = Quality.GOOD
    reasons: tuple[ReasonName, ...] = ()
    seq: Seq


class _IncomingBatch(msgspec.Struct, frozen=True, kw_only=True, tag="readings.v1", tag_field="type"):
    """:class:`~luna_shared.wire.ReadingBatch` as it arrives, before the per-batch checks."""

    agent_id: AgentId
    site_id: SiteId
    first_seq: Seq
    last_seq: Seq
    sent_at: UtcTimestamp
    readings: list[_IncomingReading]
    content_hash: ContentHash
    instance_id: InstanceId | None = None


class ReceivedBatch(msgspec.Struct, frozen=True, kw_only=True):
    """A checked ``readings.v1`` batch: its header, and each reading as a tuple of its fields, in sequence order."""

    agent_id: str
    site_id: str
    first_seq: int
    last_seq: int
    sent_at: datetime
    content_hash: str
    rows: list[ReadingFields]
    instance_id: str | None = None


_TAG: Final = str(ReadingBatch.__struct_config__.tag)
_KNOWN_TAGS: Final = (_TAG, str(AgentStatus.__struct_config__.tag))
_decoders: Final[
    dict[
        WireFormat,
        msgspec.msgpack.Decoder[_IncomingBatch | AgentStatus] | msgspec.json.Decoder[_IncomingBatch | AgentStatus],
    ]
] = {
    WireFormat.MSGPACK: msgspec.msgpack.Decoder(_IncomingBatch | AgentStatus),
    WireFormat.JSON: msgspec.json.Decoder(_IncomingBatch | AgentStatus),
}


def decode_for_storage(data: bytes, fmt: WireFormat = WireFormat.MSGPACK) -> ReceivedBatch | AgentStatus:
    """Decode what an agent sent, a batch as rows; raise a :class:`~luna_shared.errors.WireError` if invalid."""
    try:
        message = _decoders[fmt].decode(data)
    except msgspec.DecodeError as exc:
        raise explain_decode_error(exc, data, fmt, _KNOWN_TAGS) from exc
    if isinstance(message, AgentStatus):
        return message
    return _checked(message)


def _checked(batch: _IncomingBatch) -> ReceivedBatch:
    rows: list[ReadingFields] = [msgspec.structs.astuple(r) for r in batch.readings]
    _check_pattern(_ID, {row[0] for row in rows}, "meter_id", rows, 0)
    _check_pattern(_METRIC, {row[1] for row in rows}, "metric", rows, 1)
    _check_readings(rows)
    _raise_if(instant_problem("sent_at", batch.sent_at), "`$`")
    _raise_if(sequence_problem(batch.first_seq, batch.last_seq, [row[7] for row in rows]), "`$`")
    if rows_hash(rows) != batch.content_hash:
        _raise_if(CONTENT_HASH_MISMATCH, "`$`")
    return ReceivedBatch(
        agent_id=batch.agent_id,
        site_id=batch.site_id,
        first_seq=batch.first_seq,
        last_seq=batch.last_seq,
        sent_at=batch.sent_at,
        content_hash=batch.content_hash,
        rows=rows,
        instance_id=batch.instance_id,
    )


def _check_pattern(
    pattern: re.Pattern[str], values: Iterable[str], field: str, rows: list[ReadingFields], column: int
) -> None:
    """Check each distinct value once, as msgspec checks a pattern (``re.search``)."""
    for value in values:
        if pattern.search(value) is None:
            index = next(index for index, row in enumerate(rows) if row[column] == value)
            _raise_if(f"Expected `str` matching regex {pattern.pattern!r}", f"`$.readings[{index}].{field}`")


def _check_readings(rows: list[ReadingFields]) -> None:
    """Screen every reading with cheap tests; run the exact rule on those that might break it."""
    isfinite, good, utc = math.isfinite, _GOOD, UTC
    flagged = [
        index
        for index, (_, _, ts, value, unit, quality, reasons, _) in enumerate(rows)
        if quality is not good
        or reasons
        or value is None
        or not isfinite(value)
        or ts.tzinfo is not utc
        or ts.microsecond % 1000
        or "\x00" in unit
    ]
    for index in flagged:
        _, _, ts, value, unit, quality, reasons, _ = rows[index]
        _raise_if(reading_problem(ts, value, quality, reasons, unit), f"`$.readings[{index}]`")


def _raise_if(problem: str | None, where: str) -> None:
    if problem is not None:
        msg = f"{problem} - at {where}"
        raise MalformedMessageError(msg)
