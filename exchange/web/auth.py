"""The session cookie, CSRF tokens and the role check of the JSON API.

State-changing calls need ``X-CSRF-Token`` equal to the session's token (constant-time
comparison); a login, which has no session yet, is refused when posted from another
site (``check_same_site``). Sessions themselves live in ``exchange.service.sessions``.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from ..core.errors import ExchangeError, Forbidden, Unauthorized
from ..core.roles import Role
from ..service.sessions import Session, User
from .appkeys import NODE_KEY, SESSIONS_KEY

COOKIE = "exchange_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfFailed(ExchangeError):
    """A state-changing call without the session's CSRF token, or a login posted
    from another site (login CSRF)."""

    code = "csrf_failed"


async def current_user(request: web.Request) -> User | None:
    return await request.app[SESSIONS_KEY].user(request.cookies.get(COOKIE))


async def logout(request: web.Request) -> None:
    token = request.cookies.get(COOKIE)
    if token:
        await request.app[SESSIONS_KEY].logout(token)


def check_same_site(request: web.Request) -> None:
    """Refuse a login posted by a page of another site (login CSRF), for the UI's form
    and the JSON API alike.

    There is no session yet, so no CSRF token to compare: the browser's ``Origin`` is
    the check. Browsers send it with every cross-site POST (``null`` from an opaque
    context, refused too); a script that sends none is not a browser being abused.
    """
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        raise CsrfFailed("a login posted from another site is refused")


def check_csrf(request: web.Request, user: User) -> None:
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), user.csrf_token.encode()):
        raise CsrfFailed(f"missing or wrong {CSRF_HEADER} header")


Handler = Callable[[web.Request, User], Awaitable[web.StreamResponse]]


def requires(
    *roles: Role,
) -> Callable[[Handler], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """Decorator: a logged-in user with one of ``roles`` (and a CSRF token for writes)."""

    def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            user = await current_user(request)
            if user is None:
                raise Unauthorized("log in first")
            check_csrf(request, user)
            if user.role not in roles:
                raise Forbidden(f"the {user.role} role may not do this")
            return await handler(request, user)

        guarded.__name__ = handler.__name__
        guarded.roles = roles  # type: ignore[attr-defined]
        return guarded

    return wrap


async def log_in(request: web.Request, username: str, password: str) -> Session:
    """Check the password (``Sessions.login``: throttled, audited): the JSON API and the
    login page both come here, after ``check_same_site``."""
    return await request.app[SESSIONS_KEY].login(
        username, password, client=request.remote or "unknown"
    )


def give_cookie(request: web.Request, response: web.StreamResponse, session: Session) -> None:
    """The session's cookie: HTTP only, same site, for the session's lifetime."""
    lifetime = request.app[NODE_KEY].config.session.lifetime
    response.set_cookie(
        COOKIE,
        session.token,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        max_age=int(lifetime.total_seconds()),
        path="/",
    )
