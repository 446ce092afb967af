"""Hypothesis strategies for the wire types, reused by every test of code that handles them."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import strategies as st

from luna_shared.vocabulary import METRICS, Flag, Quality
from luna_shared.wire import AgentStatus, BatchAck, DeviceState, DeviceStatus, Reading, ReadingBatch, make_batch, utc_ms

__all__ = ["agent_statuses", "batch_acks", "identifiers", "reading_batches", "readings", "utc_instants"]

identifiers = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,30}\Z")
utc_instants = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis takes naive bounds with a timezones strategy
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(utc_ms)
_finite = st.floats(allow_nan=False, allow_infinity=False)
_known_metric = st.sampled_from(sorted(METRICS))
_reasons = st.lists(st.sampled_from([f.value for f in Flag]), min_size=1, max_size=3, unique=True).map(tuple)


@st.composite
def readings(draw: st.DrawFn, seq: int | None = None) -> Reading:
    """A valid reading of a known metric in its unit, of any quality."""
    metric = draw(_known_metric)
    quality = draw(st.sampled_from(Quality))
    value = None if quality is Quality.BAD and draw(st.booleans()) else draw(_finite)
    return Reading(
        meter_id=draw(identifiers),
        metric=metric,
        ts=draw(utc_instants),
        value=value,
        unit=METRICS[metric].unit.value,
        quality=quality,
        reasons=() if quality is Quality.GOOD else draw(_reasons),
        seq=draw(st.integers(0, 2**40)) if seq is None else seq,
    )


@st.composite
def reading_batches(draw: st.DrawFn, max_size: int = 20) -> ReadingBatch:
    """A valid batch: a contiguous, ordered run of sequence numbers."""
    first = draw(st.integers(0, 2**40))
    count = draw(st.integers(1, max_size))
    run = [draw(readings(seq=first + i)) for i in range(count)]
    return make_batch(draw(identifiers), draw(identifiers), run, draw(utc_instants))


@st.composite
def batch_acks(draw: st.DrawFn) -> BatchAck:
    """A valid acknowledgement."""
    first = draw(st.integers(0, 2**40))
    return BatchAck(
        agent_id=draw(identifiers),
        first_seq=first,
        last_seq=first + draw(st.integers(0, 10_000)),
        stored=draw(st.integers(0, 10_000)),
        duplicates=draw(st.integers(0, 10_000)),
        received_at=draw(utc_instants),
    )


@st.composite
def agent_statuses(draw: st.DrawFn) -> AgentStatus:
    """A valid agent status report."""
    devices = draw(
        st.lists(
            st.builds(
                DeviceStatus,
                device_id=identifiers,
                state=st.sampled_from(DeviceState),
                last_ok_at=st.none() | utc_instants,
                error=st.none() | st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=50),
            ),
            max_size=4,
        )
    )
    return AgentStatus(
        agent_id=draw(identifiers),
        site_id=draw(identifiers),
        version=draw(st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=10)),
        sent_at=draw(utc_instants),
        started_at=draw(utc_instants),
        clock_trusted=draw(st.booleans()),
        backlog=draw(st.integers(0, 10**9)),
        oldest_unsynced_at=draw(st.none() | utc_instants),
        last_acked_seq=draw(st.none() | st.integers(0, 2**40)),
        last_ack_at=draw(st.none() | utc_instants),
        devices=tuple(devices),
    )
