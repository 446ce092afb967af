"""Cut the buffer's pending readings into batches: contiguous in sequence, bounded in count and size."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from luna_shared.codec import encode
from luna_shared.wire import Reading, ReadingBatch, make_batch

__all__ = ["contiguous_run", "sized_batch"]

_SHRINK_MARGIN = 0.9


def contiguous_run(pending: Sequence[Reading], *, newest_first: bool = False) -> list[Reading]:
    """Return the first run of consecutive sequence numbers in ``pending`` (as the buffer gives it), ascending.

    ``pending`` is ascending for oldest-first and descending for newest-first; the run stops at
    the first gap (readings acknowledged out of order, or dropped by the overflow policy).
    """
    if not pending:
        return []
    step = -1 if newest_first else 1
    end = 1
    while end < len(pending) and pending[end].seq == pending[end - 1].seq + step:
        end += 1
    run = list(pending[:end])
    return run[::-1] if newest_first else run


def sized_batch(  # noqa: PLR0913 - the batch's identity, content and bounds
    agent_id: str,
    site_id: str,
    run: Sequence[Reading],
    sent_at: datetime,
    *,
    max_bytes: int,
    keep_newest: bool = False,
    instance_id: str | None = None,
) -> tuple[ReadingBatch, bytes]:
    """Build the batch and its msgpack from ``run``, shortening it until the msgpack fits ``max_bytes``.

    Shortening keeps the oldest readings of the run (or the newest, with ``keep_newest``). A single
    reading is always sent, however large: the hub's 413 is then the answer.
    """
    readings = list(run)
    while True:
        batch = make_batch(agent_id, site_id, readings, sent_at, instance_id)
        body = encode(batch)
        if len(body) <= max_bytes or len(readings) == 1:
            return batch, body
        keep = max(1, min(len(readings) - 1, int(len(readings) * max_bytes / len(body) * _SHRINK_MARGIN)))
        readings = readings[-keep:] if keep_newest else readings[:keep]
