"""What the uploader reports about itself: its state, the outcome of a step, its progress, a drain's summary."""

from __future__ import annotations

import enum
from datetime import datetime

import msgspec

__all__ = ["DrainSummary", "Step", "SyncProgress", "SyncState"]


class SyncState(enum.StrEnum):
    """What the uploader is doing, as ``/status`` shows it."""

    IDLE = "idle"
    SENDING = "sending"
    BACKOFF = "backoff"
    BLOCKED = "blocked"
    WAITING_FOR_KEY = "waiting_for_key"
    DISABLED = "disabled"
    STOPPED = "stopped"
    """The hub saw another running agent with this id (409 duplicate-instance): sync stays off until a restart."""


class Step(enum.StrEnum):
    """The outcome of one :meth:`Uploader.send_next`."""

    SENT = "sent"
    """A batch was acknowledged."""
    EMPTY = "empty"
    """Nothing is waiting."""
    RETRY = "retry"
    """The hub asked for a smaller or uncompressed batch: try again at once."""
    BACKOFF = "backoff"
    BLOCKED = "blocked"
    NO_KEY = "no_key"
    STOPPED = "stopped"


class SyncProgress(msgspec.Struct, frozen=True, kw_only=True):
    """The uploader's own state (the backlog itself is the buffer's)."""

    state: SyncState
    last_ack_at: datetime | None
    last_acked_seq: int | None
    last_error: str | None
    throughput: float
    """Readings acknowledged per second over the last minute."""
    hub_clock_offset_s: float | None
    """Hub clock minus agent clock, from the last ack (midpoint of the request)."""
    readings_sent: int
    batches_sent: int
    batch_limit: int | None
    encoding: str | None
    retry_in_s: float | None

    @classmethod
    def disabled(cls) -> SyncProgress:
        """Return the progress of an agent without ``[sync]``."""
        return cls(
            state=SyncState.DISABLED,
            last_ack_at=None,
            last_acked_seq=None,
            last_error=None,
            throughput=0.0,
            hub_clock_offset_s=None,
            readings_sent=0,
            batches_sent=0,
            batch_limit=None,
            encoding=None,
            retry_in_s=None,
        )


class DrainSummary(msgspec.Struct, frozen=True, kw_only=True):
    """What ``luna-agent sync --once`` did."""

    readings: int
    batches: int
    backlog: int
    """Unacknowledged readings in the file at the end (a running agent beside may have added some)."""
    state: SyncState
    last_error: str | None
    complete: bool
    """The last look found nothing left to send: everything this run could deliver was delivered."""
