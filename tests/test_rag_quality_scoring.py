"""The answer-quality bench scores what it claims: evidence coverage and locators (``bench/rag_quality.py``)."""

from __future__ import annotations

from bench.rag_quality import Item, at_locator, coverage, passage_hits
from hypothesis import given
from hypothesis import strategies as st

from luna_hub.rag.passages import Passage


def _passage(
    text: str, *, document_id: str = "laws-msbg.md", section: str | None = None, page: int | None = None
) -> Passage:
    return Passage(
        document_id=document_id, title="t", version=1, page=page, page_end=page, section=section,
        chunks=[], text=text, score=1.0, dense_score=None,
    )  # fmt: skip


def _item(locator: str | int | None, file: str = "laws/msbg.md", evidence: str = "x") -> Item:
    return Item(id="t1", question="q", lang="en", style="numeric", file=file, locator=locator, evidence=evidence)


@given(st.lists(st.from_regex(r"[a-zäöü0-9]{1,8}", fullmatch=True), min_size=1, max_size=30))
def test_text_holds_all_of_its_own_words_and_none_of_an_empty_one(tokens: list[str]) -> None:
    evidence = " ".join(tokens)
    assert coverage(evidence, evidence + " und mehr") == 1.0
    assert coverage(evidence, "") == 0.0


def test_coverage_counts_repeated_words_and_ignores_case_and_soft_hyphens() -> None:
    assert coverage("die die Steuer", "Die Steu\u00ader") == 2 / 3
    assert coverage("Frist von zwei Wochen", "mit einer FRIST von zwei Wochen gekündigt") == 1.0


def test_locators_of_laws_pages_headings_and_rows() -> None:
    assert at_locator(_item("§ 37"), _passage("", section="Teil 3 > § 37 Informationspflichten"))
    assert not at_locator(_item("§ 3"), _passage("", section="Teil 3 > § 37 Informationspflichten"))
    assert at_locator(_item(12, file="manuals/x.pdf"), _passage("", page=12))
    fronius = "manuals/fronius_datamanager_modbus_tcp_rtu.pdf"
    assert at_locator(_item(3, file=fronius), _passage("", page=51))  # the same page in the other language
    assert at_locator(_item(57, file=fronius), _passage("", page=9))
    assert not at_locator(_item(12, file="manuals/x.pdf"), _passage("", page=62))
    assert at_locator(_item("Anlage 4"), _passage("", section="Anlage 4 (zu § 30)"))
    assert not at_locator(_item("Anlage 4"), _passage("", section="Anlage 4a"))
    assert at_locator(_item("row 7", file="office/v.csv"), _passage("Row 7: a: b"))
    assert not at_locator(_item("row 7", file="office/v.csv"), _passage("Row 70: a: b"))
    sheet = "office/fronius_gen24_register_map_float_storage.xlsx"
    assert at_locator(_item("sheet: status (122)", file=sheet), _passage("Row 20: a: b", section="status (122)"))
    assert not at_locator(_item("sheet: status (122)", file=sheet), _passage("", section="Complete Map"))


def test_a_hit_needs_the_right_file() -> None:
    item = _item("§ 37", evidence="drei Monate vor der Ausstattung")
    text = "Spätestens drei Monate vor der Ausstattung der Messstelle"
    assert passage_hits(item, _passage(text))
    assert not passage_hits(item, _passage(text, document_id="laws-enwg_auszug.md"))
