"""Reading multipart bodies part by part, with a body aiohttp cannot read refused."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from ..core.errors import Malformed

T = TypeVar("T")


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
