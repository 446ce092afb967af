"""A hypothesis state machine over the whole sync path with a real hub process and real PostgreSQL.

Rules: the agent polls (readings into its real SQLite buffer); it uploads one batch cleanly (the
hub restarted first if it was down), with the answer lost after the hub committed, or after the
hub was stopped or killed with SIGKILL; the agent crashes (buffer closed without shutdown) and
comes back with another order and batch size. The uploader talks real HTTP to the real ``luna-hub serve``;
faults are injected by a wrapper around httpx's own transport (the transport seam). After every
step: whatever the agent marked synced is in the hub's table with the same content, and no seq
is stored twice. At the end, with the hub up, the agent drains and the hub's set of readings
equals the agent's, exactly.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from luna_agent.buffer import ReadingBuffer
from luna_agent.sample import Sample
from luna_agent.sync import Step, SyncSettings, Uploader
from support.system import HubRun, Row, SiteAgent, assert_exactly_once, buffer_rows, hub_rows

pytestmark = pytest.mark.slow
Fault = Literal["lost_ack"]
T = TypeVar("T")


class FaultyTransport(httpx.AsyncBaseTransport):
    """httpx's real transport; ``lost_ack`` lets the request reach the hub and then drops its answer."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.fault: Fault | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        fault, self.fault = self.fault, None
        response = await self.inner.handle_async_request(request)
        if fault == "lost_ack":
            await response.aread()
            await response.aclose()
            raise httpx.ReadError("answer lost after the hub committed", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class WholePath(RuleBasedStateMachine):
    dsn: str  # set by the test on a subclass: hypothesis builds machines without arguments

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = Path(tempfile.mkdtemp(prefix="sync-whole-"))
        self.site = SiteAgent.new(self.folder)
        self.hub = HubRun(self.dsn, self.folder)
        self.hub.create_agent(self.site.agent_id, self.site.site_id, self.site.key_file)
        self.hub.start()
        self.hub_up = True
        self.t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        self.taken = 0
        self.buffer = ReadingBuffer(self.site.buffer_path, synchronous="normal")
        self.transport = FaultyTransport()
        self.uploader = self._uploader("oldest_first", 50)

    def _uploader(self, order: str, batch_max: int) -> Uploader:
        sync = SyncSettings(
            hub_url=self.hub.url,
            key_file=str(self.site.key_file),
            order=order,  # type: ignore[arg-type]
            batch_max_readings=batch_max,
            drain_rate=1e9,
            timeout_s=30,
        )
        site = self.site
        return Uploader(sync, self.buffer, agent_id=site.agent_id, site_id=site.site_id, transport=self.transport)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    @rule(count=st.integers(1, 120), metric=st.sampled_from(["power_w", "voltage_l1_v"]))
    def poll(self, count: int, metric: str) -> None:
        self.buffer.append(
            [
                Sample(
                    meter_id=self.site.meter,
                    metric=metric,
                    ts=self.t0 + timedelta(seconds=self.taken + i),
                    value=float((self.taken + i) % 977),
                    unit="W" if metric == "power_w" else "V",
                )
                for i in range(count)
            ]
        )
        self.taken += count

    def _hub(self, *, up: bool, kill: bool = False) -> None:
        if up and not self.hub_up:
            self.hub.start()
        elif not up and self.hub_up and kill:
            self.hub.kill()
        elif not up and self.hub_up:
            self.hub.stop()
        self.hub_up = up

    @precondition(lambda self: self.buffer.stats().depth > 0)
    @rule(way=st.sampled_from(["clean", "clean", "answer_lost", "hub_stopped", "hub_killed"]))
    def upload(self, way: str) -> None:
        """Send one batch; the hub is started or brought down (stopped or SIGKILLed) first as the way says."""
        self._hub(up=way in {"clean", "answer_lost"}, kill=way == "hub_killed")
        depth = self.buffer.stats().depth
        self.transport.fault = "lost_ack" if way == "answer_lost" else None
        step = self._run(self.uploader.send_next())
        self.transport.fault = None
        if way == "clean":
            assert step is Step.SENT, self.uploader.last_error
            assert self.buffer.stats().depth < depth
        else:
            assert step is Step.BACKOFF, self.uploader.last_error
            assert self.buffer.stats().depth == depth

    @rule(order=st.sampled_from(["oldest_first", "newest_first"]), batch_max=st.integers(1, 300))
    def crash_agent(self, order: str, batch_max: int) -> None:
        self._run(self.uploader.aclose())
        self.buffer._db.close()  # no orderly shutdown: only what was committed survives
        self.buffer = ReadingBuffer(self.site.buffer_path, synchronous="normal")
        self.transport = FaultyTransport()
        self.uploader = self._uploader(order, batch_max)

    def _compare(self) -> tuple[set[Row], list[Row], set[int]]:
        expected, _ = buffer_rows(self.site.buffer_path)
        stored = self._run(hub_rows(self.dsn, self.site.agent_id))
        unsynced = {r.seq for r in self.buffer.pending(10**6)}
        return expected, stored, unsynced

    @invariant()
    def synced_means_stored_once(self) -> None:
        expected, stored, unsynced = self._compare()
        assert len({row[0] for row in stored}) == len(stored), "a seq stored twice"
        assert set(stored) <= expected, "the hub holds a reading the agent never took"
        synced = {row for row in expected if row[0] not in unsynced}
        assert synced <= set(stored), "the agent marked readings synced that the hub does not hold"

    def teardown(self) -> None:
        try:
            self._hub(up=True)
            for _ in range(10_000):
                if self._run(self.uploader.send_next()) is Step.EMPTY:
                    break
            assert self._run(assert_exactly_once(self.dsn, self.site)) == self.taken  # ledger without gaps too
        finally:
            self._run(self.uploader.aclose())
            self.loop.close()
            self.buffer.close()
            self.hub.kill()
            shutil.rmtree(self.folder, ignore_errors=True)


@pytest.mark.timeout(600)
def test_whole_path_state_machine(system_dsn: str) -> None:
    class OnTheSystemDatabase(WholePath):
        dsn = system_dsn

    # Each step may start or kill a process: no shrinking (replays would take minutes), the failing run as found.
    run_state_machine_as_test(
        OnTheSystemDatabase,
        settings=settings(
            max_examples=5,
            stateful_step_count=20,
            deadline=None,
            phases=(Phase.explicit, Phase.reuse, Phase.generate),
        ),
    )
