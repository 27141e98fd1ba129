"""Nodes in one process share the directory they verified (``core/verified_directories``):
one parse and one check of every entry's self-signature per document, not one per node,
and one copy in memory. What a node trusts stays its own decision: a document is
shared only byte for byte and under the same pinned operator keys, and each node's
serial floor (no rollback) and clock (no expired directory) are checked on every
install, whatever its neighbours accepted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from exchange.core.clock import ManualClock
from exchange.core.errors import DirectoryRejected
from exchange.core.verified_directories import SHARED

from ..federation import Federation

T0 = datetime.now(UTC).replace(microsecond=0)
IDS = ["ES-CNA", "MA-CNA", "FR-CNA"]


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path / "fed", IDS, clock=ManualClock(T0), users=False)
    await fed.start()
    yield fed
    await fed.stop()


async def test_nodes_of_one_process_share_one_verified_directory(fed: Federation) -> None:
    holders = [fed[a].node.directory for a in IDS]
    first = holders[0]
    assert first.current is not None and len(first.current.authorities) == 3
    for holder in holders[1:]:
        assert holder.current is first.current
        assert holder.index is first.index
        assert holder.held_document is first.held_document


async def test_a_document_one_byte_off_the_shared_one_is_refused(fed: Federation) -> None:
    genuine = (fed.root / "directory.json").read_bytes()
    node = fed["ES-CNA"].node
    held = node.directory.current
    # the same length, still valid JSON, one entry's name changed: the operator's
    # signature no longer covers it, however close it is to the document shared
    tampered = genuine.replace(b'"MA-CNA authority"', b'"MA-CNA authoritY"', 1)
    assert tampered != genuine and len(tampered) == len(genuine)
    with pytest.raises(DirectoryRejected, match="signature does not verify"):
        await node.directory.update(tampered)
    assert node.directory.current is held


async def test_a_node_pinning_another_operator_refuses_what_its_neighbours_hold(
    fed: Federation, tmp_path: Path
) -> None:
    shared = (fed.root / "directory.json").read_bytes()
    other = Federation.create(tmp_path / "other", ["DE-CNA"], clock=fed.clock, users=False)
    await other.start()
    try:
        node = other["DE-CNA"].node
        held = node.directory.current
        with pytest.raises(DirectoryRejected, match="not signed by a pinned operator key"):
            await node.directory.update(shared)
        assert node.directory.current is held
        assert held is not None and held.get("ES-CNA") is None
    finally:
        await other.stop()


async def test_each_node_checks_its_own_serial_against_a_shared_document(
    fed: Federation,
) -> None:
    old = (fed.root / "directory.json").read_bytes()  # serial 1, verified and shared
    fed.publish()
    es = fed["ES-CNA"].node.directory
    assert await es.update((fed.root / "directory.json").read_bytes())
    with pytest.raises(DirectoryRejected, match="rollback refused"):
        await es.update(old)
    assert es.held_serial == 2
    ma = fed["MA-CNA"].node.directory
    assert ma.held_serial == 1 and not await ma.update(old)  # the same: nothing to do


async def test_a_node_whose_clock_is_past_expiry_refuses_a_shared_document(
    tmp_path: Path,
) -> None:
    fed = Federation.create(tmp_path, IDS, clock=ManualClock(T0), users=False)
    fed.clocks["FR-CNA"] = ManualClock(T0 + timedelta(days=31))  # after the expiry
    await fed.start()
    try:
        document = (fed.root / "directory.json").read_bytes()
        assert fed["ES-CNA"].node.directory.current is not None  # verified and shared
        fr = fed["FR-CNA"].node.directory
        assert fr.current is None  # what its start-up refused
        with pytest.raises(DirectoryRejected, match="directory expired"):
            await fr.update(document)
        assert fr.current is None and fr.held_serial is None
        assert SHARED.verify(document, pinned_operator_keys=fr.operator_keys, now=T0)
    finally:
        await fed.stop()
