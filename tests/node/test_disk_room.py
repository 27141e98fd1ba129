"""Room on a disk is reserved by the evidence files being written, so that two files
checked at once cannot both pass and fill the disk between them (service/disk_room.py),
on this machine's real disk: the room is what it has free above a ``keep_free`` set
100 MiB below that."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from exchange.core.errors import InsufficientStorage
from exchange.service.disk_room import reserved, room_for

MIB = 1 << 20


def room_of(folder: Path, room: int) -> int:
    """The ``keep_free`` that leaves ``room`` bytes of ``folder``'s disk to files."""
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize - room


async def test_a_file_being_written_holds_its_room_until_it_ends(tmp_path: Path) -> None:
    keep = room_of(tmp_path, 100 * MIB)
    async with room_for(tmp_path, 60 * MIB, keep_free=keep) as first:
        assert reserved(tmp_path) == 60 * MIB
        # alone it would fit; beside the first file it would not: refused up front
        with pytest.raises(InsufficientStorage):
            async with room_for(tmp_path, 60 * MIB, keep_free=keep):
                pass
        async with room_for(tmp_path, 20 * MIB, keep_free=keep):  # what is left is usable
            assert reserved(tmp_path) == 80 * MIB
        first.wrote(30 * MIB)  # (its bytes on the disk, in a real write: statvfs sees them)
        assert reserved(tmp_path) == 30 * MIB
    assert reserved(tmp_path) == 0
    async with room_for(tmp_path, 60 * MIB, keep_free=keep):
        pass


async def test_files_checked_at_the_same_moment_do_not_both_pass(tmp_path: Path) -> None:
    keep = room_of(tmp_path, 100 * MIB)
    gate = asyncio.Event()

    async def write() -> None:
        async with room_for(tmp_path, 60 * MIB, keep_free=keep):
            await gate.wait()

    tasks = [asyncio.ensure_future(write()) for _ in range(3)]
    await asyncio.sleep(0)  # (each task reaches its check; none has ended)
    for _ in range(100):
        if sum(t.done() for t in tasks) == 2:
            break
        await asyncio.sleep(0.01)
    gate.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, InsufficientStorage)]
    assert len(refused) == 2 and outcomes.count(None) == 1
    assert reserved(tmp_path) == 0


async def test_a_write_that_fails_gives_its_room_back(tmp_path: Path) -> None:
    keep = room_of(tmp_path, 100 * MIB)
    with pytest.raises(OSError):
        async with room_for(tmp_path, 90 * MIB, keep_free=keep):
            raise OSError("the disk filled")
    assert reserved(tmp_path) == 0
