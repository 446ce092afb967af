"""``luna-hub recommend evaluate``: off-policy estimates of a target policy over the decision log.

Each logged first position is one decision: its candidates (with the contexts they were ranked
in), the item served, its propensity and its reward. The target policy is judged on the same
candidates with the items' *current* statistics: ``greedy`` (highest predicted reward),
``linucb`` (highest upper bound with ``recommend.alpha``) or ``uniform``. The reward model of DR
is the current per-item linear prediction, clipped to [0, 1]. Estimates: IPS, SNIPS and DR with
percentile bootstrap intervals (:mod:`luna_hub.recommend.ope`); the logging policy's own mean
reward is reported beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import asyncpg
import numpy as np

from luna_hub.recommend import repository
from luna_hub.recommend.bandit import fresh_statistics, posterior
from luna_hub.recommend.features import FEATURE_DIMS
from luna_hub.recommend.ope import Estimate, LoggedBatch, evaluate
from luna_hub.settings.recommend import RecommendSettings

__all__ = ["Evaluation", "Target", "evaluate_log"]

Target = Literal["greedy", "linucb", "uniform"]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Estimates of ``target`` over ``decisions`` logged decisions, and the logged mean reward."""

    target: str
    decisions: int
    logged_mean_reward: float
    estimates: list[Estimate]


async def evaluate_log(  # noqa: PLR0913 - the evaluation's knobs, each named
    pool: asyncpg.Pool,
    settings: RecommendSettings,
    *,
    target: Target = "greedy",
    policy: str | None = None,
    limit: int = 100_000,
    resamples: int = 1000,
    seed: int = 0,
) -> Evaluation:
    """Estimate the value of ``target`` from the logged decisions (of ``policy`` only, when given)."""
    async with pool.acquire() as db:
        rows = await repository.logged_decisions(db, policy=policy, limit=limit)
        items = sorted({item for row in rows for item in row["candidates"]})
        stats = await repository.arm_statistics(db, items)
    start_a, start_b = fresh_statistics(FEATURE_DIMS, settings.ridge)
    arms = {
        item: (np.asarray(a).reshape(FEATURE_DIMS, FEATURE_DIMS), np.asarray(b))
        for item, (dims, a, b) in stats.items()
        if dims == FEATURE_DIMS
    }
    rewards, propensities, target_probs, q_logged, q_target = [], [], [], [], []
    for row in rows:
        candidates = list(row["candidates"])
        x = np.asarray([[float(v) for v in text.split(",")] for text in row["contexts"]], dtype=np.float64)
        a = np.stack([arms.get(item, (start_a, start_b))[0] for item in candidates])
        b = np.stack([arms.get(item, (start_a, start_b))[1] for item in candidates])
        means, variances = posterior(a, b, x)
        probs = _target_probs(target, means, np.sqrt(variances), settings.alpha)
        logged = candidates.index(row["item_id"])
        predicted = np.clip(means, 0.0, 1.0)
        rewards.append(float(row["reward"]))
        propensities.append(float(row["propensity"]))
        target_probs.append(float(probs[logged]))
        q_logged.append(float(predicted[logged]))
        q_target.append(float(probs @ predicted))
    batch = LoggedBatch(
        rewards=np.asarray(rewards),
        propensities=np.asarray(propensities),
        target_probs=np.asarray(target_probs),
        q_logged=np.asarray(q_logged),
        q_target=np.asarray(q_target),
    )
    return Evaluation(
        target=target,
        decisions=len(rows),
        logged_mean_reward=float(np.mean(batch.rewards)) if rows else float("nan"),
        estimates=evaluate(batch, resamples=resamples, seed=seed),
    )


def _target_probs(target: Target, means: np.ndarray, widths: np.ndarray, alpha: float) -> np.ndarray:
    probs = np.zeros(len(means))
    if target == "uniform":
        probs[:] = 1.0 / len(means)
    else:
        scores = means if target == "greedy" else means + alpha * widths
        probs[int(np.argmax(scores))] = 1.0
    return probs
