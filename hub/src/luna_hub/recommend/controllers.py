"""``GET /recommend`` and ``GET /recommend/explain``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import Parameter, QueryParameter

from luna_hub.auth.guards import ANONYMOUS, principal_of
from luna_hub.recommend.schemas import Explanation, Recommendation
from luna_hub.recommend.services import Recommender

__all__ = ["RecommendController"]


class RecommendController(Controller):
    """Recommendations that learn from events."""

    path = "/recommend"
    tags = ["recommend"]  # noqa: RUF012 - Litestar's declared type

    @get("/", summary="Recommend items to a user (default: the caller)")
    async def recommend(
        self,
        recommender: NamedDependency[Recommender],
        request: Request[Any, Any, Any],
        user_id: Annotated[str | None, QueryParameter(name="user_id", min_length=1, max_length=200)] = None,
        k: Annotated[int | None, Parameter(ge=1, le=50)] = None,
        item_type: Annotated[str | None, QueryParameter(name="type", min_length=1, max_length=50)] = None,
    ) -> Recommendation:
        """Rank candidates with the configured bandit; every item carries the propensity it was served with."""
        caller = principal_of(request) or ANONYMOUS
        return await recommender.for_caller(caller, user_id=user_id, k=k, item_type=item_type)

    @get("/explain", summary="How a recommendation was made")
    async def explain(
        self,
        recommender: NamedDependency[Recommender],
        request: Request[Any, Any, Any],
        recommendation_id: Annotated[uuid.UUID, QueryParameter(name="recommendation_id")],
    ) -> Explanation:
        """Candidates with their sources and contexts, served items with score parts, propensities and rewards."""
        return await recommender.explain(recommendation_id, caller=principal_of(request) or ANONYMOUS)
