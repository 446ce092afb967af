"""Question terms: German and English stems side by side, compound parts, numbers, language, synonyms."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from luna_hub.rag.synonyms import synonyms_for
from luna_hub.rag.terms import (
    compound_tails,
    expand_query,
    fold,
    language,
    matches,
    matching_words,
    question_terms,
    stems,
    tokens,
)

_LETTERS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöüß", min_size=1, max_size=20)


def test_a_compound_matches_its_parts_and_inflections() -> None:
    assert matches("stromverbrauch", "jahresstromverbrauch")
    assert matches("jahresstromverbrauch", "stromverbrauchs")
    assert matches("zähler", "stromzählers")
    assert matches("messeinrichtungen", "messeinrichtung")
    assert matches("registers", "register")
    assert not matches("strom", "wärme")


def test_numbers_match_whole() -> None:
    assert matches("502", "502")
    assert not matches("502", "5020")
    assert tokens("0,50 Euro für 1.200 kWh") == ["0,50", "euro", "für", "1.200", "kwh"]


def test_language_is_told_by_function_words() -> None:
    assert language("Wie lange läuft die Ersatzversorgung höchstens?") == "de"
    assert language("Which register holds the grid frequency?") == "en"


def test_question_terms_drop_stop_words_and_keep_numbers_and_synonyms() -> None:
    question = "Welche Grundgebühr zahlt man für 2 Zähler?"
    terms = question_terms(question, synonyms_for(question))
    assert "welche" not in terms.words
    assert "grundgebühr" in terms.words
    assert "grundpreis" in terms.words  # from the synonym table
    assert terms.numbers == ("2",)
    assert question_terms("How long does the supplier change take?").asks_number


def test_synonyms_match_whole_phrases_only() -> None:
    assert "intelligentes Messsystem" in synonyms_for("Wann kommt mein Smart Meter?")
    assert synonyms_for("smartmeterish") == []


@given(_LETTERS)
def test_every_word_matches_itself_and_its_capitalised_fold(word: str) -> None:
    assert matches(word, word)
    assert fold(word.upper()) == fold(word)


@given(_LETTERS, _LETTERS)
def test_a_long_word_matches_inside_any_compound_holding_it(head: str, word: str) -> None:
    if len(word) >= 8 and not any(c in word for c in "äöüß"):
        assert matches(word, head + word)


@given(st.text(max_size=200))
def test_tokens_are_lower_case_and_non_empty(text: str) -> None:
    for token in tokens(text):
        assert token
        assert token == token.lower() or not token.isalpha()


def test_a_query_is_expanded_by_compound_tails_stems_and_synonyms() -> None:
    question = "Wie hoch ist mein Jahresstromverbrauch beim Smart Meter?"
    expanded = expand_query(question, synonyms_for(question))
    assert expanded.startswith(question)
    extra = expanded[len(question) :].split()
    assert "stromverbrauch" in extra
    assert "messsystem" in extra
    assert "hoch" not in extra  # question words themselves are not repeated


@given(_LETTERS)
def test_compound_tails_are_long_proper_suffixes(word: str) -> None:
    for tail in compound_tails(word):
        assert word.endswith(tail)
        assert 6 <= len(tail) <= len(word) - 4


def _matches_by_definition(term: str, word: str) -> bool:
    """The matching rule written out plainly: equal, or a shared stem, or one's long stem inside the other."""
    if term == word:
        return True
    if term[0].isdigit() or word[0].isdigit():
        return False
    term_stems, word_stems = stems(term), stems(word)
    if term_stems[0] == word_stems[0] or term_stems[1] == word_stems[1]:
        return True
    longest_term, longest_word = max(term_stems, key=len), max(word_stems, key=len)
    return (len(longest_term) >= 5 and longest_term in fold(word)) or (
        len(longest_word) >= 5 and longest_word in fold(term)
    )


words_and_numbers = st.one_of(
    st.text(alphabet="abcdeghilmnorstuzäöüß", min_size=1, max_size=14),
    st.sampled_from(["zähler", "stromzähler", "messstellenbetreiber", "betreiber", "502", "5020", "running", "runs"]),
)


@given(words_and_numbers, st.lists(words_and_numbers, max_size=12))
def test_matching_words_keeps_exactly_the_words_that_match(term: str, words: list[str]) -> None:
    expected = {word for word in words if _matches_by_definition(term, word)}
    assert matching_words(term, words) == expected
    assert {word for word in words if matches(term, word)} == expected
