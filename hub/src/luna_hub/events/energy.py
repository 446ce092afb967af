"""Energy actions become items: :class:`ItemsOfActions` stores each proposed action as ``energy_action:<site>:<id>``.

The energy domain hands every answer of ``GET /sites/{site}/actions`` to a publisher it is given
(this one, injected as ``energy_action_items``); an action is replanned under the same id, so its
item is replaced, not duplicated. An item that cannot be stored is logged and does not fail the
answer: the next request stores it.
"""

from __future__ import annotations

from typing import Final

import asyncpg

from luna_hub.energy.schemas import ActionsAnswer, ActionView
from luna_hub.errors import HubError
from luna_hub.events.schemas import Item
from luna_hub.events.services import upsert_items
from luna_hub.events.vectors import QdrantItemIndex
from luna_shared.logs import get_logger

__all__ = ["ENERGY_ACTION_TYPE", "ItemsOfActions", "action_item", "action_item_id"]

ENERGY_ACTION_TYPE: Final = "energy_action"
_log = get_logger(__name__)


def action_item_id(site: str, action_id: int) -> str:
    """Return the item id of a site's action."""
    return f"{ENERGY_ACTION_TYPE}:{site}:{action_id}"


def action_item(site: str, market: str, action: ActionView) -> Item:
    """Return the item of ``action``: its title, and a text naming its windows and baseline."""
    runs = ", ".join(
        f"{w.start:%Y-%m-%d %H:%M} to {w.end:%H:%M} at {w.mean_price_eur_mwh:.2f} EUR/MWh" for w in action.windows
    )
    text = (
        f"{action.title}. Run {runs}, costing {action.cost_eur:.2f} EUR instead of {action.baseline.cost_eur:.2f} EUR"
        f" from {action.baseline.start:%H:%M} ({market} day-ahead prices)."
    )
    tags = [ENERGY_ACTION_TYPE, f"site:{site}", f"device:{action.device_id}"]
    return Item(
        item_id=action_item_id(site, action.action_id),
        type=ENERGY_ACTION_TYPE,
        title=action.title[:500],
        text=text,
        tags=[tag[:64] for tag in tags],
    )


class ItemsOfActions:
    """Publishes an answer's actions (not the dismissed ones) as items (``source`` energy)."""

    def __init__(self, pool: asyncpg.Pool, items: QdrantItemIndex) -> None:
        self._pool = pool
        self._items = items

    async def __call__(self, answer: ActionsAnswer) -> None:
        """Upsert the items of ``answer``'s actions."""
        items = [action_item(answer.site, answer.market, a) for a in answer.actions if not a.dismissed]
        if not items:
            return
        try:
            await upsert_items(self._pool, self._items, items, source="energy")
        except (HubError, asyncpg.PostgresError) as exc:
            _log.error("energy action items not stored", site=answer.site, error=str(exc))
