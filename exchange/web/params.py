"""Query parameters, parsed strictly (a clear 400 instead of a surprise)."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from ..core.errors import Malformed
from ..service.paging import MAX_PAGE_SIZE, PAGE_SIZE


def int_param(request: web.Request, name: str, default: int | None = None) -> int:
    """A non-negative integer parameter; ``default`` when absent (else required)."""
    raw = request.query.get(name)
    if raw is None:
        if default is None:
            raise Malformed(f"query parameter {name} is required")
        return default
    if not raw.isdigit() or len(raw) > 19:
        raise Malformed(f"{name} must be a non-negative integer")
    return int(raw)


def page_size(query: Mapping[str, str]) -> int:
    """``limit``: rows per page of a list, from 1 to 500 (more counts as 500); 100 when
    absent."""
    text = query.get("limit")
    if text is None:
        return PAGE_SIZE
    if not (text.isascii() and text.isdigit()) or len(text) > 9 or int(text) < 1:
        raise Malformed("limit must be a whole number from 1 to 500")
    return min(int(text), MAX_PAGE_SIZE)
