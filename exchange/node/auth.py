"""Local users: login, sessions, CSRF tokens and the role matrix.

Session tokens are random 32-byte values; only their SHA-256 is stored.
State-changing calls need ``X-CSRF-Token`` equal to the session's token
(constant-time comparison); a login, which has no session yet, is refused
when posted from another site (``check_same_site``). Repeated failed logins lock
the username for a while (429 with Retry-After); ``LoginGate`` bounds login
attempts per client address and the password checks running at once.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from aiohttp import web

from ..core.canonical import parse_time, sha256_hex
from ..core.errors import ExchangeError, Forbidden, RateLimited, Unauthorized
from ..core.passwords import DUMMY_HASH, verify_password
from ..core.rate_limit import RateLimiter
from ..store import users
from .service import Node

COOKIE = "exchange_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfFailed(ExchangeError):
    """A state-changing call without the session's CSRF token, or a login posted
    from another site (login CSRF)."""

    code = "csrf_failed"


@dataclass(frozen=True)
class User:
    username: str
    role: str
    csrf_token: str


class SessionCache:
    """Sessions checked in the last ``ttl``, so an API call needs no database round trip.

    An entry never outlives its session's expiry. Logout and user removal through this
    node drop entries at once; a removal made by another process (the CLI) takes effect
    within ``ttl``. Bounded: the oldest entries go first.
    """

    def __init__(self, ttl: timedelta = timedelta(seconds=2), max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[User, datetime]] = OrderedDict()

    def get(self, token_hash: str, now: datetime) -> User | None:
        found = self._entries.get(token_hash)
        if found is None:
            return None
        user, until = found
        if now >= until:
            del self._entries[token_hash]
            return None
        return user

    def put(self, token_hash: str, user: User, expires: datetime, now: datetime) -> None:
        self._entries[token_hash] = (user, min(expires, now + self.ttl))
        self._entries.move_to_end(token_hash)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def drop(self, token_hash: str) -> None:
        self._entries.pop(token_hash, None)

    def drop_user(self, username: str) -> None:
        for key in [k for k, (u, _) in self._entries.items() if u.username == username]:
            del self._entries[key]


class LoginGate:
    """Bounds the work that callers who are not logged in can cause.

    A password check is Argon2id: tens of milliseconds of CPU and 64 MiB each, by
    design. Throttling per user name stops guessing one account, but a flood of logins
    under made-up names would still occupy every core (an unknown name is checked
    against a dummy hash, so that timing does not reveal which names exist). So:
    attempts per client address are a token bucket (``limits.logins_per_minute``,
    ``login_burst``; 0 turns it off, e.g. behind a reverse proxy), at most
    ``password_checks_at_once`` checks run at a time, and when
    ``MAX_WAITING`` more are queued the next is refused at once (429).
    """

    MAX_WAITING = 32

    def __init__(self, *, per_minute: int, burst: int, at_once: int) -> None:
        self.limiter = RateLimiter(per_minute=per_minute, burst=burst) if per_minute else None
        self.slots = asyncio.Semaphore(at_once)
        self.waiting = 0

    def admit(self, client: str, now: datetime) -> None:
        if self.limiter is None:
            return
        try:
            self.limiter.take(client, now)
        except RateLimited as exc:
            raise RateLimited(
                "too many login attempts from this address: try again later",
                retry_after=exc.retry_after,
            ) from None

    async def check(self, stored: str, password: str) -> bool:
        if self.waiting >= self.MAX_WAITING:
            raise RateLimited("too many logins at once: try again in a moment", retry_after=1)
        self.waiting += 1
        try:
            async with self.slots:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(None, verify_password, stored, password)
        finally:
            self.waiting -= 1


LOGIN_GATE_KEY = web.AppKey("login_gate", LoginGate)


async def login(
    node: Node, username: str, password: str, *, gate: LoginGate, client: str
) -> tuple[str, str, User]:
    """Check the password; return (session token, csrf token, user)."""
    now = node.clock.now()
    gate.admit(client, now)
    cfg = node.config.session
    failures, last = await node.db.run(lambda c: users.failures(c, username))
    if failures >= cfg.max_login_failures and last is not None and now - last < cfg.lockout:
        raise RateLimited(
            "too many failed logins: try again later",
            retry_after=(cfg.lockout - (now - last)).total_seconds(),
        )
    row = await node.db.run(lambda c: users.get_user(c, username))
    stored = row["password_hash"] if row else DUMMY_HASH
    ok = await gate.check(stored, password)
    if not ok or row is None:
        await node.db.run(
            lambda c: users.record_login(c, me=node.me, username=username, ok=False, now=now)
        )
        raise Unauthorized("wrong username or password")
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session = (sha256_hex(token.encode()), csrf, now + cfg.lifetime)
    await node.db.run(
        lambda c: users.record_login(
            c, me=node.me, username=username, ok=True, now=now, session=session
        )
    )
    return token, csrf, User(username, row["role"], csrf)


async def logout(node: Node, request: web.Request) -> None:
    token = request.cookies.get(COOKIE)
    if token:
        token_hash = sha256_hex(token.encode())
        request.app[SESSIONS_KEY].drop(token_hash)
        await node.db.run(lambda c: users.delete_session(c, token_hash))


async def current_user(node: Node, request: web.Request) -> User | None:
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 128:
        return None
    now = node.clock.now()
    token_hash = sha256_hex(token.encode())
    cache = request.app[SESSIONS_KEY]
    cached = cache.get(token_hash, now)
    if cached is not None:
        return cached
    row = await node.db.run(lambda c: users.get_session(c, token_hash, now))
    if row is None:
        return None
    user = User(row["username"], row["role"], row["csrf_token"])
    cache.put(token_hash, user, parse_time(row["expires_at"]), now)
    return user


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
    *roles: str,
) -> Callable[[Handler], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """Decorator: a logged-in user with one of ``roles`` (and a CSRF token for writes)."""

    def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            node: Node = request.app[NODE_KEY]
            user = await current_user(node, request)
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


def set_session_cookie(response: web.Response, token: str, *, secure: bool, max_age: int) -> None:
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="Strict", secure=secure, max_age=max_age, path="/"
    )


NODE_KEY = web.AppKey("node", Node)
SESSIONS_KEY = web.AppKey("sessions", SessionCache)
