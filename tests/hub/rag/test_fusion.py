"""Reciprocal rank fusion with weights: properties over drawn rankings."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from luna_hub.rag.retrieval import rrf

rankings = st.lists(st.lists(st.sampled_from("abcdefgh"), unique=True, max_size=8), min_size=1, max_size=4)


@given(rankings)
def test_weights_of_one_fuse_as_plain_rrf(lists: list[list[str]]) -> None:
    plain = dict(rrf(lists, k=60))
    weighted = dict(rrf(lists, k=60, weights=[1.0] * len(lists)))
    assert plain.keys() == weighted.keys()
    assert all(abs(plain[key] - weighted[key]) < 1e-12 for key in plain)


@given(rankings, st.floats(min_value=0.01, max_value=10))
def test_a_list_s_weight_scales_exactly_its_share(lists: list[list[str]], weight: float) -> None:
    others = dict(rrf(lists[1:], k=60)) if lists[1:] else {}
    fused = dict(rrf(lists, k=60, weights=[weight] + [1.0] * (len(lists) - 1)))
    for rank, key in enumerate(lists[0], start=1):
        assert abs(fused[key] - others.get(key, 0.0) - weight / (60 + rank)) < 1e-9
    assert set(fused) == {key for ranking in lists for key in ranking}


def test_a_heavier_list_wins_a_tie_of_places() -> None:
    assert rrf([["a", "b"], ["b", "a"]], k=60, weights=[1.0, 0.5])[0][0] == "a"
    assert rrf([["a", "b"], ["b", "a"]], k=60, weights=[0.5, 1.0])[0][0] == "b"
