"""SQL of the recommender: a user's engagements, popular and fresh items, item statistics, the decision log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import msgspec

__all__ = [
    "arm_statistics",
    "decision",
    "engagements",
    "fresh_items",
    "item_rows",
    "log_decision",
    "logged_decisions",
    "popular_items",
]


async def engagements(db: asyncpg.Connection, user_id: str, *, limit: int) -> list[asyncpg.Record]:
    """Return the user's latest events: item, type, value and age in days."""
    rows: list[asyncpg.Record] = await db.fetch(
        """
        SELECT item_id, type, value, extract(epoch FROM now() - ts) / 86400.0 AS age_days
        FROM user_events WHERE user_id = $1 ORDER BY ts DESC LIMIT $2
        """,
        user_id,
        limit,
    )
    return rows


async def popular_items(
    db: asyncpg.Connection, *, types: Sequence[str], days: float, item_type: str | None, limit: int
) -> list[str]:
    """Active items with the most events of ``types`` over the last ``days``."""
    rows = await db.fetch(
        """
        SELECT e.item_id FROM user_events e JOIN items i USING (item_id)
        WHERE e.ts > now() - make_interval(secs => $2 * 86400) AND e.type = ANY($1::text[]) AND i.active
          AND ($3::text IS NULL OR i.type = $3)
        GROUP BY e.item_id ORDER BY count(*) DESC, e.item_id LIMIT $4
        """,
        list(types),
        days,
        item_type,
        limit,
    )
    return [row["item_id"] for row in rows]


async def fresh_items(db: asyncpg.Connection, *, item_type: str | None, limit: int) -> list[str]:
    """Return the newest active items."""
    rows = await db.fetch(
        """
        SELECT item_id FROM items WHERE active AND ($1::text IS NULL OR type = $1)
        ORDER BY created_at DESC, item_id LIMIT $2
        """,
        item_type,
        limit,
    )
    return [row["item_id"] for row in rows]


async def item_rows(db: asyncpg.Connection, item_ids: Sequence[str], *, item_type: str | None) -> dict[str, Any]:
    """Active items among ``item_ids`` (optionally of one type): id to (type, title)."""
    rows = await db.fetch(
        """
        SELECT item_id, type, title FROM items
        WHERE item_id = ANY($1::text[]) AND active AND ($2::text IS NULL OR type = $2)
        """,
        list(item_ids),
        item_type,
    )
    return {row["item_id"]: (row["type"], row["title"]) for row in rows}


async def arm_statistics(
    db: asyncpg.Connection, item_ids: Sequence[str]
) -> dict[str, tuple[int, list[float], list[float]]]:
    """Return the stored statistics of ``item_ids``: id to (dims, A flattened, b)."""
    rows = await db.fetch(
        "SELECT item_id, dims, a, b FROM recommend_arms WHERE item_id = ANY($1::text[])", list(item_ids)
    )
    return {row["item_id"]: (row["dims"], list(row["a"]), list(row["b"])) for row in rows}


async def log_decision(  # noqa: PLR0913 - the decision's parts
    db: asyncpg.Connection,
    *,
    recommendation_id: uuid.UUID,
    user_id: str,
    policy: str,
    item_type: str | None,
    params: dict[str, Any],
    candidates: Sequence[tuple[str, Sequence[str], float | None]],
    contexts: Sequence[float],
    dims: int,
    served: Sequence[tuple[int, str, float, float, float, float, bool]],
) -> None:
    """Store a decision: its candidates (with contexts, flattened ``dims`` per candidate) and its served items."""
    async with db.transaction():
        await db.execute(
            """
            INSERT INTO recommendations (recommendation_id, user_id, policy, item_type, params)
            VALUES ($1, $2, $3, $4, $5::jsonb)
            """,
            recommendation_id,
            user_id,
            policy,
            item_type,
            msgspec.json.encode(params).decode(),
        )
        await db.execute(
            """
            INSERT INTO recommendation_candidates (recommendation_id, item_id, sources, similarity, context)
            SELECT $1, item, string_to_array(src, ','), sim, ($5::float8[])[(ord - 1) * $6::int + 1 : ord * $6::int]
            FROM unnest($2::text[], $3::text[], $4::float8[]) WITH ORDINALITY AS t(item, src, sim, ord)
            """,
            recommendation_id,
            [c[0] for c in candidates],
            [",".join(c[1]) for c in candidates],
            [c[2] for c in candidates],
            list(contexts),
            dims,
        )
        await db.execute(
            """
            INSERT INTO recommendation_items
                (recommendation_id, position, item_id, score, mean, width, propensity, explored)
            SELECT $1, * FROM unnest($2::int[], $3::text[], $4::float8[], $5::float8[], $6::float8[], $7::float8[],
                                     $8::bool[])
            """,
            recommendation_id,
            *([s[i] for s in served] for i in range(7)),
        )


async def decision(db: asyncpg.Connection, recommendation_id: uuid.UUID) -> tuple[Any, list[Any], list[Any]] | None:
    """Return a logged decision, its candidates and its served items; None when unknown."""
    head = await db.fetchrow("SELECT * FROM recommendations WHERE recommendation_id = $1", recommendation_id)
    if head is None:
        return None
    candidates = await db.fetch(
        "SELECT * FROM recommendation_candidates WHERE recommendation_id = $1 ORDER BY item_id", recommendation_id
    )
    items = await db.fetch(
        "SELECT * FROM recommendation_items WHERE recommendation_id = $1 ORDER BY position", recommendation_id
    )
    return head, list(candidates), list(items)


async def logged_decisions(db: asyncpg.Connection, *, policy: str | None, limit: int) -> list[asyncpg.Record]:
    """First-position decisions with a reward: logged item, propensity, reward, every candidate's id and context."""
    rows: list[asyncpg.Record] = await db.fetch(
        """
        SELECT ri.recommendation_id, ri.item_id, ri.propensity, ri.reward,
               array_agg(rc.item_id ORDER BY rc.item_id) AS candidates,
               array_agg(array_to_string(rc.context, ',') ORDER BY rc.item_id) AS contexts
        FROM recommendation_items ri
        JOIN recommendations r USING (recommendation_id)
        JOIN recommendation_candidates rc USING (recommendation_id)
        WHERE ri.position = 1 AND ri.reward IS NOT NULL AND ($1::text IS NULL OR r.policy = $1)
        GROUP BY ri.recommendation_id, ri.item_id, ri.propensity, ri.reward, r.created_at
        ORDER BY r.created_at DESC LIMIT $2
        """,
        policy,
        limit,
    )
    return rows
