"""Invariants the wire types enforce on construction and on decode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from luna_shared.rules import meter_id_problem, metric_problem
from luna_shared.vocabulary import Quality
from luna_shared.wire import (
    BatchAck,
    MeterId,
    MetricName,
    Reading,
    ReadingBatch,
    make_batch,
    readings_hash,
    utc_ms,
)
from support.strategies import utc_instants

T0 = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def reading(seq: int = 0, **changes: object) -> Reading:
    fields: dict[str, object] = {
        "meter_id": "m1",
        "metric": "energy_import_kwh",
        "ts": T0,
        "value": 12.5,
        "unit": "kWh",
        "seq": seq,
    }
    fields.update(changes)
    return Reading(**fields)  # type: ignore[arg-type]


def test_naive_timestamp_is_rejected() -> None:
    with pytest.raises(ValueError, match="naive"):
        utc_ms(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


def test_utc_ms_converts_offsets_and_truncates_to_milliseconds() -> None:
    berlin_summer = timezone(timedelta(hours=2))
    moment = datetime(2026, 7, 1, 12, 0, 0, 123987, tzinfo=berlin_summer)
    assert utc_ms(moment) == datetime(2026, 7, 1, 10, 0, 0, 123000, tzinfo=UTC)


@given(utc_instants)
def test_utc_ms_is_idempotent(moment: datetime) -> None:
    assert utc_ms(moment) == moment


def test_reading_requires_utc() -> None:
    with pytest.raises(ValueError, match="UTC"):
        reading(ts=datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=1))))


def test_reading_requires_millisecond_precision() -> None:
    with pytest.raises(ValueError, match="millisecond"):
        reading(ts=T0.replace(microsecond=1))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_values_are_rejected(value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        reading(value=value)


def test_missing_value_must_be_bad_with_a_reason() -> None:
    with pytest.raises(ValueError, match="quality 'bad'"):
        reading(value=None)
    with pytest.raises(ValueError, match="reason"):
        reading(value=None, quality=Quality.BAD)
    assert reading(value=None, quality=Quality.BAD, reasons=("sentinel",)).value is None


def test_suspect_reading_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="suspect reading needs"):
        reading(quality=Quality.SUSPECT)


def test_batch_must_carry_exactly_its_contiguous_range_in_order() -> None:
    def batch(first: int, last: int, seqs: list[int]) -> ReadingBatch:
        readings = tuple(map(reading, seqs))
        return ReadingBatch(
            agent_id="a",
            site_id="s",
            first_seq=first,
            last_seq=last,
            sent_at=T0,
            readings=readings,
            content_hash=readings_hash(readings),
        )

    assert batch(5, 7, [5, 6, 7]).last_seq == 7
    with pytest.raises(ValueError, match="before first_seq"):
        batch(7, 5, [])
    with pytest.raises(ValueError, match="needs 3 readings, got 2"):
        batch(5, 7, [5, 7])
    with pytest.raises(ValueError, match="has seq 7, expected 6"):
        batch(5, 7, [5, 7, 6])


def test_batch_content_hash_must_match_its_readings() -> None:
    original = make_batch("a", "s", [reading(5), reading(6)], T0)
    assert original.content_hash.startswith("sha256:")
    altered = (original.readings[0], reading(6, value=99.0))
    with pytest.raises(ValueError, match="content_hash does not match"):
        ReadingBatch(
            agent_id="a",
            site_id="s",
            first_seq=5,
            last_seq=6,
            sent_at=T0,
            readings=altered,
            content_hash=original.content_hash,
        )


def test_content_hash_covers_every_field_of_a_reading() -> None:
    base = reading(1)
    variants = [
        reading(1, meter_id="m2"),
        reading(1, metric="energy_export_kwh"),
        reading(1, ts=T0 + timedelta(milliseconds=1)),
        reading(1, value=12.500001),
        reading(1, value=None, quality=Quality.BAD, reasons=("sentinel",)),
        reading(1, unit="Wh"),
        reading(1, quality=Quality.SUSPECT, reasons=("spike",)),
        reading(2),
    ]
    hashes = {readings_hash([base])} | {readings_hash([v]) for v in variants}
    assert len(hashes) == len(variants) + 1


def test_make_batch_takes_range_from_readings_and_refuses_empty() -> None:
    batch = make_batch("a", "s", [reading(3), reading(4)], T0)
    assert (batch.first_seq, batch.last_seq) == (3, 4)
    with pytest.raises(ValueError, match="at least one reading"):
        make_batch("a", "s", [], T0)


def test_ack_range_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="before first_seq"):
        BatchAck(agent_id="a", first_seq=3, last_seq=2, stored=0, duplicates=0, received_at=T0)


# -- one set of id rules (issue 16): the functions the agent checks with are the schema's rules ----------------------

_HOSTILE_TEXT = st.one_of(
    st.text(max_size=140),
    st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,140}\Z"),
    st.from_regex(r"\A[a-z][a-z0-9_]{0,70}\Z"),
    st.sampled_from(["-evil", "a\n", "power_w\n", "a\x00", "ü", "a b", "_x", "x" * 128, "x" * 129]),
)


@given(_HOSTILE_TEXT)
def test_meter_id_problem_is_exactly_the_wire_schemas_rule(value: str) -> None:
    try:
        msgspec.convert(value, MeterId)
    except msgspec.ValidationError:
        assert meter_id_problem(value) is not None
    else:
        assert meter_id_problem(value) is None


@given(_HOSTILE_TEXT)
def test_metric_problem_is_exactly_the_wire_schemas_rule(value: str) -> None:
    try:
        msgspec.convert(value, MetricName)
    except msgspec.ValidationError:
        assert metric_problem(value) is not None
    else:
        assert metric_problem(value) is None


@pytest.mark.parametrize(("value", "kind"), [("meter\n", MeterId), ("power_w\n", MetricName)])
def test_a_trailing_newline_is_no_valid_id(value: str, kind: object) -> None:
    """``$`` in the patterns matched before a trailing newline: ``"meter\\n"`` passed as a meter id."""
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(value, kind)
