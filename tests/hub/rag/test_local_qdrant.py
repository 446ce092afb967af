"""Qdrant local mode behind its own thread: calls in flight finish before it closes, later ones are refused cleanly.

Real local-mode Qdrant on disk (``tmp_path``); warnings are errors here, so a coroutine left
unawaited or a task destroyed while pending would fail the test.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from qdrant_client import models

from luna_hub.rag.local_qdrant import local_qdrant_client


async def test_calls_finish_before_close_and_later_ones_are_refused(tmp_path: Path) -> None:
    client = local_qdrant_client(str(tmp_path / "qdrant"))
    await client.create_collection("c", vectors_config=models.VectorParams(size=2, distance=models.Distance.COSINE))
    points = [models.PointStruct(id=n, vector=[1.0, float(n)]) for n in range(50)]
    writes = [asyncio.create_task(client.upsert("c", points=points[n : n + 10])) for n in range(0, 50, 10)]
    await asyncio.sleep(0)  # the writes are on their way to the store's thread
    await asyncio.gather(*writes)
    assert (await client.count("c")).count == 50
    await client.close()
    with pytest.raises(RuntimeError, match="the local vector store is closed"):
        await client.count("c")
    reopened = local_qdrant_client(str(tmp_path / "qdrant"))
    try:
        assert (await reopened.count("c")).count == 50  # what was written is on disk
    finally:
        await reopened.close()
