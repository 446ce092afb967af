"""``luna-agent sync --once`` against a real ``luna-hub serve``: its summary and exit code tell the truth.

Two drains of one buffer at once stand in for the newcomer's case (``sync --once`` beside a running
agent): each acknowledges some readings, the other's acks make its own running count stale. Before
the fix one of them printed "N acknowledged; backlog N" and exited 1 although nothing was left.
"""

from __future__ import annotations

import asyncio
import re
from asyncio.subprocess import PIPE, STDOUT
from pathlib import Path

import pytest

from support.processes import BIN
from support.system import HubRun, SiteAgent, assert_exactly_once, prefill, sync_once

pytestmark = pytest.mark.slow
_SUMMARY = re.compile(r"sync: (\d+) reading\(s\) in (\d+) batch\(es\) acknowledged by \S+; backlog (\d+); state (\w+)")


def _backlog_and_hub(hub: HubRun, site: SiteAgent, readings: int, batch: int) -> Path:
    """``readings`` waiting in the buffer, the agent known to a running hub; return the agent's config."""
    prefill(site, readings)
    hub.create_agent(site.agent_id, site.site_id, site.key_file)
    hub.start()
    return site.config(hub.url, batch_max_readings=batch)


async def test_sync_once_delivers_everything_and_says_so(hub: HubRun, site: SiteAgent, system_dsn: str) -> None:
    config = _backlog_and_hub(hub, site, 2_500, 200)
    result = sync_once(config)
    hub.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    summary = _SUMMARY.search(result.stdout)
    assert summary is not None, result.stdout
    assert summary.groups() == ("2500", "13", "0", "idle")
    assert "last error" not in result.stdout
    assert await assert_exactly_once(system_dsn, site) == 2_500


async def test_two_drains_of_one_buffer_both_exit_0_with_a_true_backlog(
    hub: HubRun, site: SiteAgent, system_dsn: str
) -> None:
    config = _backlog_and_hub(hub, site, 6_000, 100)
    command = [str(BIN / "luna-agent"), "sync", "--once", "-c", str(config)]
    drains = [await asyncio.create_subprocess_exec(*command, stdout=PIPE, stderr=STDOUT) for _ in range(2)]
    outputs = await asyncio.wait_for(asyncio.gather(*(drain.communicate() for drain in drains)), 300)
    hub.stop()
    acknowledged = 0
    for drain, (raw, _) in zip(drains, outputs, strict=True):
        out = raw.decode()
        assert drain.returncode == 0, out
        summary = _SUMMARY.search(out)
        assert summary is not None, out
        assert summary.group(3) == "0", out  # counted in the file at the end, not the stale running count
        acknowledged += int(summary.group(1))
    assert acknowledged >= 6_000  # a batch both sent at once is acknowledged to both
    assert await assert_exactly_once(system_dsn, site) == 6_000
