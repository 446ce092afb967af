"""Agents as the hub sees them: clock offset and skew, corrected timestamps, status reports, gaps, completeness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.agents.services import subtract_seqs
from luna_hub.settings import HubSettings, IngestSettings
from luna_shared.codec import decode_hub_message
from luna_shared.vocabulary import Flag
from luna_shared.wire import AgentStatus, BatchAck, DeviceState, DeviceStatus, QuarantinedSeq, utc_ms
from support.hub import ready_client
from support.sync import BASE, Agent, batch, fetch, make_agent, post

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def agent(hub_dsn: str) -> Agent:
    return await make_agent(hub_dsn)


async def stored(dsn: str, agent: Agent) -> list[dict[str, Any]]:
    query = "SELECT seq, ts, quality, reasons FROM smart_meter_readings WHERE meter_id = $1 ORDER BY seq"
    return [dict(row) for row in await fetch(dsn, query, agent.meter)]


async def acked(client: Client, message: Any, agent: Agent) -> BatchAck:
    response = await post(client, message, agent.key)
    assert response.status_code == 200, response.text
    return decode_hub_message(response.content)


async def listed(client: Client, agent: Agent) -> dict[str, Any]:
    response = await client.get("/agents")
    assert response.status_code == 200
    found: dict[str, Any] = next(item for item in response.json() if item["agent_id"] == agent.agent_id)
    return found


async def test_a_clock_within_tolerance_flags_nothing(hub: Client, hub_dsn: str, agent: Agent) -> None:
    ack = await acked(hub, batch(agent, 0, 2, sent_at=datetime.now(UTC) - timedelta(seconds=2)), agent)
    assert {(row["quality"], tuple(row["reasons"])) for row in await stored(hub_dsn, agent)} == {("good", ())}
    assert 2000 <= (await listed(hub, agent))["clock_offset_ms"] <= 2000 + 5000
    assert ack.received_at >= utc_ms(datetime.now(UTC) - timedelta(seconds=60))


async def test_a_skewed_clock_flags_the_batch_suspect_and_is_recorded(hub: Client, hub_dsn: str, agent: Agent) -> None:
    sent_at = datetime.now(UTC) - timedelta(minutes=2)
    ack = await acked(hub, batch(agent, 0, 2, sent_at=sent_at), agent)
    offset_ms = round((ack.received_at - utc_ms(sent_at)).total_seconds() * 1000)
    assert offset_ms >= 120_000
    rows = await stored(hub_dsn, agent)
    assert [(row["quality"], row["reasons"]) for row in rows] == [("suspect", ["clock_skew"])] * 3
    assert [row["ts"] for row in rows] == [BASE, BASE + timedelta(seconds=1), BASE + timedelta(seconds=2)]
    view = await listed(hub, agent)
    assert view["clock_offset_ms"] == offset_ms
    (ledger,) = await fetch(hub_dsn, "SELECT clock_offset_ms FROM ingest_batches WHERE agent_id = $1", agent.agent_id)
    assert ledger["clock_offset_ms"] == offset_ms


async def test_untrusted_and_jumped_timestamps_are_shifted_by_the_measured_offset(
    hub: Client, hub_dsn: str, agent: Agent
) -> None:
    sent_at = datetime.now(UTC) - timedelta(hours=1)  # the agent's clock lags an hour
    untrusted = batch(agent, 0, 1, sent_at=sent_at, reasons=(Flag.CLOCK_UNTRUSTED.value,))
    ack = await acked(hub, untrusted, agent)
    jumped = batch(agent, 2, 2, sent_at=sent_at, reasons=(Flag.CLOCK_JUMP.value,))
    ack_jump = await acked(hub, jumped, agent)
    rows = await stored(hub_dsn, agent)
    first_offset, jump_offset = ack.received_at - utc_ms(sent_at), ack_jump.received_at - utc_ms(sent_at)
    assert [row["ts"] for row in rows] == [
        BASE + first_offset,
        BASE + timedelta(seconds=1) + first_offset,
        BASE + timedelta(seconds=2) + jump_offset,
    ]
    assert [row["reasons"] for row in rows] == [
        ["clock_untrusted", "timestamp_corrected"],
        ["clock_untrusted", "timestamp_corrected"],
        ["clock_jump", "timestamp_corrected"],
    ]


async def test_correction_can_be_switched_off(hub_dsn: str, agent: Agent) -> None:
    settings = HubSettings(database_url=hub_dsn, ingest=IngestSettings(correct_untrusted_clock=False))
    async with ready_client(settings) as client:
        sent_at = datetime.now(UTC) - timedelta(hours=1)
        await acked(client, batch(agent, 0, 0, sent_at=sent_at, reasons=(Flag.CLOCK_UNTRUSTED.value,)), agent)
    rows = await stored(hub_dsn, agent)
    assert [(row["ts"], row["quality"], row["reasons"]) for row in rows] == [
        (BASE, "suspect", ["clock_untrusted", "clock_skew"])
    ]


async def test_agents_list_gaps_counters_and_last_contact(hub: Client, agent: Agent) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    for first, last in [(0, 9), (20, 29), (25, 40), (50, 50), (20, 29)]:
        await acked(hub, batch(agent, first, last), agent)
    view = await listed(hub, agent)
    assert view["gaps"] == [[10, 19], [41, 49]]
    assert (view["batches"], view["readings"], view["duplicates"], view["last_acked_seq"]) == (
        4,
        32,
        15,
        50,
    )  # the replay counts as 10 duplicates
    assert view["site_id"] == agent.site_id
    assert datetime.fromisoformat(view["last_seen_at"]) >= before
    assert view["backlog"] is None  # no status report yet


async def test_a_status_report_is_204_and_recorded(hub: Client, agent: Agent) -> None:
    now = utc_ms(datetime.now(UTC))
    status = AgentStatus(
        agent_id=agent.agent_id,
        site_id=agent.site_id,
        version="0.1.0",
        sent_at=now,
        started_at=now - timedelta(hours=1),
        clock_trusted=True,
        backlog=1234,
        oldest_unsynced_at=now - timedelta(minutes=5),
        last_acked_seq=99,
        last_ack_at=now - timedelta(seconds=3),
        devices=(DeviceStatus(device_id="sdm630", state=DeviceState.UP, last_ok_at=now),),
    )
    response = await post(hub, status, agent.key)
    assert response.status_code == 204
    assert response.content == b""
    view = await listed(hub, agent)
    assert (view["backlog"], view["last_acked_seq"], view["version"], view["clock_trusted"]) == (
        1234,
        99,
        "0.1.0",
        True,
    )
    assert datetime.fromisoformat(view["oldest_unsynced_at"]) == now - timedelta(minutes=5)
    assert view["status_at"] is not None
    other = await make_agent(str(hub.app.state.settings.database_url))
    forbidden = await post(hub, status, other.key)
    assert forbidden.status_code == 403


async def test_completeness_reports_received_missing_and_backfilled_per_agent(hub: Client, agent: Agent) -> None:
    for first, last in [(20, 29), (0, 9), (40, 44)]:  # 0..9 arrive after 20..29: late
        await acked(hub, batch(agent, first, last), agent)
    response = await hub.get(
        "/data/completeness",
        params={"meter": agent.meter, "metric": "power_w", "start": "2024-05-01", "end": "2024-05-02", "tz": "UTC"},
    )
    assert response.status_code == 200, response.text
    (section,) = response.json()["agents"]
    assert section == {
        "agent_id": agent.agent_id,
        "site_id": agent.site_id,
        "first_seq": 0,
        "last_seq": 44,
        "received": 25,
        "missing": [[10, 19], [30, 39]],
        "missing_count": 20,
        "backfilled": 10,
        "duplicates": 0,
        "quarantined": 0,
    }


def status_of(agent: Agent, *quarantined: QuarantinedSeq) -> AgentStatus:
    now = utc_ms(datetime.now(UTC))
    return AgentStatus(
        agent_id=agent.agent_id,
        site_id=agent.site_id,
        version="0.1.0",
        sent_at=now,
        started_at=now,
        clock_trusted=True,
        backlog=0,
        quarantined=quarantined,
    )


async def test_seqs_the_agent_quarantined_are_no_gaps(hub: Client, agent: Agent) -> None:
    """Issue 16: readings the agent set aside (the hub refused them) must not show as lost in ``/agents``."""
    for first, last in [(0, 11), (13, 19), (25, 30)]:
        await acked(hub, batch(agent, first, last), agent)
    reason = 'hub answered 400: malformed msgpack message: Expected `str` matching regex "..."'
    report = status_of(agent, QuarantinedSeq(seq=12, reason=reason), QuarantinedSeq(seq=22, reason=reason))
    assert (await post(hub, report, agent.key)).status_code == 204
    assert (await post(hub, report, agent.key)).status_code == 204  # reported again: recorded once
    view = await listed(hub, agent)
    assert view["gaps"] == [[20, 21], [23, 24]]
    assert view["quarantined"] == 2
    response = await hub.get(
        "/data/completeness",
        params={"meter": agent.meter, "metric": "power_w", "start": "2024-05-01", "end": "2024-05-02", "tz": "UTC"},
    )
    (section,) = response.json()["agents"]
    assert (section["missing"], section["missing_count"], section["quarantined"]) == ([[20, 21], [23, 24]], 4, 2)


@given(
    st.lists(st.tuples(st.integers(0, 200), st.integers(0, 20)), max_size=8),
    st.sets(st.integers(0, 250), max_size=30),
)
def test_subtracting_quarantined_seqs_from_gaps_is_set_difference(spans: list[tuple[int, int]], seqs: set[int]) -> None:
    gaps: list[tuple[int, int]] = []
    for start, length in sorted(spans):  # disjoint, ascending ranges as the ledger gives them
        first = max(start, gaps[-1][1] + 2) if gaps else start
        gaps.append((first, first + length))
    left, removed = subtract_seqs(gaps, sorted(seqs))
    covered = {seq for first, last in gaps for seq in range(first, last + 1)}
    assert {seq for first, last in left for seq in range(first, last + 1)} == covered - seqs
    assert removed == len(covered & seqs)
    assert all(first <= last for first, last in left)
    assert left == sorted(left)
