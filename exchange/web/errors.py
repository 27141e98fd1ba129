"""One table from error codes to HTTP statuses, and the middleware that applies it.

Every error body is ``{"error": {"code", "message"}}``; unexpected
exceptions become a 500 with no detail (the detail goes to the log only).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from ..core.errors import ExchangeError, RateLimited

STATUS = {
    "malformed": 400,
    "decryption_failed": 400,
    "bad_note": 400,
    "bad_proof": 400,
    "unsupported_version": 400,
    "unauthorized": 401,
    "bad_signature": 403,
    "unknown_sender": 403,
    "expired_key": 403,
    "key_revoked": 403,
    "no_revocation_key": 403,
    "unknown_key": 404,
    "forbidden": 403,
    "csrf_failed": 403,
    "wrong_party": 403,
    "not_found": 404,
    "conflict": 409,
    "replay": 409,
    "too_large": 413,
    "unsupported_media_type": 415,
    "wrong_recipient": 421,
    "invalid_request": 422,
    "bad_evidence": 422,
    "bad_time": 422,
    "directory_rejected": 422,
    "rate_limited": 429,
    "quota_exceeded": 507,
    "insufficient_storage": 507,
    "unavailable": 503,
    "directory_expired": 503,
    # c2sp.org/tlog-witness POST /add-checkpoint (web/witness.py)
    "unknown_log": 404,
    "old_size_mismatch": 409,
    "inconsistent_checkpoint": 422,
    # cases (service/cases.py)
    "unknown_case": 404,
    "case_closed": 409,
    "case_awaiting": 409,
    "not_a_member": 409,
    # Idempotency-Key on the local API and the UI's forms (web/idempotency.py)
    "malformed_idempotency_key": 400,
    "idempotency_in_progress": 409,
    "idempotency_key_reused": 422,
    # resumable blob uploads (service/blob_parts.py)
    "offset_mismatch": 409,
    # search (service/search.py): the in-memory index is still being built
    "index_building": 503,
}

log = structlog.get_logger("exchange.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(code: str, message: str, status: int | None = None) -> web.Response:
    response = web.json_response(
        {"error": {"code": code, "message": message}}, status=status or STATUS.get(code, 400)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ExchangeError as exc:
        log.info("request_refused", path=request.path, code=exc.code)
        response = error_response(exc.code, exc.message)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
        return response
    except web.HTTPRequestEntityTooLarge:
        return error_response("too_large", "request body is too large")
    except HttpProcessingError:  # a body aiohttp cannot parse (e.g. broken multipart)
        log.info("request_refused", path=request.path, code="malformed")
        return error_response("malformed", "the request body is malformed")
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http_error")
            return error_response(code, exc.reason, exc.status)
        raise
    except Exception:
        log.exception("internal_error", path=request.path)
        return error_response("internal_error", "internal error", 500)
