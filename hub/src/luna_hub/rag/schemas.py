"""Requests and answers of ``POST /embed`` and ``POST /rag/ask``."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = [
    "Answer",
    "AskRequest",
    "Citation",
    "ContextReport",
    "DataCitation",
    "EmbedRequest",
    "Embeddings",
    "RecommendedDocument",
    "RecommendedDocuments",
    "RelatedDocument",
]

Question = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]


class EmbedRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Texts to embed, as queries or as passages."""

    texts: Annotated[list[Text], msgspec.Meta(min_length=1, max_length=256)]
    purpose: Literal["query", "passage"] = "passage"


class Embeddings(msgspec.Struct, frozen=True, kw_only=True):
    """One vector per text, in order, with the model that made them."""

    model: str
    digest: str
    dims: int
    embeddings: list[list[float]]


class AskRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A question over the indexed documents (and stored series when it names a market or meter and a period)."""

    question: Question
    top_k: Annotated[int, msgspec.Meta(ge=1, le=20)] | None = None
    """Passages to answer from; ``rag.top_k`` when not given."""
    stream: bool = False
    """Answer as server-sent events: ``sources``, then ``token`` events, then ``done`` with the whole answer."""
    mode: Literal["default", "extractive", "generative"] = "default"
    """``default`` follows ``rag.answerer``."""
    document_ids: list[str] | None = None


class Citation(msgspec.Struct, frozen=True, kw_only=True):
    """A passage the answer rests on: ``[ref]`` in the answer text points here."""

    ref: int
    document_id: str
    title: str
    version: int
    page: int | None
    page_end: int | None
    section: str | None
    chunk_ids: list[str]
    quote: str
    score: float
    row_start: int | None = None
    """First and last spreadsheet row of the passage (its ``section`` names the sheet); None elsewhere."""
    row_end: int | None = None
    ocr_confidence: float | None = None
    """Lowest OCR confidence (0-100) of the passage's parts read off an image; None for a text layer."""
    label: str = ""
    """Where the passage is, in words: ``p. 3, OCR 91%``, ``Complete Map, rows 12-18``, ``§ 3``."""
    passage: str = ""
    """The whole passage ``quote`` was taken from, so a reader sees its context."""
    quote_spans: list[tuple[int, int]] = msgspec.field(default_factory=list)
    """Where ``quote`` lies in ``passage``: (start, end) character offsets of each quoted span, in order
    (``quote`` joins their texts with `` … ``)."""


class DataCitation(msgspec.Struct, frozen=True, kw_only=True):
    """A time-series query whose numbers the answer uses: ``[D<ref>]`` in the answer points here."""

    ref: str
    series: str
    metric: str
    unit: str
    start: str
    end: str
    bucket: str
    aggregate: str
    query: str
    """The same query on ``GET /data/query``."""
    summary: str


class RelatedDocument(msgspec.Struct, frozen=True, kw_only=True):
    """A document among the hits that the answer does not cite."""

    document_id: str
    title: str
    score: float


class RecommendedDocument(msgspec.Struct, frozen=True, kw_only=True):
    """A document recommended to the asking user (``luna_hub.recommend``), with its propensity and why."""

    document_id: str
    item_id: str
    title: str
    score: float
    propensity: float
    reason: str


class RecommendedDocuments(msgspec.Struct, frozen=True, kw_only=True):
    """Documents ranked for the asking user.

    ``helpful``/``not_helpful`` events naming ``recommendation_id`` and a document's ``item_id`` teach the recommender.
    """

    recommendation_id: str
    policy: str
    documents: list[RecommendedDocument]


class ContextReport(msgspec.Struct, frozen=True, kw_only=True):
    """How the prompt was fitted into the model's context (generative answers)."""

    num_ctx: int
    prompt_tokens_estimate: int
    passages_used: int
    passages_dropped: int


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    """A grounded answer; ``found`` is false when the sources do not contain one."""

    question: str
    answer: str
    mode: Literal["extractive", "generative"]
    found: bool
    citations: list[Citation]
    data: list[DataCitation]
    related_documents: list[RelatedDocument]
    model: str | None = None
    context: ContextReport | None = None
    notes: list[str] = msgspec.field(default_factory=list)
    nearest: Citation | None = None
    """When no passage answers (``found`` false): the passage nearest the question, shown as such, not as an answer."""
    recommended_documents: RecommendedDocuments | None = None
    """Documents ranked for the asking user by the recommender (absent when it has none to offer)."""
