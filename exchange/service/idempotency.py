"""Idempotent state changes: a user's key claimed for one request, bound into the first
transaction that request commits (store/idempotency.py), its first answer kept and
given again to a retry. Any use case is covered without knowing of it: the claim rides
on the request's context into ``Database.run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator

import structlog

from ..core.errors import IdempotencyInProgress, IdempotencyKeyReused
from ..store import idempotency as store
from ..store.db import WRITE_CLAIM
from ..store.idempotency import Answer as Answer
from ..store.idempotency import Claim as Claim
from ..store.idempotency import KeyRow as KeyRow
from .node import Node

log = structlog.get_logger("exchange.idempotency")
# Fault injection for one test (tests/chaos/test_idempotent_crash.py): the process dies
# between a keyed call's commit and its answer. Only when this variable names the very
# database file of the node, so no setting and no stray variable can turn it on.
DIE_AFTER_COMMIT = "EXCHANGE_TEST_DIE_AFTER_COMMIT_OF"


class Running:
    """The keys whose first request is running in this process: a retry meanwhile is
    refused (``idempotency_in_progress``) rather than run beside it, or waits for it
    (``finished``) to be answered what it answered."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, str], asyncio.Event] = {}

    async def finished(self, username: str, key: str, *, within: float) -> None:
        """Return once the key's running request (if any) has ended, or ``within``
        seconds have passed (then ``hold`` refuses)."""
        done = self._held.get((username, key))
        if done is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), within)

    @contextlib.contextmanager
    def hold(self, username: str, key: str) -> Iterator[None]:
        if (username, key) in self._held:
            raise IdempotencyInProgress("a request with this Idempotency-Key is still running")
        done = self._held[(username, key)] = asyncio.Event()
        try:
            yield
        finally:
            del self._held[(username, key)]
            done.set()


async def earlier(node: Node, username: str, key: str, fingerprint: str) -> KeyRow | None:
    """What the user's key already did, if anything (an expired key did nothing). The
    same key for another request is refused (``idempotency_key_reused``)."""
    now = node.clock.now()
    found = await node.db.run(lambda c: store.find(c, node.vault, username, key, now))
    if found is not None and found.fingerprint != fingerprint:
        log.info("idempotency_key_reused", user=username)
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used for another request (method, path or body)"
        )
    return found


@contextlib.contextmanager
def claimed(node: Node, username: str, key: str, fingerprint: str) -> Iterator[Claim]:
    """While the request runs, its first write records the key in its transaction."""
    now = node.clock.now()
    claim = Claim(username, key, fingerprint, now, now + node.config.idempotency_ttl)
    token = WRITE_CLAIM.set(claim)
    try:
        yield claim
    finally:
        WRITE_CLAIM.reset(token)


async def keep(node: Node, claim: Claim, answer: Answer) -> None:
    """The first answer, sealed beside the key (once: a kept answer is never replaced)."""
    if os.environ.get(DIE_AFTER_COMMIT) == str(node.config.database):
        os._exit(137)  # as SIGKILL would: no answer kept, none sent
    await node.db.run(lambda c: store.keep_answer(c, node.vault, claim, answer))


async def collect(node: Node) -> int:
    """Delete the keys past their expiry (housekeeping); returns how many went."""
    now = node.clock.now()
    collected = await node.db.run(lambda c: store.collect(c, now))
    if collected:
        log.info("idempotency_keys_collected", count=collected)
    return collected
