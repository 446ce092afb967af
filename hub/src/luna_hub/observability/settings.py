"""Settings of the observability domain: ``[metrics]`` (who may scrape, agent states) and ``[log_files]``."""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["LogFileSettings", "MetricsSettings"]


class MetricsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``GET /metrics`` (``[metrics]``)."""

    bearer_token_file: str | None = None
    """A file holding the token Prometheus sends (``authorization.credentials_file``); unset: admins only."""
    agent_stale_after_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    """An agent not heard from for this long counts as ``stale`` in ``luna_agents{state}`` ..."""
    agent_offline_after_s: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    """... and as ``offline`` after this long (or never heard from)."""

    def __post_init__(self) -> None:
        if self.agent_offline_after_s < self.agent_stale_after_s:
            msg = "agent_offline_after_s must not be below agent_stale_after_s"
            raise ValueError(msg)


class LogFileSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """JSON log lines in ``<data_dir>/logs`` (``[log_files]``), rotated and archived to the object store."""

    enabled: bool = True
    dir: str | None = None
    """Default ``<data_dir>/logs``."""
    max_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 10 * 1024 * 1024
    """The current file is rotated when a line would take it past this size ..."""
    rotate_every_s: Annotated[float, msgspec.Meta(gt=0)] = 3600.0
    """... or when it is older than this."""
    archive: bool = True
    """Copy each rotated file to the documents object store (filesystem or S3), then delete it locally."""
    archive_dir: str | None = None
    """Folder of the archive with the filesystem store; default ``<data_dir>/log-archive``."""
    archive_bucket: str = "luna-logs"
    """Bucket of the archive with ``documents.store = "s3"`` (same service and credentials as the documents)."""
    archive_every_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    retention_days: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    """Archived files older than this are deleted from the object store."""
