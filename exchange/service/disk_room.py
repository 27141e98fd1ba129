"""Room on a disk for the evidence files being written to it.

An evidence file is refused (``insufficient_storage``, 507) before a byte is written
when it would leave less free than ``[evidence] min_free_bytes``, so that the database
and the audit log can go on committing. Free space alone would let two files checked
at once both pass and fill the disk between them; so a file being written also holds
a reservation of what it may still add, which the files checked after it count as
taken. A reservation shrinks as its bytes land on the disk (where ``statvfs`` sees
them) and ends with the write. Reservations are per filesystem and shared by every
node of this process; another process on the same disk (``[cluster] active_active``)
does not see them and meets a full disk mid-part instead (``evidence.disk_full``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog

from ..core.errors import InsufficientStorage

log = structlog.get_logger("exchange.evidence")
# what the writes in progress in this process may still add, by filesystem (st_dev);
# read and changed on the event loop's thread only, with no await between the check
# and the reservation
_HELD: dict[int, int] = {}


class Room:
    """One write's reservation: ``wrote`` gives back what has reached the disk."""

    def __init__(self, device: int, left: int) -> None:
        self.device = device
        self.left = left

    def wrote(self, count: int) -> None:
        landed = min(count, self.left)
        self.left -= landed
        self._give_back(landed)

    def release(self) -> None:
        self._give_back(self.left)
        self.left = 0

    def _give_back(self, count: int) -> None:
        held = _HELD.get(self.device, 0) - count
        if held > 0:
            _HELD[self.device] = held
        else:
            _HELD.pop(self.device, None)


def _free_and_device(folder: Path) -> tuple[int, int]:
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize, os.stat(folder).st_dev


def reserved(folder: Path) -> int:
    """Bytes the writes in progress in this process may still add to ``folder``'s disk."""
    return _HELD.get(os.stat(folder).st_dev, 0)


async def check(folder: Path, needed: int, *, keep_free: int) -> int:
    """Refuse with ``InsufficientStorage`` if ``needed`` more bytes on ``folder``'s disk,
    beside the reservations held, would leave less than ``keep_free``; else the disk's
    device number. The caller may reserve before its next await: the check still holds."""
    free, device = await asyncio.to_thread(_free_and_device, folder)
    held = _HELD.get(device, 0)  # read after the await: every reservation made so far
    if free - held - needed < keep_free:
        log.warning("evidence_disk_low", free_bytes=free, reserved_bytes=held, needed_bytes=needed)
        raise InsufficientStorage("this node has not enough free disk for this file now")
    return device


@asynccontextmanager
async def room_for(folder: Path, needed: int, *, keep_free: int) -> AsyncIterator[Room]:
    """Reserve ``needed`` bytes of ``folder``'s disk for the duration of a write, or
    refuse with ``InsufficientStorage`` if that would leave less than ``keep_free``."""
    device = await check(folder, needed, keep_free=keep_free)
    room = Room(device, needed)
    _HELD[device] = _HELD.get(device, 0) + needed
    try:
        yield room
    finally:
        room.release()
