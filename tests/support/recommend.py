"""Helpers of the events and recommendation tests: a hub with a near-greedy recommender, callers by role, events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from luna_hub.settings import HubSettings
from luna_hub.settings.recommend import RecommendSettings
from support.hub import admin_key, migrated_pool, ready_client

__all__ = ["Caller", "Client", "OpenHub", "RecoHub", "event", "open_reco_hub", "reco_settings"]

Client = AsyncTestClient[Litestar]


@dataclass(frozen=True)
class Caller:
    """A user with an API key, and its name (the ``user_id`` of its events)."""

    name: str
    headers: dict[str, str]


@dataclass
class RecoHub:
    """The hub (as an admin), an item type of the test's own, and a way to make callers and reopen the hub."""

    client: Client
    settings: HubSettings
    item_type: str
    dsn: str

    async def caller(self, role: str = "user") -> Caller:
        async with migrated_pool(self.dsn) as pool:
            key = await admin_key(pool, role)  # type: ignore[arg-type]
        headers = {"Authorization": f"Bearer {key}"}
        me = (await self.client.get("/auth/me", headers=headers)).json()
        return Caller(me["username"], headers)

    async def items(self, *names: str, texts: dict[str, str] | None = None) -> list[str]:
        """Create items ``<type>-<name>`` of this test's type; return their ids."""
        ids = [f"{self.item_type}-{name}" for name in names]
        body = {
            "items": [
                {"item_id": i, "type": self.item_type, "title": f"Item {n}", "text": (texts or {}).get(n, f"about {n}")}
                for i, n in zip(ids, names, strict=True)
            ]
        }
        response = await self.client.post("/items", json=body)
        assert response.status_code == 200, response.text
        return ids

    async def recommend(self, caller: Caller, k: int = 3) -> dict[str, Any]:
        response = await self.client.get("/recommend", params={"k": k, "type": self.item_type}, headers=caller.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def send(self, caller: Caller, *events: dict[str, Any]) -> Any:
        return await self.client.post("/events", json={"events": list(events)}, headers=caller.headers)


def event(kind: str, item_id: str, recommendation_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """An event of now with a fresh id."""
    body = {"event_id": uuid.uuid4().hex, "type": kind, "item_id": item_id, "ts": datetime.now(UTC).isoformat()}
    if recommendation_id is not None:
        body["recommendation_id"] = recommendation_id
    return body | extra


def reco_settings(dsn: str, data_dir: Path, **recommend: Any) -> HubSettings:
    """Hub settings with a near-greedy, seeded LinUCB (tiny epsilon, no bonus) unless ``recommend`` says otherwise."""
    config = {"policy": "linucb", "alpha": 0.0, "epsilon": 0.001, "seed": 19} | recommend
    return HubSettings(database_url=dsn, data_dir=str(data_dir), recommend=msgspec.convert(config, RecommendSettings))


OpenHub = Callable[..., AbstractAsyncContextManager[RecoHub]]


def open_reco_hub(dsn: str, data_dir: Path) -> OpenHub:
    """Return a way to open a hub on ``dsn`` and ``data_dir`` with an item type of its own (again: a restart)."""
    item_type = f"t{uuid.uuid4().hex[:10]}"

    @asynccontextmanager
    async def open_hub(**recommend: Any) -> AsyncIterator[RecoHub]:
        settings = reco_settings(dsn, data_dir, **recommend)
        async with ready_client(settings) as client:
            yield RecoHub(client, settings, item_type, dsn)

    return open_hub
