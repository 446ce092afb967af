"""Settings of items, events and recommendations (``[recommend]``)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = ["EVENT_TYPES", "EventType", "RecommendSettings"]

EventType = Literal["view", "click", "accept", "dismiss", "done", "rating", "helpful", "not_helpful"]
EVENT_TYPES: tuple[EventType, ...] = ("view", "click", "accept", "dismiss", "done", "rating", "helpful", "not_helpful")


def _rewards() -> dict[EventType, float]:
    return {"view": 0.0, "click": 1.0, "accept": 1.0, "done": 1.0, "helpful": 1.0, "not_helpful": 0.0, "dismiss": 0.0}


def _weights() -> dict[EventType, float]:
    return {
        "view": 0.2,
        "click": 1.0,
        "accept": 2.0,
        "done": 3.0,
        "rating": 1.0,
        "helpful": 1.5,
        "not_helpful": -1.0,
        "dismiss": -1.0,
    }


class RecommendSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How ``GET /recommend`` finds candidates, ranks them and learns from events (``[recommend]``)."""

    policy: Literal["linucb", "thompson"] = "thompson"
    """The contextual bandit ranking candidates (both learn from the same statistics; switching keeps them)."""
    alpha: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    """LinUCB's confidence width."""
    thompson_v: Annotated[float, msgspec.Meta(gt=0)] = 0.5
    """Thompson sampling's posterior scale."""
    epsilon: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.05
    """Share of positions filled uniformly at random: every candidate has a propensity of at least epsilon/n."""
    mc_draws: Annotated[int, msgspec.Meta(ge=16, le=10_000)] = 256
    """Monte-Carlo draws behind each Thompson propensity."""
    seed: int | None = None
    """Seed of the ranking's random draws (tests, replays); unset: fresh entropy at every start."""
    ridge: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    """The ridge prior of every item's linear model (A starts at ridge x I)."""
    default_k: Annotated[int, msgspec.Meta(ge=1, le=50)] = 5
    answer_documents: Annotated[int, msgspec.Meta(ge=1, le=20)] = 3
    """Documents recommended with each answer of ``/rag/ask``."""
    content_candidates: Annotated[int, msgspec.Meta(ge=0, le=500)] = 50
    """Items nearest to the user's profile vector taken as candidates."""
    popular_candidates: Annotated[int, msgspec.Meta(ge=0, le=500)] = 20
    fresh_candidates: Annotated[int, msgspec.Meta(ge=0, le=500)] = 20
    popular_days: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    """Popularity counts positive events of this many past days."""
    profile_events: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 200
    """The user's most recent events making up the profile vector."""
    profile_half_life_days: Annotated[float, msgspec.Meta(gt=0)] = 14.0
    """An event's weight in the profile halves with every such age."""
    event_weights: dict[EventType, float] = msgspec.field(default_factory=_weights)
    """Weight of each event type in the profile (negative: away from the item); ratings scale by value/rating_max."""
    rewards: dict[EventType, float] = msgspec.field(default_factory=_rewards)
    """Reward of each event type for the serving it names; ``rating`` is value/rating_max; unnamed: no reward."""
    rating_max: Annotated[float, msgspec.Meta(gt=0)] = 5.0
    reward_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 86_400.0
    """A served item without a reward this long after serving counts as reward 0."""
    expire_every_s: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    """How often one hub closes servings past ``reward_timeout_s``."""
    event_future_s: Annotated[float, msgspec.Meta(ge=0)] = 300.0
    """Events stamped later than the hub's clock plus this are refused (422)."""
    max_items: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1000
    """Most items one ``POST /items`` may send."""
    max_events: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 5000
    """Most events one ``POST /events`` may send."""

    def __post_init__(self) -> None:
        for name, reward in self.rewards.items():
            if not 0.0 <= reward <= 1.0:
                msg = f"recommend.rewards[{name!r}] = {reward} is outside [0, 1]"
                raise ValueError(msg)
