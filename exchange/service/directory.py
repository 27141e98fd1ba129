"""The node's view of the directory: verify every update, refuse rollbacks and
expired documents, keep the last good one when an update is bad. Fetching the
document is ``exchange.workers.directory``'s."""

from __future__ import annotations

import structlog

from ..core.clock import Clock
from ..core.directory import Directory, verify_directory
from ..core.directory_search import DirectoryIndex
from ..core.errors import DirectoryRejected, ExchangeError
from ..store import directory_cache
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
        self.document_sha256: str | None = None

    def require(self) -> Directory:
        if self.current is None:
            raise DirectoryUnavailable("no valid directory loaded")
        return self.current

    def require_index(self) -> DirectoryIndex:
        self.require()
        assert self.index is not None
        return self.index

    async def load_cached(self) -> None:
        cached = await self.db.run(directory_cache.load)
        if cached is None:
            return
        try:
            self._install(
                verify_directory(
                    cached[1], pinned_operator_keys=self.operator_keys, now=self.clock.now()
                )
            )
        except DirectoryRejected as exc:
            log.warning("cached_directory_unusable", reason=exc.message)

    async def update(self, document: bytes) -> bool:
        """Verify and install ``document``; True if it replaced what we held."""
        now = self.clock.now()
        held = self.current.serial if self.current else None
        try:
            directory = verify_directory(
                document, pinned_operator_keys=self.operator_keys, now=now, held_serial=held
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
        if self.current is not None and directory.serial == self.current.serial:
            return False
        await self.db.run(
            lambda c: directory_cache.save(
                c, me=self.me, serial=directory.serial, document=document, now=now
            )
        )
        self._install(directory)
        log.info("directory_updated", serial=directory.serial, entries=len(directory.authorities))
        return True

    def _install(self, directory: Directory) -> None:
        self.current = directory
        self.index = DirectoryIndex(directory)
