"""What the model audit log stores and what ``GET /audit`` and ``luna-hub audit verify`` return."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

__all__ = [
    "AdminEntry",
    "AdminLogPage",
    "ChunkRef",
    "ModelCall",
    "ModelCallFilter",
    "ModelCallPage",
    "ModelCallRow",
    "VerifyReport",
]

Operation = Literal["embed", "generate"]


class ChunkRef(msgspec.Struct, frozen=True, kw_only=True):
    """A chunk a model call saw, with the hash of the text it saw."""

    chunk_id: str
    content_hash: str


class ModelCall(msgspec.Struct, frozen=True, kw_only=True):
    """One call of an embedding or chat model, as the caller reports it."""

    actor: str
    endpoint: str
    operation: Operation
    model: str
    model_digest: str
    prompt: str
    latency_ms: float
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    answer: str = ""
    chunks: list[ChunkRef] = msgspec.field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class ModelCallRow(msgspec.Struct, frozen=True, kw_only=True):
    """A stored call with its place in the hash chain."""

    call_id: int
    at: datetime
    actor: str
    endpoint: str
    operation: str
    model: str
    model_digest: str
    params: dict[str, Any]
    prompt: str
    answer: str
    chunks: list[ChunkRef]
    latency_ms: float
    prompt_tokens: int | None
    completion_tokens: int | None
    prev_hash: str
    row_hash: str


class ModelCallFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which calls to list: those matching every filter given, older than ``before``, ``limit`` of them."""

    actor: str | None = None
    operation: Operation | None = None
    model: str | None = None
    endpoint: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None
    limit: int = 100


class ModelCallPage(msgspec.Struct, frozen=True, kw_only=True):
    """Calls newest first; pass ``next_before`` as ``before`` for the next page."""

    calls: list[ModelCallRow]
    next_before: int | None = None


class AdminEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One admin log row."""

    entry_id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    prev_hash: str
    row_hash: str


class AdminLogPage(msgspec.Struct, frozen=True, kw_only=True):
    """Admin log entries newest first (``GET /audit?kind=admin``); pass ``next_before`` as ``before``."""

    entries: list[AdminEntry]
    next_before: int | None = None


class VerifyReport(msgspec.Struct, frozen=True, kw_only=True):
    """The result of re-computing the chain: rows checked and the first one that breaks it."""

    rows: int
    ok: bool
    broken_call_id: int | None = None
    reason: str = ""
