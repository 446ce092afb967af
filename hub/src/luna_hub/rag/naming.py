"""Documents a question names: "Sigenergy", "SDM630", "GEN24", "EEG" name one or two documents.

A question that names a product or a law wants passages from that document, but dense and sparse
retrieval over the whole corpus often rank another manual's passage on the same topic first (a
Fronius timeout paragraph for a question on the Sigenergy timeout). A question word *names* a
document when it is a word of the document's title or file name (``sigenergy_modbus_protocol.pdf``)
shared by at most :data:`MAX_NAMED` documents, and when most of the chunks holding it lie in those
documents (``energy`` in ``heidelberg_energy_control…`` is in every English manual, so it names
nothing). Retrieval then also searches within the named documents (see :mod:`.retrieval`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final

import asyncpg

from luna_hub.rag.terms import STOP_WORDS, fold

__all__ = ["MAX_NAMED", "MIN_SHARE", "name_words", "named_documents"]

MAX_NAMED: Final = 2
"""Most documents one naming word may point at (more and it is a topic, not a name)."""
MIN_SHARE: Final = 0.5
"""More than this share of the chunks holding the word must lie in the documents it names."""
_PREFIX: Final = 6
"""A question word this long also names a document whose name word starts with it (``stromsteuer``)."""
_WORD: Final = re.compile(r"[^\W_]+", re.UNICODE)
_NOT_NAMES: Final = frozenset(["pdf", "md", "csv", "docx", "xlsx", "txt", "html", "htm", "json", "xml"])
_NAMES = """
SELECT d.document_id, d.title, coalesce(v.filename, '') AS filename
FROM documents d LEFT JOIN document_versions v ON v.document_id = d.document_id AND v.version = d.current_version
WHERE d.current_version IS NOT NULL AND NOT d.document_id = ANY($1::text[])
"""
_SPREAD = """
SELECT count(*) FILTER (WHERE document_id = ANY($2::text[])) AS inside, count(*) AS total
FROM chunks WHERE tsv @@ $1::tsquery
"""


def name_words(*names: str) -> set[str]:
    """Return the folded words (letters and digits together: ``sdm630``) of titles or file names, formats left out."""
    return {
        word
        for name in names
        for word in (fold(w) for w in _WORD.findall(name))
        if len(word) >= 3 and word not in _NOT_NAMES and word not in STOP_WORDS  # noqa: PLR2004 - shorter is no name
    }


def _named_by(word: str, names: dict[str, set[str]]) -> list[str]:
    def names_it(name: str) -> bool:
        return name == word or (len(word) >= _PREFIX and name.startswith(word))

    return sorted(document for document, words in names.items() if any(names_it(n) for n in words))


async def named_documents(
    connection: asyncpg.Connection, question: str, *, exclude_document_ids: Sequence[str] = ()
) -> list[str]:
    """Return the documents ``question`` names (none when it names none, or names too many to say)."""
    rows = await connection.fetch(_NAMES, list(exclude_document_ids))
    names = {row["document_id"]: name_words(row["title"], row["filename"]) for row in rows}
    if len(names) <= MAX_NAMED:
        return []
    named: set[str] = set()
    for raw, word in _question_words(question):
        documents = _named_by(word, names)
        if not documents or len(documents) > MAX_NAMED:
            continue
        query = f"{raw}:*" if len(raw) >= _PREFIX else raw
        spread = await connection.fetchrow(_SPREAD, query, documents)
        if spread is None or spread["total"] == 0 or spread["inside"] > MIN_SHARE * spread["total"]:
            named.update(documents)
    return sorted(named) if len(named) < len(names) else []


def _question_words(question: str) -> Iterable[tuple[str, str]]:
    """Each content word once: as written (lower case, for the chunks' ``tsv``) and folded (to match names)."""
    seen: set[str] = set()
    for raw in (w.lower() for w in _WORD.findall(question)):
        word = fold(raw)
        if len(word) >= 3 and word not in STOP_WORDS and word not in seen:  # noqa: PLR2004 - as name_words
            seen.add(word)
            yield raw, word
