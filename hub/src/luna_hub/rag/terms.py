"""Words of questions and passages in German and English: stems side by side, compound parts, numbers.

A question term matches a word of a passage when both have the same German or English Snowball
stem, or when one holds the other's folded stem of at least :data:`PART` letters: German compounds
are matched by their parts without a dictionary (``Jahresstromverbrauch`` holds ``stromverbrauch``,
``Stromzähler`` holds ``zahler``). Folding drops case and umlauts (``Zähler`` = ``zahler``).
Numbers are terms of their own, matched whole (``502`` is not ``5020``). :func:`language` tells
German from English by function words, for the question's side of cross-language matching.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Final, Literal

import msgspec
import snowballstemmer  # type: ignore[import-untyped]  # ships no types

__all__ = [
    "CORE_STOP_WORDS",
    "PART",
    "STOP_WORDS",
    "QuestionTerms",
    "compound_tails",
    "expand_query",
    "fold",
    "language",
    "matches",
    "matching_words",
    "question_terms",
    "stems",
    "tokens",
]

PART: Final = 5
"""Fewest letters a stem needs to count as a compound part found inside a longer word."""

_TOKEN: Final = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+", re.UNICODE)
_FOLD: Final = str.maketrans({"ä": "a", "ö": "o", "ü": "u", "ß": "ss", "\u00ad": ""})
CORE_STOP_WORDS: Final = frozenset(
    [
        "ab",
        "about",
        "all",
        "als",
        "am",
        "an",
        "and",
        "any",
        "are",
        "auch",
        "auf",
        "aus",
        "bei",
        "bis",
        "can",
        "could",
        "darf",
        "das",
        "dass",
        "dem",
        "den",
        "der",
        "des",
        "did",
        "die",
        "do",
        "does",
        "dürfen",
        "ein",
        "eine",
        "einem",
        "einen",
        "einer",
        "eines",
        "es",
        "for",
        "from",
        "für",
        "had",
        "has",
        "have",
        "how",
        "ihr",
        "ihre",
        "im",
        "in",
        "into",
        "ist",
        "kann",
        "können",
        "mit",
        "muss",
        "must",
        "müssen",
        "nach",
        "nicht",
        "not",
        "oder",
        "over",
        "sein",
        "seine",
        "should",
        "sich",
        "sie",
        "sind",
        "that",
        "the",
        "their",
        "them",
        "there",
        "these",
        "they",
        "this",
        "those",
        "und",
        "under",
        "unter",
        "vom",
        "von",
        "wann",
        "was",
        "welche",
        "welcher",
        "welches",
        "wer",
        "werden",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "wie",
        "wird",
        "with",
        "wo",
        "would",
        "zum",
        "zur",
        "über",
    ]
)
"""German and English function words that carry no topic (also what passage scoring ignores)."""
STOP_WORDS: Final = CORE_STOP_WORDS | frozenset(
    [
        "also",
        "as",
        "at",
        "be",
        "been",
        "beim",
        "being",
        "by",
        "dann",
        "denn",
        "dort",
        "du",
        "far",
        "gelten",
        "get",
        "gibt",
        "gilt",
        "got",
        "habe",
        "haben",
        "hat",
        "hier",
        "ich",
        "if",
        "is",
        "it's",
        "its",
        "lange",
        "long",
        "man",
        "many",
        "may",
        "me",
        "mein",
        "meine",
        "meinem",
        "meinen",
        "meiner",
        "mich",
        "might",
        "mir",
        "much",
        "my",
        "noch",
        "of",
        "on",
        "or",
        "our",
        "schon",
        "shall",
        "so",
        "soll",
        "sollen",
        "than",
        "then",
        "to",
        "viel",
        "viele",
        "we",
        "welchem",
        "welchen",
        "wieviel",
        "will",
        "you",
        "your",
    ]
)
_ASKS_NUMBER: Final = re.compile(
    r"\b(how (many|much|long|far|early|quickly|big|high|often)|what (range|rate|value|port|address)"
    r"|which (register|port|address|input register)|wie (viel|viele|lange|hoch|groß|stark|oft|weit|früh)|bis wann"
    r"|welche[snrm]? (register|adresse|port|zahl|wert)|wann|when|register|port|adresse|address)\b",
    re.IGNORECASE,
)
_GERMAN: Final = frozenset(
    [
        "der",
        "die",
        "das",
        "den",
        "dem",
        "des",
        "und",
        "ist",
        "sind",
        "nicht",
        "ein",
        "eine",
        "wie",
        "was",
        "wer",
        "wann",
        "welche",
        "mit",
        "für",
        "von",
        "auf",
        "bei",
        "ich",
        "mein",
        "mir",
    ]
)
_ENGLISH: Final = frozenset(
    [
        "the",
        "is",
        "are",
        "and",
        "of",
        "to",
        "what",
        "which",
        "how",
        "does",
        "do",
        "can",
        "my",
        "for",
        "with",
        "on",
        "in",
        "a",
        "an",
    ]
)


def fold(word: str) -> str:
    """Lower-case ``word`` and drop its umlauts and soft hyphens (``Zähler`` -> ``zahler``)."""
    return word.lower().translate(_FOLD)


def tokens(text: str) -> list[str]:
    """Return the words and numbers of ``text``, lower-cased, in order (``1.200`` and ``0,50`` stay whole)."""
    return _TOKEN.findall(text.replace("\u00ad", "").lower())


@functools.cache
def _stemmer(name: str) -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer(name)


@functools.lru_cache(maxsize=65536)
def stems(word: str) -> tuple[str, str]:
    """Return the folded German and English Snowball stems of a lower-case word."""
    return fold(_stemmer("german").stemWord(word)), fold(_stemmer("english").stemWord(word))


def language(text: str) -> Literal["de", "en"]:
    """Tell whether ``text`` is German or English by its function words and umlauts (ties: German)."""
    words = tokens(text)
    german = sum(w in _GERMAN for w in words) + sum(1 for ch in text if ch in "äöüßÄÖÜ")
    english = sum(w in _ENGLISH for w in words)
    return "en" if english > german else "de"


class QuestionTerms(msgspec.Struct, frozen=True, kw_only=True):
    """What a question asks about: its content words (with synonyms added) and its numbers."""

    words: tuple[str, ...]
    numbers: tuple[str, ...]
    language: Literal["de", "en"]
    asks_number: bool = False
    """Whether the question asks for an amount, a duration, a date, a port or a register."""


def _is_number(token: str) -> bool:
    return token[0].isdigit()


def question_terms(question: str, synonyms: Iterable[str] = ()) -> QuestionTerms:
    """Return the content words (no stop words, at least three letters), numbers and language of ``question``.

    ``synonyms`` (phrases) add their words, so a question's ``Smart Meter`` also looks for ``Messsystem``.
    """
    words: dict[str, None] = {}
    numbers: dict[str, None] = {}
    for token in [*tokens(question), *(t for phrase in synonyms for t in tokens(phrase))]:
        if _is_number(token):
            numbers[token] = None
        elif len(token) >= 3 and token not in STOP_WORDS:  # noqa: PLR2004 - shorter words carry no meaning here
            words[token] = None
    return QuestionTerms(
        words=tuple(words),
        numbers=tuple(numbers),
        language=language(question),
        asks_number=_ASKS_NUMBER.search(question) is not None,
    )


def matches(term: str, word: str) -> bool:
    """Whether question ``term`` matches passage ``word`` (both lower-case): a shared stem or a compound part."""
    return term == word or (not _is_number(term) and not _is_number(word) and _forms_match(_forms(term), _forms(word)))


def matching_words(term: str, words: Iterable[str]) -> set[str]:
    """Return the ``words`` that ``term`` :func:`matches` (the term's forms worked out once)."""
    if _is_number(term):
        return {word for word in words if word == term}
    forms = _forms(term)
    return {word for word in words if word == term or (not _is_number(word) and _forms_match(forms, _forms(word)))}


_Forms = tuple[str, str, str, str]
"""A word's German stem, English stem, folded spelling and longest stem."""


@functools.lru_cache(maxsize=1 << 18)
def _forms(word: str) -> _Forms:
    german, english = stems(word)
    return german, english, fold(word), max((german, english), key=len)


def _forms_match(term: _Forms, word: _Forms) -> bool:
    if term[0] == word[0] or term[1] == word[1]:
        return True
    return (len(term[3]) >= PART and term[3] in word[2]) or (len(word[3]) >= PART and word[3] in term[2])


_TAIL_HEAD: Final = 4
"""Fewest letters before a compound's tail (``jahr|esstromverbrauch`` is not a split)."""
_TAIL: Final = 6
"""Fewest letters of a tail worth searching for (``verbrauch``, ``zahler``; not ``rauch``)."""
_COMPOUND: Final = 10
_STEM_PREFIX: Final = 6


def compound_tails(word: str) -> list[str]:
    """Return the tails of a long word that may be compound parts (``jahresstromverbrauch`` -> ``stromverbrauch``, ...).

    No dictionary: every tail of at least ``_TAIL`` letters after at least ``_TAIL_HEAD``; sparse
    retrieval drops the ones no chunk holds.
    """
    if len(word) < _COMPOUND or not word.isalpha():
        return []
    return [word[i:] for i in range(_TAIL_HEAD, len(word) - _TAIL + 1)]


def expand_query(question: str, synonyms: Iterable[str] = ()) -> str:
    """Return ``question`` with the words sparse retrieval should also look for appended.

    Synonyms from the table, the German and English stems of its words (``messeinrichtungen`` ->
    ``messeinricht``, searched as a prefix), and the tails of its long compounds.
    """
    extra: dict[str, None] = dict.fromkeys(t for phrase in synonyms for t in tokens(phrase))
    for token in tokens(question):
        if _is_number(token) or token in STOP_WORDS:
            continue
        for stem in {_stemmer("german").stemWord(token), _stemmer("english").stemWord(token)}:
            if len(stem) >= _STEM_PREFIX and stem != token and token.startswith(stem):  # suffixes cut, umlauts kept
                extra[stem] = None
        extra.update(dict.fromkeys(compound_tails(token)))
    return " ".join([question, *extra])
