"""Items in, events in: validation, idempotent storage, and the hand-over of rewards to the learning step.

:func:`upsert_items` is the one way items enter the hub (``POST /items``, indexed documents, and
energy actions from their domain): rows in PostgreSQL, vectors in Qdrant. A batch of events is
stored whole or not at all: any unknown item or recommendation, future time or bad rating refuses
the batch (422) before anything is written; events whose id is stored already are counted as
duplicates and left as they were.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

from luna_hub.auth.schemas import Principal
from luna_hub.errors import ForbiddenError, PayloadTooLargeError, UnprocessableError
from luna_hub.events import repository
from luna_hub.events.schemas import Event, EventsStored, Item, ItemsStored, Reward
from luna_hub.events.vectors import QdrantItemIndex
from luna_hub.settings.recommend import RecommendSettings
from luna_shared.logs import get_logger

__all__ = ["EventsService", "Learn", "reward_of", "upsert_items"]

_log = get_logger(__name__)
_FOR_OTHERS = frozenset({"admin", "analyst"})


async def upsert_items(
    pool: asyncpg.Pool, index: QdrantItemIndex, items: Sequence[Item], *, source: str = "api"
) -> ItemsStored:
    """Create or replace ``items`` (by id, the last of a repeated id wins) and embed them; for any domain."""
    unique = list({item.item_id: item for item in items}.values())
    await index.upsert(unique)  # first: a row without a vector would be recommended without content
    async with pool.acquire() as db:
        await repository.upsert_item_rows(db, unique, source=source)
    _log.info("items stored", count=len(unique), source=source, collection=index.collection)
    return ItemsStored(stored=len(unique), collection=index.collection)


async def deactivate_items(pool: asyncpg.Pool, index: QdrantItemIndex, item_ids: Sequence[str]) -> None:
    """Stop recommending ``item_ids`` (a deleted document): rows stay for their events, vectors go."""
    async with pool.acquire() as db:
        await repository.deactivate_items(db, item_ids)
    await index.remove(item_ids)


Learn = Callable[[asyncpg.Connection, Sequence[Reward]], Awaitable[int]]
"""Apply rewards inside the caller's transaction; return how many servings changed."""


async def _learn_nothing(_db: asyncpg.Connection, _rewards: Sequence[Reward]) -> int:
    return 0


def reward_of(event: Event, settings: RecommendSettings) -> float | None:
    """Return the reward ``event`` gives the serving it names (None: it gives none)."""
    if event.type == "rating":
        return None if event.value is None else min(max(event.value / settings.rating_max, 0.0), 1.0)
    return settings.rewards.get(event.type)


class EventsService:
    """Stores items and events; events answering a recommendation feed the recommender's learning step."""

    def __init__(self, pool: asyncpg.Pool, index: QdrantItemIndex, settings: RecommendSettings) -> None:
        self._pool = pool
        self.index = index
        self._settings = settings
        self.learn: Learn = _learn_nothing
        """The learning step, given by the recommend domain when it opens (it depends on events, not back)."""

    async def upsert_items(self, items: Sequence[Item]) -> ItemsStored:
        """``POST /items``: at most ``recommend.max_items`` per call."""
        if len(items) > self._settings.max_items:
            msg = f"{len(items)} items; recommend.max_items is {self._settings.max_items}"
            raise PayloadTooLargeError(msg)
        return await upsert_items(self._pool, self.index, items)

    async def store(self, events: Sequence[Event], *, caller: Principal) -> EventsStored:
        """Check every event, then store the new ones and apply their rewards in one transaction."""
        if len(events) > self._settings.max_events:
            msg = f"{len(events)} events; recommend.max_events is {self._settings.max_events}"
            raise PayloadTooLargeError(msg)
        users = [event.user_id or caller.username for event in events]
        self._check(events, users, caller)
        async with self._pool.acquire() as db, db.transaction():
            missing = set(await self._missing_items(db, events))
            if missing:
                msg = f"unknown item(s): {', '.join(sorted(missing)[:10])}; nothing stored"
                raise UnprocessableError(msg)
            wanted = {event.recommendation_id for event in events if event.recommendation_id is not None}
            found = await repository.known_recommendations(db, list(wanted))
            for event, user in zip(events, users, strict=True):
                if event.recommendation_id is None:
                    continue
                if event.recommendation_id not in found:
                    msg = f"event {event.event_id!r}: unknown recommendation {event.recommendation_id}; nothing stored"
                    raise UnprocessableError(msg)
                if found[event.recommendation_id] != user:
                    msg = f"event {event.event_id!r}: recommendation {event.recommendation_id} was for another user"
                    raise UnprocessableError(msg)
            fresh = await repository.new_event_ids(db, [event.event_id for event in events])
            taken: set[str] = set()
            chosen: list[tuple[Event, str]] = []
            for event, user in zip(events, users, strict=True):
                if event.event_id in fresh and event.event_id not in taken:
                    taken.add(event.event_id)
                    chosen.append((event, user))
            if chosen:
                await repository.insert_events(
                    db,
                    event_ids=[e.event_id for e, _ in chosen],
                    users=[u for _, u in chosen],
                    types=[e.type for e, _ in chosen],
                    items=[e.item_id for e, _ in chosen],
                    recommendations=[e.recommendation_id for e, _ in chosen],
                    values=[e.value for e, _ in chosen],
                    times=[e.ts for e, _ in chosen],
                    sent_by=caller.username,
                )
            rewards = [
                Reward(event.recommendation_id, event.item_id, reward)
                for event, _ in chosen
                if event.recommendation_id is not None and (reward := reward_of(event, self._settings)) is not None
            ]
            learned = await self.learn(db, rewards)
        _log.info("events stored", stored=len(chosen), duplicates=len(events) - len(chosen), rewards=learned)
        return EventsStored(stored=len(chosen), duplicates=len(events) - len(chosen))

    def _check(self, events: Sequence[Event], users: Sequence[str], caller: Principal) -> None:
        latest = datetime.now(UTC) + timedelta(seconds=self._settings.event_future_s)
        for event, user in zip(events, users, strict=True):
            if user != caller.username and caller.role not in _FOR_OTHERS:
                msg = f"event {event.event_id!r}: only analysts and admins may send events of other users"
                raise ForbiddenError(msg)
            if event.ts.tzinfo is None:
                msg = f"event {event.event_id!r}: ts needs a UTC offset (e.g. 2026-01-01T12:00:00Z)"
                raise UnprocessableError(msg)
            if event.ts > latest:
                msg = f"event {event.event_id!r}: ts {event.ts.isoformat()} is in the future; nothing stored"
                raise UnprocessableError(msg)
            if event.type == "rating" and (event.value is None or not 0 <= event.value <= self._settings.rating_max):
                msg = f"event {event.event_id!r}: a rating needs a value from 0 to {self._settings.rating_max}"
                raise UnprocessableError(msg)

    async def _missing_items(self, db: asyncpg.Connection, events: Sequence[Event]) -> list[str]:
        wanted = {event.item_id for event in events}
        return sorted(wanted - await repository.known_items(db, list(wanted)))
