"""What ``GET /health/ready`` answers."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = ["ComponentStatus", "Readiness"]


class ComponentStatus(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One component the hub depends on, as checked just now."""

    name: Literal["database", "object_store", "vector_store", "embedder", "llm"]
    status: Literal["ok", "failed"]
    required: bool
    """A failed required component makes the hub not ready (503)."""
    latency_ms: Annotated[float, msgspec.Meta(ge=0)]
    detail: str = ""
    """What was checked (e.g. ``PostgreSQL 15.8``, ``filesystem /var/lib/luna/documents``) or why it failed."""


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    """Every component's check; ``status`` is ``ready`` unless a required one failed (then HTTP 503)."""

    status: Literal["ready", "not_ready"]
    components: list[ComponentStatus]
