"""The online learning step: rewards of served items update their items' statistics in PostgreSQL.

A reward is joined to its serving by ``(recommendation_id, item_id)``. A serving's reward is the
best one it earned: the first adds its context to ``A`` and ``reward·x`` to ``b``; a better one later
(a ``done`` after a ``click``) adds only the difference to ``b``. Several hubs and concurrent requests
update the same items safely: servings are locked first (ordered), then the items' statistics rows
(``SELECT ... FOR UPDATE`` in item order), inside the caller's transaction, so no update is lost
and no two transactions wait on each other in a cycle.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
import numpy as np

from luna_hub.events.schemas import Reward
from luna_hub.recommend.bandit import fresh_statistics, with_reward
from luna_hub.recommend.features import FEATURE_DIMS

__all__ = ["Reward", "apply_rewards", "expire_servings"]


async def apply_rewards(db: asyncpg.Connection, rewards: Sequence[Reward], *, ridge: float) -> int:
    """Apply ``rewards`` within the caller's transaction; return how many servings changed."""
    if not rewards:
        return 0
    best: dict[tuple[uuid.UUID, str], float] = {}
    for reward in rewards:
        key = (reward.recommendation_id, reward.item_id)
        best[key] = max(best.get(key, reward.reward), reward.reward)
    servings = await db.fetch(
        """
        SELECT ri.recommendation_id, ri.item_id, ri.reward, rc.context
        FROM recommendation_items ri
        JOIN recommendation_candidates rc USING (recommendation_id, item_id)
        WHERE (ri.recommendation_id, ri.item_id) IN (SELECT * FROM unnest($1::uuid[], $2::text[]))
        ORDER BY ri.recommendation_id, ri.position
        FOR UPDATE OF ri
        """,
        [key[0] for key in best],
        [key[1] for key in best],
    )
    changes: dict[str, list[tuple[np.ndarray, float, bool]]] = {}
    changed: list[tuple[uuid.UUID, str, float]] = []
    for row in servings:
        new = best[(row["recommendation_id"], row["item_id"])]
        old = row["reward"]
        if old is not None and new <= old:
            continue
        x = np.asarray(row["context"], dtype=np.float64)
        changes.setdefault(row["item_id"], []).append((x, new - (old or 0.0), old is not None))
        changed.append((row["recommendation_id"], row["item_id"], new))
    if not changed:
        return 0
    await db.execute(
        """
        UPDATE recommendation_items ri SET reward = u.reward, rewarded_at = now()
        FROM unnest($1::uuid[], $2::text[], $3::float8[]) AS u(recommendation_id, item_id, reward)
        WHERE ri.recommendation_id = u.recommendation_id AND ri.item_id = u.item_id
        """,
        [c[0] for c in changed],
        [c[1] for c in changed],
        [c[2] for c in changed],
    )
    await _update_arms(db, changes, ridge=ridge)
    return len(changed)


async def _update_arms(
    db: asyncpg.Connection, changes: dict[str, list[tuple[np.ndarray, float, bool]]], *, ridge: float
) -> None:
    items = sorted(changes)
    start_a, start_b = fresh_statistics(FEATURE_DIMS, ridge)
    await db.execute(
        """
        INSERT INTO recommend_arms (item_id, dims, a, b)
        SELECT item_id, $2::int, $3::float8[], $4::float8[] FROM unnest($1::text[]) AS item_id
        ON CONFLICT (item_id) DO NOTHING
        """,
        items,
        FEATURE_DIMS,
        start_a.ravel().tolist(),
        start_b.tolist(),
    )
    rows = await db.fetch(
        "SELECT item_id, dims, a, b FROM recommend_arms WHERE item_id = ANY($1::text[]) ORDER BY item_id FOR UPDATE",
        items,
    )
    new_a: list[list[float]] = []
    new_b: list[list[float]] = []
    counts: list[int] = []
    for row in rows:
        if row["dims"] == FEATURE_DIMS:
            a = np.asarray(row["a"], dtype=np.float64).reshape(FEATURE_DIMS, FEATURE_DIMS)
            b = np.asarray(row["b"], dtype=np.float64)
        else:  # statistics of another feature layout cannot be reused
            a, b = start_a, start_b
        first = 0
        for x, delta, counted in changes[row["item_id"]]:
            a, b = with_reward(a, b, x, delta, counted=counted)
            first += 0 if counted else 1
        new_a.append(a.ravel().tolist())
        new_b.append(b.tolist())
        counts.append(first)
    await db.execute(
        """
        UPDATE recommend_arms r
        SET dims = $2::int,
            a = ($3::float8[])[(u.ord - 1) * $2::int * $2::int + 1 : u.ord * $2::int * $2::int],
            b = ($4::float8[])[(u.ord - 1) * $2::int + 1 : u.ord * $2::int],
            rewards = r.rewards + u.added, updated_at = now()
        FROM unnest($1::text[], $5::bigint[]) WITH ORDINALITY AS u(item_id, added, ord)
        WHERE r.item_id = u.item_id
        """,
        [row["item_id"] for row in rows],
        FEATURE_DIMS,
        [v for a in new_a for v in a],
        [v for b in new_b for v in b],
        counts,
    )


async def expire_servings(pool: asyncpg.Pool, *, older_than_s: float, ridge: float, limit: int = 5000) -> int:
    """Give reward 0 to servings left without one for ``older_than_s`` seconds; return how many."""
    async with pool.acquire() as db, db.transaction():
        rows = await db.fetch(
            """
            SELECT ri.recommendation_id, ri.item_id
            FROM recommendation_items ri JOIN recommendations r USING (recommendation_id)
            WHERE ri.reward IS NULL AND r.created_at < now() - make_interval(secs => $1)
            ORDER BY ri.recommendation_id, ri.position
            LIMIT $2
            """,
            older_than_s,
            limit,
        )
        return await apply_rewards(
            db, [Reward(row["recommendation_id"], row["item_id"], 0.0) for row in rows], ridge=ridge
        )
