"""At SIENA scale a witnessing round calls a window of its peers, not all of them
(``[audit] witness_peers_per_round``): here one peer a round among three, so three
rounds of the pull witness and of the submissions reach every peer once, and each
peer's log is watched and each witness's cosignature kept as in a full round."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exchange.service import witness
from exchange.store import checkpoints
from exchange.web.appkeys import WITNESS_SUBMIT_KEY

from ..federation import FAST_DELIVERY, Federation

IDS = ["ES-CNA", "FR-CNA", "MA-CNA", "SN-CNA"]
PEERS = {"FR-CNA", "MA-CNA", "SN-CNA"}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(
        tmp_path, IDS, extra_config=FAST_DELIVERY + "witness_peers_per_round = 1\n"
    )
    await fed.start()
    yield fed
    await fed.stop()


async def test_the_pull_witness_watches_one_peer_a_round_and_every_peer_in_three(
    fed: Federation,
) -> None:
    es = fed["ES-CNA"]
    assert es.config.audit.witness_peers_per_round == 1
    rounds = [await es.witness_round() for _ in range(4)]
    assert [len(r) for r in rounds] == [1, 1, 1, 1]
    assert set().union(*rounds[:3]) == PEERS
    assert rounds[3].keys() == rounds[0].keys()  # the window came round again
    assert all(j.verdict in ("advance", "same") for r in rounds for j in r.values())
    for peer in PEERS:
        assert await witness.last_view(es.node, peer) is not None


async def test_submissions_reach_one_witness_a_round_and_every_witness_in_three(
    fed: Federation,
) -> None:
    es = fed["ES-CNA"]
    assert es.running is not None
    submitter = es.running.app[WITNESS_SUBMIT_KEY]
    rounds = [await submitter.submit_all() for _ in range(3)]
    assert [len(r) for r in rounds] == [1, 1, 1]
    assert set().union(*rounds) == PEERS
    size = (await es.checkpoint()).size
    for r in rounds:
        (cosigned,) = r.values()
        assert cosigned <= size
    kept = {
        w
        for s in {v for r in rounds for v in r.values()}
        for w, _, _ in await es.node.db.run(lambda c, s=s: checkpoints.cosignatures(c, s))
    }
    assert kept == {f"exchange/{p}/witness" for p in PEERS}
