"""Sparse retrieval (PostgreSQL full text over ``chunks``): what is searched and which question words count."""

from __future__ import annotations

from typing import Any

import asyncpg

from luna_hub.documents.schemas import Chunk
from luna_hub.rag.repository import sparse_search
from support.chunks import store_chunk_rows, text_chunk
from support.hub import migrated_pool

LANGUAGES = ["english", "german"]


async def ids(connection: asyncpg.Connection, question: str, documents: list[str], **options: Any) -> list[str]:
    """Chunk ids sparse retrieval finds for ``question`` within ``documents``, best first."""
    rows = await sparse_search(connection, question, config="simple", limit=5, document_ids=documents, **options)
    return [chunk_id for chunk_id, _ in rows]


def chunk(document_id: str, ordinal: int, text: str, *, title: str) -> Chunk:
    return text_chunk(document_id, ordinal, text, title=title, section="Registers")


async def test_the_document_title_and_path_like_tokens_are_searched(hub_dsn: str) -> None:
    wallbox = chunk("sparse-wallbox", 0, "262 FailSafe current in case of lost communication", title="energy_control")
    meter = chunk("sparse-meter", 0, "40019 Network parity/stop bits, default 0", title="Three-phase meter")
    documents = ["sparse-wallbox", "sparse-meter"]
    async with migrated_pool(hub_dsn) as pool, pool.acquire() as connection:
        await store_chunk_rows(connection, [wallbox, meter])
        by_title = await ids(connection, "energy control current", documents)
        by_word = await ids(connection, "stop parity", documents)
        by_file_name = await ids(connection, "energy_control", documents)
    assert by_title == [wallbox.chunk_id]
    assert by_word == [meter.chunk_id]
    assert by_file_name == [wallbox.chunk_id]


async def test_stop_words_of_either_language_do_not_score(hub_dsn: str) -> None:
    chatter = chunk("sparse-chatter", 0, "What is the point? Was ist der Punkt, wie und wann?", title="Notes")
    parity = chunk("sparse-parity", 0, "Parity: none, even or odd.", title="Manual")
    documents = ["sparse-chatter", "sparse-parity"]
    async with migrated_pool(hub_dsn) as pool, pool.acquire() as connection:
        await store_chunk_rows(connection, [chatter, parity])
        english = await ids(connection, "What is the parity?", documents, stop_words=LANGUAGES)
        german = await ids(connection, "Wie ist die Parität?", documents, stop_words=LANGUAGES)
        unfiltered = await ids(connection, "What is the parity?", documents)
    assert english == [parity.chunk_id]
    assert german == []  # every word but "Parität" is a German stop word, and no chunk holds that one
    assert set(unfiltered) == {chatter.chunk_id, parity.chunk_id}
