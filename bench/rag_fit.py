"""Fit the reranker's weights and the declining threshold on the development set, with cross-validation.

Candidates are the passages of a question's fused hits (``rag.rerank_candidates`` of them); a passage
is positive when the bench counts it as holding the evidence (:func:`bench.rag_quality.passage_hits`).
The model is an L2-regularised logistic regression (Newton's method, NumPy), so the hub needs no
learning library at run time: :data:`luna_hub.rag.rerank.WEIGHTS` holds the coefficients printed here.
The threshold on the best passage's probability is the one whose decisions (decline or answer) are
right most often on the training folds. Cross-validation: five folds over questions (a question's candidates stay
together), seeded, so the numbers reproduce. Only the development set is ever fitted on.
"""

from __future__ import annotations

import itertools
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]
L2 = 1.0
"""Ridge penalty (the bias is not penalised); chosen before fitting, not searched."""
FOLDS = 5


@dataclass(frozen=True)
class Question:
    """One development question: its candidates' feature rows, which hold the evidence, and whether it has an answer."""

    rows: list[list[float]]
    labels: list[bool]
    answerable: bool


def fit(questions: Sequence[Question], *, l2: float = L2, iterations: int = 50) -> list[float]:
    """Return logistic-regression weights over every candidate row of ``questions``."""
    x = np.array([row for q in questions for row in q.rows], dtype=np.float64)
    y = np.array([label for q in questions for label in q.labels], dtype=np.float64)
    weights = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[0] = 0.0  # the bias
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(x @ weights, -30, 30)))
        gradient = x.T @ (p - y) + penalty * weights
        hessian = (x.T * (p * (1 - p))) @ x + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return [float(w) for w in weights]


def probabilities(question: Question, weights: Sequence[float]) -> list[float]:
    """The model's probability for each candidate of ``question``."""
    x = np.array(question.rows, dtype=np.float64)
    return [float(v) for v in 1 / (1 + np.exp(-np.clip(x @ np.array(weights), -30, 30)))]


def _rank_of_first_hit(question: Question, weights: Sequence[float]) -> int | None:
    scores = probabilities(question, weights)
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return next((n for n, i in enumerate(order, start=1) if question.labels[i]), None)


def threshold(questions: Sequence[Question], weights: Sequence[float]) -> float:
    """The confidence below which declining is right most often on ``questions`` (midpoint between neighbours).

    Right: an unanswerable question declined, or an answerable one answered (accuracy of the decision;
    F1 of declining was tried first and declined two thirds of the answerable questions).
    """
    best = [max(probabilities(q, weights), default=0.0) for q in questions]
    candidates = sorted(set(best))
    cuts = [0.0] + [(a + b) / 2 for a, b in itertools.pairwise(candidates)] + [1.0]
    scored = []
    for cut in cuts:
        right = sum((b < cut) != q.answerable for q, b in zip(questions, best, strict=True))
        scored.append((right, -cut, cut))
    return max(scored)[2]


@dataclass(frozen=True)
class CrossValidation:
    """Out-of-fold numbers: recall@1/5 of the reranked candidates vs the fused order, and declining."""

    recall_at_1: float
    recall_at_5: float
    fused_recall_at_1: float
    fused_recall_at_5: float
    decline_precision: float
    decline_recall: float
    answerable_declined: int


def cross_validate(questions: Sequence[Question], *, seed: int = 22) -> CrossValidation:
    """Fit on four folds, score the fifth, for each fold; the numbers are over every question once."""
    order = list(range(len(questions)))
    random.Random(seed).shuffle(order)  # noqa: S311 - fold assignment, not cryptography
    ranks: list[int | None] = []
    fused: list[int | None] = []
    decisions: list[tuple[bool, bool]] = []  # (declined, answerable)
    for fold in range(FOLDS):
        test = [questions[i] for n, i in enumerate(order) if n % FOLDS == fold]
        train = [questions[i] for n, i in enumerate(order) if n % FOLDS != fold]
        weights = fit(train)
        cut = threshold(train, weights)
        for q in test:
            decisions.append((max(probabilities(q, weights), default=0.0) < cut, q.answerable))
            if q.answerable:
                ranks.append(_rank_of_first_hit(q, weights))
                fused.append(next((n for n, label in enumerate(q.labels, start=1) if label), None))
    declined = [answerable for was_declined, answerable in decisions if was_declined]
    unanswerable = sum(not answerable for _, answerable in decisions)

    def at(found: list[int | None], k: int) -> float:
        return sum(1 for r in found if r is not None and r <= k) / max(len(found), 1)

    return CrossValidation(
        recall_at_1=at(ranks, 1),
        recall_at_5=at(ranks, 5),
        fused_recall_at_1=at(fused, 1),
        fused_recall_at_5=at(fused, 5),
        decline_precision=sum(not a for a in declined) / len(declined) if declined else 0.0,
        decline_recall=sum(not a for a in declined) / unanswerable if unanswerable else 0.0,
        answerable_declined=sum(declined),
    )


def main() -> None:
    """Fit on the development set (the bench's index, cached with ``LUNA_BENCH_RAG_CACHE``) and print the results."""
    from bench import rag_quality  # noqa: PLC0415 - it imports this module

    for result in rag_quality.run(["fit"]):
        print(f"{result.name}: {result.value:.0f} {result.unit} (baseline {result.baseline:.0f}) - {result.note}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
