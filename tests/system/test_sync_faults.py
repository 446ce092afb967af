"""The real agent against the real hub when things go wrong: hub killed mid-batch, a body too large, a wrong key.

Processes, PostgreSQL and HTTP are real (see ``support.system``); each test ends with the
exactly-once comparison of the agent's buffer and the hub's readings.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from luna_agent import __version__
from support.system import AgentRun, HubRun, SiteAgent, assert_exactly_once, prefill, stored_count, sync_once

pytestmark = pytest.mark.slow


async def test_hub_killed_mid_batch_then_restarted_loses_and_duplicates_nothing(
    hub: HubRun, site: SiteAgent, agents: list[AgentRun], system_dsn: str
) -> None:
    backlog = 60_000
    prefill(site, backlog)
    hub.create_agent(site.agent_id, site.site_id, site.key_file)
    hub.start()
    config = site.config(hub.url, batch_max_readings=2000)
    agents.append(agent := AgentRun(config, site.folder))
    deadline = time.monotonic() + 120
    while await stored_count(system_dsn, site.agent_id) < 10_000:
        assert time.monotonic() < deadline, agent.process.output()[-3000:]
        await asyncio.sleep(0.01)
    hub.kill()
    assert await stored_count(system_dsn, site.agent_id) < backlog, "the kill must land mid-drain"
    down = agent.wait_for("backing off", lambda s: s["sync"]["state"] == "backoff")
    assert down["sync"]["backlog"] > 0
    hub.start()
    agent.wait_for("caught up", lambda s: (s["sync"]["last_acked_seq"] or -1) >= backlog)
    agent.stop()
    drained = sync_once(config)
    assert drained.returncode == 0, drained.stdout + drained.stderr
    hub.stop()
    assert await assert_exactly_once(system_dsn, site) > backlog


async def test_413_from_the_hub_halves_the_batches_until_they_fit(
    system_dsn: str, site: SiteAgent, tmp_path_factory: pytest.TempPathFactory
) -> None:
    hub = HubRun(system_dsn, tmp_path_factory.mktemp("small-hub"), env={"LUNA_INGEST__MAX_BODY_BYTES": "40000"})
    try:
        prefill(site, 12_000)
        hub.create_agent(site.agent_id, site.site_id, site.key_file)
        hub.start()
        config = site.config(hub.url, batch_max_readings=5000, encoding="identity")
        result = sync_once(config)
        assert result.returncode == 0, result.stdout + result.stderr
        # 5000 readings are ~0.5 MB of msgpack; 312 (5000 halved four times) fit in 40 kB
        assert "12000 reading(s) in 39 batch(es)" in result.stdout
        hub.stop()
    finally:
        hub.kill()
    assert await assert_exactly_once(system_dsn, site) == 12_000


async def test_a_wrong_key_blocks_until_the_right_one_is_in_place_and_the_status_reaches_the_hub(
    hub: HubRun, site: SiteAgent, agents: list[AgentRun], system_dsn: str
) -> None:
    hub.create_agent(site.agent_id, site.site_id, site.folder / "issued.key")
    site.key_file.write_text("lak_not-the-issued-key\n", encoding="utf-8")
    hub.start()
    config = site.config(hub.url)
    agents.append(agent := AgentRun(config, site.folder))
    blocked = agent.wait_for("blocked", lambda s: s["sync"]["state"] == "blocked")
    assert blocked["sync"]["last_error"].startswith("hub answered 401")
    assert await stored_count(system_dsn, site.agent_id) == 0
    site.key_file.write_text((site.folder / "issued.key").read_text(encoding="utf-8"), encoding="utf-8")
    agent.wait_for("delivering", lambda s: s["sync"]["last_acked_seq"] is not None)

    deadline = time.monotonic() + 60
    while True:  # status.v1 goes every second; the hub lists what it said
        view = next(a for a in hub.get("/agents") if a["agent_id"] == site.agent_id)
        if view["status_at"] is not None and view["last_acked_seq"] is not None:
            break
        assert time.monotonic() < deadline, view
        await asyncio.sleep(0.2)
    assert view["site_id"] == site.site_id
    assert view["version"] == __version__
    assert view["clock_trusted"] is True
    assert view["backlog"] is not None
    assert view["gaps"] == []
    assert abs(view["clock_offset_ms"]) < 5000
    agent.stop()
    drained = sync_once(config)
    assert drained.returncode == 0, drained.stdout + drained.stderr
    hub.stop()
    assert await assert_exactly_once(system_dsn, site) > 0
