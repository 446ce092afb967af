"""Two running copies of one agent id, interleaved (issue 16), on the real PostgreSQL.

Two copies (instances) of one agent id with their own buffers number their readings alike: the
same sequence ranges with different content. Before instance ids the hub acknowledged both and
kept whichever came first for each sequence number, silently losing the other's. The property:
within ``ingest.instance_takeover_s`` the first copy heard owns the agent id; every batch of the
other copy is refused (409 ``duplicate-instance``) and stores nothing, while the owner's batches,
its byte-identical replays and its overlapping ranges are acknowledged exactly once each.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_shared.codec import decode_hub_message
from luna_shared.wire import BatchAck, ReadingBatch, make_batch, utc_ms
from support.sync import BASE, Agent, fetch, make_agent, post, readings, seq_union, stored_seqs

Client = AsyncTestClient[Litestar]

INSTANCES = ("copy-a", "copy-b")
# A step sends a new batch (instance, first seq, length) or replays an earlier one byte for byte (its index).
new_batches = st.tuples(st.integers(0, 1), st.integers(0, 29), st.integers(1, 10))
steps = st.tuples(new_batches, st.lists(st.one_of(new_batches, new_batches, st.integers(0, 15)), max_size=13)).map(
    lambda plan: [plan[0], *plan[1]]
)


def instance_batch(agent: Agent, instance: int, first: int, last: int, sent_at: datetime) -> ReadingBatch:
    """Readings ``first..last`` as copy ``instance`` holds them: copy b measured a day later, other values."""
    own = [
        msgspec.structs.replace(reading, value=reading.seq + 0.5 * instance)
        for reading in readings(agent, first, last, base=BASE + timedelta(days=instance))
    ]
    return make_batch(agent.agent_id, agent.site_id, own, sent_at, instance_id=INSTANCES[instance])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=steps)
async def test_two_copies_of_one_agent_are_never_both_acknowledged_and_replays_always_are(
    hub: Client, hub_dsn: str, plan: list[tuple[int, int, int] | int]
) -> None:
    agent = await make_agent(hub_dsn, prefix=f"twin{uuid.uuid4().hex[:4]}")
    sent: list[tuple[int, ReadingBatch]] = []
    owner: int | None = None
    acked: dict[int, list[tuple[int, int]]] = {0: [], 1: []}
    for step in plan:
        if isinstance(step, int):  # a replay of an earlier batch, as a copy does when its ack was lost
            instance, message = sent[step % len(sent)]
            replay = True
        else:
            instance, first, length = step
            last = min(first + length - 1, 29)
            message = instance_batch(agent, instance, first, last, utc_ms(datetime.now(UTC)))
            sent.append((instance, message))
            replay = False
        owner = instance if owner is None else owner
        response = await post(hub, message, agent.key)
        if instance != owner:
            assert response.status_code == 409, response.text
            assert response.json()["type"].endswith("duplicate-instance")
            assert f"already running as instance {INSTANCES[owner]}" in response.json()["detail"]
            continue
        assert response.status_code == 200, response.text
        ack: BatchAck = decode_hub_message(response.content)
        size = message.last_seq - message.first_seq + 1
        new = seq_union([(message.first_seq, message.last_seq)]) - seq_union(acked[instance])
        assert (ack.first_seq, ack.last_seq, ack.stored, ack.duplicates) == (
            message.first_seq,
            message.last_seq,
            len(new),
            size - len(new),
        )
        if replay:
            assert ack.stored == 0
        acked[instance].append((message.first_seq, message.last_seq))
    assert owner is not None  # the first step is a new batch
    assert acked[1 - owner] == []  # the other copy was never acknowledged
    assert await stored_seqs(hub_dsn, agent) == sorted(seq_union(acked[owner]))
    kept = await _stored_days(hub_dsn, agent)
    assert kept <= {BASE.date() + timedelta(days=owner)}  # only the owner's readings, none of the other's


async def _stored_days(dsn: str, agent: Agent) -> set[date]:
    query = "SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date AS day FROM smart_meter_readings WHERE meter_id = $1"
    return {row["day"] for row in await fetch(dsn, query, agent.meter)}
