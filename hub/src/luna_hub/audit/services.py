"""Write audit entries: who did what to which target, with details."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

__all__ = ["record"]


async def record(
    connection: asyncpg.Connection, *, actor: str, action: str, target: str = "", details: dict[str, Any] | None = None
) -> None:
    """Append one entry; call it inside the transaction of the change it records, so both or neither stay."""
    await connection.execute(
        "INSERT INTO audit_log (actor, action, target, details) VALUES ($1, $2, $3, $4::jsonb)",
        actor,
        action,
        target,
        msgspec.json.encode(details or {}).decode(),
    )
