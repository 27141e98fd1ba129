"""Users and sessions: log in, log out, who holds a session, expired ones deleted.

Session tokens are random 32-byte values; only their SHA-256 is stored. Repeated
failed logins lock the username for a while; ``LoginGate`` bounds the attempts per
client address and the password checks running at once.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from ..core.canonical import sha256_hex
from ..core.errors import RateLimited, Unauthorized
from ..core.passwords import DUMMY_HASH, verify_password
from ..core.rate_limit import RateLimiter
from ..core.roles import Role
from ..core.usernames import check_username
from ..store import users
from ..store.read_only import ReadOnly
from .node import Node

log = structlog.get_logger("exchange.sessions")
MAX_TOKEN_CHARS = 128


@dataclass(frozen=True)
class User:
    """A logged-in user: who, in which role, and the session's CSRF token."""

    username: str
    role: Role
    csrf_token: str


@dataclass(frozen=True)
class Session:
    """A new session: the token for the cookie (never stored) and its user."""

    token: str
    user: User


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


class UnknownNameFailures:
    """Failed logins under names that are no account, counted in memory only.

    An unknown name must be throttled like an account (else the lockout tells which
    names exist), but it is never written anywhere: it may be a password typed into the
    wrong box. Bounded: the oldest names go first.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[int, datetime]] = OrderedDict()

    def get(self, username: str) -> tuple[int, datetime | None]:
        return self._entries.get(username, (0, None))

    def add(self, username: str, now: datetime) -> None:
        count, _ = self._entries.pop(username, (0, None))
        self._entries[username] = (count + 1, now)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


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


@dataclass
class Sessions:
    """The node's sessions: the database behind a short-lived cache."""

    node: Node
    gate: LoginGate
    cache: SessionCache
    unknown: UnknownNameFailures = field(default_factory=UnknownNameFailures)

    async def login(self, username: str, password: str, *, client: str) -> Session:
        """Check the password and open a session (audited either way; a name that is no
        account is audited as ``UNKNOWN_USER``, and one that could be none is refused
        with ``Malformed`` before anything is checked or written)."""
        node = self.node
        now = node.clock.now()
        self.gate.admit(client, now)
        check_username(username)
        cfg = node.config.session
        failures, last = await node.db.run(lambda c: users.failures(c, username))
        if failures == 0:
            failures, last = self.unknown.get(username)
        if failures >= cfg.max_login_failures and last is not None and now - last < cfg.lockout:
            raise RateLimited(
                "too many failed logins: try again later",
                retry_after=(cfg.lockout - (now - last)).total_seconds(),
            )
        row = await node.db.run(lambda c: users.get_user(c, username))
        ok = await self.gate.check(row.password_hash if row else DUMMY_HASH, password)
        if row is None:
            self.unknown.add(username, now)
            await node.db.run(lambda c: users.record_unknown_login(c, me=node.me, now=now))
            raise Unauthorized("wrong username or password")
        if not ok:
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
        return Session(token, User(username, row.role, csrf))

    async def logout(self, token: str) -> None:
        token_hash = sha256_hex(token.encode())
        self.cache.drop(token_hash)
        await self.node.db.run(lambda c: users.delete_session(c, token_hash))

    async def user(self, token: str | None) -> User | None:
        """Who holds the session ``token`` now, if anyone."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        now = self.node.clock.now()
        token_hash = sha256_hex(token.encode())
        cached = self.cache.get(token_hash, now)
        if cached is not None:
            return cached
        row = await self.node.db.run(ReadOnly(lambda c: users.get_session(c, token_hash, now)))
        if row is None:
            return None
        user = User(row.username, row.role, row.csrf_token)
        self.cache.put(token_hash, user, row.expires_at, now)
        return user

    def forget_user(self, username: str) -> None:
        self.cache.drop_user(username)

    async def purge_expired(self) -> int:
        """Delete the sessions past their expiry; returns how many went."""
        now = self.node.clock.now()
        purged = await self.node.db.run(lambda c: users.purge_sessions(c, now))
        if purged:
            log.info("sessions_purged", count=purged)
        return purged
