"""Per-caller budgets of ``POST /embed``: a token bucket of characters per caller."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Final

from luna_hub.errors import TooManyRequestsError

__all__ = ["CharacterBudget"]

_PRUNE_ABOVE: Final = 1000  # callers remembered before full buckets are forgotten


class CharacterBudget:
    """Each caller may spend ``per_minute`` characters a minute, refilled continuously, at most that much at once."""

    def __init__(self, per_minute: int, *, setting: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._setting = setting
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (characters left, when)

    def take(self, caller: str, amount: int) -> None:
        """Spend ``amount`` characters of ``caller``'s budget, or raise :class:`TooManyRequestsError` (429)."""
        now = self._clock()
        left, then = self._buckets.get(caller, (self._capacity, now))
        left = min(self._capacity, left + (now - then) * self._rate)
        if amount > left:
            wait = max(1, math.ceil((amount - left) / self._rate))
            msg = f"{caller} has spent its {self._setting} ({int(self._capacity)}); try again in {wait} s"
            raise TooManyRequestsError(msg, retry_after=wait)
        self._buckets[caller] = (left - amount, now)
        if len(self._buckets) > _PRUNE_ABOVE:
            self._prune(now)

    def _prune(self, now: float) -> None:
        full = [c for c, (left, then) in self._buckets.items() if left + (now - then) * self._rate >= self._capacity]
        for caller in full:
            del self._buckets[caller]
