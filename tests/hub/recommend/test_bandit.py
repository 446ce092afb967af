"""The bandits on NumPy: propensities that are the picks' real probabilities, and learning the right way."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from luna_hub.recommend.bandit import RankingParams, fresh_statistics, posterior, rank, with_reward
from luna_hub.recommend.features import FEATURE_DIMS, contexts, profile_vector


def arms(n: int, rng: np.random.Generator, rewards: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Statistics of ``n`` arms after some random rewarded contexts, and one context per arm."""
    a = np.empty((n, FEATURE_DIMS, FEATURE_DIMS))
    b = np.empty((n, FEATURE_DIMS))
    for i in range(n):
        ai, bi = fresh_statistics(FEATURE_DIMS)
        for _ in range(int(rng.integers(0, rewards))):
            ai, bi = with_reward(ai, bi, rng.standard_normal(FEATURE_DIMS), float(rng.random()), counted=False)
        a[i], b[i] = ai, bi
    return a, b, rng.standard_normal((n, FEATURE_DIMS))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 12), epsilon=st.floats(0.01, 1.0), alpha=st.floats(0, 3), seed=st.integers(0, 2**32 - 1))
def test_linucb_propensities_of_all_candidates_sum_to_one(n: int, epsilon: float, alpha: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b, x = arms(n, rng)
    params = RankingParams(policy="linucb", alpha=alpha, epsilon=epsilon)
    means, variances = posterior(a, b, x)
    best = int(np.argmax(means + alpha * np.sqrt(variances)))
    [pick] = rank(a, b, x, k=1, params=params, rng=rng)
    expected = (1 - epsilon) * (pick.index == best) + epsilon / n
    assert pick.propensity == expected
    total = sum((1 - epsilon) * (i == best) + epsilon / n for i in range(n))
    assert abs(total - 1) < 1e-9


def test_logged_propensities_match_observed_frequencies() -> None:
    """Over many draws, each item is picked first about as often as its logged propensity says."""
    rng = np.random.default_rng(7)
    a, b, x = arms(5, rng, rewards=8)
    for policy in ("linucb", "thompson"):
        params = RankingParams(policy=policy, epsilon=0.1, v=1.0, mc_draws=4000)
        picks = [rank(a, b, x, k=1, params=params, rng=rng)[0] for _ in range(3000)]
        counts = Counter(p.index for p in picks)
        logged: dict[int, list[float]] = {}
        for p in picks:
            logged.setdefault(p.index, []).append(p.propensity)
        for index, propensities in logged.items():
            assert abs(counts[index] / len(picks) - float(np.mean(propensities))) < 0.03, (policy, index)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 8), k=st.integers(1, 10), seed=st.integers(0, 2**32 - 1))
def test_a_slate_has_distinct_items_and_positive_propensities(n: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b, x = arms(n, rng)
    for policy in ("linucb", "thompson"):
        picks = rank(a, b, x, k=k, params=RankingParams(policy=policy, mc_draws=32), rng=rng)
        assert len(picks) == min(k, n)
        assert len({p.index for p in picks}) == len(picks)
        assert all(0 < p.propensity <= 1 for p in picks)


def test_rewards_raise_the_mean_of_the_rewarded_arm_in_that_context_only() -> None:
    rng = np.random.default_rng(1)
    likes = np.eye(FEATURE_DIMS)[2]  # users with this taste click arm 0, never arm 1
    a0, b0 = fresh_statistics(FEATURE_DIMS)
    a1, b1 = fresh_statistics(FEATURE_DIMS)
    for _ in range(30):
        x = np.r_[1.0, 0.0, rng.standard_normal(FEATURE_DIMS - 2)]
        taste = 1.0 if x[2] > 0 else 0.0
        a0, b0 = with_reward(a0, b0, x, taste, counted=False)
        a1, b1 = with_reward(a1, b1, x, 1.0 - taste, counted=False)
    context = np.stack([np.r_[1.0, 0.0, 2.0 * likes[2:]]] * 2)
    means, _ = posterior(np.stack([a0, a1]), np.stack([b0, b1]), context)
    assert means[0] > means[1]
    means_other, _ = posterior(
        np.stack([a0, a1]), np.stack([b0, b1]), np.stack([np.r_[1.0, 0.0, -2.0 * likes[2:]]] * 2)
    )
    assert means_other[1] > means_other[0]


def test_a_later_better_reward_adds_only_the_difference() -> None:
    a, b = fresh_statistics(FEATURE_DIMS)
    x = np.arange(FEATURE_DIMS, dtype=float)
    a1, b1 = with_reward(a, b, x, 0.0, counted=False)
    a2, b2 = with_reward(a1, b1, x, 1.0, counted=True)
    direct_a, direct_b = with_reward(a, b, x, 1.0, counted=False)
    np.testing.assert_allclose(a2, direct_a)
    np.testing.assert_allclose(b2, direct_b)


def test_contexts_without_a_profile_are_the_bias_alone_and_similarity_is_cosine() -> None:
    items = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    cold = contexts(None, items)
    assert (cold[:, 0] == 1).all()
    assert (cold[:, 1:] == 0).all()
    profile = profile_vector([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [3.0, 1.0])
    assert profile is not None
    warm = contexts(profile, items)
    np.testing.assert_allclose(warm[:, 1], [3 / np.sqrt(10), 1 / np.sqrt(10), 0.0])
    assert profile_vector([[1.0, 0.0], [1.0, 0.0]], [1.0, -1.0]) is None  # cancelling engagements: no profile
