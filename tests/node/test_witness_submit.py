"""Our nodes have their logs witnessed by their peers with c2sp.org/tlog-witness: the
newest checkpoint goes to each peer's POST /add-checkpoint, a 409 is answered by a
resubmission from the size the witness holds, and the cosignatures that come back are
verified and kept beside those of the pull witness."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from exchange.service import witness
from exchange.store import checkpoints
from exchange.web.appkeys import WITNESS_SUBMIT_KEY
from exchange.workers.witness_submit import WitnessSubmitter

from ..federation import Federation, Member

IDS = ["ES-CNA", "MA-CNA", "SN-CNA"]


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, IDS)
    await fed.start()
    yield fed
    await fed.stop()


def submitter(member: Member) -> WitnessSubmitter:
    assert member.running is not None
    return member.running.app[WITNESS_SUBMIT_KEY]


async def grow(member: Member, n: int = 2) -> None:
    pin = aiohttp.Fingerprint(bytes.fromhex(member.fingerprint))
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            body = {"username": "nobody", "password": "wrong"}
            async with session.post(member.url + "/api/login", json=body, ssl=pin):
                pass


async def test_a_log_is_cosigned_by_every_peer_witness(fed: Federation) -> None:
    es = fed["ES-CNA"]
    await fed["MA-CNA"].witness_round()  # MA's pull witness already holds a view of ES
    held = await witness.last_view(fed["MA-CNA"].node, "ES-CNA")
    assert held is not None
    await grow(es)
    with capture_logs() as events:
        cosigned = await submitter(es).submit_all()  # MA answers 409 first, SN cosigns at once
    conflicts = [e["held"] for e in events if e["event"] == "witness_old_size_mismatch"]
    assert conflicts == [held.size]
    size = (await es.checkpoint()).size
    assert cosigned == {"MA-CNA": size, "SN-CNA": size}
    stored = await es.node.db.run(lambda c: checkpoints.cosignatures(c, size))
    assert sorted(w for w, _, _ in stored) == ["exchange/MA-CNA/witness", "exchange/SN-CNA/witness"]
    for peer in ("MA-CNA", "SN-CNA"):
        view = await witness.cosigned_view(fed[peer].node, "exchange/ES-CNA/audit")
        assert view is not None and f"\n{size}\n" in view

    await grow(es)  # the next submission goes from the size each witness holds
    cosigned = await submitter(es).submit_all()
    assert set(cosigned.values()) == {(await es.checkpoint()).size} and cosigned["MA-CNA"] > size
