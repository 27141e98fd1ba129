"""Login and logout pages (the session itself is ``exchange.web.auth``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from ...core import roles
from ...core.errors import Malformed, NotFound, RateLimited, Unauthorized
from ...service.sessions import User
from ..auth import COOKIE, CsrfFailed, check_same_site, give_cookie, log_in, logout
from .render import page, render
from .strings import LANGUAGE_COOKIE, STRINGS

routes = web.RouteTableDef()


def _safe_next(value: str) -> str:
    """Only a path on this site: never an open redirect to somewhere else."""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return "/"
    return value


@routes.get("/language/{code}")
async def set_language(request: web.Request) -> web.StreamResponse:
    """The language switcher: remembers the choice in a cookie, back to the same page."""
    code = request.match_info["code"]
    if code not in STRINGS:
        raise NotFound(f"no strings in {code!r}")
    response = web.HTTPSeeOther(_safe_next(request.query.get("next", "/")))
    response.set_cookie(
        LANGUAGE_COOKIE,
        code,
        max_age=365 * 24 * 3600,
        path="/",
        secure=request.secure,
        httponly=True,
        samesite="Lax",
    )
    raise response


@routes.get("/login")
async def login_page(request: web.Request) -> web.StreamResponse:
    return render(request, "login.html", error="", next=_safe_next(request.query.get("next", "/")))


@routes.post("/login")
async def login_submit(request: web.Request) -> web.StreamResponse:
    try:
        check_same_site(request)
    except CsrfFailed:
        return render(
            request, "login.html", status=403, error="Cross-site login refused.", next="/"
        )
    form = await request.post()
    target = _safe_next(str(form.get("next", "/")))
    try:
        session = await log_in(
            request, str(form.get("username", "")), str(form.get("password", ""))
        )
    except RateLimited as exc:
        refused = render(request, "login.html", status=429, error=exc.message, next=target)
        refused.headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
        return refused
    except Unauthorized as exc:
        return render(request, "login.html", status=401, error=exc.message, next=target)
    except Malformed as exc:
        return render(request, "login.html", status=400, error=exc.message, next=target)
    response = web.HTTPSeeOther(target)
    give_cookie(request, response, session)
    raise response


@routes.post("/logout")
@page(*roles.ALL)
async def logout_submit(request: web.Request, user: User) -> web.StreamResponse:
    await logout(request)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    raise response
