"""Background work yields the CPU: the parsing child and the embedder process run at a lower priority.

Checked by asking each child its own niceness (``os.nice(0)``), not by a stopwatch; what it buys
while documents index is in BENCHMARKS.md (``python -m bench api_during_indexing``).
"""

from __future__ import annotations

import os

from luna_hub.documents.isolation import Budget, run_isolated
from luna_hub.rag.embedders import Usem3Embedder, create_embedder
from luna_hub.settings import RagSettings


def _lowered(by: int) -> int:
    return min(19, os.nice(0) + by)


async def test_the_parsing_child_runs_niced_by_its_budget() -> None:
    assert await run_isolated(os.nice, 0, budget=Budget(memory_bytes=1 << 30, seconds=60, nice=7)) == _lowered(7)
    assert await run_isolated(os.nice, 0, budget=Budget(memory_bytes=1 << 30, seconds=60)) == os.nice(0)


async def test_the_embedder_process_runs_niced_by_the_setting() -> None:
    embedder = create_embedder(RagSettings(embed_nice=5))
    assert isinstance(embedder, Usem3Embedder)
    try:
        assert await embedder._run(os.nice, 0) == _lowered(5)
        embedded = await embedder.embed(["Stromzähler"], purpose="query")
        assert embedded.vectors.shape == (1, embedder.dims)  # the model still works there
    finally:
        await embedder.close()
