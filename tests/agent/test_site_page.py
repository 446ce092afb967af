"""The site operator's page at ``/``: a real agent polling a simulated SDM630, seen in headless Chromium.

Text that reaches the page from outside (a hub's reason for quarantining a reading, a device's
error) is shown as text: a ``<script>`` in it is neither run nor turned into an element.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from litestar.testing import AsyncTestClient

from luna_agent.api import create_app
from luna_agent.runtime import Agent
from luna_agent.sample import Sample
from luna_agent.settings import AgentSettings
from luna_agent.simulators.settings import SimulatorSettings
from luna_agent.sources.modbus.settings import ModbusDeviceSettings
from support.browser import chromium_page, screenshot
from support.served import served_app

MARKUP = '<script>document.title="pwned"</script><b id="injected">bold</b>'


def _settings(tmp_path: Path) -> AgentSettings:
    return AgentSettings(
        agent_id="pv-roof",
        site_id="farm-7",
        data_dir=str(tmp_path),
        simulators=(SimulatorSettings(name="sim", profile="sdm630"),),
        devices=(
            ModbusDeviceSettings(id="main", profile="sdm630", simulator="sim", interval_s=0.2),
            ModbusDeviceSettings(id="ghost", profile="sdm120", host="127.0.0.1", port=1, interval_s=0.2, timeout_s=0.2),
        ),
    )


def _quarantine_markup(agent: Agent) -> None:
    at = datetime(2026, 5, 1, tzinfo=UTC)
    agent.buffer.append([Sample(meter_id="plug-1", metric="power_w", ts=at, value=1.0, unit="W")])
    agent.buffer.quarantine(0, f"hub answered 400: {MARKUP}", at)


async def _until_polled(agent: Agent) -> None:
    async with asyncio.timeout(30):
        while not (agent.devices["main"].health.polls >= 2 and agent.devices["ghost"].health.errors):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_the_page_shows_devices_values_buffer_and_sync_with_markup_escaped(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    agent = Agent(settings)
    _quarantine_markup(agent)
    async with AsyncTestClient(create_app(settings, agent)) as client:
        await _until_polled(agent)
        page = await client.get("/")
        css = await client.get("/static/status.css")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "script-src" not in page.headers["content-security-policy"]  # nothing may run, not even our own
    html = page.text
    assert "pv-roof" in html
    assert "farm-7" in html
    assert "voltage_l1_v" in html
    assert "cannot connect" in html  # the ghost device's last error
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")


async def test_in_chromium_markup_is_text_and_the_page_fits_a_phone(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    agent = Agent(settings)
    _quarantine_markup(agent)
    async with served_app(create_app(settings, agent), name="served agent") as url:
        await _until_polled(agent)
        errors: list[str] = []
        for name, width in (("agent-site-page", 1280), ("agent-site-page-phone", 390)):
            async with chromium_page(width=width, height=844) as page:
                page.on("console", lambda message: errors.append(message.text))
                await page.goto(url + "/")
                assert await page.title() == "pv-roof · Luna-iEMS agent"  # the script did not run
                assert await page.locator("#injected").count() == 0  # the <b> is text, not an element
                assert MARKUP in await page.locator("#quarantine").inner_text()
                rows = page.locator("#devices tbody tr")
                assert await rows.count() == 2
                assert "up" in await page.locator("#devices tr.state-up").inner_text()
                volts = page.locator("#readings tr", has_text="voltage_l1_v")
                assert 220 < float((await volts.locator("td.num").inner_text()).strip()) < 240
                scroll_width = await page.evaluate("document.documentElement.scrollWidth")
                assert scroll_width <= width  # no sideways scrolling on a phone
                await screenshot(page, tmp_path, name)
                assert errors == []  # the CSP blocked nothing the page needed
        assert (tmp_path / "agent-site-page-phone.png").stat().st_size > 10_000
