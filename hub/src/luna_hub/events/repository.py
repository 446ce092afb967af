"""SQL of items and events (tables ``items``, ``user_event_ids``, ``user_events``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from luna_hub.events.schemas import Item

__all__ = [
    "deactivate_items",
    "insert_events",
    "known_items",
    "known_recommendations",
    "new_event_ids",
    "upsert_item_rows",
]


async def upsert_item_rows(db: asyncpg.Connection, items: Sequence[Item], *, source: str) -> None:
    """Create or replace ``items`` (active again if they were deactivated)."""
    await db.execute(
        """
        INSERT INTO items (item_id, type, title, body, tags, source)
        SELECT i, t, ti, bo, CASE WHEN tg = '' THEN '{}'::text[] ELSE string_to_array(tg, E'\\x1f') END, $6
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS u(i, t, ti, bo, tg)
        ON CONFLICT (item_id) DO UPDATE
        SET type = EXCLUDED.type, title = EXCLUDED.title, body = EXCLUDED.body, tags = EXCLUDED.tags,
            source = EXCLUDED.source, active = true, updated_at = now()
        """,
        [item.item_id for item in items],
        [item.type for item in items],
        [item.title for item in items],
        [item.text for item in items],
        ["\x1f".join(item.tags) for item in items],
        source,
    )


async def deactivate_items(db: asyncpg.Connection, item_ids: Sequence[str]) -> None:
    """Stop recommending ``item_ids`` (their events stay)."""
    await db.execute(
        "UPDATE items SET active = false, updated_at = now() WHERE item_id = ANY($1::text[])", list(item_ids)
    )


async def known_items(db: asyncpg.Connection, item_ids: Sequence[str]) -> set[str]:
    """Return the ids among ``item_ids`` that name items."""
    rows = await db.fetch("SELECT item_id FROM items WHERE item_id = ANY($1::text[])", list(item_ids))
    return {row["item_id"] for row in rows}


async def known_recommendations(db: asyncpg.Connection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Return the user of each of ``ids`` that names a logged recommendation."""
    rows = await db.fetch(
        "SELECT recommendation_id, user_id FROM recommendations WHERE recommendation_id = ANY($1::uuid[])", list(ids)
    )
    return {row["recommendation_id"]: row["user_id"] for row in rows}


async def new_event_ids(db: asyncpg.Connection, event_ids: Sequence[str]) -> set[str]:
    """Claim ``event_ids``; return those not stored before (waits for a concurrent claim of the same id)."""
    rows = await db.fetch(
        "INSERT INTO user_event_ids (event_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING RETURNING event_id",
        list(event_ids),
    )
    return {row["event_id"] for row in rows}


async def insert_events(  # noqa: PLR0913 - one array per column
    db: asyncpg.Connection,
    *,
    event_ids: Sequence[str],
    users: Sequence[str],
    types: Sequence[str],
    items: Sequence[str],
    recommendations: Sequence[uuid.UUID | None],
    values: Sequence[float | None],
    times: Sequence[datetime],
    sent_by: str,
) -> None:
    """Insert events (one entry per event in each sequence)."""
    await db.execute(
        """
        INSERT INTO user_events (event_id, user_id, type, item_id, recommendation_id, value, ts, sent_by)
        SELECT e, u, t, i, r, v, ts, $8
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::float8[], $7::timestamptz[])
            AS x(e, u, t, i, r, v, ts)
        """,
        list(event_ids),
        list(users),
        list(types),
        list(items),
        list(recommendations),
        list(values),
        list(times),
        sent_by,
    )
