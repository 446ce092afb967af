"""A real ``luna-hub serve`` process: concurrent posts, and SIGKILL while agents post batches: no loss, no duplicate.

The client here plays the agent's uploader (post, keep what was acked, post again after a
failure); the hub, its PostgreSQL and the HTTP between them are real.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from luna_shared.codec import decode_hub_message
from luna_shared.wire import BatchAck, ReadingBatch
from support.hub import migrated_pool
from support.sync import Agent, batch, make_agent, post, stored_seqs
from support.system import HubRun

pytestmark = pytest.mark.slow


@pytest.fixture
async def hub_process(hub_dsn: str, tmp_path: Path) -> AsyncIterator[HubRun]:
    async with migrated_pool(hub_dsn):
        pass
    process = HubRun(hub_dsn, tmp_path)
    yield process
    process.kill()


async def post_all(client: httpx.AsyncClient, batches: list[ReadingBatch], agent: Agent) -> list[BatchAck | None]:
    """Post every batch in order; an ack, or None where the request failed (hub gone, connection refused)."""
    acks: list[BatchAck | None] = []
    for message in batches:
        try:
            response = await post(client, message, agent.key)
        except httpx.TransportError:
            acks.append(None)
            continue
        assert response.status_code == 200, response.text
        acks.append(decode_hub_message(response.content))
    return acks


async def wait_until_ready(client: httpx.AsyncClient) -> None:
    for _ in range(300):
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    msg = "hub not healthy"
    raise AssertionError(msg)


async def test_hub_killed_mid_stream_then_everything_reposted_stores_each_reading_once(
    hub_process: HubRun, hub_dsn: str
) -> None:
    agent = await make_agent(hub_dsn)
    batches = [batch(agent, first, first + 499) for first in range(0, 40_000, 500)]
    hub_process.start()
    url = hub_process.url
    monitor = await asyncpg.connect(hub_dsn)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            await wait_until_ready(client)
            stream = asyncio.create_task(post_all(client, batches, agent))
            while True:  # kill -9 while the stream is going, once a fifth of it is stored
                stored = await monitor.fetchval(
                    "SELECT count(*) FROM smart_meter_readings WHERE meter_id = $1", agent.meter
                )
                if stored >= 8_000 or stream.done():
                    break
                await asyncio.sleep(0.01)
            hub_process.kill()
            first_acks = await stream
    finally:
        await monitor.close()
    acked = [ack for ack in first_acks if ack is not None]
    # 8,000 stored means 16 batches committed, but the 16th ack may still be in flight when the kill lands
    assert 1 <= len(acked) < len(batches), "the kill must land mid-stream"
    assert first_acks[-1] is None
    after_kill = await stored_seqs(hub_dsn, agent)
    assert len(after_kill) == len(set(after_kill))
    for ack in acked:  # every ack names readings that are durably stored
        assert set(range(ack.first_seq, ack.last_seq + 1)) <= set(after_kill)

    hub_process.start()
    url = hub_process.url
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        await wait_until_ready(client)
        second_acks = await post_all(client, batches, agent)
    assert all(ack is not None for ack in second_acks)
    assert await stored_seqs(hub_dsn, agent) == list(range(40_000))
    # a batch committed just before the kill but never acked is a replay on repost: counted by the database, not acks
    acked_stored = sum(ack.stored for ack in acked)
    assert len(after_kill) - 500 <= acked_stored <= len(after_kill)
    reposted = [ack for ack in second_acks if ack is not None]
    assert sum(ack.stored for ack in reposted) == 40_000 - len(after_kill)
    assert sum(ack.stored + ack.duplicates for ack in reposted) == 40_000


async def test_a_batch_whose_transaction_did_not_commit_is_neither_acked_nor_stored(
    hub_process: HubRun, hub_dsn: str
) -> None:
    agent = await make_agent(hub_dsn)
    large = batch(agent, 0, 149_999)
    hub_process.start()
    url = hub_process.url
    monitor = await asyncpg.connect(hub_dsn)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            await wait_until_ready(client)
            sending = asyncio.create_task(post(client, large, agent.key))
            for _ in range(1200):  # kill once its transaction writes the readings (straight COPY, or staged)
                writing = await monitor.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state <> 'idle'"
                    " AND pid <> pg_backend_pid()"
                    " AND (query ILIKE 'COPY %smart_meter_readings%' OR query ILIKE '%stage_smart_meter%')"
                )
                if writing or sending.done():
                    break
                await asyncio.sleep(0.02)
            assert writing, "the readings were never seen being written"
            assert not sending.done(), "the batch finished before the kill"
            hub_process.kill()
            with pytest.raises(httpx.TransportError):
                await sending
        for _ in range(300):  # the server rolls back once it notices its client is gone
            busy = await monitor.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND (query ILIKE 'COPY %smart_meter_readings%' OR query ILIKE '%stage_smart_meter%'"
                " OR state = 'idle in transaction')"
            )
            if not busy:
                break
            await asyncio.sleep(0.1)
        assert await stored_seqs(hub_dsn, agent) == []
        assert await monitor.fetchval("SELECT count(*) FROM ingest_batches WHERE agent_id = $1", agent.agent_id) == 0
    finally:
        await monitor.close()

    hub_process.start()
    url = hub_process.url
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        await wait_until_ready(client)
        response = await post(client, large, agent.key)
    ack = decode_hub_message(response.content)
    assert (ack.stored, ack.duplicates) == (150_000, 0)
    assert await stored_seqs(hub_dsn, agent) == list(range(150_000))


async def test_concurrent_replays_and_overlaps_of_one_agent_store_each_reading_once(
    hub_process: HubRun, hub_dsn: str
) -> None:
    # A real server: the in-process test client handles one request at a time.
    agent = await make_agent(hub_dsn)
    sent = [batch(agent, first, first + 2999) for first in (0, 0, 1500, 1500, 3000, 0, 4500, 3600)]
    hub_process.start()
    url = hub_process.url
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        await wait_until_ready(client)
        responses = await asyncio.gather(*(post(client, message, agent.key) for message in sent))
    assert [response.status_code for response in responses] == [200] * len(sent)
    acks = [decode_hub_message(response.content) for response in responses]
    assert await stored_seqs(hub_dsn, agent) == list(range(7500))
    assert sum(ack.stored for ack in acks) == 7500
    assert all(ack.stored + ack.duplicates == 3000 for ack in acks)
