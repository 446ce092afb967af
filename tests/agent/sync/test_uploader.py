"""The uploader against an in-memory hub behind ``httpx.MockTransport``: the transport seam.

Everything else is real: the SQLite buffer, the batch encoding and compression, the ack check.
Back-off and drain pacing are tested as pure functions of injected clocks; nothing here waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from luna_agent.buffer import ReadingBuffer
from luna_agent.errors import KeyFileError, StorageError
from luna_agent.sample import Sample
from luna_agent.sync import Step, SyncSettings, SyncState, Uploader
from luna_agent.sync.batches import contiguous_run
from luna_agent.sync.pacing import Backoff, DrainLimiter
from luna_shared.codec import decode_agent_message
from luna_shared.compression import ContentEncoding, decompress
from luna_shared.wire import Reading, ReadingBatch
from support.fake_hub import FakeHub

T0 = datetime(2026, 3, 1, tzinfo=UTC)
MakeUploader = Callable[..., Uploader]


def samples(count: int, start: int = 0, meter: str = "main") -> list[Sample]:
    return [
        Sample(meter_id=meter, metric="power_w", ts=T0 + timedelta(seconds=start + i), value=float(i), unit="W")
        for i in range(count)
    ]


@pytest.fixture
def buffer(tmp_path: Path) -> Iterator[ReadingBuffer]:
    opened = ReadingBuffer(tmp_path / "buffer.sqlite3", synchronous="normal")
    yield opened
    opened.close()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "agent.key"
    path.write_text("lak_test-key\n", encoding="utf-8")
    return path


def sync_settings(key_file: Path, **overrides: object) -> SyncSettings:
    values: dict[str, object] = {"hub_url": "http://hub.test", "key_file": str(key_file), "drain_rate": 1e9}
    values.update(overrides)
    return SyncSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def make_uploader(buffer: ReadingBuffer, key_file: Path) -> AsyncIterator[MakeUploader]:
    made: list[Uploader] = []

    def make(hub: FakeHub, **overrides: object) -> Uploader:
        uploader = Uploader(
            sync_settings(key_file, **overrides),
            buffer,
            agent_id=hub.agent_id,
            site_id=hub.site_id,
            transport=hub.transport(),
            uniform=lambda: 1.0,
        )
        made.append(uploader)
        return uploader

    yield make
    for uploader in made:
        await uploader.aclose()


def sent_batches(hub: FakeHub) -> list[tuple[int, int]]:
    return [(b.first_seq, b.last_seq) for b in hub.batches]


async def test_drains_in_contiguous_batches_oldest_first_and_acks_each(
    buffer: ReadingBuffer, make_uploader: MakeUploader
) -> None:
    buffer.append(samples(12))
    hub = FakeHub()
    uploader = make_uploader(hub, batch_max_readings=5)
    summary = await uploader.drain()
    assert sent_batches(hub) == [(0, 4), (5, 9), (10, 11)]
    assert (summary.readings, summary.batches, summary.backlog) == (12, 3, 0)
    assert sorted(hub.by_seq()) == list(range(12))
    assert uploader.state is SyncState.IDLE
    assert uploader.last_acked_seq == 11


async def test_newest_first_sends_the_newest_run_first_each_in_order(
    buffer: ReadingBuffer, make_uploader: MakeUploader
) -> None:
    buffer.append(samples(12))
    hub = FakeHub()
    await make_uploader(hub, batch_max_readings=5, order="newest_first").drain()
    assert sent_batches(hub) == [(7, 11), (2, 6), (0, 1)]
    assert all([r.seq for r in b.readings] == list(range(b.first_seq, b.last_seq + 1)) for b in hub.batches)


def test_a_run_stops_at_a_sequence_gap(buffer: ReadingBuffer) -> None:
    buffer.append(samples(10))
    buffer.ack(3, 5)
    assert [r.seq for r in contiguous_run(buffer.pending(100))] == [0, 1, 2]
    assert [r.seq for r in contiguous_run(buffer.pending(100, newest_first=True), newest_first=True)] == [6, 7, 8, 9]


async def test_batches_across_an_acked_hole_stay_contiguous(buffer: ReadingBuffer, make_uploader: MakeUploader) -> None:
    buffer.append(samples(10))
    buffer.ack(3, 5)  # e.g. acknowledged by an earlier newest-first drain
    hub = FakeHub()
    await make_uploader(hub).drain()
    assert sent_batches(hub) == [(0, 2), (6, 9)]


async def test_lost_ack_resends_the_same_range_and_the_hub_stores_it_once(
    buffer: ReadingBuffer, make_uploader: MakeUploader
) -> None:
    buffer.append(samples(4))
    hub = FakeHub()
    hub.faults = ["lost_ack"]
    uploader = make_uploader(hub)
    assert await uploader.send_next() is Step.BACKOFF
    assert buffer.stats().depth == 4, "no ack arrived, so nothing may be marked synced"
    assert len(hub.rows) == 4
    assert await uploader.send_next() is Step.SENT
    assert sent_batches(hub) == [(0, 3), (0, 3)]
    assert hub.batches[0].content_hash == hub.batches[1].content_hash
    assert buffer.stats().depth == 0
    assert len(hub.rows) == 4
    assert not hub.conflicts


async def test_an_ack_for_another_range_is_not_applied(buffer: ReadingBuffer, make_uploader: MakeUploader) -> None:
    buffer.append(samples(4))
    hub = FakeHub()
    hub.faults = ["wrong_ack"]
    uploader = make_uploader(hub)
    assert await uploader.send_next() is Step.BLOCKED
    assert buffer.stats().depth == 4
    assert uploader.state is SyncState.BLOCKED
    assert "does not match the batch" in (uploader.last_error or "")


async def test_413_halves_the_batch_until_the_hub_takes_it(buffer: ReadingBuffer, make_uploader: MakeUploader) -> None:
    buffer.append(samples(40))
    hub = FakeHub(max_readings=7)
    uploader = make_uploader(hub, batch_max_readings=40)
    summary = await uploader.drain()
    assert summary.backlog == 0
    assert hub.answers[413] == 3  # 40 -> 20 -> 10 -> 5
    assert uploader.batch_limit == 5
    assert sorted(hub.by_seq()) == list(range(40))


async def test_413_for_a_single_reading_blocks(buffer: ReadingBuffer, make_uploader: MakeUploader) -> None:
    buffer.append(samples(1))
    hub = FakeHub()
    hub.faults = ["413"]
    uploader = make_uploader(hub)
    assert await uploader.send_next() is Step.BLOCKED
    assert buffer.stats().depth == 1


async def test_415_falls_back_to_identity(buffer: ReadingBuffer, make_uploader: MakeUploader) -> None:
    buffer.append(samples(3))
    hub = FakeHub(encodings=("identity",))
    uploader = make_uploader(hub, encoding="zstd")
    assert await uploader.send_next() is Step.RETRY
    assert uploader.encoding is ContentEncoding.IDENTITY
    assert await uploader.send_next() is Step.SENT
    assert [r.headers.get("content-encoding") for r in hub.requests] == ["zstd", None]


@pytest.mark.parametrize("encoding", ["zstd", "gzip", "identity"])
async def test_each_encoding_is_labelled_and_decodes(
    buffer: ReadingBuffer, make_uploader: MakeUploader, encoding: str
) -> None:
    buffer.append(samples(50))
    hub = FakeHub()
    await make_uploader(hub, encoding=encoding).drain()
    request = hub.requests[0]
    label = request.headers.get("content-encoding", "identity")
    assert label == encoding
    batch = decode_agent_message(decompress(request.content, ContentEncoding(label), max_size=1 << 20))
    assert isinstance(batch, ReadingBatch)
    assert request.headers["content-type"] == "application/msgpack"
    assert request.headers["authorization"] == "Bearer lak_test-key"


@pytest.mark.parametrize(
    ("hub", "expected"),
    [
        (FakeHub(key="lak_other"), "401"),
        (FakeHub(site_id="elsewhere"), "403"),
    ],
)
async def test_a_4xx_blocks_with_the_problem_detail(
    buffer: ReadingBuffer, key_file: Path, hub: FakeHub, expected: str
) -> None:
    buffer.append(samples(3))
    uploader = Uploader(
        sync_settings(key_file, backoff_max_s=42),
        buffer,
        agent_id="agent-1",
        site_id="site-1",
        transport=hub.transport(),
    )
    try:
        assert await uploader.send_next() is Step.BLOCKED
    finally:
        await uploader.aclose()
    progress = uploader.progress()
    assert progress.state is SyncState.BLOCKED
    assert progress.last_error is not None
    assert progress.last_error.startswith(f"hub answered {expected}")
    assert progress.retry_in_s == 42
    assert buffer.stats().depth == 3


async def test_409_when_history_was_rewritten_blocks(buffer: ReadingBuffer, make_uploader: MakeUploader) -> None:
    buffer.append(samples(3))
    hub = FakeHub()
    hub.ledger[(0, 2)] = "sha256:" + "0" * 64
    uploader = make_uploader(hub)
    assert await uploader.send_next() is Step.BLOCKED
    assert "409" in (uploader.last_error or "")
    assert buffer.stats().depth == 3


@pytest.mark.parametrize("fault", ["5xx", "down", "timeout"])
async def test_5xx_and_network_errors_back_off_and_recover(
    buffer: ReadingBuffer, make_uploader: MakeUploader, fault: str
) -> None:
    buffer.append(samples(3))
    hub = FakeHub()
    hub.faults = [fault, fault, fault]  # type: ignore[list-item]
    uploader = make_uploader(hub, backoff_initial_s=1, backoff_max_s=3)
    delays = []
    for _ in range(3):
        assert await uploader.send_next() is Step.BACKOFF
        assert uploader.state is SyncState.BACKOFF
        delays.append(uploader.retry_in_s)
    assert delays == [1, 2, 3]  # uniform() == 1.0: the ceiling of each full-jitter window, capped
    assert buffer.stats().depth == 3
    assert await uploader.send_next() is Step.SENT
    assert uploader.retry_in_s is None
    assert uploader.last_error is not None  # kept for the operator


def test_full_jitter_draws_from_zero_to_the_doubling_ceiling() -> None:
    draws = iter([0.5, 0.0, 1.0, 0.25, 0.9])
    backoff = Backoff(1.0, 10.0, uniform=lambda: next(draws))
    assert [backoff.next_delay() for _ in range(5)] == [0.5, 0.0, 4.0, 2.0, 9.0]
    backoff.reset()
    assert backoff.ceiling() == 1.0


def test_drain_limiter_is_a_token_bucket() -> None:
    now = [0.0]
    limiter = DrainLimiter(100.0, 200.0, monotonic=lambda: now[0])
    assert limiter.reserve(200) == 0.0  # the saved-up burst
    assert limiter.reserve(50) == 0.5  # 50 readings at 100/s
    now[0] = 0.5
    assert limiter.reserve(100) == 1.0
    now[0] = 100.0
    assert limiter.reserve(150) == 0.0  # refilled, capped at the burst


async def test_batch_bytes_bound_the_msgpack(buffer: ReadingBuffer, make_uploader: MakeUploader) -> None:
    buffer.append(samples(300))
    hub = FakeHub()
    await make_uploader(hub, batch_max_bytes=4096, encoding="identity").drain()
    assert len(hub.batches) > 1
    assert all(len(r.content) <= 4096 for r in hub.requests)
    assert sorted(hub.by_seq()) == list(range(300))


async def test_missing_key_file_waits_then_starts(buffer: ReadingBuffer, tmp_path: Path) -> None:
    buffer.append(samples(2))
    hub = FakeHub()
    key_file = tmp_path / "later.key"
    uploader = Uploader(
        sync_settings(key_file), buffer, agent_id="agent-1", site_id="site-1", transport=hub.transport()
    )
    try:
        assert uploader.state is SyncState.WAITING_FOR_KEY
        assert await uploader.send_next() is Step.NO_KEY
        assert not hub.requests
        key_file.write_text("", encoding="utf-8")  # created, not yet written
        assert await uploader.send_next() is Step.NO_KEY
        assert "empty" in (uploader.last_error or "")
        key_file.write_text("lak_test-key", encoding="utf-8")
        assert await uploader.send_next() is Step.SENT
    finally:
        await uploader.aclose()


@pytest.mark.parametrize(("content", "problem"), [(b"  \n", "is empty"), (b"\xff\xfe", "cannot read")])
def test_empty_or_unreadable_key_file_is_a_startup_error(
    buffer: ReadingBuffer, tmp_path: Path, content: bytes, problem: str
) -> None:
    key_file = tmp_path / "agent.key"
    key_file.write_bytes(content)
    with pytest.raises(KeyFileError, match=problem) as caught:
        Uploader(sync_settings(key_file), buffer, agent_id="agent-1", site_id="site-1")
    assert str(key_file) in str(caught.value)


def test_a_directory_as_key_file_is_a_startup_error(buffer: ReadingBuffer, tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read"):
        Uploader(sync_settings(tmp_path), buffer, agent_id="agent-1", site_id="site-1")


async def test_run_reports_status_and_uploads_until_stopped(buffer: ReadingBuffer, make_uploader: MakeUploader) -> None:
    buffer.append(samples(30))
    hub = FakeHub()
    uploader = make_uploader(hub, interval_s=0.01, status_interval_s=0.01, batch_max_readings=10)
    task = asyncio.create_task(uploader.run())
    for _ in range(1000):
        if len(hub.statuses) >= 2 and buffer.stats().depth == 0:
            break
        await asyncio.sleep(0.01)
    uploader.stop()
    await asyncio.wait_for(task, 5)
    assert buffer.stats().depth == 0
    assert len(hub.statuses) >= 2
    first, last = hub.statuses[0], hub.statuses[-1]
    assert (first.agent_id, first.site_id) == ("agent-1", "site-1")
    assert last.backlog == 0
    assert last.last_acked_seq == 29
    progress = uploader.progress()
    assert progress.throughput == pytest.approx(30 / 60)
    assert progress.hub_clock_offset_s is not None
    assert abs(progress.hub_clock_offset_s) < 5


def put_key(key_file: Path, key: str) -> None:
    key_file.write_text(key + "\n", encoding="utf-8")


async def test_after_a_401_the_key_file_is_read_again(
    buffer: ReadingBuffer, make_uploader: MakeUploader, key_file: Path
) -> None:
    buffer.append(samples(3))
    hub = FakeHub(key="lak_rotated")
    uploader = make_uploader(hub)
    assert await uploader.send_next() is Step.BLOCKED
    assert await uploader.send_next() is Step.BLOCKED
    put_key(key_file, "lak_rotated")  # the operator puts the right key in place
    assert await uploader.send_next() is Step.SENT
    assert [r.headers["authorization"] for r in hub.requests] == [
        "Bearer lak_test-key",
        "Bearer lak_test-key",
        "Bearer lak_rotated",
    ]


async def test_a_failing_buffer_backs_off_instead_of_ending_the_loop(
    buffer: ReadingBuffer, make_uploader: MakeUploader, monkeypatch: pytest.MonkeyPatch
) -> None:
    buffer.append(samples(3))
    hub = FakeHub()
    uploader = make_uploader(hub, backoff_initial_s=0.01, backoff_max_s=0.01)
    failures = iter([StorageError("disk I/O error")])

    def pending(limit: int, *, newest_first: bool = False) -> list[Reading]:
        for failure in failures:
            raise failure
        return ReadingBuffer.pending(buffer, limit, newest_first=newest_first)

    monkeypatch.setattr(buffer, "pending", pending)
    task = asyncio.create_task(uploader.run())
    for _ in range(500):
        if buffer.stats().depth == 0:
            break
        await asyncio.sleep(0.01)
    uploader.stop()
    await asyncio.wait_for(task, 5)
    assert buffer.stats().depth == 0
    assert uploader.last_error == "buffer: disk I/O error"


# -- a refused reading never blocks the queue (issue 16) --------------------------------------------------------------


def poisoned(count: int, bad: set[int]) -> list[Sample]:
    """``count`` readings; those at the offsets in ``bad`` carry a meter id the wire schema refuses."""
    return [
        Sample(
            meter_id="-evil" if i in bad else "main",
            metric="power_w",
            ts=T0 + timedelta(seconds=i),
            value=1.0,
            unit="W",
        )
        for i in range(count)
    ]


async def test_a_batch_refused_for_one_reading_is_split_the_reading_quarantined_and_the_rest_delivered(
    buffer: ReadingBuffer, make_uploader: MakeUploader
) -> None:
    """Issue 16: a reading with meter id ``-evil`` made the hub answer 400, and the agent retried it forever."""
    buffer.append(poisoned(1000, {437}))
    hub = FakeHub()
    uploader = make_uploader(hub, batch_max_readings=1000)
    summary = await uploader.drain()
    assert summary.backlog == 0
    assert summary.state is SyncState.IDLE
    assert sorted(hub.by_seq()) == [seq for seq in range(1000) if seq != 437]
    (quarantined,) = buffer.quarantined()
    assert quarantined.reading.seq == 437
    assert quarantined.reading.meter_id == "-evil"
    assert "hub answered 400" in quarantined.reason
    assert "meter_id" in quarantined.reason
    assert buffer.stats().quarantined == 1
    assert hub.answers[400] == 10  # 1000, 500, 250, 125, 63, 31, 15, 7, 3, 1: one refusal per halving
    assert hub.answers[200] <= 11


async def test_the_next_status_report_tells_the_hub_which_seqs_are_quarantined_once(
    buffer: ReadingBuffer, make_uploader: MakeUploader
) -> None:
    buffer.append(poisoned(6, {1, 4}))
    hub = FakeHub()
    uploader = make_uploader(hub)
    await uploader.drain()
    assert await uploader.send_status()
    assert await uploader.send_status()
    reported = [[(q.seq, "meter_id" in q.reason) for q in status.quarantined] for status in hub.statuses]
    assert reported == [[(4, True), (1, True)], []]
    assert all(q.reported for q in buffer.quarantined())


async def test_a_hub_that_refuses_the_message_version_blocks_instead_of_quarantining(
    buffer: ReadingBuffer, make_uploader: MakeUploader
) -> None:
    buffer.append(samples(8))
    hub = FakeHub()
    hub.faults = ["unsupported_version"] * 20
    uploader = make_uploader(hub)
    assert await uploader.send_next() is Step.BLOCKED
    assert buffer.stats().depth == 8
    assert buffer.quarantined() == []


@given(
    count=st.integers(1, 120),
    bad=st.sets(st.integers(0, 119), max_size=8),
    batch_max=st.integers(1, 64),
    order=st.sampled_from(["oldest_first", "newest_first"]),
)
@settings(max_examples=40, deadline=None)
def test_any_refused_readings_are_quarantined_exactly_and_everything_else_delivered_once(
    tmp_path_factory: pytest.TempPathFactory, count: int, bad: set[int], batch_max: int, order: str
) -> None:
    bad = {seq for seq in bad if seq < count}
    buffer = ReadingBuffer(tmp_path_factory.mktemp("q") / "buffer.sqlite3", synchronous="off")
    buffer.append(poisoned(count, bad))
    key = tmp_path_factory.mktemp("k") / "agent.key"
    key.write_text("lak_test-key", encoding="utf-8")
    hub = FakeHub()
    uploader = Uploader(
        sync_settings(key, batch_max_readings=batch_max, order=order),
        buffer,
        agent_id=hub.agent_id,
        site_id=hub.site_id,
        transport=hub.transport(),
    )

    async def run() -> None:
        try:
            summary = await uploader.drain()
            assert summary.backlog == 0
            assert await uploader.send_status()
        finally:
            await uploader.aclose()

    try:
        asyncio.run(run())
        assert sorted(hub.by_seq()) == sorted(set(range(count)) - bad)
        assert {q.reading.seq for q in buffer.quarantined(1000)} == bad
        assert {q.seq for q in hub.statuses[-1].quarantined} == bad
        assert not hub.conflicts
    finally:
        buffer.close()


async def test_a_second_running_copy_stops_syncing_and_says_so(
    buffer: ReadingBuffer, make_uploader: MakeUploader
) -> None:
    """Issue 16: on 409 duplicate-instance the agent stops syncing (readings stay buffered) instead of retrying."""
    buffer.append(samples(5))
    hub = FakeHub()
    hub.faults = ["duplicate_instance"]
    uploader = make_uploader(hub)
    assert await uploader.send_next() is Step.STOPPED
    assert uploader.progress().state is SyncState.STOPPED
    assert "already running as instance" in (uploader.last_error or "")
    assert await uploader.send_next() is Step.STOPPED  # nothing more is sent
    assert len(hub.requests) == 1
    assert buffer.stats().depth == 5
    await asyncio.wait_for(uploader.run(), 5)  # run() returns at once


async def test_batches_and_status_carry_the_buffers_instance_id(
    buffer: ReadingBuffer, make_uploader: MakeUploader
) -> None:
    buffer.append(samples(2))
    hub = FakeHub()
    uploader = make_uploader(hub)
    await uploader.drain()
    assert await uploader.send_status()
    assert hub.batches[0].instance_id == hub.statuses[0].instance_id == buffer.instance_id
    assert len(buffer.instance_id) == 16
    reopened = ReadingBuffer(buffer.path)
    assert reopened.instance_id == buffer.instance_id  # a restart is the same instance
    reopened.close()
