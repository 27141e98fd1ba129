"""Reading HTTP bodies: whole but never more than a limit, or multipart part by part."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from aiohttp import StreamReader

from ..core.errors import Malformed, TooLarge

T = TypeVar("T")


async def read_limited(stream: StreamReader, limit: int, what: str = "body") -> bytes:
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


async def multipart_step(step: Awaitable[T]) -> T:
    """One call into aiohttp's multipart reader (``request.multipart()``, ``next()``,
    ``read_chunk()``, ``release()``), with a body it cannot read refused as ``Malformed``.

    aiohttp raises a bare ``ValueError`` when the Content-Type has no ``boundary`` or
    one over 70 characters, when the body never reaches its boundary, ends early, or
    nests a multipart part without one, and a ``RuntimeError`` for an overlong
    ``_charset_`` part: unhandled, each would be a 500 for the client's own bad input.
    """
    try:
        return await step
    except (ValueError, RuntimeError):
        raise Malformed(
            "not a readable multipart body: it needs a boundary in its Content-Type "
            "(at most 70 characters) and parts that follow it"
        ) from None
