"""Quoting: the span that answers the question, with its neighbours, located exactly in its passage."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from luna_hub.rag.quoting import quote_span, sentence_spans
from luna_hub.rag.terms import question_terms

LAW = (
    "§ 41b Kündigung. Haushaltskunden sind im Falle eines Wohnsitzwechsels zu einer außerordentlichen Kündigung ihres "
    "bisherigen Liefervertrages unter Einhaltung einer Kündigungsfrist von sechs Wochen berechtigt. Die Kündigung kann "
    "mit Wirkung zum Zeitpunkt des Auszugs erklärt werden. Der Lieferant hat die Kündigung zu bestätigen. "
    "Die Belieferung erfolgt zu den bisherigen Bedingungen. Im Übrigen gilt § 20 entsprechend."
)


def test_the_quote_holds_the_sentence_that_answers_and_lies_in_the_passage() -> None:
    terms = question_terms("Welche Kündigungsfrist gilt beim Wohnsitzwechsel?")
    quote = quote_span(terms, LAW)
    assert "sechs Wochen" in quote.text
    assert [LAW[a:b] for a, b in quote.spans] == quote.text.split(" … ")
    assert quote.coverage == 1.0


def test_a_numeric_question_prefers_the_sentence_with_the_number() -> None:
    text = "The port is shown in the menu. The port is preset to 502 here. Other settings follow."
    quote = quote_span(question_terms("Which port does it take?"), text, min_chars=0, max_chars=40)
    assert quote.text == "The port is preset to 502 here."


def test_no_sentence_in_common_still_quotes_a_span() -> None:
    quote = quote_span(question_terms("Wie hoch ist die Stromsteuer?"), LAW)
    assert quote.text
    assert quote.coverage < 1.0


_TEXT = st.text(alphabet=st.sampled_from(list("abc XYZ.;\n0123 äÖ")), max_size=400)


@given(_TEXT)
def test_sentence_spans_are_ordered_disjoint_and_trimmed(text: str) -> None:
    previous = 0
    for start, end in sentence_spans(text):
        assert previous <= start < end <= len(text)
        assert text[start:end] == text[start:end].strip()
        previous = end


@given(_TEXT, st.text(alphabet=st.sampled_from(list("abc XYZ 12?")), max_size=60))
def test_a_quote_is_always_the_passage_between_its_offsets_and_within_bounds(text: str, question: str) -> None:
    quote = quote_span(question_terms(question), text, max_chars=120)
    assert " … ".join(text[a:b] for a, b in quote.spans) == quote.text
    assert 0.0 <= quote.coverage <= 1.0
    assert all(a < b <= c < d for (a, b), (c, d) in itertools.pairwise(quote.spans))
    sentences = sentence_spans(text)
    if sentences:
        longest = max(end - start for start, end in sentences)
        assert sum(b - a for a, b in quote.spans) <= max(120, longest)


def test_a_semicolon_inside_brackets_ends_no_sentence() -> None:
    row = "261 R/W uint16 Maximal current command [0; 60 to 160] 100 = 10A. Next row follows."
    pieces = [row[a:b] for a, b in sentence_spans(row)]
    assert pieces == ["261 R/W uint16 Maximal current command [0; 60 to 160] 100 = 10A.", "Next row follows."]
    law = "Ein Satz (siehe Nr. 3; 4 Fälle) endet hier. Zwei."
    assert [law[a:b] for a, b in sentence_spans(law)] == ["Ein Satz (siehe Nr. 3; 4 Fälle) endet hier.", "Zwei."]
