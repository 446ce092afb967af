"""The demo agent: ``serve --demo-data`` provisions ``demo-agent``, its key in ``<data_dir>/demo-agent.key``."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import httpx
import pytest

from luna_hub.demo import provision_demo_agent
from luna_shared.codec import decode_hub_message
from support.hub import migrated_pool
from support.processes import BIN, ManagedProcess, free_port
from support.sync import Agent, batch, key_owner, post


async def test_the_key_file_is_written_once_reused_and_replaced_when_unknown(hub_dsn: str, tmp_path: Path) -> None:
    async with migrated_pool(hub_dsn) as pool:
        path = await provision_demo_agent(pool, tmp_path / "hub")
        assert path == tmp_path / "hub" / "demo-agent.key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        key = path.read_text().strip()
        assert await key_owner(hub_dsn, key) == ("demo-agent", "demo-site")
        await provision_demo_agent(pool, tmp_path / "hub")
        assert path.read_text().strip() == key  # reused while the hub knows it
        path.write_text("lak_" + "z" * 43 + "\n")  # e.g. the database was reset
        await provision_demo_agent(pool, tmp_path / "hub")
        replaced = path.read_text().strip()
    assert replaced != key
    assert await key_owner(hub_dsn, replaced) == ("demo-agent", "demo-site")


async def test_an_emptied_key_file_is_replaced_like_a_missing_one(hub_dsn: str, tmp_path: Path) -> None:
    path = tmp_path / "hub" / "demo-agent.key"
    path.parent.mkdir()
    path.write_text("")  # e.g. a crash between creating and writing it
    async with migrated_pool(hub_dsn) as pool:
        await provision_demo_agent(pool, tmp_path / "hub")
    assert await key_owner(hub_dsn, path.read_text().strip()) == ("demo-agent", "demo-site")


@pytest.mark.slow
async def test_serve_with_demo_data_lets_the_demo_agent_sync(hub_dsn: str, tmp_path: Path) -> None:
    data_dir, demo_files = tmp_path / "hub", tmp_path / "no-demo-files"
    demo_files.mkdir()
    hub = ManagedProcess(
        [str(BIN / "luna-hub"), "serve", "--port", str(free_port()), "--demo-data", str(demo_files)],
        log=tmp_path / "hub.log",
        env={"LUNA_DATABASE_URL": hub_dsn, "LUNA_DATA_DIR": str(data_dir), "LUNA_LOG__LEVEL": "WARNING"},
    )
    try:
        url = hub.wait_ready()["luna-hub"]
        key = (data_dir / "demo-agent.key").read_text().strip()
        agent = Agent("demo-agent", "demo-site", key, f"demo-meter-{tmp_path.name}")
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            for _ in range(300):
                if (await client.get("/health")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            response = await post(client, batch(agent, 0, 9), key)
            admin = (data_dir / "admin.key").read_text().strip()  # the demo's admin key (auth is on)
            listed = (await client.get("/agents", headers={"Authorization": f"Bearer {admin}"})).json()
    finally:
        hub.kill()
    assert response.status_code == 200, response.text
    assert decode_hub_message(response.content).last_seq == 9
    assert any(item["agent_id"] == "demo-agent" and item["site_id"] == "demo-site" for item in listed)
