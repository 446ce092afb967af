"""``POST /api/v1/ingest`` on the real PostgreSQL: exactly once, the error contract, and nothing stored on error."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.settings import HubSettings, IngestSettings
from luna_shared import rules
from luna_shared.codec import WireFormat, decode_hub_message
from luna_shared.compression import ContentEncoding
from luna_shared.vocabulary import Quality
from luna_shared.wire import AgentStatus, BatchAck, Reading, make_batch, rows_hash, utc_ms
from support.hub import ready_client
from support.sync import BASE, Agent, batch, fetch, make_agent, post, readings, seq_union, stored_seqs

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def agent(hub_dsn: str) -> Agent:
    return await make_agent(hub_dsn)


async def ledger_rows(dsn: str, agent: Agent) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM ingest_batches WHERE agent_id = $1", agent.agent_id
        )
    finally:
        await connection.close()
    return count


async def assert_nothing_stored(dsn: str, agent: Agent) -> None:
    assert await stored_seqs(dsn, agent) == []
    assert await ledger_rows(dsn, agent) == 0


def ack_of(response: Any, fmt: WireFormat = WireFormat.MSGPACK) -> BatchAck:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(fmt.value)
    return decode_hub_message(response.content, fmt)


def as_dict(message: Any) -> dict[str, Any]:
    built: dict[str, Any] = msgspec.to_builtins(message)
    return built


async def test_a_batch_is_stored_once_and_its_replay_acked_from_the_ledger(
    hub: Client, hub_dsn: str, agent: Agent
) -> None:
    sent = batch(agent, 10, 109)
    first = ack_of(await post(hub, sent, agent.key))
    assert (first.agent_id, first.first_seq, first.last_seq, first.stored, first.duplicates) == (
        agent.agent_id,
        10,
        109,
        100,
        0,
    )
    again = ack_of(await post(hub, sent, agent.key))
    assert (again.first_seq, again.last_seq, again.stored, again.duplicates) == (10, 109, 0, 100)
    assert await stored_seqs(hub_dsn, agent) == list(range(10, 110))
    assert await ledger_rows(hub_dsn, agent) == 1
    connection = await asyncpg.connect(hub_dsn)
    try:
        row = await connection.fetchrow(
            "SELECT agent_id, quality, reasons FROM smart_meter_readings WHERE meter_id = $1 AND seq = 10", agent.meter
        )
        owner = await connection.fetchrow("SELECT site_id, agent_id FROM meters WHERE meter_id = $1", agent.meter)
    finally:
        await connection.close()
    assert dict(row) == {"agent_id": agent.agent_id, "quality": "good", "reasons": []}
    assert dict(owner) == {"site_id": agent.site_id, "agent_id": agent.agent_id}


@pytest.mark.parametrize(
    ("fmt", "encoding"),
    [(WireFormat.JSON, ContentEncoding.GZIP), (WireFormat.MSGPACK, ContentEncoding.IDENTITY)],
)
async def test_json_and_other_encodings_are_answered_in_kind(
    hub: Client, hub_dsn: str, agent: Agent, fmt: WireFormat, encoding: ContentEncoding
) -> None:
    ack = ack_of(await post(hub, batch(agent, 0, 4), agent.key, fmt=fmt, encoding=encoding), fmt)
    assert (ack.stored, ack.duplicates) == (5, 0)
    assert await stored_seqs(hub_dsn, agent) == [0, 1, 2, 3, 4]


async def test_overlapping_and_out_of_order_batches_store_only_what_is_new(
    hub: Client, hub_dsn: str, agent: Agent
) -> None:
    assert ack_of(await post(hub, batch(agent, 50, 59), agent.key)).stored == 10
    assert ack_of(await post(hub, batch(agent, 0, 9), agent.key)).stored == 10
    overlapping = ack_of(await post(hub, batch(agent, 5, 54), agent.key))
    assert (overlapping.stored, overlapping.duplicates) == (40, 10)
    assert await stored_seqs(hub_dsn, agent) == list(range(60))


async def test_the_same_range_with_other_content_is_a_conflict(hub: Client, hub_dsn: str, agent: Agent) -> None:
    ack_of(await post(hub, batch(agent, 0, 9), agent.key))
    rewritten = make_batch(
        agent.agent_id,
        agent.site_id,
        [msgspec.structs.replace(r, value=-1.0) for r in readings(agent, 0, 9)],
        datetime.now(UTC),
    )
    response = await post(hub, rewritten, agent.key)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "rewrote history" in response.json()["detail"]
    connection = await asyncpg.connect(hub_dsn)
    try:
        values = await connection.fetch("SELECT value FROM smart_meter_readings WHERE meter_id = $1", agent.meter)
    finally:
        await connection.close()
    assert sorted(row["value"] for row in values) == [float(seq) for seq in range(10)]


def tampered(agent: Agent, change: str) -> bytes:
    body = as_dict(batch(agent, 0, 9))
    if change == "hash":
        body["content_hash"] = "sha256:" + "0" * 64
    elif change == "range":
        body["last_seq"] = 10
    elif change == "schema":
        body["readings"][0]["value"] = "many"
    elif change == "version":
        body["type"] = "readings.v2"
    return msgspec.msgpack.encode(body)


@pytest.mark.parametrize(
    ("change", "status", "detail"),
    [
        ("hash", 400, "content_hash does not match"),
        ("range", 400, "needs 11 readings, got 10"),
        ("schema", 400, "Expected `float | null`, got `str`"),
        ("version", 422, "unsupported message type 'readings.v2'"),
    ],
)
async def test_a_malformed_or_unknown_message_stores_nothing(  # noqa: PLR0913, PLR0917 - parametrized
    hub: Client, hub_dsn: str, agent: Agent, change: str, status: int, detail: str
) -> None:
    response = await post(hub, tampered(agent, change), agent.key)
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["status"] == status
    assert detail in problem["detail"]
    if change == "version":
        assert problem["type"].endswith("unsupported-version")
    await assert_nothing_stored(hub_dsn, agent)


async def test_not_msgpack_at_all_is_400(hub: Client, hub_dsn: str, agent: Agent) -> None:
    response = await post(hub, b"\xc1 not msgpack", agent.key)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("malformed msgpack message")
    await assert_nothing_stored(hub_dsn, agent)


async def test_keys_missing_unknown_or_of_another_agent_store_nothing(hub: Client, hub_dsn: str, agent: Agent) -> None:
    other = await make_agent(hub_dsn)
    sent = batch(agent, 0, 9)
    assert (await post(hub, sent, None)).status_code == 401
    assert (await post(hub, sent, "lak_" + "x" * 43)).status_code == 401
    assert (await post(hub, sent, agent.key[:-1])).status_code == 401
    forbidden = await post(hub, sent, other.key)
    assert forbidden.status_code == 403
    assert f"belongs to agent {other.agent_id!r}" in forbidden.json()["detail"]
    elsewhere = make_batch(agent.agent_id, other.site_id, readings(agent, 0, 9), datetime.now(UTC))
    wrong_site = await post(hub, elsewhere, agent.key)
    assert wrong_site.status_code == 403
    assert f"belongs to site {agent.site_id!r}" in wrong_site.json()["detail"]
    await assert_nothing_stored(hub_dsn, agent)
    await assert_nothing_stored(hub_dsn, other)


async def test_unsupported_content_type_or_encoding_is_415_with_accept_encoding(
    hub: Client, hub_dsn: str, agent: Agent
) -> None:
    sent = batch(agent, 0, 9)
    for headers in ({"Content-Type": "text/csv"}, {"Content-Encoding": "br"}):
        response = await post(hub, sent, agent.key, headers=headers)
        assert response.status_code == 415, headers
        assert response.headers["accept-encoding"] == "zstd, gzip, identity"
        assert response.headers["content-type"] == "application/problem+json"
    await assert_nothing_stored(hub_dsn, agent)


async def test_too_large_as_sent_or_once_decompressed_is_413(hub_dsn: str, agent: Agent) -> None:
    limits = IngestSettings(max_body_bytes=8_000, max_decompressed_bytes=20_000)
    async with ready_client(HubSettings(database_url=hub_dsn, ingest=limits)) as small:
        big = batch(agent, 0, 999)
        raw = await post(small, big, agent.key, encoding=ContentEncoding.IDENTITY)
        assert raw.status_code == 413
        assert "ingest.max_body_bytes (8000 bytes)" in raw.json()["detail"]
        inflating = await post(small, big, agent.key, encoding=ContentEncoding.ZSTD)
        assert inflating.status_code == 413
        assert "ingest.max_decompressed_bytes (20000 bytes)" in inflating.json()["detail"]
        gzip = await post(small, big, agent.key, encoding=ContentEncoding.GZIP)
        assert gzip.status_code == 413
    await assert_nothing_stored(hub_dsn, agent)


async def test_a_reading_from_the_future_is_set_aside_and_never_blocks_its_batch(
    hub: Client, hub_dsn: str, agent: Agent
) -> None:
    """Issue 16: a plug sending local time read as UTC made the hub refuse the whole batch (422) for an hour."""
    now = utc_ms(datetime.now(UTC))
    good = readings(agent, 0, 9, base=now - timedelta(minutes=5))
    future = [msgspec.structs.replace(r, ts=r.ts + timedelta(hours=2)) for r in good[3:5]]
    mixed = make_batch(agent.agent_id, agent.site_id, [*good[:3], *future, *good[5:]], now)
    ack = ack_of(await post(hub, mixed, agent.key))
    assert (ack.stored, ack.duplicates, ack.quarantined) == (8, 0, 2)
    assert await stored_seqs(hub_dsn, agent) == [0, 1, 2, 5, 6, 7, 8, 9]
    aside = await fetch(
        hub_dsn,
        "SELECT seq, side, reason, reading FROM sync_quarantine WHERE agent_id = $1 ORDER BY seq",
        agent.agent_id,
    )
    assert [(row["seq"], row["side"]) for row in aside] == [(3, "hub"), (4, "hub")]
    assert "ingest.future_tolerance_s (300 s)" in aside[0]["reason"]
    assert json.loads(aside[0]["reading"])["ts"] == future[0].ts.isoformat().replace("+00:00", "Z")
    replay = ack_of(await post(hub, mixed, agent.key))  # the range is acknowledged: a replay changes nothing
    assert (replay.stored, replay.duplicates) == (0, 10)
    assert (await listed_gaps(hub, agent)) == ([], 2)
    within = batch(agent, 10, 19, base=utc_ms(datetime.now(UTC) + timedelta(minutes=4)))
    assert ack_of(await post(hub, within, agent.key)).stored == 10


async def listed_gaps(client: Client, agent: Agent) -> tuple[list[list[int]], int]:
    found = next(item for item in (await client.get("/agents")).json() if item["agent_id"] == agent.agent_id)
    return found["gaps"], found["quarantined"]


@pytest.mark.parametrize(
    "ts", [datetime(9999, 12, 31, 23, 59, tzinfo=UTC), datetime(1, 1, 1, 0, 1, tzinfo=UTC)], ids=["9999", "0001"]
)
async def test_timestamps_at_the_calendars_edges_are_set_aside_not_a_500(
    hub: Client, hub_dsn: str, agent: Agent, ts: datetime
) -> None:
    """Issue 16: correcting a ``clock_untrusted`` reading at year 9999 (or 1) by the offset overflowed: 500, forever."""
    (edge,) = readings(agent, 0, 0, reasons=("clock_untrusted",))
    edge = msgspec.structs.replace(edge, ts=ts)
    sent_at = datetime.now(UTC) - timedelta(hours=1) if ts.year == 9999 else datetime.now(UTC) + timedelta(hours=1)
    rest = readings(agent, 1, 3, base=utc_ms(datetime.now(UTC)) - timedelta(minutes=1))
    message = make_batch(agent.agent_id, agent.site_id, [edge, *rest], utc_ms(sent_at))
    response = await post(hub, message, agent.key)
    assert response.status_code == 200, response.text
    assert ack_of(response).quarantined == 1
    assert await stored_seqs(hub_dsn, agent) == [1, 2, 3]


# One agent's readings 0..39; batches are any ranges of them, in any order, any number of times.
ranges = st.tuples(st.integers(0, 39), st.integers(0, 12)).map(lambda p: (p[0], min(39, p[0] + p[1])))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(ranges, min_size=1, max_size=12), replays=st.lists(st.integers(0, 11), max_size=6))
async def test_any_replays_overlaps_and_orders_store_each_reading_exactly_once(
    hub: Client, hub_dsn: str, sequence: list[tuple[int, int]], replays: list[int]
) -> None:
    agent = await make_agent(hub_dsn, prefix=f"prop{uuid.uuid4().hex[:4]}")
    sent = [batch(agent, first, last) for first, last in sequence]
    sent += [sent[index] for index in replays if index < len(sent)]  # byte-identical replays
    acks = [ack_of(await post(hub, message, agent.key)) for message in sent]
    for message, ack in zip(sent, acks, strict=True):
        assert (ack.first_seq, ack.last_seq) == (message.first_seq, message.last_seq)
        assert ack.stored + ack.duplicates == message.last_seq - message.first_seq + 1
    expected = seq_union(sequence)
    assert await stored_seqs(hub_dsn, agent) == sorted(expected)
    assert sum(ack.stored for ack in acks) == len(expected)


def _at(agent: Agent, seq: int, second: int) -> Reading:
    return Reading(
        meter_id=agent.meter, metric="power_w", ts=BASE + timedelta(seconds=second), value=1.0, unit="W", seq=seq
    )


async def test_readings_stored_before_under_other_sequence_numbers_count_as_duplicates(
    hub: Client, hub_dsn: str, agent: Agent
) -> None:
    # A new range whose first five readings repeat stored ones (same meter, metric and time),
    # as after an agent's buffer was restored from an old backup: the direct COPY meets them,
    # the batch is written the staged way, and the stored readings keep their first sequence numbers.
    ack_of(await post(hub, batch(agent, 0, 9), agent.key))
    repeat = make_batch(
        agent.agent_id,
        agent.site_id,
        [_at(agent, 10 + i, i if i < 5 else 100 + i) for i in range(10)],
        utc_ms(datetime.now(UTC)),
    )
    ack = ack_of(await post(hub, repeat, agent.key))
    assert (ack.stored, ack.duplicates) == (5, 5)
    assert await stored_seqs(hub_dsn, agent) == [*range(10), *range(15, 20)]
    assert await ledger_rows(hub_dsn, agent) == 2


async def test_a_reading_twice_in_one_batch_is_stored_once(hub: Client, hub_dsn: str, agent: Agent) -> None:
    twice = make_batch(
        agent.agent_id, agent.site_id, [_at(agent, 0, 7), _at(agent, 1, 7), _at(agent, 2, 8)], datetime.now(UTC)
    )
    ack = ack_of(await post(hub, twice, agent.key))
    assert (ack.stored, ack.duplicates) == (2, 1)
    assert await stored_seqs(hub_dsn, agent) == [0, 2]


async def test_a_new_batch_registers_its_series_and_marks_its_rollups_dirty(
    hub: Client, hub_dsn: str, agent: Agent
) -> None:
    ack_of(await post(hub, batch(agent, 0, 59), agent.key))
    connection = await asyncpg.connect(hub_dsn)
    try:
        metric = await connection.fetchrow(
            "SELECT unit, kind FROM meter_metrics WHERE meter_id = $1 AND metric = 'power_w'", agent.meter
        )
        dirty = await connection.fetchrow(
            "SELECT min(from_ts) AS low, max(to_ts) AS high FROM rollup_dirty WHERE meter_id = $1", agent.meter
        )
    finally:
        await connection.close()
    assert dict(metric) == {"unit": "W", "kind": "gauge"}
    assert (dirty["low"], dirty["high"]) == (BASE, BASE + timedelta(seconds=59))


_ANY_INSTANT = st.datetimes(
    min_value=datetime(1, 1, 1, 0, 0, 1),  # noqa: DTZ001 - made aware below
    max_value=datetime(9999, 12, 31, 23, 59),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(utc_ms)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    instants=st.lists(_ANY_INSTANT, min_size=1, max_size=6, unique=True),
    untrusted=st.lists(st.booleans(), min_size=6, max_size=6),
    clock_offset_h=st.integers(-48, 48),
)
async def test_any_timestamps_are_stored_or_set_aside_one_by_one_never_a_refused_batch(
    hub: Client, hub_dsn: str, instants: list[datetime], untrusted: list[bool], clock_offset_h: int
) -> None:
    agent = await make_agent(hub_dsn, prefix=f"edge{uuid.uuid4().hex[:4]}")
    sent = [
        msgspec.structs.replace(
            reading,
            ts=ts,
            quality=Quality.SUSPECT if flag else Quality.GOOD,
            reasons=("clock_untrusted",) if flag else (),
        )
        for reading, ts, flag in zip(readings(agent, 0, len(instants) - 1), instants, untrusted, strict=False)
    ]
    message = make_batch(
        agent.agent_id, agent.site_id, sent, utc_ms(datetime.now(UTC) + timedelta(hours=clock_offset_h))
    )
    response = await post(hub, message, agent.key)
    assert response.status_code == 200, response.text
    ack = ack_of(response)
    assert ack.stored + ack.quarantined == len(sent)
    aside = await fetch(hub_dsn, "SELECT seq FROM sync_quarantine WHERE agent_id = $1", agent.agent_id)
    assert sorted([*await stored_seqs(hub_dsn, agent), *(row["seq"] for row in aside)]) == list(range(len(sent)))


_HOSTILE_REASON = st.one_of(
    st.text(min_size=1, max_size=64),
    st.sampled_from(['say "hi"', "back\\slash", "a,b", "{x}", "NULL", " ", "'", '"', "\\", "\x00", "é\u2028"]),
)


def _unchecked_batch(agent: Agent, rows: list[tuple[Any, ...]]) -> bytes:
    """A ``readings.v1`` batch as any sender might send it, built from field tuples without the structs' checks."""
    names = ("meter_id", "metric", "ts", "value", "unit", "quality", "reasons", "seq")
    return msgspec.msgpack.encode(
        {
            "type": "readings.v1",
            "agent_id": agent.agent_id,
            "site_id": agent.site_id,
            "first_seq": rows[0][7],
            "last_seq": rows[-1][7],
            "sent_at": utc_ms(datetime.now(UTC)),
            "readings": [dict(zip(names, row, strict=True)) for row in rows],
            "content_hash": rows_hash(rows),
        }
    )


async def _ingest_with_reasons(client: Client, hub_dsn: str, reasons: tuple[str, ...], *, staged: bool) -> int:
    """Send readings 1 and 2 with ``reasons``; ``staged``: reading 1's (meter, metric, ts) is stored already."""
    agent = await make_agent(hub_dsn, prefix=f"rsn{uuid.uuid4().hex[:4]}")
    assert ack_of(await post(client, batch(agent, 0, 0), agent.key)).stored == 1
    base = BASE - timedelta(seconds=1) if staged else BASE + timedelta(hours=1)  # staged: seq 1 lands on seq 0's ts
    rows = [(*msgspec.structs.astuple(r)[:6], reasons, r.seq) for r in readings(agent, 1, 2, base=base, reasons=("x",))]
    response = await post(client, _unchecked_batch(agent, rows), agent.key)
    if response.status_code != 200:
        return response.status_code
    query = "SELECT reasons FROM smart_meter_readings WHERE agent_id = $1 AND seq = 2"
    assert [tuple(row["reasons"]) for row in await fetch(hub_dsn, query, agent.agent_id)] == [reasons]
    return 200


@pytest.mark.parametrize("method", ["copy", "unnest"])
@pytest.mark.parametrize("staged", [False, True], ids=["direct", "staged"])
async def test_a_reason_with_a_double_quote_is_stored_on_every_insert_path(
    hub_dsn: str, method: str, staged: bool
) -> None:
    """Issue 16: ``"`` in a reason gave "malformed array literal" (500) on the staged path, retried forever."""
    async with ready_client(HubSettings(database_url=hub_dsn, bulk_insert=method)) as client:  # type: ignore[arg-type]
        assert await _ingest_with_reasons(client, hub_dsn, ('say "hi"', "back\\slash"), staged=staged) == 200


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reasons=st.lists(_HOSTILE_REASON, min_size=1, max_size=3).map(tuple), staged=st.booleans())
async def test_hostile_reasons_are_stored_exactly_or_refused_as_400_never_a_500(
    hub: Client, hub_dsn: str, reasons: tuple[str, ...], staged: bool
) -> None:
    status = await _ingest_with_reasons(hub, hub_dsn, reasons, staged=staged)
    assert status == (400 if any("\x00" in reason for reason in reasons) else 200)


async def test_an_agent_of_another_site_cannot_write_a_sites_meter(hub: Client, hub_dsn: str) -> None:
    """Issue 16: site B's agent wrote a reading for site A's meter at T; A's real reading at T was then a duplicate."""
    owner, intruder = await make_agent(hub_dsn, prefix="siteA"), await make_agent(hub_dsn, prefix="siteB")
    assert ack_of(await post(hub, batch(owner, 0, 2), owner.key)).stored == 3
    forged = [
        msgspec.structs.replace(r, meter_id=owner.meter)
        for r in readings(intruder, 0, 4, base=BASE + timedelta(hours=1))
    ]
    own = readings(intruder, 5, 6)
    response = await post(
        hub, make_batch(intruder.agent_id, intruder.site_id, [*forged, *own], utc_ms(datetime.now(UTC))), intruder.key
    )
    assert response.status_code == 403
    assert owner.meter in response.json()["detail"]
    assert owner.site_id in response.json()["detail"]
    await assert_nothing_stored(hub_dsn, intruder)
    assert await stored_seqs(hub_dsn, owner) == [0, 1, 2]
    later = batch(owner, 3, 7, base=BASE + timedelta(hours=1) - timedelta(seconds=3))  # the times B tried to take
    assert ack_of(await post(hub, later, owner.key)).stored == 5
    assert ack_of(await post(hub, batch(intruder, 0, 1), intruder.key)).stored == 2  # B's own meters still work


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(claims=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=6))
async def test_a_meter_only_ever_holds_readings_of_the_site_that_claimed_it_first(
    hub: Client, hub_dsn: str, claims: list[tuple[int, int]]
) -> None:
    agents = [await make_agent(hub_dsn, prefix=f"own{index}") for index in range(3)]
    meters = [f"shared-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    owner: dict[str, str] = {}
    next_seq = [0, 0, 0]
    for sender, meter_index in claims:
        agent, meter = agents[sender], meters[meter_index]
        seq = next_seq[sender]
        (reading,) = readings(agent, seq, seq, base=BASE + timedelta(minutes=len(owner)))
        message = make_batch(
            agent.agent_id, agent.site_id, [msgspec.structs.replace(reading, meter_id=meter)], utc_ms(datetime.now(UTC))
        )
        response = await post(hub, message, agent.key)
        expected = owner.setdefault(meter, agent.site_id)
        assert response.status_code == (200 if expected == agent.site_id else 403)
        next_seq[sender] += response.status_code == 200
    rows = await fetch(
        hub_dsn,
        "SELECT r.meter_id, a.site_id FROM smart_meter_readings r JOIN agents a USING (agent_id)"
        " WHERE r.meter_id = ANY($1::text[])",
        meters,
    )
    assert all(owner[row["meter_id"]] == row["site_id"] for row in rows)


async def test_a_second_running_copy_of_an_agent_is_refused_with_409_and_the_first_keeps_going(
    hub: Client, hub_dsn: str, agent: Agent
) -> None:
    """Issue 16: two agents with one id both got 200: 2,000 acknowledged, 1,000 stored, 990 silently lost."""
    now = utc_ms(datetime.now(UTC))
    first = make_batch(agent.agent_id, agent.site_id, readings(agent, 0, 9), now, instance_id="aaaa")
    second = make_batch(
        agent.agent_id, agent.site_id, readings(agent, 0, 9, base=BASE + timedelta(days=1)), now, instance_id="bbbb"
    )
    assert ack_of(await post(hub, first, agent.key)).stored == 10
    refused = await post(hub, second, agent.key)
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("duplicate-instance")
    assert "already running as instance aaaa" in refused.json()["detail"]
    assert await stored_seqs(hub_dsn, agent) == list(range(10))
    more = make_batch(agent.agent_id, agent.site_id, readings(agent, 10, 12), now, instance_id="aaaa")
    assert ack_of(await post(hub, more, agent.key)).stored == 3
    status = AgentStatus(
        agent_id=agent.agent_id,
        site_id=agent.site_id,
        version="x",
        sent_at=now,
        started_at=now,
        clock_trusted=True,
        backlog=0,
        instance_id="bbbb",
    )
    assert (await post(hub, status, agent.key)).status_code == 409
    connection = await asyncpg.connect(hub_dsn)
    try:  # the first copy falls silent beyond the takeover time
        await connection.execute(
            "UPDATE agents SET instance_seen_at = now() - interval '11 minutes' WHERE agent_id = $1", agent.agent_id
        )
    finally:
        await connection.close()
    taken = make_batch(agent.agent_id, agent.site_id, readings(agent, 13, 14), now, instance_id="bbbb")
    assert ack_of(await post(hub, taken, agent.key)).stored == 2


_ASIDE = "SELECT seq, reason FROM sync_quarantine WHERE agent_id = $1 ORDER BY seq"


async def test_readings_before_ingest_earliest_are_set_aside_with_the_setting_named(hub_dsn: str, agent: Agent) -> None:
    limits = IngestSettings(earliest=datetime(2024, 5, 1, 0, 0, 5, tzinfo=UTC))
    async with ready_client(HubSettings(database_url=hub_dsn, ingest=limits)) as client:
        ack = ack_of(await post(client, batch(agent, 0, 9), agent.key))  # one a second from BASE = 2024-05-01
    assert (ack.stored, ack.quarantined) == (5, 5)
    assert await stored_seqs(hub_dsn, agent) == [5, 6, 7, 8, 9]
    aside = await fetch(hub_dsn, _ASIDE, agent.agent_id)
    assert [row["seq"] for row in aside] == [0, 1, 2, 3, 4]
    assert "is before ingest.earliest (2024-05-01T00:00:05+00:00)" in aside[0]["reason"]


async def _make_silent(dsn: str, agent: Agent, seconds: int) -> None:
    """Pretend the agent's running copy was last heard ``seconds`` ago."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "UPDATE agents SET instance_seen_at = now() - make_interval(secs => $2) WHERE agent_id = $1",
            agent.agent_id,
            seconds,
        )
    finally:
        await connection.close()


@pytest.mark.parametrize(("takeover_s", "status"), [(600.0, 409), (60.0, 200)])
async def test_ingest_instance_takeover_s_decides_when_another_copy_may_take_over(
    hub_dsn: str, agent: Agent, takeover_s: float, status: int
) -> None:
    """A copy silent for two minutes: still live under the default 600 s, replaceable under 60 s."""
    now = utc_ms(datetime.now(UTC))
    settings = HubSettings(database_url=hub_dsn, ingest=IngestSettings(instance_takeover_s=takeover_s))
    async with ready_client(settings) as client:
        first = make_batch(agent.agent_id, agent.site_id, readings(agent, 0, 4), now, instance_id="aaaa")
        assert ack_of(await post(client, first, agent.key)).stored == 5
        await _make_silent(hub_dsn, agent, 120)
        second = make_batch(agent.agent_id, agent.site_id, readings(agent, 5, 9), now, instance_id="bbbb")
        response = await post(client, second, agent.key)
    assert response.status_code == status, response.text
    if status == 409:
        assert f"ingest.instance_takeover_s, {takeover_s:g} s" in response.json()["detail"]


async def test_values_beyond_the_shared_bound_are_set_aside_like_file_loads_reject_them(
    hub: Client, hub_dsn: str, agent: Agent
) -> None:
    """Issue 16: ``/data/load`` refused |value| > 1e15 while an agent's batch stored it; one rule now, both paths."""
    values = [1.0, rules.MAX_MAGNITUDE, -rules.MAX_MAGNITUDE, 2e15, -1e300, 1e16]
    sent = [msgspec.structs.replace(r, value=v) for r, v in zip(readings(agent, 0, 5), values, strict=True)]
    ack = ack_of(await post(hub, make_batch(agent.agent_id, agent.site_id, sent, utc_ms(datetime.now(UTC))), agent.key))
    assert (ack.stored, ack.quarantined) == (3, 3)
    assert await stored_seqs(hub_dsn, agent) == [0, 1, 2]
    aside = await fetch(hub_dsn, _ASIDE, agent.agent_id)
    assert [(row["seq"], row["reason"]) for row in aside] == [
        (seq, f"{rules.value_problem(values[seq])}: set aside, not stored") for seq in (3, 4, 5)
    ]
    assert "beyond ±1e+15" in aside[0]["reason"]
    assert (await listed_gaps(hub, agent)) == ([], 3)
