"""The in-memory word index: folding, queries, newest-first order from any position
(whatever order documents arrive in), and erasure leaving nothing of a document."""

from __future__ import annotations

import random
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.core.errors import Malformed
from exchange.core.search import CHUNK, WordIndex, key_of, query_terms, words


def test_words_are_folded_whole_and_bounded() -> None:
    assert words("Barco de NÁDOR, ref. ES-2026/0042") == {
        "barco", "de", "nador", "ref", "es", "2026", "0042",
    }  # fmt: skip
    assert words("x" * 60) == {"x" * 40}


@pytest.mark.parametrize("q", [None, "", "   ", "--//", "x" * 201, "a b c d e f g h i"])
def test_a_bad_query_is_malformed(q: object) -> None:
    with pytest.raises(Malformed):
        query_terms(q)


def _id(n: int) -> str:
    return str(uuid.UUID(int=n))


def _brute(docs: dict[str, tuple[int, set[str]]], terms: set[str], before: object) -> list[str]:
    keys = sorted(((t, i) for i, (t, w) in docs.items() if terms <= w), reverse=True)
    return [i for t, i in keys if before is None or (t, i) < before]  # type: ignore[operator]


DOCS = st.lists(
    st.tuples(st.integers(0, 50), st.sets(st.sampled_from("abcd"), min_size=1)),
    min_size=1,
    max_size=40,
)


@given(DOCS, st.sets(st.sampled_from("abcd"), min_size=1), st.integers(0, 60))
def test_matches_are_every_holder_newest_first_from_any_position(
    docs: list[tuple[int, set[str]]], terms: set[str], cut: int
) -> None:
    """Documents arrive in any order (a clock set back renumbers them); a query lists
    every document holding all its terms in key order, from any cursor position."""
    index, held = WordIndex(), {}
    for n, (time, found) in enumerate(docs):
        index.add((time, _id(n)), found)
        held[_id(n)] = (time, found)
    before = (cut, _id(25))
    assert list(index.matches(sorted(terms))) == _brute(held, terms, None)
    assert list(index.matches(sorted(terms), before=before)) == _brute(held, terms, before)


def test_forgetting_a_document_drops_it_and_its_own_words() -> None:
    index = WordIndex()
    index.add((1, _id(1)), {"nador", "boat"})
    index.add((2, _id(2)), {"boat"})
    index.add((1, _id(1)), {"ucrif"})  # a later message of the same request
    assert list(index.matches(["ucrif", "nador"])) == [_id(1)]
    assert index.forget((1, _id(1))) and not index.forget((1, _id(1)))
    assert not index.knows("nador") and not index.knows("ucrif") and index.knows("boat")
    assert list(index.matches(["boat"])) == [_id(2)]
    assert (1, _id(1)) not in index and (2, _id(2)) in index and len(index) == 1


def test_a_key_is_the_lists_order() -> None:
    earlier = key_of("2026-01-02T09:00:00.000001Z", _id(9))
    later = key_of("2026-01-02T09:00:00.000002Z", _id(1))
    assert earlier < later and later[1] == _id(1)


def test_matches_span_many_chunks_of_the_rarest_word() -> None:
    """More documents than one chunk of intersection (core.search.CHUNK): the same
    answer as a brute-force reading, from the start and from a cursor."""
    rng = random.Random(5)  # noqa: S311 -- test data, not a secret
    index, held = WordIndex(), {}
    for n in range(3 * CHUNK + 17):
        found = set(rng.sample("abcdefgh", 3))
        index.add((n // 3, _id(n)), found)
        held[_id(n)] = (n // 3, found)
    for terms in ({"a"}, {"a", "b"}, {"a", "b", "c"}):
        assert list(index.matches(sorted(terms))) == _brute(held, terms, None)
        before = (CHUNK, _id(3 * CHUNK))
        assert list(index.matches(sorted(terms), before=before)) == _brute(held, terms, before)
