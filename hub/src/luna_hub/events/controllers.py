"""``POST /items`` and ``POST /events``."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from luna_hub.auth.guards import ANONYMOUS, principal_of
from luna_hub.events.schemas import EventsRequest, EventsStored, ItemsRequest, ItemsStored
from luna_hub.events.services import EventsService

__all__ = ["EventsController"]


class EventsController(Controller):
    """Items to recommend, and what users did with them."""

    tags = ["recommend"]  # noqa: RUF012 - Litestar's declared type

    @post("/items", status_code=200, summary="Create or replace items and embed them", request_max_body_size=16 << 20)
    async def items(self, data: JSONBody[ItemsRequest], events_service: NamedDependency[EventsService]) -> ItemsStored:
        """Upsert items by ``item_id`` into the database and the vector store (analysts and admins)."""
        return await events_service.upsert_items(data.items)

    @post("/events", status_code=200, summary="Store events (idempotent by event_id)", request_max_body_size=8 << 20)
    async def store(
        self,
        data: JSONBody[EventsRequest],
        events_service: NamedDependency[EventsService],
        request: Request[Any, Any, Any],
    ) -> EventsStored:
        """Store the batch whole or not at all; ``user_id`` defaults to the caller, others only for analysts/admins."""
        return await events_service.store(data.events, caller=principal_of(request) or ANONYMOUS)
