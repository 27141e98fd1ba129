"""Emergency revocation statements (``exchange.core.revocation``): received from a
peer (or installed by this node's own operator), verified against the directory,
stored with their audit entry and applied at once by the directory holder."""

from __future__ import annotations

import structlog

from ..core.revocation import RevocationStatement, verify_statement
from ..store import revocations
from .node import Node

log = structlog.get_logger("exchange.revocation")


async def receive(node: Node, document: bytes) -> tuple[RevocationStatement, bool]:
    """Verify ``document`` and make it take effect; the statement and whether it
    changed anything (False: already held, idempotent). Raises the statement's error
    with nothing stored."""
    now = node.clock.now()
    statement = verify_statement(document, directory=node.directory.require(), now=now)
    changed = await node.db.run(
        lambda c: revocations.record(
            c,
            me=node.me,
            authority=statement.authority,
            key_id=statement.key_id,
            revoked_at=statement.revoked_at,
            issued_at=statement.issued_at,
            statement=document,
            now=now,
        )
    )
    if changed:
        node.directory.revoke(statement.authority, statement.key_id, statement.revoked_at)
        log.warning(
            "revocation_received", revoked_authority=statement.authority, key_id=statement.key_id
        )
    return statement, changed
