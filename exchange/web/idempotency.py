"""``Idempotency-Key`` on every state-changing call of the local API and the UI's forms
(draft-ietf-httpapi-idempotency-key-header), in one middleware: no handler knows of it.

A state-changing call (every method but GET, HEAD and OPTIONS) of a logged-in user
that carries a key (the header; a UI form also as its ``idempotency_key`` field or the
action's query) is looked up first:

- the key unused (or expired): the request runs with the key claimed; the first
  transaction it commits records the key, the request's fingerprint and the audit
  entries it appended (store/idempotency.py), and the answer is kept after;
- the key used for the same request: the first answer again, with
  ``Idempotent-Replayed: true``; nothing runs, nothing is stored, sent or audited;
- the key used for another request: 422 ``idempotency_key_reused``;
- the key's first request still running: 409 ``idempotency_in_progress`` (a UI form
  waits for it, up to ``FORM_WAIT_SECONDS``, then is answered as above).

A key whose request stored nothing (refused, or failed before its commit) stays free:
a retry runs again. Peer calls (``/v1``, ``/add-checkpoint``) and the few calls listed
in ``EXEMPT`` are left alone.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from aiohttp import streams, web
from aiohttp.typedefs import Middleware

from ..core.canonical import JsonObject
from ..core.errors import ExchangeError, MalformedIdempotencyKey, TooLarge
from ..core.idempotency import fingerprint, parse_key
from ..service import idempotency
from ..service.sessions import User
from .appkeys import NODE_KEY
from .auth import check_csrf, current_user
from .errors import error_response

HEADER = "Idempotency-Key"
FIELD = "idempotency_key"  # a UI form's field, or its action's query parameter
REPLAYED = "Idempotent-Replayed"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Calls that take no key: logging in and out (no session to scope a key by, or none
# left after), and attachment uploads (a streamed file, whose resumable upload keeps
# its own offsets). Peer calls are not the local API at all.
EXEMPT = frozenset({"/api/login", "/api/logout", "/login", "/logout", "/api/attachments"})
PEER_PREFIXES = ("/v1/", "/add-checkpoint", "/static/")
# A tus upload's calls (Tus-Resumable) are idempotent by their Upload-Offset already.
OWN_SEMANTICS_HEADERS = ("Tus-Resumable",)
# Bodies streamed to their handler (files), not buffered to be fingerprinted
STREAMED = ("multipart/", "application/octet-stream", "application/offset+octet-stream")
FORM_WAIT_SECONDS = 30.0
MAX_KEPT_BODY = 1 << 20  # an answer larger than this is kept as its status alone
# what a lost answer tells of the audit entries its transaction appended
SHOWN_FIELDS = ("action", "at", "request_id", "case_id", "msg_id", "to", "draft_id")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def idempotency_middleware() -> Middleware:
    """The middleware of one application, with the keys running in it."""
    running = idempotency.Running()

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in WRITES or _exempt(request):
            return await handler(request)
        raw = await _key_of(request)
        if raw is None:
            return await handler(request)
        key = parse_key(raw)
        user = await current_user(request)
        if user is None or not await _csrf_ok(request, user):
            return await handler(request)  # it refuses: 401, 403 or the login page
        node = request.app[NODE_KEY]
        body = await _body(request)
        target = _target(request)
        print_ = fingerprint(request.method, target, request.content_type, body)
        if not request.path.startswith("/api/"):
            # a form posted twice (a double click): the browser shows the second
            # answer, so it is the first's once that has run, not a refusal
            await running.finished(user.username, key, within=FORM_WAIT_SECONDS)
        with running.hold(user.username, key):
            found = await idempotency.earlier(node, user.username, key, print_)
            if found is not None:
                return _again(request, found)
            with idempotency.claimed(node, user.username, key, print_) as claim:
                response, raised = await _run(request, handler)
            if claim.bound:
                await idempotency.keep(node, claim, _answer(response))
        if isinstance(response, web.HTTPException) and raised:
            raise response
        return response

    return guard


def _exempt(request: web.Request) -> bool:
    path = request.path
    own = any(name in request.headers for name in OWN_SEMANTICS_HEADERS)
    return own or path in EXEMPT or path.startswith(PEER_PREFIXES)


async def _key_of(request: web.Request) -> str | None:
    """The key sent, if any: two of them are refused, not chosen between."""
    sent = request.headers.getall(HEADER, [])
    if not request.path.startswith("/api/"):
        sent += request.query.getall(FIELD, [])
        if request.content_type == "application/x-www-form-urlencoded":
            sent += [str(v) for v in (await request.post()).getall(FIELD, [])]
    if len(sent) > 1:
        raise MalformedIdempotencyKey("send one Idempotency-Key")
    return sent[0] if sent else None


async def _body(request: web.Request) -> bytes | None:
    """The body, read whole to be fingerprinted and put back for the handler; None for
    a multipart form or a file, streamed to its handler (it may be large)."""
    if request.content_type.startswith(STREAMED):
        return None
    if not request.path.startswith("/api/"):
        return await request.read()  # the UI's forms: cached by aiohttp for post()
    limit = request.app[NODE_KEY].config.limits.max_api_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"request body is larger than {limit} bytes")
    body = await request.read()
    # The handler reads request.content itself (web/api/requests.read_json, with its
    # own limit): it gets the very bytes that were fingerprinted, from a stream of
    # them alone, sized so that they never pause the connection.
    again = streams.StreamReader(
        request.protocol, max(1 << 16, len(body)), loop=asyncio.get_running_loop()
    )
    again.feed_data(body)
    again.feed_eof()
    request._payload = again  # aiohttp has no public way to put a body back
    return body


async def _csrf_ok(request: web.Request, user: User) -> bool:
    """Whether the call carries the session's CSRF token, checked before a first answer
    is given again. A UI multipart form's token is read by its handler (the cookie is
    SameSite=Strict: another site's form comes without a session)."""
    if request.path.startswith("/api/"):
        check_csrf(request, user)  # a JSON refusal, as the handler would give
        return True
    if request.content_type != "application/x-www-form-urlencoded":
        return True
    sent = (await request.post()).get("csrf_token", "")
    return hmac.compare_digest(str(sent).encode(), user.csrf_token.encode())


def _target(request: web.Request) -> str:
    """Path and query, the key's own query parameter left out."""
    kept = [(k, v) for k, v in request.query.items() if k != FIELD]
    return request.path + ("?" + urlencode(kept) if kept else "")


async def _run(request: web.Request, handler: Handler) -> tuple[web.StreamResponse, bool]:
    """The handler's answer, and whether it was raised (to raise it again)."""
    try:
        return await handler(request), False
    except web.HTTPException as exc:  # a UI redirect after a form, raised
        return exc, True
    except ExchangeError as exc:  # after a commit, the refusal is the first answer
        return error_response(exc.code, exc.message), False


def _answer(response: web.StreamResponse) -> idempotency.Answer:
    """The answer as it is kept (a streamed or very large body: its status alone)."""
    body = getattr(response, "body", None)
    if not isinstance(body, bytes) or len(body) > MAX_KEPT_BODY:
        body = b""
    content_type = response.content_type
    if response.charset:
        content_type += f"; charset={response.charset}"
    return idempotency.Answer(response.status, content_type, response.headers.get("Location"), body)


def _again(request: web.Request, found: idempotency.KeyRow) -> web.StreamResponse:
    """The first answer once more; or, if the node stopped before giving it, what its
    transaction did (from its audit entries)."""
    answer = found.answer
    if answer is None:
        return _lost(request, found)
    response = web.Response(status=answer.status, body=answer.body)
    response.headers["Content-Type"] = answer.content_type
    if answer.location:
        response.headers["Location"] = answer.location
    response.headers[REPLAYED] = "true"
    response.headers["Cache-Control"] = "no-store"
    return response


def _lost(request: web.Request, found: idempotency.KeyRow) -> web.StreamResponse:
    """The request was committed, and the node stopped before it answered: a 200
    naming what was done (a page's form goes to the request it created)."""
    created: list[JsonObject] = [
        {name: entry[name] for name in SHOWN_FIELDS if name in entry} for entry in found.created
    ]
    if not request.path.startswith("/api/"):
        ids = [e["request_id"] for e in created if isinstance(e.get("request_id"), str)]
        location = f"/requests/{ids[0]}" if ids else "/"
        response: web.StreamResponse = web.HTTPSeeOther(location)
    else:
        done = {"state": "committed", "answer": "lost", "committed_at": found.created_at}
        response = web.json_response({"idempotency": done, "created": created})
    response.headers[REPLAYED] = "true"
    response.headers["Cache-Control"] = "no-store"
    return response
