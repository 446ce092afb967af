"""Round trips and schema evolution of the wire messages, in msgpack and JSON."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from luna_shared.codec import WireFormat, decode_agent_message, decode_hub_message, encode
from luna_shared.errors import MalformedMessageError, UnsupportedVersionError
from luna_shared.vocabulary import Quality
from luna_shared.wire import AgentStatus, BatchAck, Reading, ReadingBatch, make_batch
from support.strategies import agent_statuses, batch_acks, reading_batches

formats = st.sampled_from(WireFormat)


@given(batch=reading_batches(), fmt=formats)
def test_reading_batch_round_trips(batch: ReadingBatch, fmt: WireFormat) -> None:
    assert decode_agent_message(encode(batch, fmt), fmt) == batch


@given(status=agent_statuses(), fmt=formats)
def test_agent_status_round_trips(status: AgentStatus, fmt: WireFormat) -> None:
    assert decode_agent_message(encode(status, fmt), fmt) == status


@given(ack=batch_acks(), fmt=formats)
def test_batch_ack_round_trips(ack: BatchAck, fmt: WireFormat) -> None:
    assert decode_hub_message(encode(ack, fmt), fmt) == ack


# A later minor version of readings.v1, as msgspec's evolution rules allow it to grow:
# new fields appended, each with a default, same tag.
class NewerReading(msgspec.Struct, frozen=True, kw_only=True):
    meter_id: str
    metric: str
    ts: datetime
    value: float | None
    unit: str
    quality: Quality = Quality.GOOD
    reasons: tuple[str, ...] = ()
    seq: int
    source: str = "modbus"


class NewerReadingBatch(msgspec.Struct, frozen=True, kw_only=True, tag="readings.v1", tag_field="type"):
    agent_id: str
    site_id: str
    first_seq: int
    last_seq: int
    sent_at: datetime
    readings: tuple[NewerReading, ...]
    content_hash: str
    instance_id: str | None = None
    priority: int = 0


def _newer(batch: ReadingBatch, source: str) -> NewerReadingBatch:
    fields = msgspec.structs.asdict(batch)
    fields["readings"] = tuple(NewerReading(**msgspec.structs.asdict(r), source=source) for r in batch.readings)
    return NewerReadingBatch(**fields, priority=3)


@given(batch=reading_batches(max_size=5), fmt=formats, extra=st.text(max_size=20))
def test_old_decoder_accepts_newer_message_with_extra_fields(batch: ReadingBatch, fmt: WireFormat, extra: str) -> None:
    # The content hash covers the v1 fields only, so the extra fields do not break it.
    newer = _newer(batch, source=extra or "mqtt")
    data = msgspec.json.encode(newer) if fmt is WireFormat.JSON else msgspec.msgpack.encode(newer)
    assert decode_agent_message(data, fmt) == batch


@given(batch=reading_batches(max_size=5), fmt=formats)
def test_newer_decoder_reads_old_message_with_defaults(batch: ReadingBatch, fmt: WireFormat) -> None:
    data = encode(batch, fmt)
    decoded = (
        msgspec.json.decode(data, type=NewerReadingBatch)
        if fmt is WireFormat.JSON
        else msgspec.msgpack.decode(data, type=NewerReadingBatch)
    )
    assert decoded.priority == 0
    assert all(r.source == "modbus" for r in decoded.readings)
    assert [r.value for r in decoded.readings] == [r.value for r in batch.readings]


def _batch() -> ReadingBatch:
    ts = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    reading = Reading(meter_id="sdm630-1", metric="power_w", ts=ts, value=1234.5, unit="W", seq=7)
    return make_batch("a1", "s1", [reading], ts)


@pytest.mark.parametrize("fmt", list(WireFormat))
def test_unknown_major_version_is_rejected_by_name(fmt: WireFormat) -> None:
    data = encode(_batch(), fmt).replace(b"readings.v1", b"readings.v2")
    with pytest.raises(UnsupportedVersionError, match=r"'readings\.v2'.*readings\.v1") as caught:
        decode_agent_message(data, fmt)
    assert caught.value.tag == "readings.v2"


def test_hub_message_decoder_rejects_agent_messages_as_unsupported() -> None:
    with pytest.raises(UnsupportedVersionError, match=r"readings\.v1"):
        decode_hub_message(encode(_batch()))


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"\xc1\x00garbage", WireFormat.MSGPACK),
        (b"{not json", WireFormat.JSON),
        (b"", WireFormat.MSGPACK),
        (b'{"type": "readings.v1", "agent_id": "a"}', WireFormat.JSON),
        (b"[1, 2, 3]", WireFormat.JSON),
    ],
)
def test_malformed_bytes_raise_malformed_message(data: bytes, fmt: WireFormat) -> None:
    with pytest.raises(MalformedMessageError):
        decode_agent_message(data, fmt)


def test_broken_invariant_in_received_batch_is_malformed() -> None:
    data = encode(_batch(), WireFormat.JSON).replace(b'"last_seq":7', b'"last_seq":9')
    with pytest.raises(MalformedMessageError, match="needs 3 readings, got 1"):
        decode_agent_message(data, WireFormat.JSON)


def test_batch_altered_in_transit_is_malformed() -> None:
    data = encode(_batch(), WireFormat.JSON).replace(b'"value":1234.5', b'"value":1234.6')
    with pytest.raises(MalformedMessageError, match="content_hash does not match"):
        decode_agent_message(data, WireFormat.JSON)


def test_json_timestamps_are_utc_with_milliseconds() -> None:
    text = encode(_batch(), WireFormat.JSON).decode()
    assert '"ts":"2026-03-29T01:00:00Z"' in text
