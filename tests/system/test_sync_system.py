"""Exactly once, end to end: a real ``luna-hub serve`` on the test PostgreSQL and a real ``luna-agent run``.

The agent polls a simulated SDM630 it serves itself over Modbus TCP and uploads over loopback
HTTP; nothing is faked. Each test ends by comparing the agent's buffer with the hub's readings
table: the same set of (seq, meter, metric, ts, value), each row once, no hole in the hub's
ledger. Whatever is left in the buffer after the agent stops is drained with
``luna-agent sync --once`` first, so the comparison covers every reading the agent ever took.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime

import httpx
import pytest

from luna_agent.buffer import ReadingBuffer
from luna_agent.sync.batches import contiguous_run
from luna_shared.codec import decode_hub_message
from luna_shared.wire import BatchAck, Reading, ReadingBatch, make_batch
from support.sync import post
from support.system import (
    AgentRun,
    HubRun,
    SiteAgent,
    assert_exactly_once,
    buffer_rows,
    hub_rows,
    prefill,
    stored_count,
    sync_once,
)

pytestmark = pytest.mark.slow
SDM630_VALUES = 58  # readings per poll of the simulated meter


async def test_hub_down_while_the_agent_polls_then_up_every_reading_arrives_once(
    hub: HubRun, site: SiteAgent, agents: list[AgentRun], system_dsn: str
) -> None:
    hub.create_agent(site.agent_id, site.site_id, site.key_file)
    config = site.config(hub.url)
    agents.append(agent := AgentRun(config, site.folder))
    down = agent.wait_for(
        "backing off with a backlog of several polls",
        lambda s: s["sync"]["state"] == "backoff" and s["sync"]["backlog"] >= 6 * SDM630_VALUES,
    )
    assert "ConnectError" in down["sync"]["last_error"]
    assert down["sync"]["last_ack_at"] is None
    assert down["devices"][0]["state"] == "up"
    hub.start()
    taken = down["buffer"]["next_seq"]
    up = agent.wait_for("caught up", lambda s: (s["sync"]["last_acked_seq"] or -1) >= taken - 1)
    assert up["sync"]["last_error"] is not None  # the outage stays visible
    assert up["sync"]["hub_clock_offset_s"] is not None
    assert abs(up["sync"]["hub_clock_offset_s"]) < 5
    agent.stop()  # polls go on until here; the rest is drained below
    drained = sync_once(config)
    assert drained.returncode == 0, drained.stdout + drained.stderr
    hub.stop()
    assert await assert_exactly_once(system_dsn, site) >= taken


async def test_agent_killed_mid_upload_then_restarted_loses_and_duplicates_nothing(
    hub: HubRun, site: SiteAgent, agents: list[AgentRun], system_dsn: str
) -> None:
    backlog = 60_000
    prefill(site, backlog)
    hub.create_agent(site.agent_id, site.site_id, site.key_file)
    hub.start()
    config = site.config(hub.url, batch_max_readings=500, drain_rate=8000.0)
    agents.append(first := AgentRun(config, site.folder, "agent-1"))
    deadline = time.monotonic() + 120
    while await stored_count(system_dsn, site.agent_id) < 8_000:  # a batch is in flight every moment from here
        assert time.monotonic() < deadline, first.process.output()[-3000:]
        await asyncio.sleep(0.02)
    first.kill()
    at_kill = await hub_rows(system_dsn, site.agent_id)
    assert 8_000 <= len(at_kill) < backlog, "the kill must land mid-upload"
    assert len({row[0] for row in at_kill}) == len(at_kill)
    left, unsynced = buffer_rows(site.buffer_path)  # the buffer opens cleanly after SIGKILL
    assert unsynced > 0
    assert set(at_kill) <= left

    agents.append(second := AgentRun(config, site.folder, "agent-2"))
    second.wait_for("caught up with the backlog", lambda s: (s["sync"]["last_acked_seq"] or -1) >= backlog)
    second.stop()
    drained = sync_once(config)
    assert drained.returncode == 0, drained.stdout + drained.stderr
    hub.stop()
    assert await assert_exactly_once(system_dsn, site) > backlog


def batches_of(readings: list[Reading], size: int, agent: SiteAgent) -> list[ReadingBatch]:
    sent_at = datetime.now(UTC)
    return [
        make_batch(agent.agent_id, agent.site_id, readings[i : i + size], sent_at)
        for i in range(0, len(readings), size)
    ]


async def test_the_same_batches_replayed_many_times_out_of_order_are_stored_once(
    hub: HubRun, site: SiteAgent, system_dsn: str
) -> None:
    prefill(site, 6_000)
    hub.create_agent(site.agent_id, site.site_id, site.key_file)
    hub.start()
    key = site.key_file.read_text(encoding="utf-8").strip()
    buffer = ReadingBuffer(site.buffer_path)
    try:
        readings = contiguous_run(buffer.pending(10_000))
    finally:
        buffer.close()
    assert len(readings) == 6_000
    # each batch five times, plus the same readings cut differently (ranges that overlap the ledger's)
    sends = batches_of(readings, 250, site) * 5 + batches_of(readings, 400, site) * 2
    random.Random(5).shuffle(sends)  # noqa: S311 - a reproducible order, not a secret
    limit = asyncio.Semaphore(8)

    async def send(client: httpx.AsyncClient, batch: ReadingBatch) -> tuple[ReadingBatch, BatchAck]:
        async with limit:
            response = await post(client, batch, key)  # msgpack + zstd, as the agent sends
        assert response.status_code == 200, response.text
        return batch, decode_hub_message(response.content)

    async with httpx.AsyncClient(base_url=hub.url, timeout=60) as client:
        answers = await asyncio.gather(*(send(client, batch) for batch in sends))
    for batch, ack in answers:
        assert (ack.agent_id, ack.first_seq, ack.last_seq) == (batch.agent_id, batch.first_seq, batch.last_seq)
        assert ack.stored + ack.duplicates == len(batch.readings)
    assert sum(ack.stored for _, ack in answers) == 6_000
    assert await stored_count(system_dsn, site.agent_id) == 6_000

    # the agent forgot its acks (say, its buffer came back from a backup): it sends everything again
    buffer = ReadingBuffer(site.buffer_path)
    try:
        buffer._db.execute("UPDATE readings SET synced = 0")
    finally:
        buffer.close()
    replay = sync_once(site.config(hub.url, order="newest_first", batch_max_readings=333))
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "6000 reading(s) in 19 batch(es)" in replay.stdout
    hub.stop()
    assert await assert_exactly_once(system_dsn, site) == 6_000
