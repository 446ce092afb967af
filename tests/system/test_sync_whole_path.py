"""A hypothesis state machine over the whole sync path: agent buffer and uploader, real hub, real PostgreSQL.

The agent side is the real :class:`ReadingBuffer` (a SQLite file) and :class:`Uploader`; the hub
is the real application (``create_app``) on a real PostgreSQL database, reached in process
through its ASGI interface. Faults are injected at that transport seam only: the hub down (the
request never arrives), the answer lost after the hub committed (the connection drops on the way
back), and a hub restart (the application shut down and built again; the database keeps what it
committed). The agent crashes too: its buffer closed without shutdown and reopened, with another
order and batch size.

After every step, whatever the agent marked synced is in the hub's table with the same content,
and the hub holds each sequence number once and nothing the agent never had. At the end, with the
hub healthy, the agent drains and the hub's set of readings equals the agent's, exactly.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from luna_agent.buffer import ReadingBuffer
from luna_agent.sample import Sample
from luna_agent.sync import Step, SyncSettings, Uploader
from luna_hub.settings import HubSettings
from support.databases import database_for_session
from support.hub import ready_client
from support.sync import make_agent

T0 = datetime(2026, 3, 1, tzinfo=UTC)
Content = tuple[str, str, datetime, float | None]


class HubSeam(httpx.AsyncBaseTransport):
    """Forwards the uploader's requests to the in-process hub, or fails them as a network would."""

    def __init__(self) -> None:
        self.client: Any = None
        self.fault: str | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.client is None or self.fault == "down":
            raise httpx.ConnectError("connection refused (hub down)", request=request)
        body = await request.aread()
        answer = await self.client.post(request.url.path, content=body, headers=dict(request.headers))
        if self.fault == "lost_ack":  # the hub committed and answered; the answer never arrives
            raise httpx.ReadError("connection reset before the answer arrived", request=request)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


@pytest.fixture(scope="module")
def whole_path_dsn(pg_admin_dsn: str) -> Iterator[str]:
    with database_for_session(pg_admin_dsn, "luna_sync_path") as dsn:
        yield dsn


class WholePath(RuleBasedStateMachine):
    dsn = ""
    """The database of the test (set by it before running the machine)."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = Path(tempfile.mkdtemp(prefix="sync-path-"))
        self.seam = HubSeam()
        self.hub_context: Any = None
        self._start_hub()  # migrates the database on the first run
        self.agent = self.loop.run_until_complete(make_agent(self.dsn, "sm"))
        self.key_file = self.folder / "agent.key"
        self.key_file.write_text(self.agent.key, encoding="utf-8")
        self.db: asyncpg.Connection = self.loop.run_until_complete(asyncpg.connect(self.dsn))
        self.appended: dict[int, Content] = {}
        self.buffer = self._open_buffer()
        self.uploader = self._uploader("oldest_first", 8)

    def _start_hub(self) -> None:
        self.hub_context = ready_client(HubSettings(database_url=self.dsn, rollup_refresh_seconds=3600))
        self.seam.client = self.loop.run_until_complete(self.hub_context.__aenter__())

    def _stop_hub(self) -> None:
        self.seam.client = None
        self.loop.run_until_complete(self.hub_context.__aexit__(None, None, None))

    def _open_buffer(self) -> ReadingBuffer:
        return ReadingBuffer(self.folder / "buffer.sqlite3", synchronous="normal", max_rows=10**6)

    def _uploader(self, order: str, batch_max: int) -> Uploader:
        sync = SyncSettings(
            hub_url="http://hub.test",
            key_file=str(self.key_file),
            order=order,  # type: ignore[arg-type]
            batch_max_readings=batch_max,
            drain_rate=1e9,
        )
        return Uploader(
            sync, self.buffer, agent_id=self.agent.agent_id, site_id=self.agent.site_id, transport=self.seam
        )

    def _hub_rows(self) -> list[tuple[int, Content]]:
        rows = self.loop.run_until_complete(
            self.db.fetch(
                "SELECT seq, meter_id, metric, ts, value FROM smart_meter_readings WHERE agent_id = $1",
                self.agent.agent_id,
            )
        )
        return [(r["seq"], (r["meter_id"], r["metric"], r["ts"], r["value"])) for r in rows]

    @rule(count=st.integers(0, 12), meter=st.sampled_from(["main", "pv"]), values=st.data())
    def poll(self, count: int, meter: str, values: st.DataObject) -> None:
        start = len(self.appended)
        samples = [
            Sample(
                meter_id=f"{self.agent.meter}-{meter}",
                metric="power_w",
                ts=T0 + timedelta(seconds=start + i),
                value=values.draw(st.floats(-1e5, 1e5, allow_nan=False).map(lambda v: round(v, 3))),
                unit="W",
            )
            for i in range(count)
        ]
        if samples:
            first, last = self.buffer.append(samples)
            for seq, sample in zip(range(first, last + 1), samples, strict=True):
                self.appended[seq] = (sample.meter_id, sample.metric, sample.ts, sample.value)

    @rule(fault=st.sampled_from([None, None, "lost_ack", "down"]))
    def upload(self, fault: str | None) -> None:
        depth = self.buffer.stats().depth
        self.seam.fault = fault
        try:
            step = self.loop.run_until_complete(self.uploader.send_next())
        finally:
            self.seam.fault = None
        if depth == 0:
            assert step is Step.EMPTY
        elif fault is None and self.seam.client is not None:
            assert step is Step.SENT, self.uploader.last_error
        else:
            assert step is Step.BACKOFF
            assert self.buffer.stats().depth == depth

    @rule()
    def restart_hub(self) -> None:
        self._stop_hub()
        self._start_hub()

    @rule(order=st.sampled_from(["oldest_first", "newest_first"]), batch_max=st.integers(1, 20))
    def crash_agent(self, order: str, batch_max: int) -> None:
        self.loop.run_until_complete(self.uploader.aclose())
        self.buffer._db.close()  # no orderly shutdown: only what was committed survives
        self.buffer = self._open_buffer()
        self.uploader = self._uploader(order, batch_max)

    @invariant()
    def synced_readings_are_in_the_hub_once(self) -> None:
        rows = self._hub_rows()
        by_seq = dict(rows)
        assert len(by_seq) == len(rows), "a sequence number stored twice"
        for seq, stored in by_seq.items():
            assert self.appended.get(seq) == stored, f"hub has seq {seq} as {stored}"
        unsynced = {r.seq for r in self.buffer.pending(10**6)}
        for seq in set(self.appended) - unsynced:
            assert by_seq.get(seq) == self.appended[seq], f"seq {seq} marked synced but not in the hub"

    def teardown(self) -> None:
        try:
            for _ in range(10_000):
                if self.loop.run_until_complete(self.uploader.send_next()) is Step.EMPTY:
                    break
            assert set(self._hub_rows()) == set(self.appended.items())
            assert self.buffer.stats().depth == 0
        finally:
            self.loop.run_until_complete(self.uploader.aclose())
            self._stop_hub()
            self.loop.run_until_complete(self.db.close())
            self.loop.close()
            self.buffer.close()
            shutil.rmtree(self.folder, ignore_errors=True)


def test_whole_path_state_machine(whole_path_dsn: str) -> None:
    WholePath.dsn = whole_path_dsn
    WholePath.TestCase.settings = settings(
        max_examples=12,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    WholePath.TestCase().runTest()
