"""The hash chain both append-only logs share (model calls, admin log): how a row is hashed and checked.

Each row holds ``prev_hash`` (the row before it's ``row_hash``, :data:`GENESIS` for the first)
and ``row_hash`` = SHA-256 of ``prev_hash`` and the canonical JSON of its hashed columns, so a
row changed or removed, even by a superuser, breaks the chain at a row that can be named.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC
from typing import Any

import asyncpg
import msgspec

from luna_hub.audit.repository import GENESIS
from luna_hub.audit.schemas import VerifyReport

__all__ = ["chain_hash", "verify_chain"]


def chain_hash(prev_hash: str, values: dict[str, Any], columns: Sequence[str]) -> str:
    """``sha256(prev_hash, canonical JSON of the columns)``; jsonb columns enter as PostgreSQL prints them."""
    row = {name: values[name] for name in columns}
    row["at"] = values["at"].astimezone(UTC).isoformat(timespec="microseconds")
    body = msgspec.json.encode(row, order="sorted")
    return "sha256:" + hashlib.sha256(prev_hash.encode() + b"\n" + body).hexdigest()


async def verify_chain(
    rows: AsyncIterator[asyncpg.Record], *, id_column: str, columns: Sequence[str], noun: str
) -> VerifyReport:
    """Recompute the chain over ``rows`` (in chain order); report the first ``noun`` that breaks it."""
    expected_prev, count = GENESIS, 0
    async for row in rows:
        count += 1
        values = dict(row)
        if values["prev_hash"] != expected_prev:
            reason = f"its prev_hash is not the hash of the {noun} before it (a {noun} was removed or inserted)"
            return VerifyReport(rows=count, ok=False, broken_call_id=values[id_column], reason=reason)
        if chain_hash(values["prev_hash"], values, columns) != values["row_hash"]:
            reason = f"its content does not match its row_hash (the {noun} was changed)"
            return VerifyReport(rows=count, ok=False, broken_call_id=values[id_column], reason=reason)
        expected_prev = values["row_hash"]
    return VerifyReport(rows=count, ok=True)
