"""The node's view of the directory: verify every update, refuse rollbacks and
expired documents, keep the last good one when an update is bad, and stop
exchanging once it has expired (fail closed). The highest serial ever held is
persisted with its document and survives restarts; the same serial with other
bytes is an equivocation, kept as proof and raised as an alert. Fetching the
document is ``exchange.workers.directory``'s. Emergency revocation statements the node
holds are applied on top of every directory installed, here and nowhere else
(``revoke``): the directory it exchanges under never un-revokes a key."""

from __future__ import annotations

from datetime import datetime

import structlog

from ..core.canonical import format_time, sha256_hex
from ..core.clock import Clock
from ..core.directory import Directory
from ..core.directory_freshness import Lifetime, SerialVerdict, judge_serial, lifetime
from ..core.directory_search import DirectoryIndex
from ..core.errors import DirectoryExpired, DirectoryRejected, ExchangeError
from ..core.revocation import apply_revocations
from ..core.verified_directories import SHARED, Verified
from ..store import directory_cache, revocations
from ..store.db import Database

log = structlog.get_logger("exchange.directory")


class DirectoryUnavailable(ExchangeError):
    """This node holds no valid directory yet, so it cannot send or accept messages."""

    code = "unavailable"


class DirectoryHolder:
    def __init__(
        self, *, me: str, operator_keys: tuple[bytes, ...], db: Database, clock: Clock
    ) -> None:
        self.me = me
        self.operator_keys = operator_keys
        self.db = db
        self.clock = clock
        self.current: Directory | None = None
        self.index: DirectoryIndex | None = None
        # the highest serial ever held and its bytes (persisted: the rollback floor)
        self.held_serial: int | None = None
        self.held_document: bytes | None = None
        # the directory as the operator signed it, and the revocations received since
        self.signed: Verified | None = None
        self.revoked: list[tuple[str, str, datetime]] = []

    def require(self) -> Directory:
        """The directory to exchange under: refused once it has expired (by our Clock)."""
        directory = self.held()
        if directory.expires_at <= self.clock.now():
            raise DirectoryExpired(
                f"the directory (serial {directory.serial}) expired at "
                f"{format_time(directory.expires_at)}; nothing is sent or accepted "
                "until a fresh one is installed"
            )
        return directory

    def held(self) -> Directory:
        """The directory held, expired or not: for reading (search, pages), never for
        exchanging."""
        if self.current is None:
            raise DirectoryUnavailable("no valid directory loaded")
        return self.current

    def require_index(self) -> DirectoryIndex:
        self.require()
        assert self.index is not None
        return self.index

    def held_index(self) -> DirectoryIndex:
        self.held()
        assert self.index is not None
        return self.index

    def lifetime(self) -> Lifetime | None:
        """How far through its lifetime the directory held is (None without one)."""
        if self.current is None:
            return None
        return lifetime(
            issued_at=self.current.issued_at,
            expires_at=self.current.expires_at,
            now=self.clock.now(),
        )

    async def load_cached(self) -> None:
        """Install the stored document; its serial stays the floor even when the
        document has expired (then it is held for reading only) or no longer verifies."""
        held = await self.db.run(revocations.held)
        self.revoked = [(r.authority, r.key_id, r.revoked_at) for r in held]
        cached = await self.db.run(directory_cache.load)
        if cached is None:
            return
        self.held_serial, self.held_document = cached.serial, cached.document
        try:
            verified = SHARED.verify(
                cached.document,
                pinned_operator_keys=self.operator_keys,
                now=self.clock.now(),
                check_time=False,  # an expired one is held, and require() refuses it
            )
        except DirectoryRejected as exc:
            log.warning("cached_directory_unusable", reason=exc.message, serial=cached.serial)
            return
        self.held_document = verified.document  # the process's one copy of these bytes
        self._install(verified)

    async def catch_up(self) -> bool:
        """Install what another process of this authority stored (a newer directory, a
        revocation received there); True if anything changed."""
        serial = await self.db.run(directory_cache.stored_serial)
        held = await self.db.run(revocations.held)
        revoked = [(r.authority, r.key_id, r.revoked_at) for r in held]
        if serial == self.held_serial and revoked == self.revoked:
            return False
        await self.load_cached()
        return True

    async def update(self, document: bytes) -> bool:
        """Verify and install ``document``; True if it replaced what we held."""
        now = self.clock.now()
        try:
            verified = SHARED.verify(
                document,
                pinned_operator_keys=self.operator_keys,
                now=now,
                held_serial=self.held_serial,
            )
        except DirectoryRejected as exc:
            reason = exc.message[:200]
            log.warning("directory_rejected", reason=reason)
            await self.db.run(
                lambda c: directory_cache.record_rejection(
                    c, me=self.me, reason=reason, document=document, now=now
                )
            )
            raise
        directory, document = verified.directory, verified.document
        held_sha256 = sha256_hex(self.held_document) if self.held_document else None
        verdict = judge_serial(
            held_serial=self.held_serial,
            held_sha256=held_sha256,
            serial=directory.serial,
            sha256=sha256_hex(document),
        )
        if verdict is SerialVerdict.EQUIVOCATION:
            await self._equivocation(directory.serial, document)
        if verdict is not SerialVerdict.NEWER:
            return False
        saved = await self.db.run(
            lambda c: directory_cache.save(
                c, me=self.me, serial=directory.serial, document=document, now=now
            )
        )
        if not saved:  # another process of this authority stored a newer one
            await self.load_cached()
            return False
        self.held_serial, self.held_document = directory.serial, document
        self._install(verified)
        log.info("directory_updated", serial=directory.serial, entries=len(directory.authorities))
        return True

    async def _equivocation(self, serial: int, document: bytes) -> None:
        """Two validly signed documents with one serial: keep the first, keep both as
        proof, alert once per distinct document."""
        held = self.held_document
        assert held is not None
        now = self.clock.now()
        recorded = await self.db.run(
            lambda c: directory_cache.record_equivocation(
                c, me=self.me, serial=serial, held=held, seen=document, now=now
            )
        )
        if recorded:
            log.error(
                "directory_equivocation",
                serial=serial,
                held_sha256=sha256_hex(held),
                seen_sha256=sha256_hex(document),
            )

    def revoke(self, authority: str, key_id: str, revoked_at: datetime) -> None:
        """From now on ``key_id`` is revoked from ``revoked_at`` in the directory held
        and in every one installed later (a statement already stored by the caller)."""
        self.revoked.append((authority, key_id, revoked_at))
        if self.signed is not None:
            self._install(self.signed)

    def _install(self, verified: Verified) -> None:
        self.signed = verified
        self.current = apply_revocations(verified.directory, self.revoked)
        # unchanged by revocations (the usual case): the process's shared index serves
        same = self.current is verified.directory
        self.index = verified.index if same else DirectoryIndex(self.current)
