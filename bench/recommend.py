"""The recommender's bandits on a simulated population with hidden preferences, side by side with MABWiser and VW.

World (seeded): 40 items with hidden latent traits (8 dims) and a hidden quality; the item vectors
the recommender sees are a random linear image of the traits in 64 dims plus noise (as text
embeddings are of content). 300 users with hidden tastes; the chance that user ``u`` clicks item
``i`` is ``sigmoid(2.5·taste_u·traits_i + quality_i - 2)``. Each user has a profile built from three
items it clicked before the stream (drawn by that chance), as the hub builds profiles from events.

Stream: 12,000 rounds; each round one user (drawn at random) is shown one item by every policy,
and every policy faces the same user and the same random number deciding the click (a click when
it is below the chance of the item that policy chose), so differences are the policies' alone.

Policies: random; popularity (the item with the most clicks so far); content-only (the item
nearest the user's profile); ours, LinUCB and Thompson sampling (``luna_hub.recommend.bandit`` with
the hub's contexts from ``luna_hub.recommend.features``, epsilon 0.05, updated every round);
MABWiser LinUCB and LinTS (one linear model per item over the user's context: the bias and the
projected profile, the user side of ours; it has no per-item features); Vowpal Wabbit
``--cb_explore_adf --epsilon 0.05`` with the same user features shared and the item's id and
reduced vector as action features, quadratic interactions.

Reported: click-through over the rounds after warm-up (the first 2,000), regret against the best
item for each user (expected clicks lost), median decision latency, and off-policy estimates
(IPS, SNIPS, DR with 95 % bootstrap intervals) of two target policies from the log of ours
(Thompson) against their true value in this world.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np

from bench.report import Result
from luna_hub.recommend.bandit import RankingParams, fresh_statistics, posterior, rank, with_reward
from luna_hub.recommend.features import FEATURE_DIMS, contexts, profile_vector
from luna_hub.recommend.ope import LoggedBatch, evaluate

GROUP: Final = "hub recommend"
ITEMS: Final = 40
USERS: Final = 300
LATENT: Final = 8
EMBED: Final = 64
ROUNDS: Final = 12_000
WARM_UP: Final = 2_000
EPSILON: Final = 0.05
FIGURE: Final = Path(__file__).resolve().parent / "recommend_cumulative_reward.png"
SEED: Final = 20261204


@dataclass(frozen=True)
class World:
    """Hidden traits and chances, and what the recommender sees: item vectors and user profiles."""

    chance: np.ndarray  # (users, items)
    item_vectors: np.ndarray  # (items, EMBED)
    profiles: list[np.ndarray | None]
    user_features: np.ndarray  # (users, FEATURE_DIMS - 1): bias and projected profile
    item_features: np.ndarray  # (items, 8): the item vectors reduced, for VW


def make_world(rng: np.random.Generator) -> World:
    traits = rng.standard_normal((ITEMS, LATENT)) / np.sqrt(LATENT)
    quality = rng.normal(0.0, 0.8, ITEMS)
    tastes = rng.standard_normal((USERS, LATENT))
    chance = 1.0 / (1.0 + np.exp(-(2.5 * tastes @ traits.T + quality - 2.0)))
    image = rng.standard_normal((EMBED, LATENT))
    vectors = traits @ image.T + 0.15 * rng.standard_normal((ITEMS, EMBED))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    profiles: list[np.ndarray | None] = []
    for user in range(USERS):
        liked = rng.choice(ITEMS, size=3, replace=False, p=chance[user] / chance[user].sum())
        profiles.append(profile_vector(list(vectors[liked]), [1.0, 1.0, 1.0]))
    user_features = np.stack([np.delete(contexts(p, vectors[:1])[0], 1) for p in profiles])
    reduce = rng.standard_normal((EMBED, 8)) / np.sqrt(8)
    return World(chance, vectors, profiles, user_features, vectors @ reduce)


Choose = Callable[[int], tuple[int, float]]
Learn = Callable[[int, int, float, float], None]


@dataclass
class Run:
    """One policy's decisions over the stream."""

    name: str
    choose: Choose  # user -> (item, propensity)
    learn: Learn  # (user, item, reward, propensity)
    rewards: list[float] = field(default_factory=list)
    expected: list[float] = field(default_factory=list)
    regret: list[float] = field(default_factory=list)
    latency_s: list[float] = field(default_factory=list)
    logged: list[tuple[int, int, float, float]] = field(default_factory=list)


def random_policy(rng: np.random.Generator) -> tuple[Choose, Learn]:
    return (lambda _u: (int(rng.integers(ITEMS)), 1.0 / ITEMS)), (lambda *_: None)


def popularity_policy(rng: np.random.Generator) -> tuple[Choose, Learn]:
    clicks = np.zeros(ITEMS)

    def choose(_user: int) -> tuple[int, float]:
        best = np.flatnonzero(clicks == clicks.max())
        return int(rng.choice(best)), 1.0 / len(best)

    def learn(_user: int, item: int, reward: float, _p: float) -> None:
        clicks[item] += reward

    return choose, learn


def content_policy(world: World) -> tuple[Choose, Learn]:
    def choose(user: int) -> tuple[int, float]:
        return int(np.argmax(contexts(world.profiles[user], world.item_vectors)[:, 1])), 1.0

    return choose, lambda *_: None


@dataclass(frozen=True)
class Ours:
    """Our bandit's decision and learning step, and its statistics (for the OPE targets)."""

    choose: Choose
    learn: Learn
    a: np.ndarray
    b: np.ndarray
    x_of: list[np.ndarray]


def our_policy(world: World, policy: str, rng: np.random.Generator) -> Ours:
    a = np.repeat(fresh_statistics(FEATURE_DIMS)[0][None], ITEMS, axis=0)
    b = np.zeros((ITEMS, FEATURE_DIMS))
    x_of = [contexts(p, world.item_vectors) for p in world.profiles]
    params = RankingParams(policy=policy, alpha=1.0, v=0.5, epsilon=EPSILON)  # type: ignore[arg-type]

    def choose(user: int) -> tuple[int, float]:
        [pick] = rank(a, b, x_of[user], k=1, params=params, rng=rng)
        return pick.index, pick.propensity

    def learn(user: int, item: int, reward: float, _p: float) -> None:
        a[item], b[item] = with_reward(a[item], b[item], x_of[user][item], reward, counted=False)

    return Ours(choose, learn, a, b, x_of)


def mabwiser_policy(world: World, kind: str) -> tuple[Choose, Learn]:
    from mabwiser.mab import MAB, LearningPolicy  # noqa: PLC0415 - a bench-only dependency

    learning = LearningPolicy.LinUCB(alpha=1.0) if kind == "LinUCB" else LearningPolicy.LinTS(alpha=0.5)
    mab = MAB(arms=list(range(ITEMS)), learning_policy=learning, seed=SEED)
    fitted = False

    def choose(user: int) -> tuple[int, float]:
        if not fitted:
            return user % ITEMS, 1.0
        return int(mab.predict(world.user_features[user : user + 1])), 1.0

    def learn(user: int, item: int, reward: float, _p: float) -> None:
        nonlocal fitted
        context = world.user_features[user : user + 1]
        if fitted:
            mab.partial_fit([item], [reward], context)
        else:
            mab.fit([item], [reward], context)
            fitted = True

    return choose, learn


def vw_policy(world: World, rng: np.random.Generator) -> tuple[Choose, Learn, Callable[[], None]]:
    import vowpalwabbit  # noqa: PLC0415 - a bench-only dependency

    vw = vowpalwabbit.Workspace(f"--cb_explore_adf --epsilon {EPSILON} -q UA --quiet --random_seed 1")
    actions = [
        f"|A id{i} " + " ".join(f"e{j}:{v:.4f}" for j, v in enumerate(world.item_features[i])) for i in range(ITEMS)
    ]
    shared = [
        "shared |U " + " ".join(f"u{j}:{v:.4f}" for j, v in enumerate(world.user_features[u])) for u in range(USERS)
    ]

    def choose(user: int) -> tuple[int, float]:
        pmf = np.asarray(vw.predict([shared[user], *actions]), dtype=np.float64)
        pmf /= pmf.sum()
        item = int(rng.choice(ITEMS, p=pmf))
        return item, float(pmf[item])

    def learn(user: int, item: int, reward: float, propensity: float) -> None:
        lines = [shared[user], *actions]
        lines[item + 1] = f"0:{-reward}:{propensity} {actions[item]}"
        vw.learn(lines)

    return choose, learn, vw.finish


def replay(world: World, runs: list[Run], rng: np.random.Generator) -> np.ndarray:
    users = rng.integers(0, USERS, ROUNDS)
    chances = rng.random(ROUNDS)
    best = world.chance.max(axis=1)
    for t in range(ROUNDS):
        user = int(users[t])
        for run in runs:
            start = time.perf_counter()
            item, propensity = run.choose(user)
            run.latency_s.append(time.perf_counter() - start)
            reward = 1.0 if chances[t] < world.chance[user, item] else 0.0
            run.learn(user, item, reward, propensity)
            run.rewards.append(reward)
            run.expected.append(float(world.chance[user, item]))
            run.regret.append(float(best[user] - world.chance[user, item]))
            run.logged.append((user, item, reward, propensity))
    return users


def ope(world: World, thompson: Run, ours: Ours, users: np.ndarray) -> list[Result]:
    """Estimate two target policies from Thompson's log; their true values are known in this world.

    The greedy target and DR's reward model both come from the final statistics, learnt from this
    same log: DR is then not independent of the data it corrects (said in the rows' notes).
    """
    a, b, x_of = ours.a, ours.b, ours.x_of
    log = thompson.logged[WARM_UP:]
    content = [int(np.argmax(x_of[u][:, 1])) for u in range(USERS)]
    means_of = [np.clip(posterior(a, b, x_of[u])[0], 0, 1) for u in range(USERS)]
    greedy = [int(np.argmax(m)) for m in means_of]
    targets = {"content-only": content, "greedy on the final model": greedy}
    caveat = "; target and DR's reward model were learnt from this same log"
    results = []
    for name, choice in targets.items():
        truth = float(np.mean([world.chance[u, choice[u]] for u in users[WARM_UP:]]))
        batch = LoggedBatch(
            rewards=np.asarray([r for _, _, r, _ in log]),
            propensities=np.asarray([p for _, _, _, p in log]),
            target_probs=np.asarray([1.0 if choice[u] == i else 0.0 for u, i, _, _ in log]),
            q_logged=np.asarray([means_of[u][i] for u, i, _, _ in log]),
            q_target=np.asarray([means_of[u][choice[u]] for u, _, _, _ in log]),
        )
        for estimate in evaluate(batch, resamples=500, seed=SEED):
            inside = estimate.low <= truth <= estimate.high
            results.append(
                Result(
                    GROUP,
                    f"OPE {estimate.name.upper()} of {name} vs its true CTR",
                    estimate.value * 1000,
                    "clicks/1k",
                    truth * 1000,
                    f"95% bootstrap [{estimate.low * 1000:.0f}, {estimate.high * 1000:.0f}]"
                    f" {'covers' if inside else 'misses'} the truth; from {len(log):,} decisions of ours"
                    f" (Thompson) after warm-up{caveat if name != 'content-only' else ''}",
                )
            )
    return results


def plot(runs: list[Run]) -> None:
    import matplotlib as mpl  # noqa: PLC0415 - a bench-only dependency

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axes = plt.subplots(figsize=(8, 5))
    for run in runs:
        axes.plot(np.cumsum(run.expected), label=run.name)
    axes.axvline(WARM_UP, color="grey", linestyle=":", linewidth=1)
    axes.set_xlabel("round")
    axes.set_ylabel("cumulative expected clicks")
    axes.set_title(f"Simulated population: {USERS} users, {ITEMS} items, {ROUNDS:,} rounds (same stream)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(FIGURE, dpi=110)
    plt.close(figure)


def run() -> list[Result]:
    rng = np.random.default_rng(SEED)
    world = make_world(rng)
    ours_linucb = our_policy(world, "linucb", np.random.default_rng(1))
    ours_thompson = our_policy(world, "thompson", np.random.default_rng(2))
    vw_choose, vw_learn, vw_close = vw_policy(world, np.random.default_rng(3))
    runs = [
        Run("random", *random_policy(np.random.default_rng(4))),
        Run("popularity", *popularity_policy(np.random.default_rng(5))),
        Run("content-only", *content_policy(world)),
        Run("ours LinUCB", ours_linucb.choose, ours_linucb.learn),
        Run("ours Thompson", ours_thompson.choose, ours_thompson.learn),
        Run("MABWiser LinUCB", *mabwiser_policy(world, "LinUCB")),
        Run("MABWiser LinTS", *mabwiser_policy(world, "LinTS")),
        Run("VW cb_explore_adf", vw_choose, vw_learn),
    ]
    try:
        users = replay(world, runs, rng)
    finally:
        vw_close()
    plot(runs)
    by = {r.name: r for r in runs}

    def ctr(name: str) -> float:
        return 1000 * float(np.mean(by[name].rewards[WARM_UP:]))

    def regret(name: str) -> float:
        return float(np.sum(by[name].regret[WARM_UP:]))

    def latency_us(name: str) -> float:
        return 1e6 * statistics.median(by[name].latency_s)

    oracle = 1000 * float(np.mean(world.chance.max(axis=1)[users[WARM_UP:]]))
    all_ctr = ", ".join(f"{r.name} {ctr(r.name):.0f}" for r in runs)
    note = f"clicks per 1,000 after warm-up ({WARM_UP:,} of {ROUNDS:,} rounds); best possible {oracle:.0f}"
    others = ("popularity", "content-only", "random", "MABWiser LinUCB", "MABWiser LinTS", "VW cb_explore_adf")
    results = [
        Result(
            GROUP,
            f"CTR {ours} vs {other}",
            ctr(ours),
            "clicks/1k",
            ctr(other),
            f"{note}; regret {regret(ours):.0f} vs {regret(other):.0f} expected clicks lost"
            if other != "random"
            else f"{note}; all: {all_ctr}",
            figure=FIGURE.relative_to(FIGURE.parents[1]).as_posix(),
        )
        for ours in ("ours LinUCB", "ours Thompson")
        for other in others
    ]
    for ours, other in (("ours LinUCB", "MABWiser LinUCB"), ("ours Thompson", "MABWiser LinTS")):
        results.append(
            Result(
                GROUP,
                f"decision latency {ours} vs {other}",
                latency_us(ours),
                "µs",
                latency_us(other),
                f"median per decision over {ITEMS} items, time, lower is better;"
                f" VW {latency_us('VW cb_explore_adf'):.0f} µs (text examples parsed per call)",
            )
        )
    results += ope(world, by["ours Thompson"], ours_thompson, users)
    return results


if __name__ == "__main__":
    for result in run():
        print(f"{result.name}: {result.value:.1f} vs {result.baseline:.1f} {result.unit} ({result.ratio:.2f})")
