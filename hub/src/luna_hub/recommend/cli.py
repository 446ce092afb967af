"""``luna-hub recommend evaluate``: the command line of :mod:`luna_hub.recommend.evaluation`."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:  # numpy and asyncpg are imported when the command runs, not for --help
    import asyncpg

    from luna_hub.recommend.evaluation import Evaluation
    from luna_hub.settings import HubSettings

__all__ = ["add_recommend_commands", "run_recommend"]

WithPool: TypeAlias = "Callable[[HubSettings, Callable[[asyncpg.Pool], Awaitable[Evaluation]]], Evaluation]"


def add_recommend_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``recommend evaluate`` to the hub's commands."""
    recommend = commands.add_parser(
        "recommend", help="evaluate the recommender offline", description="The recommender's decision log."
    )
    actions = recommend.add_subparsers(dest="recommend_command", required=True, metavar="ACTION")
    evaluate = actions.add_parser(
        "evaluate",
        help="estimate a target policy's reward from the decision log (IPS, SNIPS, doubly robust)",
        description="Off-policy evaluation over the logged first positions that have a reward: IPS, SNIPS and"
        " doubly robust estimates of the target policy's mean reward, each with a percentile bootstrap interval,"
        " next to the logging policy's own mean reward.",
    )
    evaluate.add_argument(
        "--target",
        choices=("greedy", "linucb", "uniform"),
        default="greedy",
        help="greedy: the highest predicted reward with the current statistics; linucb: the highest upper bound"
        " (recommend.alpha); uniform: any candidate alike (default: greedy)",
    )
    evaluate.add_argument("--policy", choices=("linucb", "thompson"), help="only decisions logged by this policy")
    evaluate.add_argument("--limit", type=int, default=100_000, help="newest decisions used (default 100000)")
    evaluate.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    evaluate.add_argument("--json", action="store_true", help="print the result as JSON")


def run_recommend(settings: HubSettings, args: argparse.Namespace, with_pool: WithPool) -> int:
    """Run ``recommend evaluate`` and print its estimates."""
    import msgspec  # noqa: PLC0415 - see the imports above

    from luna_hub.recommend.evaluation import evaluate_log  # noqa: PLC0415

    result = with_pool(
        settings,
        lambda pool: evaluate_log(
            pool,
            settings.recommend,
            target=args.target,
            policy=args.policy,
            limit=args.limit,
            resamples=args.resamples,
            seed=args.seed,
        ),
    )
    if args.json:
        print(msgspec.json.encode(result).decode())
        return 0
    print(f"target {result.target}: {result.decisions} logged decisions with a reward")
    print(f"logged policy's mean reward: {result.logged_mean_reward:.4f}")
    print(f"{'ESTIMATOR':<10} {'VALUE':>8} {'95% INTERVAL':>20}")
    for estimate in result.estimates:
        print(f"{estimate.name:<10} {estimate.value:>8.4f} [{estimate.low:>8.4f}, {estimate.high:>8.4f}]")
    return 0
