"""The uploader: readings leave the buffer only as batches the hub has acknowledged.

One step (:meth:`Uploader.send_next`) takes the next contiguous run of unacknowledged
readings (oldest or newest end first), sends it as one ``readings.v1`` batch and marks it
synced only after a :class:`~luna_shared.wire.BatchAck` for exactly that agent and range.
A lost answer leaves the run unacknowledged, so it is sent again; the hub recognises the
replay. The uploader never deletes a reading: only the buffer's overflow policy does.

How it reacts to the hub (the sync contract): 2xx with a matching ack -> acknowledge; 413 ->
halve the batch and retry at once; 415 -> send uncompressed; 400 or 422 (the batch is malformed
or unprocessable; not an unsupported message version) -> split it: the first half of the refused
range is sent on its own, and so on, until the hub refuses a single reading, which goes to the
buffer's quarantine with the hub's reason while the rest is delivered (a bad reading costs about
2 log2(n) requests and never blocks the queue); other 4xx or a wrong ack -> ``blocked``, retried
after ``backoff_max_s`` (after a 401 the key file is read again); 5xx, timeouts and connection
errors -> exponential back-off with full jitter. A token bucket bounds the drain rate.
Quarantined sequence numbers go to the hub with the next status report (``status.v1``
``quarantined``), so its ledger shows them as quarantined rather than lost.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

import httpx

from luna_agent import __version__
from luna_agent.errors import KeyFileError, StorageError
from luna_agent.sync.batches import contiguous_run, sized_batch
from luna_agent.sync.pacing import Backoff, DrainLimiter
from luna_agent.sync.settings import SyncSettings
from luna_agent.sync.state import DrainSummary, Step, SyncProgress, SyncState
from luna_shared.codec import WireFormat, decode_hub_message, encode
from luna_shared.compression import ContentEncoding, available_encodings, compress
from luna_shared.errors import ConfigError, WireError
from luna_shared.errors import KeyFileError as SharedKeyFileError
from luna_shared.keyfile import read_key
from luna_shared.logs import get_logger
from luna_shared.wire import AgentStatus, DeviceStatus, QuarantinedSeq, ReadingBatch, utc_ms

if TYPE_CHECKING:
    from luna_agent.buffer import ReadingBuffer
    from luna_shared.wire import Reading

__all__ = ["BatchCounter", "Uploader", "hub_tls_context", "read_agent_key"]

_log = get_logger(__name__)
_THROUGHPUT_WINDOW_S: Final = 60.0
_DETAIL_MAX: Final = 300
_SPLITTABLE: Final = frozenset({httpx.codes.BAD_REQUEST, httpx.codes.UNPROCESSABLE_ENTITY})
"""Refusals that may be about single readings: split the batch to find them."""
_UNSPLITTABLE_TYPES: Final = ("unsupported-version",)
"""Problem types (their last path segment) that refuse every batch alike: splitting would quarantine everything."""
_REPORT_QUARANTINE_MAX: Final = 500
_DUPLICATE_INSTANCE: Final = "duplicate-instance"


class BatchCounter(Protocol):
    """Where the uploader counts batch attempts (the agent's metrics)."""

    def count_batch(self, result: str, readings: int = 0) -> None:
        """Count one attempt with its ``result``; ``readings`` acknowledged by it."""


StatusParts = Callable[[], tuple[bool, tuple[DeviceStatus, ...]]]
"""Returns whether the clock is trusted and the devices' health, for ``status.v1``."""


def read_agent_key(path: Path) -> str | None:
    """Read the key like :func:`luna_shared.keyfile.read_key`, raising the agent's :class:`KeyFileError`."""
    try:
        return read_key(path)
    except SharedKeyFileError as exc:
        raise KeyFileError(str(exc)) from exc


def _no_devices() -> tuple[bool, tuple[DeviceStatus, ...]]:
    return True, ()


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Uploader:
    """Forwards the buffer's readings to the hub; see the module docstring."""

    def __init__(  # noqa: PLR0913 - identity, buffer, and the seams tests replace
        self,
        settings: SyncSettings,
        buffer: ReadingBuffer,
        *,
        agent_id: str,
        site_id: str,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: BatchCounter | None = None,
        describe: StatusParts = _no_devices,
        uniform: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        """Read the key file now: an empty or unreadable one raises :class:`KeyFileError` (a start-up error)."""
        self.settings = settings
        self.buffer = buffer
        self.agent_id = agent_id
        self.site_id = site_id
        self.key_path = Path(settings.key_file)
        self._key = read_agent_key(self.key_path)
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._metrics = metrics
        self._describe = describe
        self._monotonic = monotonic
        self._now = now
        self.started_at = now()
        self._backoff = Backoff(settings.backoff_initial_s, settings.backoff_max_s, uniform=uniform)
        burst = max(float(settings.batch_max_readings), settings.drain_rate)
        self._limiter = DrainLimiter(settings.drain_rate, burst, monotonic=monotonic)
        wanted = ContentEncoding(settings.encoding)
        self.encoding = wanted if wanted in available_encodings() else ContentEncoding.GZIP
        self.batch_limit = settings.batch_max_readings
        self.state = SyncState.IDLE if self._key else SyncState.WAITING_FOR_KEY
        self.last_ack_at: datetime | None = None
        self.last_acked_seq: int | None = None
        self.last_error: str | None = None
        self.hub_clock_offset_s: float | None = None
        self.retry_in_s: float | None = None
        self.readings_sent = 0
        self.batches_sent = 0
        self.readings_quarantined = 0
        self._isolating: tuple[int, int] | None = None
        """The refused range being split, and below the size of its next piece."""
        self._isolate_limit = 0
        self._acked: deque[tuple[float, int]] = deque()
        self._stopping = asyncio.Event()
        self._failing: str | None = None
        if self._key is None:
            _log.warning("agent key file not found; sync waits for it", key_file=str(self.key_path))

    # -- one step ------------------------------------------------------------------------------

    async def send_next(self) -> Step:  # noqa: PLR0911 - one return per outcome
        """Send the next batch and act on the answer; see :class:`Step`."""
        if self.state is SyncState.STOPPED:
            return Step.STOPPED
        key = self._current_key()
        if key is None:
            self.state = SyncState.WAITING_FOR_KEY
            return Step.NO_KEY
        newest_first = self.settings.order == "newest_first"
        run = self._isolated_run(newest_first)
        if run is None:
            pending = self.buffer.pending(self.batch_limit, newest_first=newest_first)
            run = contiguous_run(pending, newest_first=newest_first)
        if not run:
            if self.state is SyncState.SENDING:
                self.state = SyncState.IDLE
            return Step.EMPTY
        wait = self._limiter.reserve(len(run))
        if wait > 0:
            await self._pause(wait)
        if self._stopping.is_set():
            return Step.STOPPED
        sent_wall = self._now()
        batch, body = sized_batch(
            self.agent_id,
            self.site_id,
            run,
            sent_wall,
            max_bytes=self.settings.batch_max_bytes,
            keep_newest=newest_first,
            instance_id=self.buffer.instance_id,
        )
        self.state = SyncState.SENDING
        encoding = self.encoding
        try:
            response = await self._post(compress(body, encoding), key, encoding)
        except httpx.RequestError as exc:
            return self._unavailable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, "network")
        if httpx.codes.is_success(response.status_code):
            return self._on_ack(batch, response, sent_wall + (self._now() - sent_wall) / 2)
        return self._on_refusal(batch, response, encoding)

    def _isolated_run(self, newest_first: bool) -> list[Reading] | None:
        """Return the next piece of a refused range being split, or ``None`` when none waits (any more)."""
        if self._isolating is None:
            return None
        first, last = self._isolating
        pending = self.buffer.pending(self._isolate_limit, newest_first=newest_first, first_seq=first, last_seq=last)
        run = contiguous_run(pending, newest_first=newest_first)
        if not run:
            self._isolating = None
            return None
        return run

    async def _post(self, content: bytes, key: str, encoding: ContentEncoding) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": WireFormat.MSGPACK.value}
        if encoding is not ContentEncoding.IDENTITY:
            headers["Content-Encoding"] = encoding.value
        if self._client is None:
            verify = hub_tls_context(self.settings.ca_file)
            self._client = httpx.AsyncClient(transport=self._transport, timeout=self.settings.timeout_s, verify=verify)
        return await self._client.post(self.settings.ingest_url, content=content, headers=headers)

    def _on_ack(self, batch: ReadingBatch, response: httpx.Response, midpoint: datetime) -> Step:
        try:
            fmt = WireFormat(response.headers.get("content-type", "").split(";")[0].strip().lower())
            ack = decode_hub_message(response.content, fmt)
        except (ValueError, WireError) as exc:
            return self._blocked(f"hub answered {response.status_code} without a readable ack: {exc}")
        if (ack.agent_id, ack.first_seq, ack.last_seq) != (batch.agent_id, batch.first_seq, batch.last_seq):
            return self._blocked(
                f"ack for {ack.agent_id} {ack.first_seq}..{ack.last_seq} does not match the batch "
                f"{batch.agent_id} {batch.first_seq}..{batch.last_seq}"
            )
        self.buffer.ack(batch.first_seq, batch.last_seq)
        count = len(batch.readings)
        self.readings_sent += count
        self.batches_sent += 1
        self.last_ack_at = self._now()
        self.last_acked_seq = batch.last_seq
        self.hub_clock_offset_s = (ack.received_at - midpoint).total_seconds()
        self._acked.append((self._monotonic(), count))
        self._count("acked", count)
        self._backoff.reset()
        self.retry_in_s = None
        if self._failing is not None:
            _log.info("hub accepts batches again", previous_error=self.last_error)
            self._failing = None
        self.state = SyncState.IDLE
        return Step.SENT

    def _on_refusal(self, batch: ReadingBatch, response: httpx.Response, encoding: ContentEncoding) -> Step:
        status = response.status_code
        detail = _problem_detail(response)
        if status == httpx.codes.REQUEST_ENTITY_TOO_LARGE and len(batch.readings) > 1:
            self.batch_limit = max(1, len(batch.readings) // 2)
            self._count("too_large")
            _log.info("hub: batch too large, halving", readings=len(batch.readings), limit=self.batch_limit)
            return Step.RETRY
        if status == httpx.codes.UNSUPPORTED_MEDIA_TYPE and encoding is not ContentEncoding.IDENTITY:
            self.encoding = ContentEncoding.IDENTITY
            self._count("unsupported_encoding")
            _log.warning("hub refuses the encoding; sending uncompressed", encoding=encoding.value, detail=detail)
            return Step.RETRY
        if status == httpx.codes.CONFLICT and _problem_type(response).endswith(_DUPLICATE_INSTANCE):
            return self._stop_duplicate(f"hub answered {status}: {detail}")
        if status in _SPLITTABLE and not _problem_type(response).endswith(_UNSPLITTABLE_TYPES):
            return self._split(batch, f"hub answered {status}: {detail}")
        if httpx.codes.is_server_error(status):
            return self._unavailable(f"hub answered {status}: {detail}", "server_error")
        if status == httpx.codes.UNAUTHORIZED:
            self._key = None  # read the file again before the next attempt: the operator may replace the key
        return self._blocked(f"hub answered {status}: {detail}")

    def _stop_duplicate(self, error: str) -> Step:
        """Another running agent has this agent id: stop syncing (readings stay buffered) and say so, once."""
        self.state = SyncState.STOPPED
        self.retry_in_s = None
        self.last_error = error
        self._count("duplicate_instance")
        _log.error(
            "another agent with this agent id is running; sync STOPPED until this agent restarts"
            " (give each agent its own agent_id; readings stay in the buffer)",
            instance_id=self.buffer.instance_id,
            error=error,
        )
        self._stopping.set()
        return Step.STOPPED

    def _split(self, batch: ReadingBatch, error: str) -> Step:
        """Narrow a refused batch down to the readings the hub refuses on their own; quarantine each such one."""
        size = len(batch.readings)
        if size > 1:
            self._isolating = (batch.first_seq, batch.last_seq)
            self._isolate_limit = (size + 1) // 2
            self._count("split")
            _log.info(
                "hub refused the batch; splitting it", first_seq=batch.first_seq, last_seq=batch.last_seq, error=error
            )
            return Step.RETRY
        self._isolating = None
        reading = batch.readings[0]
        if self.buffer.quarantine(reading.seq, error, self._now()):
            self.readings_quarantined += 1
            self._count("quarantined")
            _log.warning(
                "hub refused a reading; quarantined, the rest goes on",
                seq=reading.seq,
                meter_id=reading.meter_id,
                metric=reading.metric,
                ts=reading.ts.isoformat(),
                error=error,
            )
        return Step.RETRY

    def _unavailable(self, error: str, result: str) -> Step:
        self.retry_in_s = self._backoff.next_delay()
        self.state = SyncState.BACKOFF
        self._fail(error, result, blocked=False)
        return Step.BACKOFF

    def _blocked(self, error: str) -> Step:
        self.retry_in_s = self.settings.backoff_max_s
        self.state = SyncState.BLOCKED
        self._fail(error, "rejected", blocked=True)
        return Step.BLOCKED

    def _fail(self, error: str, result: str, *, blocked: bool) -> None:
        self._count(result)
        self.last_error = error
        if self._failing != error:  # once when it starts (or changes), not on every retry
            log = _log.error if blocked else _log.warning
            log("hub refused the batch; blocked" if blocked else "hub unavailable; backing off", error=error)
            self._failing = error

    def _count(self, result: str, readings: int = 0) -> None:
        if self._metrics is not None:
            self._metrics.count_batch(result, readings)

    def _current_key(self) -> str | None:
        if self._key is None:
            try:
                self._key = read_agent_key(self.key_path)
            except KeyFileError as exc:  # appeared but not yet written: keep waiting, say why
                self.last_error = str(exc)
                return None
            if self._key is not None and self.state is SyncState.WAITING_FOR_KEY:
                _log.info("agent key file found; sync starts", key_file=str(self.key_path))
                self.state = SyncState.IDLE
        return self._key

    # -- status --------------------------------------------------------------------------------

    async def send_status(self) -> bool:
        """Report backlog, clock and devices to the hub (``status.v1``); ``True`` when it took it."""
        key = self._current_key()
        if key is None:
            return False
        stats = self.buffer.stats()
        clock_trusted, devices = self._describe()
        message = AgentStatus(
            agent_id=self.agent_id,
            site_id=self.site_id,
            version=__version__,
            sent_at=utc_ms(self._now()),
            started_at=utc_ms(self.started_at),
            clock_trusted=clock_trusted,
            backlog=stats.depth,
            oldest_unsynced_at=utc_ms(stats.oldest_unsynced_at) if stats.oldest_unsynced_at else None,
            last_acked_seq=self.last_acked_seq,
            last_ack_at=utc_ms(self.last_ack_at) if self.last_ack_at else None,
            devices=devices,
            instance_id=self.buffer.instance_id,
            quarantined=tuple(
                QuarantinedSeq(seq=q.reading.seq, reason=q.reason[:500])
                for q in self.buffer.quarantined(_REPORT_QUARANTINE_MAX, unreported=True)
            ),
        )
        try:
            response = await self._post(compress(encode(message), self.encoding), key, self.encoding)
        except httpx.RequestError as exc:
            _log.debug("status report not delivered", error=str(exc) or type(exc).__name__)
            return False
        if response.status_code == httpx.codes.CONFLICT and _problem_type(response).endswith(_DUPLICATE_INSTANCE):
            self._stop_duplicate(f"hub answered 409: {_problem_detail(response)}")
            return False
        if not httpx.codes.is_success(response.status_code):
            _log.debug("status report refused", status=response.status_code, detail=_problem_detail(response))
            return False
        if message.quarantined:
            self.buffer.mark_reported([q.seq for q in message.quarantined])
        return True

    def progress(self) -> SyncProgress:
        """Return the uploader's state for ``/status`` and ``/metrics``."""
        horizon = self._monotonic() - _THROUGHPUT_WINDOW_S
        while self._acked and self._acked[0][0] < horizon:
            self._acked.popleft()
        return SyncProgress(
            state=self.state,
            last_ack_at=self.last_ack_at,
            last_acked_seq=self.last_acked_seq,
            last_error=self.last_error,
            throughput=sum(count for _, count in self._acked) / _THROUGHPUT_WINDOW_S,
            hub_clock_offset_s=self.hub_clock_offset_s,
            readings_sent=self.readings_sent,
            batches_sent=self.batches_sent,
            batch_limit=self.batch_limit,
            encoding=self.encoding.value,
            retry_in_s=self.retry_in_s,
        )

    # -- loops ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Upload until :meth:`stop`: batches back to back while there is a backlog, status every so often."""
        next_status = next_attempt = self._monotonic()
        while not self._stopping.is_set():
            now = self._monotonic()
            if now >= next_status:
                await self.send_status()
                next_status = self._monotonic() + self.settings.status_interval_s
            if now >= next_attempt:
                try:
                    step = await self.send_next()
                except StorageError as exc:  # the buffer failed (disk full, I/O): keep trying, never die silently
                    step = self._unavailable(f"buffer: {exc}", "storage_error")
                next_attempt = self._monotonic() + self._delay_after(step)
            await self._pause(min(next_attempt, next_status) - self._monotonic())

    async def drain(self) -> DrainSummary:
        """Send batches until the backlog is empty or the hub fails or refuses one (``sync --once``)."""
        readings, batches = self.readings_sent, self.batches_sent
        step = Step.RETRY
        while step in {Step.SENT, Step.RETRY}:
            step = await self.send_next()
        return DrainSummary(
            readings=self.readings_sent - readings,
            batches=self.batches_sent - batches,
            backlog=self.buffer.recount(),
            state=self.state,
            last_error=self.last_error,
            complete=step is Step.EMPTY,
        )

    def _delay_after(self, step: Step) -> float:
        match step:
            case Step.SENT | Step.RETRY | Step.STOPPED:
                return 0.0
            case Step.EMPTY | Step.NO_KEY:
                return self.settings.interval_s
            case Step.BACKOFF | Step.BLOCKED:
                return self.retry_in_s or 0.0

    async def _pause(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return

    def stop(self) -> None:
        """Ask :meth:`run` (and any pause) to return; the batch in flight, if any, finishes first."""
        self._stopping.set()

    async def aclose(self) -> None:
        """Close the HTTP client (idempotent)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _problem_type(response: httpx.Response) -> str:
    """Return the problem's ``type`` (RFC 9457), or ``""``."""
    try:
        problem = response.json()
    except ValueError:
        return ""
    kind = problem.get("type") if isinstance(problem, dict) else None
    return kind if isinstance(kind, str) else ""


def _problem_detail(response: httpx.Response) -> str:
    """Return the problem's title and detail (RFC 9457), or the start of the body."""
    try:
        problem = response.json()
    except ValueError:
        return response.text[:_DETAIL_MAX] or response.reason_phrase
    if not isinstance(problem, dict):
        return str(problem)[:_DETAIL_MAX]
    parts = [str(problem[name]) for name in ("title", "detail") if problem.get(name)]
    return (": ".join(parts) or str(problem))[:_DETAIL_MAX]


def hub_tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Return how the hub's certificate is verified: against ``ca_file``, else the system's CAs (never skipped).

    A CA file that is missing, unreadable or holds no PEM certificate is a :class:`ConfigError` naming it
    (``luna-agent run`` checks this at start, not at the first batch).
    """
    try:
        return ssl.create_default_context(cafile=ca_file)
    except ssl.SSLError as exc:
        problem = f"{ca_file} holds no PEM certificate ({exc.reason or exc})"
        raise ConfigError("LUNA_SYNC__CA_FILE", "sync.ca_file", problem) from exc
    except OSError as exc:
        problem = f"cannot read CA file {ca_file}: {exc.strerror or exc}"
        raise ConfigError("LUNA_SYNC__CA_FILE", "sync.ca_file", problem) from exc
