"""When to try again and how fast to drain: full-jitter back-off and a token bucket (pure, clocks injected)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

__all__ = ["Backoff", "DrainLimiter"]


class Backoff:
    """Exponential back-off with full jitter: the n-th delay is uniform in ``[0, min(max, initial * 2**n)]``.

    Full jitter spreads agents that failed together over the whole window, so they do not
    return together (AWS Architecture Blog, "Exponential Backoff And Jitter").
    """

    def __init__(self, initial_s: float, max_s: float, *, uniform: Callable[[], float] = random.random) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self._uniform = uniform
        self.failures = 0

    def ceiling(self) -> float:
        """Return the upper end of the next delay's window."""
        return min(self.max_s, self.initial_s * 2.0 ** min(self.failures, 62))

    def next_delay(self) -> float:
        """Count one more failure and return how long to wait before the next attempt."""
        delay = self._uniform() * self.ceiling()
        self.failures += 1
        return delay

    def reset(self) -> None:
        """Record a success: the next failure starts from ``initial_s`` again."""
        self.failures = 0


class DrainLimiter:
    """A token bucket of readings: ``rate`` per second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._monotonic = monotonic
        self._tokens = burst
        self._at = monotonic()

    def reserve(self, count: int) -> float:
        """Take ``count`` readings' worth of tokens; return the seconds to wait before sending them (0 if none)."""
        now = self._monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= count
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate
