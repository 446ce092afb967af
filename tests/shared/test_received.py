"""The hub's batch decoder (``decode_for_storage``) against the struct decoder: same acceptance, same fields.

The messages are built as plain data and encoded raw, so they can break every rule the wire
structs enforce (which constructing a struct would refuse to do).
"""

from __future__ import annotations

import contextlib
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from luna_shared.codec import WireFormat, decode_agent_message, encode
from luna_shared.errors import MalformedMessageError, UnsupportedVersionError, WireError
from luna_shared.received import ReceivedBatch, _IncomingReading, decode_for_storage
from luna_shared.wire import AgentStatus, Reading, ReadingBatch, make_batch, rows_hash
from support.strategies import agent_statuses, reading_batches

formats = st.sampled_from(WireFormat)
_TS = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
# Values that break (or just keep) one rule of Reading each; the field they go into.
_MUTATIONS: dict[str, list[Any]] = {
    "meter_id": ["", "bad id", "x\n", "-lead", "a" * 129, "a" * 128, "ok.id:1"],
    "metric": ["", "Power", "power_w\n", "a" * 65, "energy_import_kwh", "x1_"],
    "ts": [
        _TS.replace(microsecond=123_456),
        _TS.astimezone(timezone(timedelta(hours=2))),
        _TS.replace(tzinfo=None),
        _TS.replace(microsecond=5_000),
    ],
    "value": [math.nan, math.inf, -math.inf, None, 1e308, -0.0, 3],
    "quality": ["good", "suspect", "bad", "weird"],
    "reasons": [[], ["clock_skew"], [""], ["x" * 65], ["spike", "outlier"]],
    "unit": ["x" * 17, "", "kWh"],
    "seq": [-1, 0, 2**63, "7"],
}


def _raw(batch: ReadingBatch) -> dict[str, Any]:
    raw: dict[str, Any] = msgspec.to_builtins(batch, builtin_types=(datetime,))
    raw["readings"] = list(raw["readings"])
    return raw


def _encode(raw: dict[str, Any], fmt: WireFormat) -> bytes:
    return msgspec.json.encode(raw) if fmt is WireFormat.JSON else msgspec.msgpack.encode(raw)


def _rehash(raw: dict[str, Any]) -> None:
    """Give a mutated batch the hash its (decoded) content has, as a careless agent would send it."""
    rows = [tuple(r[name] for name in Reading.__struct_fields__) for r in raw["readings"]]
    # A value msgpack cannot encode leaves the hash wrong, which both decoders must refuse.
    with contextlib.suppress(TypeError, OverflowError):
        raw["content_hash"] = rows_hash(rows)


def _outcome(decode: Any, data: bytes, fmt: WireFormat) -> tuple[str, Any]:
    try:
        return "ok", decode(data, fmt)
    except WireError as exc:
        return type(exc).__name__, None


def _assert_same(batch: ReadingBatch, received: ReceivedBatch) -> None:
    assert received.rows == [msgspec.structs.astuple(r) for r in batch.readings]
    header = ("agent_id", "site_id", "first_seq", "last_seq", "sent_at", "content_hash")
    assert [getattr(received, name) for name in header] == [getattr(batch, name) for name in header]


@given(batch=reading_batches(), fmt=formats)
def test_valid_batches_decode_to_their_fields(batch: ReadingBatch, fmt: WireFormat) -> None:
    received = decode_for_storage(encode(batch, fmt), fmt)
    assert isinstance(received, ReceivedBatch)
    _assert_same(batch, received)


@given(status=agent_statuses(), fmt=formats)
def test_status_reports_pass_through(status: AgentStatus, fmt: WireFormat) -> None:
    assert decode_for_storage(encode(status, fmt), fmt) == status


@given(
    batch=reading_batches(max_size=6),
    fmt=formats,
    field=st.sampled_from(sorted(_MUTATIONS)),
    choice=st.integers(0, 100),
    index=st.integers(0, 5),
    rehash=st.booleans(),
)
def test_accepts_exactly_what_the_struct_decoder_accepts(  # noqa: PLR0913 - hypothesis arguments
    batch: ReadingBatch, fmt: WireFormat, field: str, choice: int, index: int, *, rehash: bool
) -> None:
    raw = _raw(batch)
    reading = raw["readings"][index % len(raw["readings"])]
    options = _MUTATIONS[field]
    reading[field] = options[choice % len(options)]
    if rehash:
        _rehash(raw)
    data = _encode(raw, fmt)
    expected, decoded = _outcome(decode_agent_message, data, fmt)
    got, received = _outcome(decode_for_storage, data, fmt)
    assert got == expected
    if decoded is not None:
        _assert_same(decoded, received)


@given(batch=reading_batches(max_size=6), fmt=formats, drop=st.booleans(), swap=st.booleans())
def test_sequence_breaks_are_refused_like_the_struct_decoder(
    batch: ReadingBatch, fmt: WireFormat, *, drop: bool, swap: bool
) -> None:
    raw = _raw(batch)
    if drop and len(raw["readings"]) > 1:
        del raw["readings"][0]
    if swap and len(raw["readings"]) > 1:
        first, second = raw["readings"][0], raw["readings"][1]
        first["seq"], second["seq"] = second["seq"], first["seq"]
    _rehash(raw)
    data = _encode(raw, fmt)
    assert _outcome(decode_for_storage, data, fmt)[0] == _outcome(decode_agent_message, data, fmt)[0]


def _one(**changes: Any) -> bytes:
    reading = Reading(meter_id="sdm630-1", metric="power_w", ts=_TS, value=1234.5, unit="W", seq=7)
    raw = _raw(make_batch("a1", "s1", [reading, msgspec.structs.replace(reading, seq=8)], _TS))
    raw["readings"][1].update(changes)
    _rehash(raw)
    return _encode(raw, WireFormat.JSON)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"value": None}, "without a value must have quality 'bad' - at `$.readings[1]`"),
        ({"quality": "suspect"}, "a suspect reading needs at least one reason - at `$.readings[1]`"),
        ({"meter_id": "bad id"}, "matching regex '^[A-Za-z0-9][A-Za-z0-9._:-]*\\\\Z' - at `$.readings[1].meter_id`"),
        ({"metric": "Power"}, "at `$.readings[1].metric`"),
        ({"ts": "2026-03-29T01:00:00.000001Z"}, "millisecond precision (use utc_ms) - at `$.readings[1]`"),
        ({"seq": 9}, "reading 1 has seq 9, expected 8 - at `$`"),
    ],
)
def test_errors_name_the_reading_and_the_rule(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(MalformedMessageError) as caught:
        decode_for_storage(_one(**changes), WireFormat.JSON)
    assert message in str(caught.value)


def test_altered_content_is_refused() -> None:
    data = _one().replace(b'"value":1234.5', b'"value":1234.6', 1)
    with pytest.raises(MalformedMessageError, match="content_hash does not match"):
        decode_for_storage(data, WireFormat.JSON)


def test_unknown_major_version_is_rejected_by_name() -> None:
    with pytest.raises(UnsupportedVersionError, match=r"'readings\.v2'"):
        decode_for_storage(_one().replace(b"readings.v1", b"readings.v2"), WireFormat.JSON)


def test_huge_claimed_range_is_refused_without_building_it() -> None:
    raw = msgspec.json.decode(_one())
    raw["last_seq"] = 2**62
    with pytest.raises(MalformedMessageError, match="needs 4611686018427387898 readings, got 2"):
        decode_for_storage(msgspec.json.encode(raw), WireFormat.JSON)


def test_the_incoming_reading_has_the_fields_of_reading_in_its_order() -> None:
    # ReadingFields (and the content hash over them) follow Reading's field order.
    assert _IncomingReading.__struct_fields__ == Reading.__struct_fields__
    assert _IncomingReading.__struct_defaults__ == Reading.__struct_defaults__
