"""Per-caller budgets of ``POST /embed``: a token bucket of characters per caller, kept in PostgreSQL.

The buckets live in the ``embed_budgets`` table, not in a process, so every hub replica behind a
load balancer spends from the same budget. One statement reads, refills and spends a caller's
bucket (``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` enough is left): concurrent calls of one
caller queue on its row and never both spend the same characters. Time is the database's clock,
one for all replicas. A bucket untouched for a minute is full again: such rows are pruned after
each call (``SKIP LOCKED``: pruning never waits for, nor holds up, a caller's spend).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Final

import asyncpg

from luna_hub.errors import TooManyRequestsError

__all__ = ["CharacterBudget"]

_REFILL_S: Final = 60.0  # an empty bucket is full again after this (the budget is per minute)
_TAKE: Final = """
WITH now AS (SELECT coalesce($5::timestamptz, clock_timestamp()) AS t),
spent AS (
    INSERT INTO embed_budgets AS b (caller, chars_left, updated_at)
    SELECT $1::text, $2::float8 - $3::float8, t FROM now WHERE $3::float8 <= $2::float8
    ON CONFLICT (caller) DO UPDATE
    SET chars_left = least($2::float8, b.chars_left + $4::float8
                           * greatest(0, extract(epoch FROM EXCLUDED.updated_at - b.updated_at)::float8)) - $3::float8,
        updated_at = greatest(b.updated_at, EXCLUDED.updated_at)
    WHERE least($2::float8, b.chars_left + $4::float8
                * greatest(0, extract(epoch FROM EXCLUDED.updated_at - b.updated_at)::float8)) >= $3::float8
    RETURNING chars_left
)
SELECT EXISTS (SELECT FROM spent) AS taken,
       (SELECT least($2::float8, b.chars_left
                     + $4::float8 * greatest(0, extract(epoch FROM now.t - b.updated_at)::float8))
          FROM embed_budgets b, now WHERE b.caller = $1::text) AS available
"""
_PRUNE: Final = """
DELETE FROM embed_budgets WHERE caller IN (
    SELECT caller FROM embed_budgets
     WHERE updated_at < coalesce($1::timestamptz, clock_timestamp()) - make_interval(secs => $2::float8)
     FOR UPDATE SKIP LOCKED)
"""


class CharacterBudget:
    """Each caller may spend ``per_minute`` characters a minute, refilled continuously, at most that much at once."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        per_minute: int,
        *,
        setting: str,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``clock``: for tests, a stand-in for the database's clock (the same one for every replica)."""
        self._pool = pool
        self._capacity = float(per_minute)
        self._rate = per_minute / _REFILL_S
        self._setting = setting
        self._clock = clock

    async def take(self, caller: str, amount: int) -> None:
        """Spend ``amount`` characters of ``caller``'s budget, or raise :class:`TooManyRequestsError` (429)."""
        now = self._clock() if self._clock is not None else None
        async with self._pool.acquire() as connection:
            row = await connection.fetchrow(_TAKE, caller, self._capacity, float(amount), self._rate, now)
            await connection.execute(_PRUNE, now, _REFILL_S)
        if row["taken"]:
            return
        left = self._capacity if row["available"] is None else row["available"]
        wait = max(1, math.ceil((amount - left) / self._rate))
        msg = f"{caller} has spent its {self._setting} ({int(self._capacity)}); try again in {wait} s"
        raise TooManyRequestsError(msg, retry_after=wait)
