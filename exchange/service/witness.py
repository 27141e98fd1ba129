"""What this node, as a witness, remembers of each peer's log: the last view it
verified, the alerts it raised (with both notes as evidence, audited) and which are
still open, and since when a peer has been unavailable."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from ..core.canonical import canonical_json
from ..core.envelope import Opened
from ..core.errors import ExchangeError, WrongParty
from ..core.witness import Outcome, respond
from ..core.witness_alert import (
    SIGNED_KINDS,
    AlertStatement,
    issue_alert,
    parse_alert,
    verify_alert,
)
from ..store import witness as store
from ..store import witness_outcomes as outcomes
from ..store import witness_statements as statements
from ..store.db import transaction
from ..store.witness import PeerView
from .node import Node


async def last_view(node: Node, peer: str) -> PeerView | None:
    return await node.db.run(lambda c: store.view(c, peer))


async def advance(node: Node, peer: str, *, size: int, root: bytes, note: str) -> None:
    """The peer's log grew consistently: remember the new checkpoint."""
    now = node.clock.now()
    await node.db.run(
        lambda c: store.advance(c, peer=peer, size=size, root=root, note=note, now=now)
    )


async def conclude(
    node: Node, peer: str, outcome: Outcome, *, detail: str, evidence: dict[str, str]
) -> bool:
    """Act on one round's outcome (``core.witness.respond``) in one transaction: raise
    the alert it calls for (with its evidence, audited), close the alerts it resolves,
    remember or forget the peer's unavailability. True when an alert was raised."""
    now = node.clock.now()
    alert_after = node.config.audit.witness_unavailable_alert_after

    def work(c: sqlite3.Connection) -> bool:
        with transaction(c):
            response = respond(outcome, outcomes.record(c, peer), now, alert_after)
            outcomes.close_alerts(c, peer, response.close, now)
            outcomes.set_unavailable(c, peer, response.unavailable_since, detail)
            if response.alert:
                alert_id = store.raise_alert(
                    c, me=node.me, peer=peer, kind=outcome, detail=detail,
                    evidence=evidence, now=now,
                )  # fmt: skip
                _queue_statement(c, node, alert_id, peer, outcome, detail, evidence, now)
            return response.alert

    return await node.db.run(work)


async def cosignature_time(node: Node, peer: str) -> datetime:
    """The time to put in a cosignature of ``peer``'s current view: when it was first
    verified, so a log that stops growing keeps an ageing cosignature, not a fresh one."""
    first = await node.db.run(lambda c: outcomes.first_seen(c, peer))
    return first or node.clock.now()


def _queue_statement(
    conn: sqlite3.Connection,
    node: Node,
    alert_id: int,
    peer: str,
    kind: str,
    detail: str,
    evidence: dict[str, str],
    now: datetime,
) -> None:
    """Sign the alert as a statement for the watched node and every other peer, if its
    evidence proves something to them (an ``unavailable`` peer, or a checkpoint that
    does not verify, is this witness's word only: kept here, not sent)."""
    if kind not in SIGNED_KINDS:
        return
    directory = node.directory.require()
    statement = issue_alert(
        issuer=node.me, peer=peer, kind=kind, detail=detail,
        previous=evidence.get("previous", ""), presented=evidence.get("presented", ""),
        issued_at=now, key=node.signing_key(now),
    )  # fmt: skip
    try:
        verify_alert(statement, directory=directory)
    except ExchangeError:
        return
    peers = [a.authority_id for a in directory.authorities if a.authority_id != node.me]
    statements.queue(conn, alert_id, statement.to_bytes(), peers)


async def remember_claim(node: Node, peer: str, opened: Opened) -> None:
    """``peer`` signed its log size in an envelope it sent us: keep the largest."""
    header = opened.header
    if header.log_size is None:
        return
    claim = canonical_json(
        {"header": header.to_json(), "envelope_sha256": opened.envelope_sha256}
    ).decode()
    await remember_size(node, peer, header.log_size, claim)


async def remember_size(node: Node, peer: str, size: int, claim: str) -> None:
    """``peer`` signed a log size of ``size`` in ``claim`` (an envelope's header, or a
    receipt v3 it gave us): keep the largest."""
    now = node.clock.now()
    await node.db.run(lambda c: outcomes.record_claim(c, peer, size, claim, now))


async def largest_claim(node: Node, peer: str) -> outcomes.Claim | None:
    return await node.db.run(lambda c: outcomes.largest_claim(c, peer))


async def pending_statements(node: Node) -> list[statements.Outgoing]:
    return await node.db.run(statements.pending)


async def statement_done(node: Node, sent: statements.Outgoing, outcome: str) -> None:
    now = node.clock.now()
    await node.db.run(lambda c: statements.done(c, sent.alert_id, sent.peer, outcome, now))


async def receive_alert(node: Node, *, caller: str, body: bytes) -> tuple[AlertStatement, bool]:
    """A witness alert sent by ``caller``: verified (its signature, its issuer and the
    evidence under the watched log's key), then kept once and audited. Returns it and
    whether it was new. Anything that does not verify is refused and stored nowhere."""
    statement = parse_alert(body)
    if statement.issuer != caller:
        raise WrongParty("a witness alert is sent by the witness that signed it")
    verify_alert(statement, directory=node.directory.require())
    now = node.clock.now()
    new = await node.db.run(
        lambda c: statements.receive(
            c, me=node.me, issuer=statement.issuer, peer=statement.peer, kind=statement.kind,
            detail=statement.detail, issued_at=statement.issued_at, statement=body, now=now,
        )
    )  # fmt: skip
    return statement, new


async def received_alerts(node: Node) -> list[statements.ReceivedAlert]:
    return await node.db.run(statements.received)
