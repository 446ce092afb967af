"""Off-policy estimators on synthetic logs whose true value is known exactly."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from luna_hub.recommend.ope import LoggedBatch, bootstrap, dr, evaluate, ips, snips

# A world of C contexts and K actions with expected rewards mu[c, a] in [0, 1].
worlds = st.tuples(st.integers(1, 6), st.integers(2, 6), st.integers(0, 2**32 - 1))


def world(contexts: int, actions: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mu = rng.random((contexts, actions))
    logging = rng.dirichlet(np.ones(actions), size=contexts) * 0.9 + 0.1 / actions  # every action possible
    target = np.zeros((contexts, actions))
    target[np.arange(contexts), rng.integers(0, actions, contexts)] = 1.0  # a deterministic target
    return mu, logging, target


def exhaustive_log(mu: np.ndarray, logging: np.ndarray, target: np.ndarray, q: np.ndarray) -> LoggedBatch:
    """A log in which each context's actions appear in their logging proportions (10,000 rows per context).

    Rewards are their expectations, so nothing but the rounding of the proportions stands between an
    unbiased estimator and the true value.
    """
    rows = []
    for c in range(mu.shape[0]):
        for a in range(mu.shape[1]):
            rows += [(mu[c, a], logging[c, a], target[c, a], q[c, a], float(target[c] @ q[c]))] * round(
                logging[c, a] * 10_000
            )
    columns = np.asarray(rows, dtype=np.float64).T
    return LoggedBatch(*columns)


@settings(max_examples=40, deadline=None)
@given(worlds)
def test_ips_and_dr_recover_the_true_value_from_an_exactly_proportioned_log(spec: tuple[int, int, int]) -> None:
    mu, logging, target = world(*spec)
    truth = float(np.mean(np.sum(target * mu, axis=1)))
    wrong_model = np.full_like(mu, 0.5)
    batch = exhaustive_log(mu, logging, target, wrong_model)
    # rounding the repetitions moves the proportions by at most 1/20_000 per row
    assert abs(ips(batch) - truth) < 2e-3
    assert abs(snips(batch) - truth) < 2e-3
    assert abs(dr(batch) - truth) < 2e-3  # right propensities: a wrong reward model does not matter


@settings(max_examples=40, deadline=None)
@given(worlds, st.integers(1, 200))
def test_dr_with_the_true_reward_model_is_exact_whatever_the_propensities(spec: tuple[int, int, int], n: int) -> None:
    mu, logging, target = world(*spec)
    rng = np.random.default_rng(spec[2])
    c = rng.integers(0, mu.shape[0], n)
    a = np.array([rng.choice(mu.shape[1], p=logging[i] / logging[i].sum()) for i in c])
    batch = LoggedBatch(
        rewards=mu[c, a],  # noiseless rewards
        propensities=rng.uniform(0.01, 1.0, n),  # even wrong propensities
        target_probs=target[c, a],
        q_logged=mu[c, a],
        q_target=np.sum(target[c] * mu[c], axis=1),
    )
    assert abs(dr(batch) - float(np.mean(np.sum(target[c] * mu[c], axis=1)))) < 1e-9


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=50), st.floats(0.01, 1))
def test_evaluating_the_logging_policy_itself_gives_the_logged_mean(rewards: list[float], p: float) -> None:
    r = np.asarray(rewards)
    same = np.full(len(r), p)
    batch = LoggedBatch(rewards=r, propensities=same, target_probs=same, q_logged=r * 0, q_target=r * 0)
    assert abs(ips(batch) - r.mean()) < 1e-9
    assert abs(snips(batch) - r.mean()) < 1e-9
    assert abs(dr(batch) - r.mean()) < 1e-9


@settings(max_examples=20, deadline=None)
@given(worlds)
def test_bootstrap_intervals_hold_their_estimate_and_cover_the_truth_on_a_large_sample(
    spec: tuple[int, int, int],
) -> None:
    mu, logging, target = world(*spec)
    rng = np.random.default_rng(spec[2] + 1)
    n = 4000
    c = rng.integers(0, mu.shape[0], n)
    a = np.array([rng.choice(mu.shape[1], p=logging[i] / logging[i].sum()) for i in c])
    rewards = (rng.random(n) < mu[c, a]).astype(float)
    batch = LoggedBatch(
        rewards=rewards,
        propensities=logging[c, a] / logging[c].sum(axis=1),
        target_probs=target[c, a],
        q_logged=np.full(n, 0.5),
        q_target=np.full(n, 0.5),
    )
    truth = float(np.mean(np.sum(target * mu, axis=1)))
    for estimate in evaluate(batch, resamples=300, seed=1, level=0.999):
        assert estimate.low <= estimate.value <= estimate.high
        assert estimate.low - 0.02 <= truth <= estimate.high + 0.02, estimate


def test_no_decisions_give_no_estimate() -> None:
    empty = LoggedBatch(*(np.zeros(0) for _ in range(5)))
    assert np.isnan(ips(empty))
    assert np.isnan(dr(empty))
    assert all(np.isnan(bound) for bound in bootstrap(ips, empty, resamples=10, rng=np.random.default_rng(0)))
