"""A witnessing round calls at most ``per_round`` peers, and every peer is called within
``rounds_to_cover`` consecutive rounds, from any round on (properties, hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from exchange.core.witness_rounds import peers_this_round, rounds_to_cover

IDS = st.lists(st.from_regex(r"[A-Z]{2}-[A-Z]{2,4}", fullmatch=True), unique=True, max_size=60)


@given(IDS, st.integers(1, 70), st.integers(0, 10_000), st.sampled_from(["ES-CNA", "MA-CNA"]))
def test_every_peer_is_called_within_rounds_to_cover(
    peers: list[str], per_round: int, first: int, me: str
) -> None:
    rounds = rounds_to_cover(len(peers), per_round)
    called: set[str] = set()
    for n in range(first, first + rounds):
        chosen = peers_this_round(peers, me, n, per_round)
        assert len(chosen) == min(per_round, len(peers)) == len(set(chosen))
        assert set(chosen) <= set(peers)
        called |= set(chosen)
    assert called == set(peers)


def test_a_small_federation_is_called_whole_every_round() -> None:
    peers = ["SN-CNA", "MA-CNA", "FR-CNA"]
    assert peers_this_round(peers, "ES-CNA", 7, 3) == ["FR-CNA", "MA-CNA", "SN-CNA"]
    assert rounds_to_cover(3, 3) == rounds_to_cover(0, 5) == 1


def test_nodes_start_their_windows_at_different_peers() -> None:
    peers = [f"P{n:04d}-CNA" for n in range(1000)]
    firsts = {peers_this_round(peers, f"N{n}-CNA", 0, 256)[0] for n in range(50)}
    assert len(firsts) > 40  # spread by the hash of each caller's id, not all at P0000
    assert rounds_to_cover(999, 256) == 4
