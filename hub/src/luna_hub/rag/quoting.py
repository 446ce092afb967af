"""Pick the span of a passage that answers a question: its best sentence and the neighbours it needs.

A sentence scores the question terms it holds (:func:`luna_hub.rag.terms.matches`: stems, compound
parts, synonyms), each weighted by how rare it is among the passage's sentences, plus the question's
numbers it holds; when the question asks for an amount, a time or a register, a sentence with a
number scores more. The quote is one contiguous span: the best sentence, widened by neighbours that
score too or until it reads as a whole (at least ``min_chars``), never past ``max_chars``; a
sentence elsewhere that scores 0.3 of the best becomes a span of its own (one per chunk the passage
was merged from). Their offsets in the
passage let a reader see them in context. The shares and lengths were chosen on the development set
(``qa_dev.json``) under the rule that support on ``bench/fixtures/rag_questions.json`` must not drop
(see BENCHMARKS.md); the development set's support did not move with them, its limit is retrieval.
"""

from __future__ import annotations

import math
import re
from typing import Final

import msgspec

from luna_hub.rag.terms import QuestionTerms, matches, matching_words, tokens

__all__ = ["Quote", "quote_span", "sentence_spans"]

_BOUNDARY: Final = re.compile(
    r"(?<=[.!?;])(?<![0-9]\.)(?<!Abs\.)(?<!Nr\.)(?<!bzw\.)(?<!vgl\.)(?<!ggf\.)(?<! S\.)(?<!z\. B\.)"
    r"(?<!e\.g\.)(?<!i\.e\.)"
    r"\s+(?![^\[\]\n]*\])(?![^()\n]*\))(?=[A-ZÄÖÜ0-9(\"„§])|\n\s*\n\s*"
)
"""A sentence ends at ``.!?;`` before a capital, a digit or ``§`` (not after an abbreviation, not inside
brackets on its line: ``[0; 60 to 160]``), or at a blank line."""
_LINE: Final = re.compile(r"\s*\n\s*")
_LONG: Final = 300
_NUMBER_BONUS: Final = 1.0
_NEIGHBOUR_SHARE: Final = 0.5
"""A neighbour joins the quote when it scores at least this share of the best sentence ..."""
_SECOND_SHARE: Final = 0.3
"""... and a sentence elsewhere in the passage becomes a span of its own when it scores this share."""


class Quote(msgspec.Struct, frozen=True, kw_only=True):
    """The quoted spans of a passage: their text (joined by `` … ``), offsets, and the question's share they hold."""

    text: str
    spans: list[tuple[int, int]]
    """(start, end) of each quoted span in the passage, in order; ``passage[start:end]`` is its text."""
    coverage: float
    """Share of the question's terms (words and numbers) the spans hold, 0-1."""


def _spans(text: str, boundary: re.Pattern[str], start: int, stop: int) -> list[tuple[int, int]]:
    spans = []
    for match in [*boundary.finditer(text, start, stop), None]:
        end = match.start() if match is not None else stop
        piece = text[start:end]
        stripped = piece.strip()
        if stripped:
            left = start + (len(piece) - len(piece.lstrip()))
            spans.append((left, left + len(stripped)))
        if match is not None:
            start = match.end()
    return spans


def sentence_spans(text: str, *, long: int = _LONG) -> list[tuple[int, int]]:
    """Return (start, end) of each sentence of ``text``, blanks trimmed, in order; none are empty.

    Sentences end at ``.!?;`` before a capital, a digit or ``§``, and at blank lines; one longer than
    ``long`` characters (a table, a list) is split at its line breaks too.
    """
    spans = []
    for start, end in _spans(text, _BOUNDARY, 0, len(text)):
        spans += _spans(text, _LINE, start, end) if end - start > long else [(start, end)]
    return spans


def _held(terms: QuestionTerms, words: set[str]) -> tuple[set[str], set[str]]:
    held_words = {t for t in terms.words if any(matches(t, w) for w in words)}
    held_numbers = {n for n in terms.numbers if n in words}
    return held_words, held_numbers


def _scores(terms: QuestionTerms, text: str, spans: list[tuple[int, int]]) -> list[float]:
    vocabularies = [set(tokens(text[a:b])) for a, b in spans]
    # each question term against each distinct word of the passage once, not once per sentence holding it
    passage_words = set().union(*vocabularies)
    matching = {term: matching_words(term, passage_words) for term in terms.words}
    held = [
        ({t for t in terms.words if matching[t] & words}, {n for n in terms.numbers if n in words})
        for words in vocabularies
    ]
    weight = {
        term: math.log(1 + len(spans) / (1 + sum(term in words or term in numbers for words, numbers in held)))
        for term in (*terms.words, *terms.numbers)
    }
    wants_number = bool(terms.numbers) or terms.asks_number
    scores = []
    for (words, numbers), vocabulary in zip(held, vocabularies, strict=True):
        score = sum(weight[w] for w in words) + 2 * sum(weight[n] for n in numbers)
        if wants_number and any(w[0].isdigit() for w in vocabulary):
            score += _NUMBER_BONUS
        scores.append(score)
    return scores


def _grow(
    spans: list[tuple[int, int]], scores: list[float], best: int, *, min_chars: int, max_chars: int
) -> tuple[int, int]:
    """Widen sentence ``best`` by neighbours that score, or to reach ``min_chars``; its first and last index."""
    first = last = best
    while True:
        options = []
        if last + 1 < len(spans) and spans[last + 1][1] - spans[first][0] <= max_chars:
            options.append((scores[last + 1], 1, last + 1))
        if first > 0 and spans[last][1] - spans[first - 1][0] <= max_chars:
            options.append((scores[first - 1], 0, first - 1))
        if not options:
            return first, last
        score, _, index = max(options)
        if spans[last][1] - spans[first][0] >= min_chars and score < _NEIGHBOUR_SHARE * scores[best]:
            return first, last
        first, last = min(first, index), max(last, index)


def quote_span(
    terms: QuestionTerms, text: str, *, min_chars: int = 250, max_chars: int = 600, others: int = 1
) -> Quote:
    """Return the spans of ``text`` that best answer a question of ``terms`` (see the module docstring).

    ``others``: how many sentences elsewhere in the passage may join as spans of their own (a passage
    merged from several chunks gets one per chunk, and a budget of ``max_chars`` per chunk, so merging
    never costs a quote).
    """
    spans = sentence_spans(text)
    if not spans:
        return Quote(text="", spans=[], coverage=0.0)
    scores = _scores(terms, text, spans)
    best = max(range(len(spans)), key=lambda i: (scores[i], -i))
    first, last = _grow(spans, scores, best, min_chars=min_chars, max_chars=max_chars)
    chosen = [(first, last)]
    budget = max_chars * others - (spans[last][1] - spans[first][0])
    taken = set(range(first, last + 1))
    for other in sorted(range(len(spans)), key=lambda i: (-scores[i], i)):
        if len(chosen) > others or not 0 < _SECOND_SHARE * scores[best] <= scores[other]:
            break
        width = spans[other][1] - spans[other][0]
        if other in taken or width > budget:
            continue
        chosen.append((other, other))
        taken.add(other)
        budget -= width
    offsets = _joined([(spans[a][0], spans[b][1]) for a, b in sorted(chosen)], text)
    quoted = " … ".join(text[a:b] for a, b in offsets)
    words_held, numbers_held = _held(terms, set(tokens(quoted)))
    total = len(terms.words) + len(terms.numbers)
    coverage = (len(words_held) + len(numbers_held)) / total if total else 0.0
    return Quote(text=quoted, spans=offsets, coverage=coverage)


def _joined(offsets: list[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    """Join spans that only blanks separate (neighbouring sentences chosen apart)."""
    joined: list[tuple[int, int]] = []
    for start, end in offsets:
        if joined and not text[joined[-1][1] : start].strip():
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    return joined
