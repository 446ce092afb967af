"""A hypothesis state machine over buffer + uploader + hub: nothing lost, nothing duplicated, nothing rewritten.

The hub is the in-memory :class:`~support.fake_hub.FakeHub` behind ``httpx.MockTransport`` (the
transport seam; the real hub process is exercised in ``tests/system``). Rules: append readings,
upload one batch (cleanly, with the answer lost after the hub committed, with a 5xx, the hub
down, a 413 or a 415), crash the agent (buffer closed without shutdown, uploader dropped) and
reopen it with another order and batch size. Invariants after every step: whatever the agent
marked synced is in the hub with the same content; the hub holds each natural key and each
seq at most once and never got different content for one; at the end, after the hub is
healthy again and the agent drained, the hub's set of (seq, content) equals the agent's.

Some readings carry a meter id the wire schema refuses (``-evil``, as a buggy or old agent may
have buffered): the hub refuses any batch holding one, the uploader splits and quarantines
exactly those readings, and the invariants hold for the rest (issue 16).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from luna_agent.buffer import ReadingBuffer
from luna_agent.sample import Sample
from luna_agent.sync import Step, SyncSettings, Uploader
from luna_shared.wire import Reading
from support.fake_hub import FakeHub, Fault

T0 = datetime(2026, 1, 1, tzinfo=UTC)
METERS = ("main", "pv", "main", "-evil")
POISON = "-evil"
Content = tuple[str, str, datetime, float | None]


def content(reading: Reading) -> Content:
    return (reading.meter_id, reading.metric, reading.ts, reading.value)


class SyncMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = Path(tempfile.mkdtemp(prefix="sync-sm-"))
        self.key_file = self.folder / "agent.key"
        self.key_file.write_text("lak_test-key", encoding="utf-8")
        self.hub = FakeHub()
        self.appended: dict[int, Content] = {}
        self.next_seq = 0
        self.buffer = self._open_buffer()
        self.uploader = self._uploader("oldest_first", 7)

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
        return Uploader(sync, self.buffer, agent_id="agent-1", site_id="site-1", transport=self.hub.transport())

    @rule(count=st.integers(0, 12), meter=st.sampled_from(METERS), values=st.data())
    def append(self, count: int, meter: str, values: st.DataObject) -> None:
        readings = [
            Sample(
                meter_id=meter,
                metric="power_w",
                ts=T0 + timedelta(seconds=self.next_seq + i),
                value=values.draw(st.floats(-1e6, 1e6, allow_nan=False)),
                unit="W",
            )
            for i in range(count)
        ]
        first, last = self.buffer.append(readings)
        for seq, sample in zip(range(first, last + 1), readings, strict=True):
            self.appended[seq] = (sample.meter_id, sample.metric, sample.ts, sample.value)
        self.next_seq = last + 1 if count else self.next_seq

    @rule(fault=st.sampled_from([None, None, "lost_ack", "5xx", "down", "timeout", "413", "415"]))
    def upload(self, fault: Fault | None) -> None:
        depth = self.buffer.stats().depth
        poisoned = any(r.meter_id == POISON for r in self.buffer.pending(10**6))
        if fault is not None:
            self.hub.faults = [fault]
        step = self.loop.run_until_complete(self.uploader.send_next())
        self.hub.faults = []
        if depth == 0:
            assert step is Step.EMPTY
        elif poisoned:  # whether this batch held the refused reading decides; the invariants check the outcome
            assert step is not Step.EMPTY
        elif fault is None:
            assert step is Step.SENT
        elif fault in {"lost_ack", "5xx", "down", "timeout"}:
            assert step is Step.BACKOFF
            assert self.buffer.stats().depth == depth
        else:
            assert step in {Step.RETRY, Step.BLOCKED}
            assert self.buffer.stats().depth == depth

    def _quarantined(self) -> set[int]:
        return {q.reading.seq for q in self.buffer.quarantined(10**6)}

    @invariant()
    def only_refused_readings_are_quarantined(self) -> None:
        assert all(self.appended[seq][0] == POISON for seq in self._quarantined())

    @rule(order=st.sampled_from(["oldest_first", "newest_first"]), batch_max=st.integers(1, 20))
    def crash_and_reopen(self, order: str, batch_max: int) -> None:
        self.loop.run_until_complete(self.uploader.aclose())
        self.buffer._db.close()  # no orderly shutdown: only what was committed survives
        self.buffer = self._open_buffer()
        self.uploader = self._uploader(order, batch_max)

    @invariant()
    def synced_readings_are_in_the_hub(self) -> None:
        unsynced = {r.seq for r in self.buffer.pending(10**6)}
        hub = {seq: content(r) for seq, r in self.hub.by_seq().items()}
        for seq in set(self.appended) - unsynced - self._quarantined():
            assert hub.get(seq) == self.appended[seq], f"seq {seq} marked synced but the hub has {hub.get(seq)}"

    @invariant()
    def hub_holds_nothing_twice_and_nothing_foreign(self) -> None:
        assert not self.hub.conflicts
        hub = {seq: content(r) for seq, r in self.hub.by_seq().items()}  # by_seq fails on a repeated seq
        assert len(hub) == len(self.hub.rows)
        for seq, stored in hub.items():
            assert self.appended.get(seq) == stored

    def teardown(self) -> None:
        try:
            for _ in range(10_000):  # the hub is healthy again: drain to the end
                if self.loop.run_until_complete(self.uploader.send_next()) is Step.EMPTY:
                    break
            hub = {(seq, content(r)) for seq, r in self.hub.by_seq().items()}
            assert hub == {(seq, c) for seq, c in self.appended.items() if c[0] != POISON}
            assert self._quarantined() == {seq for seq, c in self.appended.items() if c[0] == POISON}
            assert self.buffer.stats().depth == 0
        finally:
            self.loop.run_until_complete(self.uploader.aclose())
            self.loop.close()
            self.buffer.close()
            shutil.rmtree(self.folder, ignore_errors=True)


SyncMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestSync = SyncMachine.TestCase
