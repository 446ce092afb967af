"""Requests and answers of ``POST /items`` and ``POST /events``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import msgspec

from luna_hub.settings.recommend import EventType

__all__ = ["Event", "EventsRequest", "EventsStored", "Item", "ItemsRequest", "ItemsStored"]

ItemId = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]
ItemType = Annotated[str, msgspec.Meta(min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9_]*$")]


class Item(msgspec.Struct, frozen=True, kw_only=True):
    """Something the hub can recommend: a document, an energy action, an article ..."""

    item_id: ItemId
    type: ItemType
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    text: Annotated[str, msgspec.Meta(max_length=20_000)] = ""
    tags: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f]+$")]],
        msgspec.Meta(max_length=50),
    ] = msgspec.field(default_factory=list)


class ItemsRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Items to create or replace (by ``item_id``)."""

    items: Annotated[list[Item], msgspec.Meta(min_length=1)]


class ItemsStored(msgspec.Struct, frozen=True, kw_only=True):
    """How many items were created or replaced, and the vector collection they are searchable in."""

    stored: int
    collection: str


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """What a user did with an item, optionally in answer to a recommendation."""

    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    type: EventType
    item_id: ItemId
    ts: datetime
    user_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    """Default: the caller; only analysts and admins may send events of other users."""
    recommendation_id: uuid.UUID | None = None
    value: float | None = None
    """The rating (0 to recommend.rating_max) of a ``rating`` event."""


class EventsRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A batch of events, stored whole or not at all."""

    events: Annotated[list[Event], msgspec.Meta(min_length=1)]


class EventsStored(msgspec.Struct, frozen=True, kw_only=True):
    """Events new to the hub, and events whose id it had stored before (left as they were)."""

    stored: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class Reward:
    """A reward in [0, 1] for the serving of ``item_id`` in ``recommendation_id`` (events hand these to learning)."""

    recommendation_id: uuid.UUID
    item_id: str
    reward: float
