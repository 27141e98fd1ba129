"""Identifiers that sort by creation time (UUIDv7 layout, RFC 9562 section 5.7).

Request ids and message ids are primary and unique keys in SQLite's B-trees.
Random (v4) ids land on a random leaf page each, so every insert dirtied its
own 4 KiB page per index and each group commit wrote one page per index per
request to the WAL. Ids that start with the time in milliseconds are appended
at the right edge of each index, where a whole group shares a few pages.

They reveal nothing new: the creation time is already in the request row and
in the envelope's signed header. The remaining 74 random bits keep them
unguessable (URLs still check authorisation; ids are not capabilities).
"""

from __future__ import annotations

import os
import time
import uuid


def uuid7(unix_ms: int | None = None) -> uuid.UUID:
    """A version-7 UUID: 48-bit Unix time in ms, version, variant, 74 random bits."""
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    if not 0 <= ms < 1 << 48:
        raise ValueError("time is outside the 48-bit millisecond range")
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits; 74 are kept
    rand_a, rand_b = rand >> 68, rand & ((1 << 62) - 1)  # 12 and 62 bits
    value = (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return uuid.UUID(int=value)


def request_id() -> str:
    """A local request's id: a UUIDv7 in its usual 36-character form."""
    return str(uuid7())


def message_id() -> str:
    """An envelope's ``msg_id``: 32 lowercase hex digits of a UUIDv7."""
    return uuid7().hex
