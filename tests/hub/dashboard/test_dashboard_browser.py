"""The dashboard in Debian's headless Chromium against a real hub (uvicorn, auth required, real PostgreSQL).

An admin signs in through the page; an agent delivers readings and goes quiet; the page follows
both without being reloaded. An agent version holding markup is shown as text. An alert fires, is
silenced from its row, and a test notification reaches a real webhook receiver on loopback.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page

from luna_hub.app import create_app
from luna_hub.auth.passwords import Passwords
from luna_hub.auth.services import create_user
from luna_hub.settings import AuthSettings, DashboardSettings, HubSettings
from luna_hub.settings.alerts import AlertSettings
from luna_shared.wire import AgentStatus, utc_ms
from support.browser import chromium_page, screenshot
from support.hub import migrated_pool
from support.receivers import WebhookReceiver, webhook_receiver
from support.served import served_app
from support.sync import Agent, batch, make_agent, post

PASSWORD = "correct horse battery staple"  # noqa: S105 - a test user's
FAST_HASHES = AuthSettings(password_time_cost=1, password_memory_kib=8, password_parallelism=1)
MARKUP = '0.1.0 <img src=x id="injected">'


@pytest.fixture
async def hub_url(hub_dsn: str, tmp_path: Path) -> AsyncIterator[str]:
    settings = HubSettings(
        database_url=hub_dsn,
        data_dir=str(tmp_path / "hub"),
        auth=FAST_HASHES,
        dashboard=DashboardSettings(refresh_s=0.5),
        alerts=AlertSettings(agent_stale_after_s=2, agent_offline_after_s=4),
    )
    async with served_app(create_app(settings), name="served hub") as url:
        yield url


async def _admin(dsn: str) -> str:
    name = f"dash-admin-{uuid.uuid4().hex[:8]}"
    passwords = Passwords(FAST_HASHES)
    try:
        async with migrated_pool(dsn) as pool, pool.acquire() as db:
            await create_user(db, name, role="admin", password=PASSWORD, passwords=passwords, actor="test")
    finally:
        passwords.close()
    return name


async def _report(client: httpx.AsyncClient, agent: Agent, version: str) -> None:
    now = utc_ms(datetime.now(UTC))
    status = AgentStatus(
        agent_id=agent.agent_id,
        site_id=agent.site_id,
        version=version,
        sent_at=now,
        started_at=now - timedelta(hours=1),
        clock_trusted=True,
        backlog=3,
    )
    assert (await post(client, status, agent.key)).status_code == 204


async def _until(page: Page, expression: str) -> None:
    """Poll ``expression`` in the page until true (the page's CSP forbids Playwright's eval-based waits)."""
    async with asyncio.timeout(30):
        while not await page.evaluate(expression):  # noqa: ASYNC110 - the page offers no event to await
            await asyncio.sleep(0.1)


async def test_an_admin_signs_in_and_sees_ingest_and_an_agent_going_offline_live(
    hub_url: str, hub_dsn: str, tmp_path: Path
) -> None:
    user = await _admin(hub_dsn)
    agent = await make_agent(hub_dsn, "browser")
    async with chromium_page() as page, httpx.AsyncClient(base_url=hub_url) as agent_client:
        await page.goto(hub_url + "/admin")
        assert page.url.endswith("/admin/login")
        await page.fill("#username", user)
        await page.fill("#password", "wrong password")
        await page.click("button[type=submit]")
        await _until(page, "document.getElementById('login-error').textContent.length > 0")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(hub_url + "/admin")
        await _until(page, "document.getElementById('connection').textContent === 'live'")
        await page.evaluate("window.stillThisPage = true")  # gone if anything reloads the page

        assert (await post(agent_client, batch(agent, 0, 99), agent.key)).status_code == 200
        await _report(agent_client, agent, MARKUP)
        row = page.locator(f'tr[data-agent="{agent.agent_id}"]')
        state_cell = f'tr[data-agent="{agent.agent_id}"] .state'
        await row.wait_for()
        await _until(page, f"document.querySelector('{state_cell}').textContent === 'online'")
        before = int(await page.locator("#ingest-minute").inner_text())
        assert before >= 100
        assert (await post(agent_client, batch(agent, 100, 149), agent.key)).status_code == 200
        await _until(page, f"Number(document.getElementById('ingest-minute').textContent) >= {before + 50}")
        await screenshot(page, tmp_path, "dashboard")

        assert await page.locator("#injected").count() == 0  # the version's markup is text
        assert MARKUP in await row.inner_text()

        await _until(page, f"document.querySelector('{state_cell}').textContent === 'offline'")  # quiet for 4 s
        assert await page.evaluate("window.stillThisPage") is True
        await page.set_viewport_size({"width": 390, "height": 844})
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await screenshot(page, tmp_path, "dashboard-phone")


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with webhook_receiver() as server:
        yield server


@pytest.fixture
async def alerting_hub_url(hub_dsn: str, tmp_path: Path, receiver: WebhookReceiver) -> AsyncIterator[str]:
    """A served hub that evaluates alerts every 0.2 s and fires at once: an agent quiet for 1 s is offline."""
    settings = HubSettings(
        database_url=hub_dsn,
        data_dir=str(tmp_path / "hub"),
        auth=FAST_HASHES,
        dashboard=DashboardSettings(refresh_s=0.5),
        alerts=AlertSettings(evaluate_every_s=0.2, pending_s=0, agent_offline_after_s=1, webhook_urls=[receiver.url]),
    )
    async with served_app(create_app(settings), name="served hub") as url:
        yield url


async def _sign_in(page: Page, hub_url: str, user: str) -> None:
    await page.goto(hub_url + "/admin/login")
    await page.fill("#username", user)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(hub_url + "/admin")
    await _until(page, "document.getElementById('connection').textContent === 'live'")
    await page.evaluate("window.stillThisPage = true")  # gone if anything reloads the page


async def test_an_admin_silences_a_firing_alert_and_sends_a_test_notification_from_the_page(
    alerting_hub_url: str, hub_dsn: str, tmp_path: Path, receiver: WebhookReceiver
) -> None:
    user = await _admin(hub_dsn)
    agent = await make_agent(hub_dsn, "silenced")
    async with chromium_page() as page, httpx.AsyncClient(base_url=alerting_hub_url) as agent_client:
        await _sign_in(page, alerting_hub_url, user)
        assert (await post(agent_client, batch(agent, 0, 9), agent.key)).status_code == 200  # then quiet

        row = (
            page.locator("#alerts tbody tr")
            .filter(has_text="agent_offline")
            .filter(has_text=f"agent_id={agent.agent_id},")
        )
        await row.wait_for()  # fired, and pushed to the open page
        await screenshot(page, tmp_path, "dashboard-alert")
        await row.get_by_role("button", name="Silence 1 h").click()
        await _until(page, "document.getElementById('silence-result').textContent.includes('silenced for an hour')")
        silences = await page.evaluate("fetch('/alerts/silences', {credentials: 'same-origin'}).then((r) => r.json())")
        matching = [
            s for s in silences if {m["name"]: m["value"] for m in s["matchers"]}.get("agent_id") == agent.agent_id
        ]
        [mine] = matching
        assert (mine["created_by"], mine["active"]) == (user, True)
        assert {m["name"]: m["value"] for m in mine["matchers"]}["alertname"] == "agent_offline"
        assert mine["comment"] == "silenced from the dashboard"

        await page.get_by_role("button", name="Send test notification").click()
        await _until(page, "document.getElementById('test-result').textContent.includes('delivered')")
        assert await page.locator("#test-result").inner_text() == f"webhook {receiver.url}: delivered"
        tests = [b for b in receiver.bodies() if b["alerts"][0]["labels"]["alertname"] == "luna_test"]
        assert [b["alerts"][0]["labels"]["requested_by"] for b in tests] == [user]
        assert await page.evaluate("window.stillThisPage") is True
