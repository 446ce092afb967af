"""Wire codec: typed, validated ``ReadingBatch`` against raw msgspec on plain tuples (no types, no checks).

Also the hub's decoder (``decode_for_storage``: the same checks, done per batch, into field tuples)
against a raw msgspec decode of the same bytes into untyped maps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial

import msgspec

from bench.report import Result
from luna_shared.codec import WireFormat, decode_agent_message, encode
from luna_shared.received import decode_for_storage
from luna_shared.wire import Reading, ReadingBatch, make_batch

Encoder = msgspec.msgpack.Encoder | msgspec.json.Encoder
Decoder = msgspec.msgpack.Decoder[object] | msgspec.json.Decoder[object]
READINGS = 10_000
ROUNDS = 20


def _batch() -> ReadingBatch:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    readings = tuple(
        Reading(
            meter_id="sdm630-main",
            metric="power_w",
            ts=start + timedelta(seconds=i),
            value=1000.0 + i % 97,
            unit="W",
            seq=i,
        )
        for i in range(READINGS)
    )
    return make_batch("a1", "s1", readings, start)


def _best(work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def _typed_round_trip(batch: ReadingBatch, fmt: WireFormat) -> object:
    return decode_agent_message(encode(batch, fmt), fmt)


def _raw_round_trip(rows: list[tuple[object, ...]], encoder: Encoder, decoder: Decoder) -> object:
    return decoder.decode(encoder.encode(rows))


def run() -> list[Result]:
    """Measure encode+decode throughput per format, typed and raw."""
    batch = _batch()
    raw_rows: list[tuple[object, ...]] = [
        (r.meter_id, r.metric, r.ts, r.value, r.unit, "good", [], r.seq) for r in batch.readings
    ]
    results = []
    for fmt, raw_encoder, raw_decoder in (
        (WireFormat.MSGPACK, msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder()),
        (WireFormat.JSON, msgspec.json.Encoder(), msgspec.json.Decoder()),
    ):
        typed_bytes = encode(batch, fmt)
        raw_bytes = raw_encoder.encode(raw_rows)
        typed = _best(partial(_typed_round_trip, batch, fmt))
        raw = _best(partial(_raw_round_trip, raw_rows, raw_encoder, raw_decoder))
        name = fmt.name.lower()
        results.append(
            Result(
                group="codec",
                name=f"{name} encode+decode, {READINGS:,} readings",
                value=READINGS / typed,
                unit="readings/s",
                baseline=READINGS / raw,
                note=f"{len(typed_bytes) / READINGS:.0f} B/reading typed vs {len(raw_bytes) / READINGS:.0f} raw",
            )
        )
        struct_decode = _best(partial(decode_agent_message, typed_bytes, fmt))
        hub_decode = _best(partial(decode_for_storage, typed_bytes, fmt))
        untyped = _best(partial(raw_decoder.decode, typed_bytes))
        results.append(
            Result(
                group="codec",
                name=f"{name} decode for storage (hub), {READINGS:,} readings",
                value=READINGS / hub_decode,
                unit="readings/s",
                baseline=READINGS / untyped,
                note=f"all checks, into field tuples; raw = untyped decode of the same bytes; the struct decoder"
                f" (a validated Reading each) does {READINGS / struct_decode:,.0f}/s",
            )
        )
    return results
