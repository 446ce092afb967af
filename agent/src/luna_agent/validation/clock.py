"""Is the wall clock trustworthy? Not before the kernel reports NTP sync (if required), nor after a backward jump."""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from collections.abc import Callable

from luna_shared.vocabulary import Flag

__all__ = ["ClockGuard", "kernel_clock_synced"]

_TIME_ERROR = 5  # adjtimex(2): the clock is not synchronised
_TIMEX_SIZE = 512  # larger than struct timex on every Linux ABI; modes = 0 only reads


def kernel_clock_synced() -> bool:
    """Ask the kernel (``adjtimex``) whether NTP has synchronised the clock; ``True`` where it cannot say."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        state: int = libc.adjtimex(ctypes.create_string_buffer(_TIMEX_SIZE))
    except (OSError, AttributeError):
        return True
    return state != _TIME_ERROR


class ClockGuard:
    """Compares wall and monotonic clocks between polls; a backward step taints readings for a while."""

    def __init__(  # noqa: PLR0913 - the clocks are injectable for tests
        self,
        *,
        sync_required: bool,
        jump_tolerance_s: float,
        hold_s: float,
        synced: Callable[[], bool] = kernel_clock_synced,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sync_required = sync_required
        self._tolerance = jump_tolerance_s
        self._hold = hold_s
        self._synced = synced
        self._wall = wall
        self._monotonic = monotonic
        self._last: tuple[float, float] | None = None
        self._tainted_until = -1.0
        self.jumps = 0

    def flags(self) -> tuple[Flag, ...]:
        """Reasons the readings taken now cannot be trusted (empty when the clock is fine)."""
        wall, mono = self._wall(), self._monotonic()
        if self._last is not None:
            drift = (wall - self._last[0]) - (mono - self._last[1])
            if drift < -self._tolerance:
                self.jumps += 1
                self._tainted_until = mono + self._hold
        self._last = (wall, mono)
        reasons: list[Flag] = []
        if mono <= self._tainted_until:
            reasons.append(Flag.CLOCK_JUMP)
        if self._sync_required and not self._synced():
            reasons.append(Flag.CLOCK_UNTRUSTED)
        return tuple(reasons)

    @property
    def trusted(self) -> bool:
        """Whether the last check found nothing wrong."""
        return self._monotonic() > self._tainted_until and not (self._sync_required and not self._synced())
