"""Recommendations: candidates from the user's profile, popularity and freshness, ranked by a contextual bandit.

1. Profile: the vectors of the items in the user's latest events, weighted by event type
   (``recommend.event_weights``, ratings scaled by value) and halving every
   ``profile_half_life_days``; dismissed items are never candidates again.
2. Candidates: the items nearest to the profile in Qdrant (content), the most engaged-with items
   of the last ``popular_days`` (popular), the newest items (fresh) - so a new user gets popular
   and fresh items and a new item gets a chance while nobody has engaged with it yet.
3. Ranking: :func:`luna_hub.recommend.bandit.rank` with the items' statistics from PostgreSQL,
   ``recommend.policy`` LinUCB or Thompson sampling, each served item with its propensity.
4. The decision (candidates, contexts, picks, propensities) goes to the decision log; events naming
   its ``recommendation_id`` reward it later (:mod:`luna_hub.recommend.learning`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Final

import asyncpg
import msgspec
import numpy as np

from luna_hub.auth.schemas import Principal
from luna_hub.errors import ForbiddenError, NotFoundError
from luna_hub.events.documents import document_id_of
from luna_hub.events.vectors import QdrantItemIndex
from luna_hub.rag.schemas import RecommendedDocument, RecommendedDocuments
from luna_hub.recommend import repository
from luna_hub.recommend.bandit import Pick, RankingParams, fresh_statistics, rank
from luna_hub.recommend.features import FEATURE_DIMS, contexts, profile_vector
from luna_hub.recommend.schemas import (
    ExplainedCandidate,
    ExplainedItem,
    Explanation,
    Recommendation,
    RecommendedItem,
)
from luna_hub.settings.recommend import RecommendSettings
from luna_shared.logs import get_logger

__all__ = ["Recommender", "ranking_params"]

_log = get_logger(__name__)
_FOR_OTHERS: Final = frozenset({"admin", "analyst"})


def ranking_params(settings: RecommendSettings) -> RankingParams:
    """Return the bandit's parameters from ``[recommend]``."""
    return RankingParams(
        policy=settings.policy,
        alpha=settings.alpha,
        v=settings.thompson_v,
        epsilon=settings.epsilon,
        mc_draws=settings.mc_draws,
    )


class Recommender:
    """Makes recommendations and explains them."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        index: QdrantItemIndex,
        settings: RecommendSettings,
        *,
        rng: np.random.Generator | None = None,
    ) -> None:
        self._pool = pool
        self._index = index
        self._settings = settings
        self._rng = rng if rng is not None else np.random.default_rng()

    async def for_caller(
        self, caller: Principal, *, user_id: str | None, k: int | None, item_type: str | None
    ) -> Recommendation:
        """``GET /recommend``: for ``user_id`` (default the caller); 403 when a plain user asks for another user."""
        user = user_id or caller.username
        if user != caller.username and caller.role not in _FOR_OTHERS:
            msg = "only analysts and admins may ask for other users' recommendations"
            raise ForbiddenError(msg)
        return await self.recommend(user_id=user, k=k, item_type=item_type)

    async def documents_for(self, user_id: str) -> RecommendedDocuments | None:
        """Documents for an answer of ``/rag/ask`` (the rag domain's hook); None when no document is an item yet."""
        found = await self.recommend(user_id=user_id, k=self._settings.answer_documents, item_type="document")
        documents = [
            RecommendedDocument(
                document_id=document_id_of(item.item_id) or item.item_id,
                item_id=item.item_id,
                title=item.title,
                score=item.score,
                propensity=item.propensity,
                reason=item.reason,
            )
            for item in found.items
        ]
        if not documents:
            return None
        return RecommendedDocuments(
            recommendation_id=str(found.recommendation_id), policy=found.policy, documents=documents
        )

    async def recommend(self, *, user_id: str, k: int | None = None, item_type: str | None = None) -> Recommendation:
        """Rank candidates for ``user_id`` and log the decision."""
        settings = self._settings
        k = k or settings.default_k
        positive = [name for name, reward in settings.rewards.items() if reward > 0]
        async with self._pool.acquire() as db:
            events = await repository.engagements(db, user_id, limit=settings.profile_events)
            popular = await repository.popular_items(
                db, types=positive, days=settings.popular_days, item_type=item_type, limit=settings.popular_candidates
            )
            fresh = await repository.fresh_items(db, item_type=item_type, limit=settings.fresh_candidates)
        dismissed = {row["item_id"] for row in events if row["type"] == "dismiss"}
        profile = await self._profile(events)
        sources: dict[str, list[str]] = {}
        if profile is not None and settings.content_candidates:
            for hit in await self._index.search(
                profile.tolist(), limit=settings.content_candidates, item_type=item_type
            ):
                sources.setdefault(hit.item_id, []).append("content")
        for name, found in (("popular", popular), ("fresh", fresh)):
            for item_id in found:
                sources.setdefault(item_id, []).append(name)
        for item_id in dismissed:
            sources.pop(item_id, None)
        async with self._pool.acquire() as db:
            meta = await repository.item_rows(db, list(sources), item_type=item_type)
            ids = [item_id for item_id in sources if item_id in meta]
            stats = await repository.arm_statistics(db, ids)
        vectors = await self._index.vectors(ids)
        zero = np.zeros(self._index.dims)
        matrix = np.asarray([vectors.get(i, zero) for i in ids], dtype=np.float64).reshape(-1, self._index.dims)
        x = contexts(profile, matrix)
        a, b = self._statistics(ids, stats)
        params = ranking_params(settings)
        picks = rank(a, b, x, k=k, params=params, rng=self._rng) if ids else []
        recommendation_id = uuid.uuid4()
        similarity = [float(x[n, 1]) if profile is not None else None for n in range(len(ids))]
        async with self._pool.acquire() as db:
            await repository.log_decision(
                db,
                recommendation_id=recommendation_id,
                user_id=user_id,
                policy=settings.policy,
                item_type=item_type,
                params=_params_of(params, k),
                candidates=[(item_id, sources[item_id], similarity[n]) for n, item_id in enumerate(ids)],
                contexts=x.ravel().tolist(),
                dims=FEATURE_DIMS,
                served=[
                    (pos, ids[p.index], p.score, p.mean, p.width, p.propensity, p.explored)
                    for pos, p in enumerate(picks, start=1)
                ],
            )
        items = [
            RecommendedItem(
                item_id=ids[p.index],
                type=meta[ids[p.index]][0],
                title=meta[ids[p.index]][1],
                score=p.score,
                propensity=p.propensity,
                reason=_reason(p, sources[ids[p.index]], similarity[p.index], settings),
            )
            for p in picks
        ]
        _log.info("recommended", user=user_id, policy=settings.policy, candidates=len(ids), served=len(items))
        return Recommendation(recommendation_id=recommendation_id, policy=settings.policy, items=items)

    async def explain(self, recommendation_id: uuid.UUID, *, caller: Principal) -> Explanation:
        """Return how a logged recommendation was made; a plain user sees only its own."""
        async with self._pool.acquire() as db:
            found = await repository.decision(db, recommendation_id)
        if found is None:
            msg = f"no recommendation {recommendation_id}"
            raise NotFoundError(msg)
        head, candidates, items = found
        if head["user_id"] != caller.username and caller.role not in _FOR_OTHERS:
            msg = "this recommendation was made for another user"
            raise ForbiddenError(msg)
        return Explanation(
            recommendation_id=head["recommendation_id"],
            user_id=head["user_id"],
            policy=head["policy"],
            item_type=head["item_type"],
            created_at=head["created_at"],
            params=_decoded(head["params"]),
            candidates=[
                ExplainedCandidate(
                    item_id=row["item_id"],
                    sources=list(row["sources"]),
                    similarity=row["similarity"],
                    context=list(row["context"]),
                )
                for row in candidates
            ],
            items=[
                ExplainedItem(
                    position=row["position"],
                    item_id=row["item_id"],
                    score=row["score"],
                    mean=row["mean"],
                    width=row["width"],
                    propensity=row["propensity"],
                    explored=row["explored"],
                    reward=row["reward"],
                )
                for row in items
            ],
        )

    async def _profile(self, events: Sequence[Any]) -> np.ndarray | None:
        settings = self._settings
        vectors = await self._index.vectors(list({row["item_id"] for row in events}))
        rows, weights = [], []
        for row in events:
            vector = vectors.get(row["item_id"])
            weight = settings.event_weights.get(row["type"], 0.0)
            if row["type"] == "rating" and row["value"] is not None:
                weight *= row["value"] / settings.rating_max
            if vector is None or weight == 0:
                continue
            rows.append(vector)
            weights.append(weight * 0.5 ** (max(float(row["age_days"]), 0.0) / settings.profile_half_life_days))
        return profile_vector(rows, weights)

    def _statistics(
        self, ids: Sequence[str], stats: dict[str, tuple[int, list[float], list[float]]]
    ) -> tuple[Any, Any]:
        start_a, start_b = fresh_statistics(FEATURE_DIMS, self._settings.ridge)
        a = np.repeat(start_a[None], len(ids), axis=0)
        b = np.repeat(start_b[None], len(ids), axis=0)
        for n, item_id in enumerate(ids):
            stored = stats.get(item_id)
            if stored is not None and stored[0] == FEATURE_DIMS:
                a[n] = np.asarray(stored[1]).reshape(FEATURE_DIMS, FEATURE_DIMS)
                b[n] = np.asarray(stored[2])
        return a, b


def _params_of(params: RankingParams, k: int) -> dict[str, Any]:
    return {
        "policy": params.policy,
        "alpha": params.alpha,
        "v": params.v,
        "epsilon": params.epsilon,
        "mc_draws": params.mc_draws,
        "k": k,
    }


def _decoded(value: Any) -> dict[str, Any]:  # noqa: ANN401 - asyncpg returns jsonb as text
    decoded: dict[str, Any] = msgspec.json.decode(value) if isinstance(value, str | bytes) else dict(value)
    return decoded


def _reason(pick: Pick, sources: Sequence[str], similarity: float | None, settings: RecommendSettings) -> str:
    if pick.explored:
        return f"exploration: picked at random (share {settings.epsilon:g}) so the recommender keeps learning"
    if "content" in sources and similarity is not None:
        return f"similar to items you engaged with (similarity {similarity:.2f})"
    if "popular" in sources:
        return f"popular over the last {settings.popular_days:g} days"
    if "fresh" in sources:
        return "new"
    return "ranked by the recommender"
