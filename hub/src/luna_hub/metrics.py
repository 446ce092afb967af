"""The hub's Prometheus metrics: one :class:`HubMetrics` per app, on a registry of its own.

Counters and histograms are recorded where the work happens (ingest, loads, queries, RAG, model
calls) through :func:`recorder`, which returns the metrics of the app handling the current request
or background job: ``luna_hub.observability``'s middleware binds them per request, its
``metrics_lifespan`` (the app's first) for the background work the app starts. Code running
outside an app (``luna-hub load``) records into a detached instance nobody scrapes. So several
apps in one process (tests) never mix their numbers, and services need no extra parameter.

Gauges that describe the database (agents, document jobs, firing alerts) are not kept in memory:
they are computed from the database at each scrape (``luna_hub.observability.services.scrape``,
handed to :meth:`HubMetrics.expose`), so every replica
reports the same, current values. Counters are per process: each hub replica is its own scrape
target (Prometheus adds ``instance``), and ``sum without (instance)`` gives the whole.

Every domain imports this module, so it imports none of theirs.
"""

from __future__ import annotations

import bisect
import functools
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Final, ParamSpec, TypeVar

import msgspec
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE", "LAG_BUCKETS", "AgentGauge", "HubMetrics", "Snapshot", "bound", "recorder", "timed_query"]

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_MODEL_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
LAG_BUCKETS: Final = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 6 * 3600.0, 86400.0, 7 * 86400.0)


class AgentGauge(msgspec.Struct, frozen=True, kw_only=True):
    """One agent as the scrape reports it."""

    agent_id: str
    site_id: str
    state: str
    """``online``, ``stale`` or ``offline``."""
    backlog: int | None
    """Readings waiting in the agent's buffer (its last status report), if it sent one."""
    since_contact_s: float | None
    """Seconds since the hub last heard from it; None: never."""


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What the database says at scrape time."""

    agents: list[AgentGauge]
    document_jobs: dict[str, int]
    alerts_firing: int
    pool: dict[str, int]


class _LagHistogram(Collector):
    """``luna_ingest_lag_seconds``: one observation per reading, added a batch at a time.

    A batch's timestamps are sorted once and each bucket bound is found by bisection, so a batch
    of 5,000 readings costs about a millisecond rather than 5,000 ``observe`` calls.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = [0] * len(LAG_BUCKETS)
        self._count = 0
        self._sum = 0.0

    def add(self, received_at: datetime, timestamps: Sequence[datetime]) -> None:
        """Observe ``received_at - ts`` for each of ``timestamps``."""
        if not timestamps:
            return
        ordered = sorted(timestamps)
        # lag <= bound  <=>  ts >= received_at - bound
        within = [len(ordered) - bisect.bisect_left(ordered, received_at - timedelta(seconds=b)) for b in LAG_BUCKETS]
        total = sum(map(received_at.__sub__, ordered), timedelta()).total_seconds()  # exact to the µs
        with self._lock:
            for index, count in enumerate(within):
                self._counts[index] += count
            self._count += len(ordered)
            self._sum += total

    def collect(self) -> Iterator[Metric]:
        """Yield the histogram."""
        with self._lock:
            buckets = [(_le(b), float(c)) for b, c in zip(LAG_BUCKETS, self._counts, strict=True)]
            buckets.append(("+Inf", float(self._count)))
            total = self._sum
        family = HistogramMetricFamily(
            "luna_ingest_lag_seconds", "Hub receive time minus reading time, per stored agent reading"
        )
        family.add_metric([], buckets, total)
        yield family


def _le(bound: float) -> str:
    return str(float(bound))


class _ScrapeCollector(Collector):
    """The gauges computed from the database at scrape time (see :meth:`HubMetrics.refresh`)."""

    def __init__(self) -> None:
        self.snapshot: Snapshot | None = None

    def collect(self) -> Iterator[Metric]:
        """Yield the gauges of the latest snapshot."""
        snapshot = self.snapshot
        if snapshot is None:
            return
        states = GaugeMetricFamily("luna_agents", "Agents by state (online, stale, offline)", labels=["state"])
        counts = {"online": 0, "stale": 0, "offline": 0}
        for agent in snapshot.agents:
            counts[agent.state] = counts.get(agent.state, 0) + 1
        for state, count in counts.items():
            states.add_metric([state], count)
        yield states
        backlog = GaugeMetricFamily(
            "luna_agent_backlog_readings",
            "Readings waiting in the agent's buffer, from its last status report",
            labels=["agent_id", "site_id"],
        )
        contact = GaugeMetricFamily(
            "luna_agent_last_contact_seconds",
            "Seconds since the hub last heard from the agent (batch or status report)",
            labels=["agent_id", "site_id"],
        )
        for agent in snapshot.agents:
            if agent.backlog is not None:
                backlog.add_metric([agent.agent_id, agent.site_id], agent.backlog)
            if agent.since_contact_s is not None:
                contact.add_metric([agent.agent_id, agent.site_id], agent.since_contact_s)
        yield backlog
        yield contact
        jobs = GaugeMetricFamily("luna_document_jobs", "Document extraction jobs by state", labels=["state"])
        for state, count in sorted(snapshot.document_jobs.items()):
            jobs.add_metric([state], count)
        yield jobs
        pool = GaugeMetricFamily(
            "luna_db_pool_connections", "Connections of this process's database pool", labels=["state"]
        )
        for state, count in sorted(snapshot.pool.items()):
            pool.add_metric([state], count)
        yield pool
        yield GaugeMetricFamily("luna_alerts_firing", "Alerts firing now", value=snapshot.alerts_firing)


class HubMetrics:
    """Every metric of one hub app, on its own :class:`CollectorRegistry`."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.http_duration = Histogram(
            "luna_http_request_duration_seconds",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.ingest_readings = Counter(
            "luna_ingest_readings", "Readings from agents stored (not counting duplicates)", registry=registry
        )
        self.ingest_batches = Counter(
            "luna_ingest_batches",
            "Agent batches by outcome (stored, replayed, rejected)",
            ["outcome"],
            registry=registry,
        )
        self.ingest_lag = _LagHistogram()
        registry.register(self.ingest_lag)
        self.load_rows = Counter(
            "luna_load_rows",
            "Rows of loaded files by outcome (stored, duplicate, rejected)",
            ["outcome"],
            registry=registry,
        )
        self.query_duration = Histogram(
            "luna_query_duration_seconds",
            "Time series queries by kind (series, market, completeness)",
            ["kind"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.rag_duration = Histogram(
            "luna_rag_duration_seconds",
            "Stages of answering a question (data, embed, retrieve, generate)",
            ["stage"],
            buckets=_MODEL_BUCKETS,
            registry=registry,
        )
        self.model_call_duration = Histogram(
            "luna_model_call_duration_seconds",
            "Calls of an embedding or chat model by operation (embed, generate) and model",
            ["operation", "model"],
            buckets=_MODEL_BUCKETS,
            registry=registry,
        )
        self.model_tokens = Counter(
            "luna_model_tokens",
            "Tokens of model calls by operation, model and kind (prompt, completion), where the model reports them",
            ["operation", "model", "kind"],
            registry=registry,
        )
        self._scrape = _ScrapeCollector()
        registry.register(self._scrape)

    def batch(
        self,
        outcome: str,
        *,
        stored: int = 0,
        received_at: datetime | None = None,
        timestamps: Sequence[datetime] = (),
    ) -> None:
        """Count an agent batch and its stored readings; observe the stored readings' lag."""
        self.ingest_batches.labels(outcome).inc()
        if stored:
            self.ingest_readings.inc(stored)
        if received_at is not None:
            self.ingest_lag.add(received_at, timestamps)

    def load(self, *, stored: int, duplicates: int, rejected: int) -> None:
        """Count the rows of one loaded file."""
        for outcome, count in (("stored", stored), ("duplicate", duplicates), ("rejected", rejected)):
            self.load_rows.labels(outcome).inc(count)

    def model_call(
        self, operation: str, model: str, *, seconds: float, prompt_tokens: int | None, completion_tokens: int | None
    ) -> None:
        """Observe one model call and count the tokens it reports."""
        self.model_call_duration.labels(operation, model).observe(seconds)
        if prompt_tokens:
            self.model_tokens.labels(operation, model, "prompt").inc(prompt_tokens)
        if completion_tokens:
            self.model_tokens.labels(operation, model, "completion").inc(completion_tokens)

    def expose(self, snapshot: Snapshot) -> bytes:
        """Return the text exposition with ``snapshot`` as the scrape-time gauges."""
        self._scrape.snapshot = snapshot
        return generate_latest(self.registry)


_DETACHED: Final = HubMetrics()
"""Where metrics go outside an app (the CLI): counted, never exposed."""
_CURRENT: ContextVar[HubMetrics] = ContextVar("luna_hub_metrics", default=_DETACHED)


def recorder() -> HubMetrics:
    """Return the metrics of the app doing the current work (a detached instance outside an app)."""
    return _CURRENT.get()


P = ParamSpec("P")
R = TypeVar("R")


def timed_query(kind: str) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate a query function: each call observes ``luna_query_duration_seconds{kind}``."""

    def decorate(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(function)
        async def timed(*args: P.args, **kwargs: P.kwargs) -> R:
            with recorder().query_duration.labels(kind).time():
                return await function(*args, **kwargs)

        return timed

    return decorate


@contextmanager
def bound(metrics: HubMetrics) -> Iterator[HubMetrics]:
    """Make ``metrics`` what :func:`recorder` returns inside (and in tasks started inside)."""
    token = _CURRENT.set(metrics)
    try:
        yield metrics
    finally:
        _CURRENT.reset(token)
