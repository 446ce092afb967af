"""The answer-quality question sets hold what they claim: each evidence is verbatim in what the hub indexes.

``bench/fixtures/rag_heldout.json`` is checked whole: every answerable item's evidence (whitespace collapsed,
soft hyphens removed) occurs in the hub's extracted text of its file (for the XLSX, which the hub cannot
extract yet, in the cell text of the named sheet), has 8-40 words and lies at its locator (the law's § or
Anlage, the PDF page, the DOCX heading, the CSV row); unanswerable items have file, locator, evidence and
answer null; ids are unique, languages and styles known. ``bench/fixtures/rag_questions.json`` is checked for
its passages. The shared ``qa_dev.json`` is not checked here: its evidence was taken from pdftotext output,
which differs from the hub's own PDF extraction in some table rows.

The documents live outside this repository (``../shared/data/docs``); the checks that read them skip when
that folder is absent. Each document is extracted once per session.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from luna_hub.documents.extract import Extraction, Segment, extract, sniff

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT.parent / "shared" / "data" / "docs"
HELDOUT = ROOT / "bench" / "fixtures" / "rag_heldout.json"
OWN = ROOT / "bench" / "fixtures" / "rag_questions.json"
LANGS = frozenset({"de", "en"})
STYLES = frozenset({"colloquial", "cross-language", "multi-hop", "numeric", "paraphrase"})
MIN_WORDS, MAX_WORDS = 8, 40
SHEET = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RELATION = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"

needs_docs = pytest.mark.skipif(not DOCS.is_dir(), reason=f"{DOCS} is absent: the shared documents are not here")


def _questions(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    questions: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["questions"]
    return questions


HELD = _questions(HELDOUT)
ANSWERABLE = [q for q in HELD if q["file"] is not None]
OWN_QUESTIONS = _questions(OWN)


def collapse(text: str) -> str:
    """``text`` with soft hyphens removed and every run of whitespace made one space."""
    return " ".join(text.replace("\u00ad", "").split())


def word_count(text: str) -> int:
    return len(re.findall(r"\w+", text))


@dataclass(frozen=True)
class Flat:
    """An extraction's text collapsed as :func:`collapse` does, with each character's offset in the original."""

    text: str
    origin: list[int]


@cache
def extraction(relative: str) -> Extraction:
    path = DOCS / relative
    data = path.read_bytes()
    return extract(data, sniff(data, path.name), path.name)


@cache
def flat(relative: str) -> Flat:
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(extraction(relative).text):
        if char == "\u00ad":
            continue
        if char.isspace():
            if chars and chars[-1] != " ":
                chars.append(" ")
                origin.append(index)
            continue
        chars.append(char)
        origin.append(index)
    if chars and chars[-1] == " ":
        chars.pop()
        origin.pop()
    return Flat("".join(chars), origin)


@cache
def sheets(relative: str) -> dict[str, str]:
    """Each sheet's cell text by sheet name: a row's non-empty cells joined by spaces, rows by newlines."""
    with zipfile.ZipFile(DOCS / relative) as book:

        def xml(name: str) -> ET.Element:
            return ET.fromstring(book.read(name))  # noqa: S314 - a file of our own document corpus

        shared: list[str] = []
        if "xl/sharedStrings.xml" in book.namelist():
            shared = ["".join(t.text or "" for t in si.iter(f"{SHEET}t")) for si in xml("xl/sharedStrings.xml")]
        targets = {rel.get("Id"): rel.get("Target") or "" for rel in xml("xl/_rels/workbook.xml.rels")}
        texts: dict[str, str] = {}
        for sheet in xml("xl/workbook.xml").iter(f"{SHEET}sheet"):
            target = targets[sheet.get(f"{RELATION}id")].lstrip("/")
            target = target if target.startswith("xl/") else f"xl/{target}"
            rows = []
            for row in xml(target).iter(f"{SHEET}row"):
                cells = (_cell(cell, shared) for cell in row.iter(f"{SHEET}c"))
                rows.append(" ".join(value for value in cells if value))
            texts[sheet.get("name") or ""] = "\n".join(rows)
        return texts


def _cell(cell: ET.Element, shared: list[str]) -> str:
    value = cell.find(f"{SHEET}v")
    if cell.get("t") == "s" and value is not None and value.text is not None:
        return collapse(shared[int(value.text)])
    if cell.get("t") == "inlineStr":
        return collapse("".join(t.text or "" for t in cell.iter(f"{SHEET}t")))
    return collapse(value.text or "") if value is not None else ""


def occurrences(relative: str, evidence: str) -> list[list[Segment]]:
    """For each place the evidence occurs in the file's extracted text, the segments it spans."""
    segments = extraction(relative).segments
    text = flat(relative)
    needle = collapse(evidence)
    found: list[list[Segment]] = []
    start = text.text.find(needle)
    while needle and start >= 0:
        first, last = text.origin[start], text.origin[start + len(needle) - 1]
        found.append([s for s in segments if s.start <= last and s.end > first])
        start = text.text.find(needle, start + 1)
    return found


def at_locator(relative: str, locator: str | int, segment: Segment) -> bool:
    """Whether ``segment`` lies at the locator: the law's § or Anlage, the page, the CSV row, the DOCX heading."""
    if isinstance(locator, int):
        return segment.page == locator
    if locator.startswith(("§", "Anlage")):
        heading = (segment.section or "").split(" > ")[-1]
        return re.match(re.escape(locator) + r"(?![0-9a-z])", heading) is not None
    if locator.lower().startswith("row "):
        text = extraction(relative).text[segment.start : segment.end]
        return text.startswith(f"Row {locator[4:].strip()}:")
    return locator.casefold() in (segment.section or "").casefold()


def test_heldout_items_have_unique_ids_and_known_languages_and_styles() -> None:
    assert HELD, f"{HELDOUT} holds no questions"
    repeated = [key for key, count in Counter(q["id"] for q in HELD).items() if count > 1]
    assert not repeated, f"ids used more than once: {repeated}"
    assert {q["lang"] for q in HELD} <= LANGS
    assert {q["style"] for q in HELD} <= STYLES
    assert all(q["question"].strip() for q in HELD)


def test_heldout_unanswerable_items_are_null_and_answerable_ones_complete() -> None:
    fields = ("file", "locator", "evidence", "answer")
    for q in HELD:
        values = [q[field] for field in fields]
        assert all(v is None for v in values) or all(v not in (None, "") for v in values), q["id"]
    assert any(q["file"] is None for q in HELD), "a held-out set without unanswerable questions tests no abstention"


def test_heldout_evidence_has_8_to_40_words() -> None:
    counts = {q["id"]: word_count(collapse(q["evidence"])) for q in ANSWERABLE}
    assert {key: n for key, n in counts.items() if not MIN_WORDS <= n <= MAX_WORDS} == {}


@needs_docs
@pytest.mark.parametrize("item", ANSWERABLE, ids=[q["id"] for q in ANSWERABLE])
def test_heldout_evidence_is_verbatim_at_its_locator(item: dict[str, Any]) -> None:
    relative: str = item["file"]
    locator: str | int = item["locator"]
    evidence = collapse(item["evidence"])
    if relative.endswith(".xlsx"):
        assert isinstance(locator, str)
        assert locator.startswith("sheet:"), f"{item['id']}: an XLSX locator names its sheet"
        name = locator.partition(":")[2].strip()
        assert evidence in collapse(sheets(relative)[name]), f"{item['id']}: not in sheet {name!r}: {evidence}"
        return
    places = occurrences(relative, evidence)
    assert places, f"{item['id']}: not in the extracted text of {relative}: {evidence}"
    assert any(all(at_locator(relative, locator, s) for s in place) for place in places), (
        f"{item['id']}: found in {relative}, but not at {locator!r}: "
        + "; ".join(str([(s.page, s.section) for s in place]) for place in places)
    )


@needs_docs
@pytest.mark.parametrize(
    "question", OWN_QUESTIONS, ids=[f"o{number:02d}" for number in range(1, len(OWN_QUESTIONS) + 1)]
)
def test_own_passages_are_verbatim_in_their_document(question: dict[str, Any]) -> None:
    relative: str | None = question.get("document")
    if relative is None:
        return
    if relative.endswith(".xlsx"):
        texts = [collapse(text) for text in sheets(relative).values()]
        missing = [p for p in question["passages"] if not any(collapse(p) in text for text in texts)]
    else:
        missing = [p for p in question["passages"] if collapse(p) not in flat(relative).text]
    assert not missing, f"not in the extracted text of {relative}: {missing}"
