"""Every directory version a node installs is kept, signed document and all, in serial
order and across restarts: an old signature stays checkable against the keys of its
time after they leave the directory (issue 14, break 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.core.directory import verify_directory
from exchange.core.errors import DirectoryRejected
from exchange.store import directory_cache

from ..federation import Federation


async def test_every_installed_directory_is_kept_in_order(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start("ES-CNA")
    try:
        node = fed["ES-CNA"].node
        published = [(fed.root / "directory.json").read_bytes()]
        for _ in range(2):
            published.append(fed.publish())
            assert await node.directory.update(published[-1])
        with pytest.raises(DirectoryRejected):  # an older one again: not installed
            await node.directory.update(published[0])
        await fed.stop("ES-CNA")
        await fed.start("ES-CNA")
        kept = await fed["ES-CNA"].node.db.run(directory_cache.history)
    finally:
        await fed.stop()
    assert [k.document for k in kept] == published  # as signed, in serial order
    assert [k.serial for k in kept] == [1, 2, 3]
    operator = (fed.operator.public.public,)
    for k in kept:  # each still verifies as what it was, for a checker of old signatures
        old = verify_directory(
            k.document, pinned_operator_keys=operator, now=k.loaded_at, held_serial=None
        )
        assert old.serial == k.serial
