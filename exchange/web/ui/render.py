"""Templates, the page guard (session, role, CSRF) and the security headers.

``page(*roles)`` wraps a page handler: no session → redirect to the login page;
a role not in ``roles`` → a 403 page; a POST without the session's CSRF token
(hidden form field, compared in constant time) → a 403 page. Refusals from the
service (``ExchangeError``) become an error page with the same status the JSON
API would use. ``render(request, template, **context)`` fills ``base.html``;
``pager(...)`` gives a list page its "next page" and "first page" links.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from aiohttp import web

from ...core.canonical import parse_time
from ...core.deadlines import SPAN_EN, describe
from ...core.errors import ExchangeError
from ...core.roles import DEADLINES, Role
from ...service import deadlines
from ...service.sessions import User
from ..appkeys import ALERTS_KEY, NODE_KEY, USER_KEY
from ..auth import current_user
from ..errors import STATUS
from .strings import LANGUAGE_COOKIE, NAMES, STRINGS, choose_language, labeller, translator

HERE = Path(__file__).parent
ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# A fresh Idempotency-Key for each form a page renders (web/idempotency.py): posting
# the same form again (a double click, a browser's re-POST) is the same call.
ENV.globals["fresh_key"] = lambda: secrets.token_urlsafe(18)
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no URL leaves the site; Origin stays exact
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Server": "Exchange",  # not aiohttp's default, which names the Python and aiohttp versions
}
PageHandler = Callable[[web.Request, User], Awaitable[web.StreamResponse]]


@web.middleware
async def security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every response: strict CSP and friends; nothing but static files is cached."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects and bare HTTP errors get them too
        _harden(request, exc)
        raise
    _harden(request, response)
    return response


def _harden(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    if request.secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")


def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    lang, direction, t = translator(language_of(request))
    user: User | None = request.get(USER_KEY)
    node = request.app[NODE_KEY]
    now = node.clock.now()
    html = ENV.get_template(template).render(
        t=t,
        lang=lang,
        dir=direction,
        user=user,
        me=node.me,
        path=request.path,
        when=when,
        left=lambda deadline, state: left(deadline, state, now, STRINGS[lang]),
        alert_count=request.get(ALERTS_KEY, 0),
        label=labeller(lang),
        languages=NAMES,
        here=request.path_qs,
        **context,
    )
    return web.Response(text=html, content_type="text/html", status=status)


def language_of(request: web.Request) -> str:
    return choose_language(
        request.cookies.get(LANGUAGE_COOKIE), request.headers.get("Accept-Language")
    )


Guarded = Callable[[web.Request], Awaitable[web.StreamResponse]]
CSRF_MESSAGE = (
    "The form has expired or was not sent from this site (CSRF check). "
    "Reload the page and try again."
)


# refusals a page says in the user's language rather than in the error's own words
SAID = {"insufficient_storage": "upload_no_room"}


def error_page(
    request: web.Request, status: int, *, title_key: str, message: str = "", key: str | None = None
) -> web.Response:
    return render(
        request, "error.html", status=status, title_key=title_key, message_key=key, message=message
    )


def csrf_ok(user: User, sent: str) -> bool:
    return hmac.compare_digest(sent.encode(), user.csrf_token.encode())


def page(*roles: Role, multipart: bool = False) -> Callable[[PageHandler], Guarded]:
    """``multipart=True``: the handler streams a multipart form itself and must check
    the CSRF token (the form's first field) with ``csrf_ok`` before anything else."""

    def wrap(handler: PageHandler) -> Guarded:
        async def guarded(request: web.Request) -> web.StreamResponse:
            user = await current_user(request)
            if user is None:
                target = quote(request.path_qs, safe="")
                raise web.HTTPSeeOther(f"/login?next={target}")
            request[USER_KEY] = user
            if user.role in DEADLINES:  # who is shown deadline alerts
                request[ALERTS_KEY] = await deadlines.open_alert_count(request.app[NODE_KEY], user)
            if user.role not in roles:
                return error_page(request, 403, title_key="forbidden_title", key="forbidden_text")
            is_multipart = request.content_type.startswith("multipart/")
            if request.method == "POST" and is_multipart and not multipart:
                return error_page(request, 403, title_key="forbidden_title", message=CSRF_MESSAGE)
            if request.method == "POST" and not is_multipart:
                form = await request.post()
                if not csrf_ok(user, str(form.get("csrf_token", ""))):
                    return error_page(
                        request, 403, title_key="forbidden_title", message=CSRF_MESSAGE
                    )
            try:
                return await handler(request, user)
            except ExchangeError as exc:
                status = STATUS.get(exc.code, 400)
                title = "not_found_title" if status == 404 else "error_title"
                return error_page(request, status, title_key=title, message=exc.message,
                                  key=SAID.get(exc.code))  # fmt: skip

        guarded.__name__ = handler.__name__
        guarded.roles = roles  # type: ignore[attr-defined]
        return guarded

    return wrap


@dataclass(frozen=True)
class Pager:
    """Links to the next page (same filters, the list's cursor) and, past the first
    page, back to the first; empty when there is none."""

    next_url: str
    first_url: str


def pager(path: str, filters: dict[str, Any], cursor: str | None, following: str | None) -> Pager:
    """The pager of a list page at ``path`` showing the page after ``cursor`` (None:
    the first), whose next page is ``following`` (None: the last)."""
    kept = {name: "1" if value is True else value for name, value in filters.items() if value}
    return Pager(
        next_url=f"{path}?{urlencode({**kept, 'cursor': following})}" if following else "",
        first_url=f"{path}?{urlencode(kept)}".rstrip("?") if cursor else "",
    )


def when(value: str | datetime | None) -> dict[str, str] | None:
    """A UTC instant (stored text, or a row's datetime) as ``{iso, utc}``; the template
    shows it in a <time> tag."""
    if not value:
        return None
    moment = value if isinstance(value, datetime) else parse_time(value)
    return {"iso": moment.isoformat(), "utc": moment.strftime("%Y-%m-%d %H:%M UTC")}


def left(
    deadline: str | None, state: str | None, now: datetime, words: dict[str, str] = SPAN_EN
) -> str:
    """'3 h 20 min left' / 'overdue by 2 h' for a deadline (empty when there is none)."""
    if not deadline or state in ("met", "missed"):
        return ""
    return describe(parse_time(deadline) - now, words)
