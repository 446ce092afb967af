"""Contextual bandits on NumPy: disjoint linear models per item, ranked by LinUCB or linear Thompson sampling.

Each item (arm) ``a`` keeps ridge statistics ``A_a = λI + Σ x xᵀ`` and ``b_a = Σ r x`` over the
contexts ``x`` it was served in and the rewards ``r`` it earned (Li et al. 2010, "disjoint" LinUCB).
Its estimate is ``θ_a = A_a⁻¹ b_a``; the predicted reward of serving it in context ``x`` is ``xᵀθ_a``
with variance ``xᵀA_a⁻¹x``.

Every served item carries the probability with which it was chosen (its *propensity*), so the
decision log can be evaluated off-policy. Positions of a slate are filled one after the other from
the candidates still left; the propensity logged is the probability of the item *at that position
given the items before it*:

- ``linucb``: with probability ``epsilon`` a uniformly random remaining candidate, otherwise the one
  with the highest upper confidence bound ``xᵀθ + alpha·sqrt(xᵀA⁻¹x)`` (ties to the lower index).
  Propensity: ``(1 - ε)·[item is the UCB maximum] + ε / remaining``, exact.
- ``thompson``: with probability ``epsilon`` a uniformly random remaining candidate, otherwise the
  maximum of one fresh draw ``s_a ~ N(xᵀθ_a, v²·xᵀA_a⁻¹x)`` per remaining candidate (each arm's
  posterior reduced to the one scalar the ranking uses). Propensity: ``(1 - ε)·P̂ + ε / remaining``
  where ``P̂`` is the share of ``mc_draws`` independent draws in which the item is the maximum
  (a Monte-Carlo estimate of the exact probability; ε keeps every propensity at least ε/remaining
  so an estimate of zero never makes an importance weight infinite).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "Pick",
    "Policy",
    "RankingParams",
    "fresh_statistics",
    "posterior",
    "rank",
    "with_reward",
]

Policy = Literal["linucb", "thompson"]
Floats = npt.NDArray[np.float64]
_TINY: Final = 1e-12


@dataclass(frozen=True, slots=True)
class RankingParams:
    """How a policy ranks: its exploration constants and the uniform mixing share."""

    policy: Policy = "thompson"
    alpha: float = 1.0
    """LinUCB's width of the confidence bound."""
    v: float = 0.5
    """Thompson sampling's posterior scale."""
    epsilon: float = 0.05
    """Share of positions filled uniformly at random (both policies)."""
    mc_draws: int = 256
    """Monte-Carlo draws behind a Thompson propensity."""


@dataclass(frozen=True, slots=True)
class Pick:
    """One filled position: the candidate's index, its ranking score, propensity and how it was chosen."""

    index: int
    score: float
    mean: float
    width: float
    propensity: float
    explored: bool


def fresh_statistics(dims: int, ridge: float = 1.0) -> tuple[Floats, Floats]:
    """Return ``(A, b)`` of an arm that has seen nothing: ``λI`` and zeros."""
    return np.eye(dims) * ridge, np.zeros(dims)


def with_reward(a: Floats, b: Floats, x: Floats, reward: float, *, counted: bool) -> tuple[Floats, Floats]:
    """Return the statistics after ``reward`` in context ``x``; ``counted``: the context is in ``A`` already.

    A served item's first reward adds ``x xᵀ`` to ``A``; a later, better reward for the same serving
    (a click after a view) only adds the difference of the rewards to ``b`` (pass the difference).
    """
    new_a = a if counted else a + np.outer(x, x)
    return new_a, b + reward * x


def posterior(a: Floats, b: Floats, x: Floats) -> tuple[Floats, Floats]:
    """Return the predicted means ``xᵀθ`` and variances ``xᵀA⁻¹x`` of stacked arms.

    ``a``: (n, d, d), ``b``: (n, d), ``x``: (n, d) (each arm with its own context row).
    """
    solved = np.linalg.solve(a, np.stack([b, x], axis=-1))  # A⁻¹b and A⁻¹x at once
    theta, a_inv_x = solved[..., 0], solved[..., 1]
    means = np.einsum("nd,nd->n", x, theta)
    variances = np.maximum(np.einsum("nd,nd->n", x, a_inv_x), 0.0)
    return means, variances


def rank(  # noqa: PLR0913 - statistics, contexts and how to rank
    a: Floats, b: Floats, x: Floats, *, k: int, params: RankingParams, rng: np.random.Generator
) -> list[Pick]:
    """Fill ``min(k, n)`` positions from ``n`` candidates (see the module docstring); each pick logged."""
    means, variances = posterior(a, b, x)
    widths = np.sqrt(variances)
    remaining = list(range(len(means)))
    picks: list[Pick] = []
    while remaining and len(picks) < k:
        left = np.asarray(remaining)
        uniform = params.epsilon / len(left)
        explored = bool(rng.random() < params.epsilon)
        if params.policy == "linucb":
            scores = means[left] + params.alpha * widths[left]
            best = int(np.argmax(scores))
            chosen = int(rng.integers(len(left))) if explored else best
            win_share = 1.0 if chosen == best else 0.0
            score = float(scores[chosen])
        else:
            scale = params.v * widths[left]
            draw = means[left] + scale * rng.standard_normal(len(left))
            chosen = int(rng.integers(len(left))) if explored else int(np.argmax(draw))
            draws = means[left] + scale * rng.standard_normal((params.mc_draws, len(left)))
            win_share = float(np.mean(np.argmax(draws, axis=1) == chosen))
            score = float(draw[chosen])
        index = int(left[chosen])
        propensity = (1.0 - params.epsilon) * win_share + uniform
        picks.append(
            Pick(
                index=index,
                score=score,
                mean=float(means[index]),
                width=float(widths[index]),
                propensity=max(propensity, _TINY),
                explored=explored,
            )
        )
        remaining.remove(index)
    return picks
