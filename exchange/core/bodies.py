"""Reading HTTP bodies whole, but never more than a limit."""

from __future__ import annotations

from typing import Protocol

from .errors import TooLarge


class Stream(Protocol):
    """What a body is read from (aiohttp's ``StreamReader``, client or server side)."""

    async def read(self, n: int = -1) -> bytes: ...


async def read_limited(stream: Stream, limit: int, what: str = "body") -> bytes:
    """All of ``stream`` up to ``limit`` bytes; ``TooLarge`` beyond it.

    ``StreamReader.read(n)`` returns whatever has arrived (possibly less than
    the whole body), so chunks are collected until the end of the stream.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await stream.read(min(65536, limit + 1 - size) or 1)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"{what} is larger than {limit} bytes")
        chunks.append(chunk)
