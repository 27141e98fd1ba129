"""Query parameters, parsed strictly (a clear 400 instead of a surprise)."""

from __future__ import annotations

from aiohttp import web

from ..core.errors import Malformed


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
