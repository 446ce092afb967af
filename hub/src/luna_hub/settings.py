"""The hub's settings: one frozen object per process, built once by the CLI and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec

from luna_shared.config import LoadedSettings, load_settings
from luna_shared.logs import LogSettings

__all__ = ["HubSettings", "IngestSettings", "ServerSettings", "load"]

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]


class ServerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the HTTP API listens (``[server]``)."""

    host: str = "127.0.0.1"
    port: Port = 8080


class IngestSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Limits and clock handling of ``POST /api/v1/ingest``, where agents deliver batches (``[ingest]``)."""

    max_body_bytes: Annotated[int, msgspec.Meta(ge=1)] = 16 * 1024 * 1024
    """Largest request body as sent (compressed); beyond it 413."""
    max_decompressed_bytes: Annotated[int, msgspec.Meta(ge=1)] = 64 * 1024 * 1024
    """Largest body once decompressed; beyond it 413 (checked before inflating where the format allows)."""
    future_tolerance_s: Annotated[float, msgspec.Meta(ge=0)] = 300.0
    """Readings later than the hub's clock plus this are refused (422)."""
    clock_tolerance_s: Annotated[float, msgspec.Meta(ge=0)] = 5.0
    """An agent whose send clock is further off than this gets its readings flagged ``clock_skew``."""
    correct_untrusted_clock: bool = True
    """Shift readings flagged ``clock_untrusted`` / ``clock_jump`` by the agent's measured clock offset."""


class HubSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything the hub process is configured with."""

    database_url: str | None = None
    """An existing PostgreSQL (``LUNA_DATABASE_URL``); without it the hub starts an embedded one."""
    data_dir: str = "var/hub"
    """Where the embedded database and other local state live."""
    database_pool_size: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    database_statement_cache_size: Annotated[int, msgspec.Meta(ge=0)] = 100
    """Prepared statements cached per connection; 0 behind PgBouncer (transaction mode) or a shared-session server."""
    database_search_path: str | None = None
    """Schema search path set on every acquired connection; for servers whose sessions share state (PGlite)."""
    bulk_insert: Literal["copy", "unnest"] = "copy"
    """How readings and prices are bulk-written: COPY (fast), or INSERT from arrays for servers without COPY."""
    rollup_timezone: str = "Europe/Berlin"
    """Local days of this zone are pre-aggregated; fixed at the first migration (see rollup_settings)."""
    rollup_refresh_seconds: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    """How often the app refreshes rollups of readings written by other paths than a file load."""
    require_api_key: bool = False
    """Whether the /data endpoints need an API key (see luna_hub.auth.guards)."""
    demo_data: str | None = None
    """A folder of real data files (``../shared/data``) that ``serve`` loads at start when set."""
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    ingest: IngestSettings = msgspec.field(default_factory=IngestSettings)
    log: LogSettings = msgspec.field(default_factory=LogSettings)


def load(path: Path | None) -> LoadedSettings[HubSettings]:
    """Load the hub's settings from ``path`` (if any) and the ``LUNA_*`` environment."""
    return load_settings(HubSettings, path=path)
