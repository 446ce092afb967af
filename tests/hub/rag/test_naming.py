"""Documents a question names, and retrieval searching within them (real PostgreSQL, real local Qdrant)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from luna_hub.documents.schemas import Chunk
from luna_hub.rag.embedders import Usem3Embedder
from luna_hub.rag.naming import name_words, named_documents
from luna_hub.rag.retrieval import Retriever
from luna_hub.rag.vectors import QdrantChunkIndex, open_qdrant
from support.chunks import store_chunk_rows, text_chunk
from support.databases import fresh_database
from support.hub import migrated_pool

# three manuals and a law, as the hub holds them (titles of PDFs without metadata are their file names)
DOCUMENTS = {
    "sigenergy": ("sigenergy_modbus_protocol.pdf", ["Interaction timeout: the host waits up to 1000 ms."]),
    "fronius": (
        "fronius_datamanager_modbus_tcp_rtu.pdf",
        [
            "Modbus master timeout: wait for the answer of the Modbus slave before a timeout, energy counters.",
            "Energy meter registers of the Datamanager.",
        ],
    ),
    "wallbox": ("heidelberg_energy_control_modbus_register.pdf", ["Energy since power on, register 17."]),
    "law": ("Stromsteuergesetz", ["Strom unterliegt der Stromsteuer; Energy aus dem Netz."]),
}


def chunks() -> list[Chunk]:
    return [
        text_chunk(document, ordinal, text, title=title)
        for document, (title, texts) in DOCUMENTS.items()
        for ordinal, text in enumerate(texts)
    ]


@pytest.fixture
async def pool(pg_admin_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A database of its own: naming looks at every document there is."""
    async with fresh_database(pg_admin_dsn) as dsn, migrated_pool(dsn) as pool:
        async with pool.acquire() as connection:
            await store_chunk_rows(connection, chunks())
        yield pool


def test_name_words_keep_model_numbers_whole_and_drop_formats() -> None:
    assert name_words("eastron_sdm630_modbus_protocol.pdf") == {"eastron", "sdm630", "modbus", "protocol"}
    assert name_words("Fronius Gen24 Primo/Symo", "Zähler.xlsx") == {"fronius", "gen24", "primo", "symo", "zahler"}


async def test_a_product_or_law_in_the_question_names_its_document(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as connection:
        sigenergy = await named_documents(connection, "Wie lange wartet der Master beim Sigenergy-System?")
        law = await named_documents(connection, "Stromsteuer auf Landstrom für Schiffe?")
        both = await named_documents(connection, "Sigenergy or Heidelberg: which timeout?")
    assert sigenergy == ["sigenergy"]
    assert law == ["law"]  # a long question word names the title it begins
    assert both == ["sigenergy", "wallbox"]


async def test_a_word_spread_over_the_corpus_names_nothing(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as connection:
        # "energy" and "register" are in the wallbox's file name, but at most half the chunks holding them are its own
        spread = await named_documents(connection, "Which register gives the energy?")
        # "modbus" is in three documents' names: a topic, not a name
        topic = await named_documents(connection, "Modbus timeout?")
    assert spread == []
    assert topic == []


async def test_a_document_the_caller_may_not_read_is_never_named(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as connection:
        named = await named_documents(connection, "Sigenergy timeout", exclude_document_ids=["sigenergy"])
    assert named == []


async def test_retrieval_also_searches_within_the_named_document(pool: asyncpg.Pool, tmp_path: Path) -> None:
    client, local = open_qdrant(None, str(tmp_path))
    embedder = Usem3Embedder(threads=1)
    index = QdrantChunkIndex(client, embedder, local=local)
    try:
        for document in DOCUMENTS:
            await index.index(document, 1, [c for c in chunks() if c.document_id == document])
        question = "Sigenergy: how long does the Modbus master wait for the answer before a timeout?"
        found = {}
        for route in (False, True):
            retriever = Retriever(pool, index, text_search_config="simple", candidates=10, rrf_k=60, route_named=route)
            hits = await retriever.retrieve(question, None, top_k=1, method="sparse")
            found[route] = hits[0].chunk.document_id
    finally:
        await client.close()
        await embedder.close()
    # the Fronius chunk holds more of the question's words; the question names Sigenergy
    assert found == {False: "fronius", True: "sigenergy"}
