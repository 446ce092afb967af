"""The admin dashboard in process: who gets the page, what a snapshot holds, and the event stream."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.settings import DashboardSettings, HubSettings
from luna_shared.wire import AgentStatus, utc_ms
from support.hub import ready_client
from support.sync import batch, make_agent, post

Client = AsyncTestClient[Litestar]


async def test_the_page_sends_a_browser_without_session_to_sign_in(hub_dsn: str) -> None:
    async with ready_client(HubSettings(database_url=hub_dsn), as_admin=False) as client:
        page = await client.get("/admin", follow_redirects=False)
        login = await client.get("/admin/login")
        script = await client.get("/admin/static/dashboard.js")
        missing = await client.get("/admin/static/../settings.py")
        data = await client.get("/admin/snapshot")
    assert page.status_code in {302, 303, 307}
    assert page.headers["location"] == "/admin/login"
    assert login.status_code == 200
    assert "script-src 'self'" in login.headers["content-security-policy"]
    assert "unsafe-inline" not in login.headers["content-security-policy"]
    assert '<form id="login"' in login.text
    assert script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text  # values are written as text only
    assert missing.status_code == 404
    assert data.status_code == 401


async def test_a_snapshot_shows_an_agent_and_its_readings_and_the_stream_sends_events(hub_dsn: str) -> None:
    settings = HubSettings(database_url=hub_dsn, dashboard=DashboardSettings(refresh_s=0.2))
    agent = await make_agent(hub_dsn, "dash")
    async with ready_client(settings) as client:
        assert (await post(client, batch(agent, 0, 29), agent.key)).status_code == 200
        now = utc_ms(datetime.now(UTC))
        status = AgentStatus(
            agent_id=agent.agent_id,
            site_id=agent.site_id,
            version='0.1.0 <img src=x id="injected">',
            sent_at=now,
            started_at=now - timedelta(hours=1),
            clock_trusted=True,
            backlog=7,
        )
        assert (await post(client, status, agent.key)).status_code == 204
        answer = await client.get("/admin/snapshot")
        stream = await client.get("/admin/stream", params={"events": 2})
        page = await client.get("/admin")
    assert answer.status_code == 200, answer.text
    snapshot = answer.json()
    row = next(a for a in snapshot["agents"] if a["agent_id"] == agent.agent_id)
    assert row["state"] == "online"
    assert row["backlog"] == 7
    assert row["version"] == '0.1.0 <img src=x id="injected">'  # data as sent; the page writes it as text
    assert row["completeness_today"] == 1.0
    assert snapshot["ingest"]["readings_last_minute"] >= 30
    assert any(minute[1] >= 30 for minute in snapshot["ingest_history"])
    assert {"smart_meter_readings", "ingest_batches"} <= {t["table"] for t in snapshot["tables"]}
    assert snapshot["components"][0]["name"] == "database"
    assert snapshot["components"][0]["status"] == "ok"
    assert stream.status_code == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    blocks = stream.text.replace("\r\n", "\n").split("\n\n")
    events = [block for block in blocks if block.startswith("event: snapshot")]
    assert len(events) == 2
    data = msgspec.json.decode(events[1].split("data: ", 1)[1])
    assert any(a["agent_id"] == agent.agent_id for a in data["agents"])
    assert page.status_code == 200
    assert "dashboard.js" in page.text
