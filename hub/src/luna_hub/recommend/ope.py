"""Off-policy evaluation: the value a target policy would have had, estimated from a logging policy's decisions.

For logged decisions ``i`` with reward ``r_i``, logging propensity ``p_i`` of the logged item, the
target policy's probability ``π_i`` of that same item, a reward model's prediction ``q_i`` for it and
its expectation ``q̄_i = Σ_a π(a|x_i) q̂(x_i, a)`` under the target:

- IPS: ``mean(w r)`` with ``w = π/p`` (unbiased when every item the target can pick had ``p > 0``);
- SNIPS: ``Σ w r / Σ w`` (biased, lower variance, invariant to scaling the weights);
- DR: ``mean(q̄ + w (r - q))`` (unbiased if either the propensities or the reward model are right).

Intervals are percentile bootstrap intervals over decisions resampled with replacement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["ESTIMATORS", "Estimate", "LoggedBatch", "bootstrap", "dr", "evaluate", "ips", "snips"]

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LoggedBatch:
    """Aligned arrays, one entry per logged decision (see the module docstring for the names)."""

    rewards: Floats
    propensities: Floats
    target_probs: Floats
    q_logged: Floats
    q_target: Floats

    def __post_init__(self) -> None:
        sizes = {len(self.rewards), len(self.propensities), len(self.target_probs), len(self.q_logged)}
        if len(sizes | {len(self.q_target)}) != 1:
            msg = "logged arrays must have one entry per decision"
            raise ValueError(msg)
        if len(self.propensities) and float(np.min(self.propensities)) <= 0:
            msg = "every logged propensity must be positive"
            raise ValueError(msg)

    def take(self, rows: npt.NDArray[np.intp]) -> LoggedBatch:
        """Return the decisions at ``rows`` (a bootstrap resample)."""
        return LoggedBatch(
            rewards=self.rewards[rows],
            propensities=self.propensities[rows],
            target_probs=self.target_probs[rows],
            q_logged=self.q_logged[rows],
            q_target=self.q_target[rows],
        )


def _weights(batch: LoggedBatch) -> Floats:
    weights: Floats = batch.target_probs / batch.propensities
    return weights


def ips(batch: LoggedBatch) -> float:
    """Inverse propensity scoring."""
    return float(np.mean(_weights(batch) * batch.rewards)) if len(batch.rewards) else float("nan")


def snips(batch: LoggedBatch) -> float:
    """Self-normalised IPS; NaN when no logged decision is one the target could make."""
    weights = _weights(batch)
    total = float(np.sum(weights))
    return float(np.sum(weights * batch.rewards) / total) if total > 0 else float("nan")


def dr(batch: LoggedBatch) -> float:
    """Doubly robust: the reward model's value plus the importance-weighted correction of its errors."""
    if not len(batch.rewards):
        return float("nan")
    return float(np.mean(batch.q_target + _weights(batch) * (batch.rewards - batch.q_logged)))


ESTIMATORS: dict[str, Callable[[LoggedBatch], float]] = {"ips": ips, "snips": snips, "dr": dr}


@dataclass(frozen=True, slots=True)
class Estimate:
    """A point estimate with its bootstrap interval."""

    name: str
    value: float
    low: float
    high: float


def bootstrap(
    estimator: Callable[[LoggedBatch], float],
    batch: LoggedBatch,
    *,
    resamples: int,
    rng: np.random.Generator,
    level: float = 0.95,
) -> tuple[float, float]:
    """Return the percentile interval of ``estimator`` over ``resamples`` resamples of the decisions."""
    size = len(batch.rewards)
    if size == 0 or resamples < 1:
        return float("nan"), float("nan")
    values = np.array([estimator(batch.take(rng.integers(0, size, size))) for _ in range(resamples)])
    values = values[~np.isnan(values)]
    if not len(values):
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def evaluate(batch: LoggedBatch, *, resamples: int = 1000, seed: int = 0, level: float = 0.95) -> list[Estimate]:
    """Return IPS, SNIPS and DR estimates of ``batch``, each with its bootstrap interval."""
    rng = np.random.default_rng(seed)
    found = []
    for name, estimator in ESTIMATORS.items():
        low, high = bootstrap(estimator, batch, resamples=resamples, rng=rng, level=level)
        found.append(Estimate(name=name, value=estimator(batch), low=low, high=high))
    return found
