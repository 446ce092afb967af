"""Answers of ``GET /recommend`` and ``GET /recommend/explain``."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

__all__ = ["ExplainedCandidate", "ExplainedItem", "Explanation", "Recommendation", "RecommendedItem"]


class RecommendedItem(msgspec.Struct, frozen=True, kw_only=True):
    """One served item: its ranking score, the probability it was served with, and why."""

    item_id: str
    type: str
    title: str
    score: float
    propensity: float
    reason: str


class Recommendation(msgspec.Struct, frozen=True, kw_only=True):
    """Items for a user, best first; events naming ``recommendation_id`` reward the policy."""

    recommendation_id: uuid.UUID
    policy: str
    items: list[RecommendedItem]


class ExplainedCandidate(msgspec.Struct, frozen=True, kw_only=True):
    """A candidate considered: where it came from and the context it was ranked in."""

    item_id: str
    sources: list[str]
    similarity: float | None
    context: list[float]


class ExplainedItem(msgspec.Struct, frozen=True, kw_only=True):
    """A served item with the parts of its score and the reward it earned so far (None: none yet)."""

    position: int
    item_id: str
    score: float
    mean: float
    width: float
    propensity: float
    explored: bool
    reward: float | None


class Explanation(msgspec.Struct, frozen=True, kw_only=True):
    """How a recommendation was made: policy, parameters, candidates, picks and rewards."""

    recommendation_id: uuid.UUID
    user_id: str
    policy: str
    item_type: str | None
    created_at: datetime
    params: dict[str, float | int | str]
    candidates: list[ExplainedCandidate]
    items: list[ExplainedItem]
