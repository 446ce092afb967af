"""Embeddings on request, and grounded answers: retrieve, merge, add data, answer, cite, audit.

Every model call (the question's embedding, the chat call) is appended to the model audit log with
the chunks it saw. Without a chat model the answer is extractive: the best-supported sentences of
the best passages, quoted and cited, labelled ``"mode": "extractive"``. Either way the answer says
so when no passage supports it, rather than guessing.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from typing import Any, Final, Protocol

import asyncpg
import msgspec
import numpy as np

from luna_hub.audit.schemas import ChunkRef, ModelCall
from luna_hub.audit.services import record_model_call
from luna_hub.documents.repository import hidden_documents
from luna_hub.documents.schemas import Chunk
from luna_hub.errors import HubError, PayloadTooLargeError
from luna_hub.metrics import recorder
from luna_hub.rag.data import DataContext, series_context
from luna_hub.rag.embedders import Embedded, Embedder, Purpose
from luna_hub.rag.generation import NOT_IN_SOURCES, Generated, OllamaChat, build_prompt
from luna_hub.rag.limits import CharacterBudget
from luna_hub.rag.passages import Passage, bridge_ids, build_passages, content_words, locator, support
from luna_hub.rag.quoting import Quote, quote_span
from luna_hub.rag.rerank import rerank_hits
from luna_hub.rag.retrieval import Hit, Retriever
from luna_hub.rag.schemas import (
    Answer,
    AskRequest,
    Citation,
    ContextReport,
    Embeddings,
    RecommendedDocuments,
    RelatedDocument,
)
from luna_hub.rag.synonyms import synonyms_for
from luna_hub.rag.terms import question_terms
from luna_hub.settings import RagSettings
from luna_shared.logs import get_logger

__all__ = ["AskEvent", "DocumentRecommender", "RagService"]

AskEvent = tuple[str, Any]
"""``("sources", {...})``, ``("token", {"text": ...})`` or ``("done", Answer)``."""

_EXTRACTIVE_PASSAGES: Final = 3
_NOT_FOUND: Final = "The sources do not contain an answer to this question."
_REF: Final = re.compile(r"\[(\d+)\]")
_log = get_logger(__name__)
_EMBED_BATCH_CHARS: Final = 4000  # /embed embeds in pieces this small: questions of /rag/ask get the model between them


class DocumentRecommender(Protocol):
    """Ranks documents for a user (implemented by the recommend domain)."""

    async def documents_for(self, user_id: str) -> RecommendedDocuments | None:
        """Documents for ``user_id``, logged as a recommendation; None when there are none."""


class RagService:
    """Answers questions over the indexed chunks and the stored series.

    ``recommender``, when set (by the recommend domain's lifespan), adds documents ranked for the
    asking user to every answer.
    """

    recommender: DocumentRecommender | None = None

    def __init__(  # noqa: PLR0913 - the parts it joins
        self,
        pool: asyncpg.Pool,
        embedder: Embedder,
        retriever: Retriever,
        settings: RagSettings,
        *,
        chat: OllamaChat | None,
        timezone: str,
    ) -> None:
        self._pool = pool
        self._embedder = embedder
        self._retriever = retriever
        self._settings = settings
        self._chat = chat
        self._timezone = timezone
        self._embed_budget = CharacterBudget(
            pool, settings.embed_chars_per_minute, setting="rag.embed_chars_per_minute"
        )

    async def embed(
        self, texts: Sequence[str], *, purpose: Purpose, actor: str, endpoint: str, caller: str
    ) -> Embeddings:
        """Embed ``texts`` within the per-call limits and ``caller``'s budget, in small pieces, and log the call."""
        chars = sum(len(text) for text in texts)
        if len(texts) > self._settings.embed_max_texts:
            msg = f"{len(texts)} texts; rag.embed_max_texts is {self._settings.embed_max_texts}"
            raise PayloadTooLargeError(msg)
        if chars > self._settings.embed_max_chars:
            msg = f"{chars} characters; rag.embed_max_chars is {self._settings.embed_max_chars}"
            raise PayloadTooLargeError(msg)
        await self._embed_budget.take(caller, chars)
        parts = [await self._embedder.embed(piece, purpose=purpose) for piece in _pieces(texts, _EMBED_BATCH_CHARS)]
        tokens = [part.tokens for part in parts if part.tokens is not None]
        embedded = Embedded(
            vectors=np.vstack([part.vectors for part in parts]),
            tokens=sum(tokens) if tokens else None,
            latency_ms=sum(part.latency_ms for part in parts),
        )
        await self._record_embedding(texts, embedded, purpose=purpose, actor=actor, endpoint=endpoint)
        info = await self._embedder.describe()
        return Embeddings(model=info.name, digest=info.digest, dims=info.dims, embeddings=embedded.vectors.tolist())

    async def _embed(self, texts: Sequence[str], *, purpose: Purpose, actor: str, endpoint: str) -> Embedded:
        embedded = await self._embedder.embed(texts, purpose=purpose)
        await self._record_embedding(texts, embedded, purpose=purpose, actor=actor, endpoint=endpoint)
        return embedded

    async def record_index_embedding(self, chunks: Sequence[Chunk], texts: Sequence[str], embedded: Embedded) -> None:
        """Log an embedding call made while indexing documents (the chunk index's hook): each text and its chunk."""
        await self._record_embedding(
            texts,
            embedded,
            purpose="passage",
            actor="system:indexer",
            endpoint="index",
            chunks=list({chunk.chunk_id: chunk for chunk in chunks}.values()),
        )

    async def _record_embedding(  # noqa: PLR0913 - the call's provenance, each named
        self,
        texts: Sequence[str],
        embedded: Embedded,
        *,
        purpose: Purpose,
        actor: str,
        endpoint: str,
        chunks: Sequence[Chunk] = (),
    ) -> None:
        info = await self._embedder.describe()
        recorder().model_call(
            "embed",
            info.name,
            seconds=embedded.latency_ms / 1000,
            prompt_tokens=embedded.tokens,
            completion_tokens=None,
        )
        await record_model_call(
            self._pool,
            ModelCall(
                actor=actor,
                endpoint=endpoint,
                operation="embed",
                model=info.name,
                model_digest=info.digest,
                prompt=msgspec.json.encode(list(texts)).decode(),
                answer=f"{len(texts)} vectors of {info.dims} dims",
                latency_ms=embedded.latency_ms,
                params={"purpose": purpose, "count": len(texts)},
                chunks=[ChunkRef(chunk_id=c.chunk_id, content_hash=c.content_hash) for c in chunks],
                prompt_tokens=embedded.tokens,
            ),
        )

    async def ask(self, request: AskRequest, *, actor: str, sites: Sequence[str] | None = None) -> Answer:
        """Answer in one piece, from what a reader of ``sites`` may read (None: every site)."""
        async for kind, payload in self.ask_events(request, actor=actor, sites=sites):
            if kind == "done":
                answer: Answer = payload
                return answer
        msg = "the answer stream ended without an answer"
        raise RuntimeError(msg)

    async def ask_events(
        self, request: AskRequest, *, actor: str, sites: Sequence[str] | None = None
    ) -> AsyncIterator[AskEvent]:
        """Answer as events: the sources first, then the answer's pieces, then the whole answer.

        A reader limited to ``sites`` gets numbers of their meters (and market prices) only, and
        passages of documents without site or of their sites.
        """
        async for kind, payload in self._answer_events(request, actor=actor, sites=sites):
            if kind == "done" and self.recommender is not None:
                yield kind, await self._with_recommendations(payload, actor)
            else:
                yield kind, payload

    async def _with_recommendations(self, answer: Answer, actor: str) -> Answer:
        """Add documents ranked for ``actor``; a recommender failure costs the answer nothing but a note."""
        assert self.recommender is not None  # noqa: S101 - checked by the caller
        try:
            documents = await self.recommender.documents_for(actor)
        except HubError as exc:
            _log.warning("no recommended documents", error=str(exc))
            return msgspec.structs.replace(answer, notes=[*answer.notes, "no recommended documents: " + str(exc)])
        return msgspec.structs.replace(answer, recommended_documents=documents)

    async def _answer_events(
        self, request: AskRequest, *, actor: str, sites: Sequence[str] | None
    ) -> AsyncIterator[AskEvent]:
        stages = recorder().rag_duration
        with stages.labels("data").time():
            data, notes = await series_context(self._pool, request.question, tz=self._timezone, sites=sites)
        with stages.labels("embed").time():
            query = await self._embed([request.question], purpose="query", actor=actor, endpoint="/rag/ask")
        with stages.labels("retrieve").time():
            hidden: list[str] = []
            if sites is not None:
                async with self._pool.acquire() as connection:
                    hidden = await hidden_documents(connection, sites)
            passages, hits, confidence = await self.passages(
                request.question,
                query,
                top_k=request.top_k or self._settings.top_k,
                document_ids=request.document_ids,
                exclude_document_ids=hidden,
            )
        words = content_words(request.question)
        supported = [p for p in passages if self._supports(words, p)]
        if confidence < self._settings.min_confidence:
            notes.append(f"confidence {confidence:.2f} is below rag.min_confidence {self._settings.min_confidence}")
            supported = []
        nearest = passages[0] if passages and not supported else None
        generative = request.mode == "generative" or (request.mode == "default" and self._settings.answerer == "ollama")
        if generative and self._chat is None:
            notes.append("no chat model is configured (rag.answerer = 'extractive'): the answer is extractive")
            generative = False
        if generative and self._chat is not None and (supported or data):
            async for event in self._generate(
                request=request, actor=actor, passages=supported, data=data, hits=hits, notes=notes
            ):
                yield event
            return
        yield "sources", {"data": [d.citation for d in data]}
        # a supported passage decides that there is an answer; the quotes come from the best passages whether
        # or not each holds the question's words (a German question's English page often does not)
        quoted = passages if supported else []
        answer = self._extractive(question=request.question, passages=quoted, data=data, hits=hits, notes=notes)
        if nearest is not None and not answer.found:
            answer = self._with_nearest(answer, nearest)
        yield "token", {"text": answer.answer}
        yield "done", answer

    async def passages(
        self,
        question: str,
        query: Embedded,
        *,
        top_k: int,
        document_ids: Sequence[str] | None = None,
        exclude_document_ids: Sequence[str] = (),
    ) -> tuple[list[Passage], list[Hit], float]:
        """Return the ``top_k`` passages to answer from (best first), their hits, and the best one's confidence.

        With ``rag.rerank`` the ``rag.rerank_candidates`` best fused hits are reranked
        (:mod:`luna_hub.rag.rerank`), the passages are those of the first ``top_k``, and the confidence is
        the model's probability for the best; without it they are the passages of the ``top_k`` fused hits
        and the confidence is 1 (0 without hits).
        """
        rerank_on = self._settings.rerank
        hits = await self._retriever.retrieve(
            question,
            query,
            top_k=max(top_k, self._settings.rerank_candidates) if rerank_on else top_k,
            document_ids=document_ids,
            exclude_document_ids=exclude_document_ids,
        )
        confidence = 1.0 if hits else 0.0
        if rerank_on:
            hits, confidence = rerank_hits(question_terms(question, synonyms_for(question)), hits)
            hits = hits[:top_k]
        passages = build_passages(hits, await self._retriever.index.chunks(bridge_ids(hits)))
        return passages, hits, confidence

    def _with_nearest(self, answer: Answer, passage: Passage) -> Answer:
        """Add the passage nearest the question to a declined answer, labelled as not being an answer."""
        terms = question_terms(answer.question, synonyms_for(answer.question))
        nearest = _citation(0, passage, quote_span(terms, passage.text))
        text = f'{answer.answer}\n\nNearest passage found (not an answer): "{nearest.quote}" ({nearest.title}'
        text += f", {nearest.label})" if nearest.label else ")"
        return msgspec.structs.replace(answer, answer=text, nearest=nearest)

    def _supports(self, words: set[str], passage: Passage) -> bool:
        if support(words, passage.text) >= self._settings.min_support:
            return True
        return passage.dense_score is not None and passage.dense_score >= self._settings.min_dense_score

    def _extractive(
        self,
        *,
        question: str,
        passages: list[Passage],
        data: list[DataContext],
        hits: list[Hit],
        notes: list[str],
    ) -> Answer:
        terms = question_terms(question, synonyms_for(question))
        citations = [
            _citation(number, passage, quote_span(terms, passage.text, others=len(passage.chunks)))
            for number, passage in enumerate(passages[:_EXTRACTIVE_PASSAGES], start=1)
        ]
        lines = [f"{d.citation.summary} [{d.citation.ref}]" for d in data]
        lines += [f'"{c.quote}" [{c.ref}]' for c in citations]
        found = bool(lines)
        text = (
            "Extractive answer: passages quoted from the sources, no language model involved.\n\n" + "\n\n".join(lines)
            if found
            else _NOT_FOUND
        )
        return Answer(
            question=question,
            answer=text,
            mode="extractive",
            found=found,
            citations=citations,
            data=[d.citation for d in data],
            related_documents=_related(hits, citations),
            notes=notes,
        )

    async def _generate(  # noqa: PLR0913 - the parts of an answer
        self,
        *,
        request: AskRequest,
        actor: str,
        passages: list[Passage],
        data: list[DataContext],
        hits: list[Hit],
        notes: list[str],
    ) -> AsyncIterator[AskEvent]:
        chat = self._chat
        assert chat is not None  # noqa: S101 - checked by the caller
        prompt = build_prompt(request.question, passages, data, budget=chat.budget)
        if prompt.dropped:
            notes.append(
                f"{prompt.dropped} of {len(passages)} passages left out whole: they did not fit"
                f" num_ctx={chat.options['num_ctx']}"
            )
        terms = question_terms(request.question, synonyms_for(request.question))
        citations = [
            _citation(number, passage, quote_span(terms, passage.text))
            for number, passage in enumerate(prompt.used, start=1)
        ]
        yield "sources", {"citations": citations, "data": [d.citation for d in data]}
        result = Generated()
        async for piece in chat.stream(prompt.messages, result):
            yield "token", {"text": piece}
        recorder().rag_duration.labels("generate").observe(result.latency_ms / 1000)
        recorder().model_call(
            "generate",
            chat.model,
            seconds=result.latency_ms / 1000,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
        )
        used_chunks = [c for p in prompt.used for c in p.chunks]
        await record_model_call(
            self._pool,
            ModelCall(
                actor=actor,
                endpoint="/rag/ask",
                operation="generate",
                model=chat.model,
                model_digest=await chat.digest(),
                prompt="\n\n".join(f"{m['role']}: {m['content']}" for m in prompt.messages),
                answer=result.text,
                latency_ms=result.latency_ms,
                params={**chat.options, "passages_dropped": prompt.dropped},
                chunks=[ChunkRef(chunk_id=c.chunk_id, content_hash=c.content_hash) for c in used_chunks],
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
            ),
        )
        found = NOT_IN_SOURCES.rstrip(".").lower() not in result.text.lower()
        cited = {int(n) for n in _REF.findall(result.text)}
        kept = [c for c in citations if c.ref in cited] or (citations if found else [])
        yield (
            "done",
            Answer(
                question=request.question,
                answer=result.text,
                mode="generative",
                found=found,
                citations=kept,
                data=[d.citation for d in data],
                related_documents=_related(hits, kept),
                model=chat.model,
                context=ContextReport(
                    num_ctx=chat.options["num_ctx"],
                    prompt_tokens_estimate=prompt.tokens_estimate,
                    passages_used=len(prompt.used),
                    passages_dropped=prompt.dropped,
                ),
                notes=notes,
            ),
        )


def _pieces(texts: Sequence[str], chars: int) -> list[list[str]]:
    """Split ``texts`` in order into runs of about ``chars`` characters (a longer text is a run of its own)."""
    pieces: list[list[str]] = [[]]
    size = 0
    for text in texts:
        if pieces[-1] and size + len(text) > chars:
            pieces.append([])
            size = 0
        pieces[-1].append(text)
        size += len(text)
    return pieces


def _citation(number: int, passage: Passage, quote: Quote) -> Citation:
    return Citation(
        ref=number,
        document_id=passage.document_id,
        title=passage.title,
        version=passage.version,
        page=passage.page,
        page_end=passage.page_end,
        section=passage.section,
        chunk_ids=[c.chunk_id for c in passage.chunks],
        quote=quote.text,
        score=passage.score,
        row_start=passage.row_start,
        row_end=passage.row_end,
        ocr_confidence=passage.ocr_confidence,
        label=locator(passage),
        passage=passage.text,
        quote_spans=quote.spans,
    )


def _related(hits: Sequence[Hit], citations: Sequence[Citation]) -> list[RelatedDocument]:
    cited = {c.document_id for c in citations}
    best: dict[str, RelatedDocument] = {}
    for hit in hits:
        chunk = hit.chunk
        if chunk.document_id in cited or chunk.document_id in best:
            continue
        best[chunk.document_id] = RelatedDocument(document_id=chunk.document_id, title=chunk.title, score=hit.score)
    return list(best.values())
