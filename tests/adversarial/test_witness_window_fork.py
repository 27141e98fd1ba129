"""A log that forks is caught in a federation where a witnessing round calls only a
window of the peers (``[audit] witness_peers_per_round``, docs/THREAT_MODEL.md): a
dishonest node rewrites its history while the witness looks elsewhere, and the witness
reports the fork, with both signed notes, in the first round whose window reaches it,
within ceil(peers / per_round) rounds; never a false "same" for it meanwhile."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exchange.core.witness_rounds import rounds_to_cover
from exchange.store import audit

from ..federation import FAST_DELIVERY, Federation
from ..node.test_audit import _rewrite_history

IDS = ["ES-CNA", "FR-CNA", "MA-CNA", "SN-CNA"]


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(
        tmp_path, IDS, extra_config=FAST_DELIVERY + "witness_peers_per_round = 1\n"
    )
    await fed.start()
    yield fed
    await fed.stop()


async def test_a_fork_hidden_between_windows_is_caught_when_the_window_comes_round(
    fed: Federation,
) -> None:
    es = fed["ES-CNA"]
    peers = [p for p in IDS if p != "ES-CNA"]
    cover = rounds_to_cover(len(peers), 1)
    for _ in range(cover):  # the witness holds a view of every peer's log
        await es.witness_round()
    # MA forks while the witness's window is wherever it is now
    size = await fed["MA-CNA"].node.db.run(audit.size)
    await fed.stop("MA-CNA")
    _rewrite_history(fed["MA-CNA"].data, keep=size // 2, extra=40)
    await fed.start("MA-CNA")
    await fed["MA-CNA"].checkpoint()

    seen: list[str] = []
    for _ in range(cover):
        verdicts = await es.witness_round()
        seen += [j.verdict for p, j in verdicts.items() if p == "MA-CNA"]
    # in the one round of these whose window reached MA (never a "same" before it)
    assert seen == ["fork"]
    alerts = await es.node.db.run(
        lambda c: c.execute("SELECT peer, kind FROM witness_alerts").fetchall()
    )
    assert [tuple(a) for a in alerts] == [("MA-CNA", "fork")]
