"""What the uploader is configured with (``[sync]``; absent means the agent does not upload)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from luna_shared.config import Seconds

__all__ = ["SyncSettings"]


class SyncSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the hub is, how the agent authenticates, and how fast and in what order it forwards readings."""

    hub_url: Annotated[str, msgspec.Meta(pattern=r"^https?://[^/\s]+(/\S*)?$")]
    """Base URL of the hub; batches go to ``{hub_url}/api/v1/ingest``."""
    key_file: str
    """File holding the agent's key (``luna-hub create-agent --key-file``); while it is missing the uploader waits."""
    ca_file: str | None = None
    """PEM file of the CA(s) that signed an ``https`` hub's certificate; unset: the system's trusted CAs."""
    interval_s: Seconds = 2.0
    """Pause between looks at the buffer once the backlog is drained."""
    batch_max_readings: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 5000
    batch_max_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 4 << 20
    """Bound on a batch's msgpack before compression (the hub also bounds the decompressed size)."""
    encoding: Literal["zstd", "gzip", "identity"] = "zstd"
    timeout_s: Seconds = 10.0
    backoff_initial_s: Seconds = 1.0
    backoff_max_s: Seconds = 60.0
    drain_rate: Annotated[float, msgspec.Meta(gt=0)] = 20_000.0
    """Readings per second at most, so a thousand sites back online do not flatten the hub."""
    order: Literal["oldest_first", "newest_first"] = "oldest_first"
    """Which end of a backlog goes first; within a batch readings are always in sequence order."""
    status_interval_s: Seconds = 60.0
    """How often the agent reports its backlog, clock and devices (``status.v1``)."""

    def __post_init__(self) -> None:
        if self.backoff_initial_s > self.backoff_max_s:
            msg = f"backoff_initial_s ({self.backoff_initial_s}) exceeds backoff_max_s ({self.backoff_max_s})"
            raise ValueError(msg)

    @property
    def ingest_url(self) -> str:
        """The hub's ingest endpoint."""
        return self.hub_url.rstrip("/") + "/api/v1/ingest"
