"""Helpers of the sync tests: agents with keys, batches of readings, posting them as an agent does."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import asyncpg
import httpx

from luna_hub.agents.services import create_agent
from luna_hub.auth.agent_keys import verify_agent_key
from luna_shared.codec import WireFormat, encode
from luna_shared.compression import ContentEncoding, compress
from luna_shared.vocabulary import Quality
from luna_shared.wire import AgentMessage, Reading, ReadingBatch, make_batch, utc_ms

__all__ = ["BASE", "Agent", "batch", "fetch", "key_owner", "make_agent", "post", "readings", "seq_union", "stored_seqs"]

BASE = datetime(2024, 5, 1, tzinfo=UTC)


class Agent(NamedTuple):
    """An agent provisioned in the hub's database, with its key."""

    agent_id: str
    site_id: str
    key: str
    meter: str


async def make_agent(dsn: str, prefix: str = "agent") -> Agent:
    """Create an agent at a new site, as ``luna-hub create-agent`` does."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(dsn)
    try:
        created = await create_agent(connection, name, f"site-{name}", actor="test")
    finally:
        await connection.close()
    return Agent(created.agent_id, created.site_id, created.key, f"meter-{name}")


def readings(
    agent: Agent, first: int, last: int, *, base: datetime = BASE, reasons: tuple[str, ...] = ()
) -> list[Reading]:
    """Readings ``first..last`` of the agent's meter, one per second from ``base``."""
    return [
        Reading(
            meter_id=agent.meter,
            metric="power_w",
            ts=base + timedelta(seconds=seq),
            value=float(seq % 1000),
            unit="W",
            quality=Quality.SUSPECT if reasons else Quality.GOOD,
            reasons=reasons,
            seq=seq,
        )
        for seq in range(first, last + 1)
    ]


def batch(agent: Agent, first: int, last: int, *, sent_at: datetime | None = None, **options: Any) -> ReadingBatch:
    """A batch of the agent's readings ``first..last``, sent now (or at ``sent_at``)."""
    when = sent_at or datetime.now(UTC)
    return make_batch(agent.agent_id, agent.site_id, readings(agent, first, last, **options), utc_ms(when))


async def post(  # noqa: PLR0913 - one per header an agent sets
    client: httpx.AsyncClient | Any,
    message: AgentMessage | bytes,
    key: str | None,
    *,
    fmt: WireFormat = WireFormat.MSGPACK,
    encoding: ContentEncoding = ContentEncoding.ZSTD,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a message (or raw bytes) to the ingest endpoint as an agent does."""
    body = message if isinstance(message, bytes) else encode(message, fmt)
    sent_headers = {"Content-Type": fmt.value, "Content-Encoding": encoding.value}
    if key is not None:
        sent_headers["Authorization"] = f"Bearer {key}"
    sent_headers.update(headers or {})
    response: httpx.Response = await client.post(
        "/api/v1/ingest", content=compress(body, encoding), headers=sent_headers
    )
    return response


async def fetch(dsn: str, query: str, *args: object) -> list[asyncpg.Record]:
    """Run one query on a connection of its own."""
    connection = await asyncpg.connect(dsn)
    try:
        rows: list[asyncpg.Record] = await connection.fetch(query, *args)
    finally:
        await connection.close()
    return rows


async def stored_seqs(dsn: str, agent: Agent) -> list[int]:
    """The sequence numbers of the agent's readings in the database, with repetitions, sorted."""
    rows = await fetch(dsn, "SELECT seq FROM smart_meter_readings WHERE meter_id = $1 ORDER BY seq", agent.meter)
    return [row["seq"] for row in rows]


async def key_owner(dsn: str, key: str) -> tuple[str, str] | None:
    """The (agent, site) an agent key belongs to, or None."""
    connection = await asyncpg.connect(dsn)
    try:
        identity = await verify_agent_key(connection, key)
    finally:
        await connection.close()
    return None if identity is None else (identity.agent_id, identity.site_id)


def seq_union(ranges: Sequence[tuple[int, int]]) -> set[int]:
    """Every sequence number in the ranges."""
    return {seq for first, last in ranges for seq in range(first, last + 1)}
