"""A hypothesis state machine over the buffer: append, read a batch, ack, crash and reopen, overflow.

The model is a list of (seq, value, synced); the overflow policy (oldest synced first, then
oldest unsynced) is applied to it independently. Invariants: nothing lost beyond what the
policy dropped and counted, nothing duplicated, order and numbering kept across reopen.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from luna_agent.buffer import ReadingBuffer
from luna_agent.sample import Sample

MAX_ROWS = 25
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class BufferMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="buffer-sm-"))
        self.buffer = ReadingBuffer(self.folder / "b.sqlite3", synchronous="normal", max_rows=MAX_ROWS)
        self.model: list[tuple[int, float, bool]] = []
        self.next_seq = 0
        self.dropped = [0, 0]
        self.batch: list[int] = []

    def _overflow(self) -> None:
        excess = len(self.model) - MAX_ROWS
        for synced in (True, False):
            victims = [row for row in self.model if row[2] is synced][: max(excess, 0)]
            for row in victims:
                self.model.remove(row)
            excess -= len(victims)
            self.dropped[0 if synced else 1] += len(victims)

    @rule(values=st.lists(st.floats(-1e6, 1e6), max_size=12))
    def append(self, values: list[float]) -> None:
        batch = [
            Sample(meter_id="m", metric="power_w", ts=T0 + timedelta(seconds=self.next_seq + i), value=v, unit="W")
            for i, v in enumerate(values)
        ]
        first, last = self.buffer.append(batch)
        assert (first, last) == (self.next_seq, self.next_seq + len(values) - 1)
        self.model += [(self.next_seq + i, v, False) for i, v in enumerate(values)]
        self.next_seq += len(values)
        self._overflow()

    @rule(limit=st.integers(1, 30), newest_first=st.booleans())
    def read_batch(self, limit: int, newest_first: bool) -> None:
        got = [(r.seq, r.value) for r in self.buffer.pending(limit, newest_first=newest_first)]
        unsynced = [(seq, value) for seq, value, synced in self.model if not synced]
        expected = (unsynced[::-1] if newest_first else unsynced)[:limit]
        assert got == expected
        if not newest_first:
            self.batch = [seq for seq, _ in got]

    @precondition(lambda self: bool(self.batch))
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        upto = data.draw(st.integers(1, len(self.batch)))
        first, last = self.batch[0], self.batch[upto - 1]
        newly = sum(1 for seq, _, synced in self.model if first <= seq <= last and not synced)
        assert self.buffer.ack(first, last) == newly
        self.model = [(seq, v, synced or first <= seq <= last) for seq, v, synced in self.model]
        self.batch = []

    @rule()
    def crash_and_reopen(self) -> None:
        self.buffer._db.close()  # no orderly shutdown: what is committed must be all there is
        self.buffer = ReadingBuffer(self.folder / "b.sqlite3", synchronous="normal", max_rows=MAX_ROWS)
        self.batch = []

    @invariant()
    def stored_equals_model(self) -> None:
        stored = [(r.seq, r.value) for r in self.buffer.read(0, 10**9)]
        assert stored == [(seq, value) for seq, value, _ in self.model]
        stats = self.buffer.stats()
        assert stats.depth == sum(1 for row in self.model if not row[2])
        assert (stats.dropped_synced, stats.dropped_unsynced) == tuple(self.dropped)
        assert stats.next_seq == self.next_seq

    def teardown(self) -> None:
        self.buffer.close()
        shutil.rmtree(self.folder, ignore_errors=True)


BufferMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
TestBuffer = BufferMachine.TestCase
