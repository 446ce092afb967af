"""The hub's ingest contract in memory, behind ``httpx.MockTransport``: the agent's HTTP transport seam.

Only the uploader's unit tests use it; the system tests talk to a real hub process. It keeps
what the real hub keeps: a ledger of ranges with their content hash (an exact replay is acked
without writing), and the readings under their natural key ``(meter, metric, ts)`` written with
"on conflict do nothing". Faults are queued per request: ``down`` (connection refused),
``timeout``, ``5xx``, ``413``, ``415``, ``lost_ack`` (stored and committed, then the answer is
lost), ``wrong_ack`` (an ack for another range), ``unsupported_version`` (422, as a hub that does
not speak ``readings.v1`` answers). Like the real hub it refuses a whole batch with 400 when one
reading breaks the wire schema (an invalid meter id), or when ``refuse`` names a reason for one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final, Literal

import httpx
import msgspec

from luna_shared.codec import WireFormat, decode_agent_message, encode
from luna_shared.compression import ContentEncoding, decompress
from luna_shared.errors import WireError
from luna_shared.wire import AgentStatus, BatchAck, Reading, ReadingBatch, utc_ms

__all__ = ["FakeHub", "Fault"]

Fault = Literal[
    "down", "timeout", "5xx", "413", "415", "lost_ack", "wrong_ack", "unsupported_version", "duplicate_instance"
]
NaturalKey = tuple[str, str, datetime]
_MAX_BODY: Final = 64 << 20


class FakeHub:
    """One agent's view of a hub; see the module docstring."""

    def __init__(  # noqa: PLR0913 - one keyword per behaviour of the hub
        self,
        *,
        key: str = "lak_test-key",
        agent_id: str = "agent-1",
        site_id: str = "site-1",
        encodings: tuple[str, ...] = ("zstd", "gzip", "identity"),
        max_readings: int | None = None,
        refuse: Callable[[Reading], str | None] | None = None,
    ) -> None:
        self.key = key
        self.agent_id = agent_id
        self.site_id = site_id
        self.encodings = encodings
        self.max_readings = max_readings
        self.refuse = refuse
        self.rows: dict[NaturalKey, Reading] = {}
        self.conflicts: list[tuple[Reading, Reading]] = []
        """A natural key that arrived again with other content: the agent rewrote history."""
        self.ledger: dict[tuple[int, int], str] = {}
        self.batches: list[ReadingBatch] = []
        """Every batch decoded, replays included."""
        self.statuses: list[AgentStatus] = []
        self.requests: list[httpx.Request] = []
        self.faults: list[Fault] = []
        self.answers: Counter[int] = Counter()

    def transport(self) -> httpx.MockTransport:
        """The transport to give the uploader."""
        return httpx.MockTransport(self.handle)

    def by_seq(self) -> dict[int, Reading]:
        """The stored readings by sequence number (fails on two rows with one seq)."""
        found: dict[int, Reading] = {}
        for reading in self.rows.values():
            assert reading.seq not in found, f"seq {reading.seq} stored twice"
            found[reading.seq] = reading
        return found

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as the contract says."""
        self.requests.append(request)
        fault = self.faults.pop(0) if self.faults else None
        response = self._answer(request, fault)
        self.answers[response.status_code] += 1
        return response

    def _answer(self, request: httpx.Request, fault: Fault | None) -> httpx.Response:  # noqa: C901, PLR0911 - one branch per rule of the contract
        early = _before_reading(request, fault)
        if early is not None:
            return early
        if request.headers.get("authorization") != f"Bearer {self.key}":
            return _problem(401, "unknown agent key")
        encoding = request.headers.get("content-encoding", "identity")
        if encoding not in self.encodings:
            return _problem(415, f"encoding {encoding} not supported", {"Accept-Encoding": ", ".join(self.encodings)})
        try:
            message = decode_agent_message(decompress(request.content, ContentEncoding(encoding), max_size=_MAX_BODY))
        except WireError as exc:
            return _problem(400, str(exc))
        if message.agent_id != self.agent_id or message.site_id != self.site_id:
            return _problem(403, "key belongs to another agent")
        if isinstance(message, AgentStatus):
            self.statuses.append(message)
            return httpx.Response(204)
        if self.max_readings is not None and len(message.readings) > self.max_readings:
            return _problem(413, f"more than {self.max_readings} readings")
        for index, reading in enumerate(message.readings if self.refuse is not None else ()):
            reason = self.refuse(reading) if self.refuse is not None else None
            if reason is not None:
                return _problem(400, f"{reason} - at `$.readings[{index}]`")
        ack = self._store(message)
        if ack is None:
            return _problem(409, "range already stored with other content")
        if fault == "lost_ack":
            raise httpx.ReadError("connection reset after commit", request=request)
        if fault == "wrong_ack":
            ack = msgspec.structs.replace(ack, last_seq=ack.last_seq + 1)
        return httpx.Response(200, content=encode(ack), headers={"Content-Type": WireFormat.MSGPACK.value})

    def _store(self, batch: ReadingBatch) -> BatchAck | None:
        self.batches.append(batch)
        span = (batch.first_seq, batch.last_seq)
        known = self.ledger.get(span)
        received_at = utc_ms(datetime.now(UTC))
        count = len(batch.readings)
        if known is not None:
            if known != batch.content_hash:
                return None
            return BatchAck(
                agent_id=batch.agent_id,
                first_seq=batch.first_seq,
                last_seq=batch.last_seq,
                stored=0,
                duplicates=count,
                received_at=received_at,
            )
        stored = 0
        for reading in batch.readings:
            natural = (reading.meter_id, reading.metric, reading.ts)
            present = self.rows.get(natural)
            if present is None:
                self.rows[natural] = reading
                stored += 1
            elif present != reading:
                self.conflicts.append((present, reading))
        self.ledger[span] = batch.content_hash
        return BatchAck(
            agent_id=batch.agent_id,
            first_seq=batch.first_seq,
            last_seq=batch.last_seq,
            stored=stored,
            duplicates=count - stored,
            received_at=received_at,
        )


def _before_reading(request: httpx.Request, fault: Fault | None) -> httpx.Response | None:
    match fault:
        case "down":
            raise httpx.ConnectError("connection refused", request=request)
        case "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        case "5xx":
            return _problem(503, "database unavailable")
        case "413":
            return _problem(413, "body too large")
        case "415":
            return _problem(415, "unsupported encoding", {"Accept-Encoding": "identity"})
        case "duplicate_instance":
            return _problem(
                409, "agent-1 is already running as instance 0f", kind="urn:luna-iems:problem:duplicate-instance"
            )
        case "unsupported_version":
            return _problem(422, "unknown message type 'readings.v1'", kind="urn:luna-iems:problem:unsupported-version")
        case _:
            return None


def _problem(
    status: int, detail: str, headers: dict[str, str] | None = None, kind: str = "about:blank"
) -> httpx.Response:
    body = {"type": kind, "title": httpx.codes.get_reason_phrase(status), "status": status, "detail": detail}
    return httpx.Response(status, json=body, headers={"Content-Type": "application/problem+json", **(headers or {})})
