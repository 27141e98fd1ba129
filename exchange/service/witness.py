"""What this node, as a witness, holds of each log it watches, the alerts it raised
(with both notes as evidence, audited) and which are still open, and since when a peer
has been unavailable.

One check-and-persist path: whether a checkpoint comes by the C2SP tlog-witness
``add-checkpoint`` call (a log pushing it) or by the pull witness (workers/witness.py),
the view changes only by compare-and-swap on the (size, root) it was judged against,
together with the cosignature this witness gives, in one transaction. An unchanged
checkpoint keeps the cosignature it was first given, with its time: a log that stops
growing gets an ageing cosignature, never a fresh one.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from ..core.canonical import canonical_members
from ..core.envelope import Opened
from ..core.errors import ExchangeError, WrongParty
from ..core.note import (
    Checkpoint,
    Note,
    add_signatures,
    cosign,
    parse_note,
    parse_vkey,
)
from ..core.tlog_witness import Held, TrustedLog, decide, parse_submission
from ..core.witness import Outcome, origin_for, respond, witness_name_for
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
from ..store.witness import LogView
from .node import Node
from .paging import PAGE_SIZE, Listed, listed, position


def trusted_logs(node: Node) -> dict[str, TrustedLog]:
    """Every log this node witnesses, by origin: its peers' from the signed directory
    (``audit_vkey``), and the C2SP logs in node.toml's ``[[witness.logs]]``."""
    logs = {
        log.origin: TrustedLog(log.origin, (parse_vkey(log.vkey),))
        for log in node.config.witness.logs
    }
    directory = node.directory.current
    for peer in directory.authorities if directory is not None else ():
        if peer.authority_id == node.me or peer.audit_vkey is None:
            continue
        try:
            verifier = parse_vkey(peer.audit_vkey)
        except ExchangeError:
            continue
        origin = origin_for(peer.authority_id)
        if verifier.name == origin:
            logs[origin] = TrustedLog(origin, (verifier,))
    return logs


async def last_view(node: Node, peer: str) -> LogView | None:
    """What this witness holds of ``peer``'s log."""
    return await node.db.run(lambda c: store.log_view(c, origin_for(peer)))


async def advance(node: Node, expected: LogView | None, checkpoint: Checkpoint, note: str) -> str:
    """Cosign ``checkpoint`` (the pull witness judged it consistent with ``expected``)
    and keep it as the view, by compare-and-swap on ``expected``; the cosignature line.
    ``OldSizeMismatch`` when the view changed since it was read: nothing written."""
    now = node.clock.now()
    parsed = parse_note(note)
    # keep the log's own signature (verified by the caller), not other witnesses'
    kept = Note(parsed.text, tuple(s for s in parsed.signatures if s.name == checkpoint.origin))
    line = _kept_cosignature(expected, parsed.text) or cosign(
        parsed.text, witness_name_for(node.me), node.audit_key, _unix(node)
    )
    old = (expected.size, expected.root) if expected is not None else None
    await node.db.run(
        lambda c: store.swap(
            c,
            origin=checkpoint.origin,
            expected=old,
            size=checkpoint.size,
            root=checkpoint.root,
            note=kept.to_text(),
            cosignature=line,
            now=now,
        )
    )
    return line


async def add_checkpoint(node: Node, body: bytes) -> str:
    """c2sp.org/tlog-witness ``add-checkpoint``: the cosignature line(s) to answer with.
    The check against the held view and its replacement are one transaction."""
    submission = parse_submission(body)
    log = trusted_logs(node).get(submission.checkpoint.origin)
    now = node.clock.now()

    def work(c: sqlite3.Connection) -> str:
        current = store.log_view(c, submission.checkpoint.origin)
        held = Held(current.size, current.root) if current is not None else None
        verified: Note = decide(submission, log, held)
        checkpoint = submission.checkpoint
        line = _kept_cosignature(current, verified.text) or cosign(
            verified.text, witness_name_for(node.me), node.audit_key, _unix(node)
        )
        store.swap(
            c,
            origin=checkpoint.origin,
            expected=(held.size, held.root) if held is not None else None,
            size=checkpoint.size,
            root=checkpoint.root,
            note=verified.to_text(),
            cosignature=line,
            now=now,
        )
        return line

    return await node.db.run(work)


def _kept_cosignature(view: LogView | None, text: str) -> str | None:
    """The cosignature this witness already gave to exactly this checkpoint, if any."""
    if view is None or view.cosignature is None or parse_note(view.note).text != text:
        return None
    return view.cosignature


def _unix(node: Node) -> int:
    return max(1, int(node.clock.now().timestamp()))  # the spec: never a zero timestamp


async def cosigned_view(node: Node, origin: str) -> str | None:
    """The latest checkpoint this witness cosigned for ``origin``: the log's signed note
    with this witness's cosignature line; None when it cosigned none."""
    view = await node.db.run(lambda c: store.log_view(c, origin))
    if view is None or view.cosignature is None:
        return None
    return add_signatures(view.note, [view.cosignature])


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


def claim_of(opened: Opened) -> tuple[int, str] | None:
    """The log size ``opened``'s sender signed in its header, with the signed header as
    the evidence of it (None: an envelope that signs none)."""
    header = opened.header
    if header.log_size is None:
        return None
    # the signed header's bytes as opened, spliced: no second encoding of the header
    digest = b'"' + opened.envelope_sha256.encode() + b'"'
    claim = canonical_members({"header": opened.header_json, "envelope_sha256": digest})
    return header.log_size, claim.decode()


def record_claim(
    conn: sqlite3.Connection, peer: str, claim: tuple[int, str] | None, now: datetime
) -> None:
    """Keep ``peer``'s signed log size if it is the largest yet, inside the caller's
    transaction (the envelopes or receipts that carried it commit with it: no commit,
    no fsync of its own)."""
    if claim is not None:
        outcomes.record_claim(conn, peer, claim[0], claim[1], now)


async def largest_claim(node: Node, peer: str) -> outcomes.Claim | None:
    return await node.db.run(lambda c: outcomes.largest_claim(c, peer))


async def pending_statements(node: Node) -> list[statements.Outgoing]:
    return await node.db.run(statements.pending)


async def statement_done(node: Node, sent: statements.Outgoing, outcome: str) -> None:
    now = node.clock.now()
    await node.db.run(lambda c: statements.done(c, sent.alert_id, sent.peer, outcome, now))


async def receive_alert(node: Node, *, caller: str, body: bytes) -> tuple[AlertStatement, bool]:
    """A witness alert sent by ``caller``: verified (its signature, its issuer and the
    evidence under the watched log's key), then kept once (per statement, and per
    issuer, log, kind and evidence) and audited. Returns it and whether it was new.
    Anything that does not verify is refused and stored nowhere."""
    statement = parse_alert(body)
    if statement.issuer != caller:
        raise WrongParty("a witness alert is sent by the witness that signed it")
    verify_alert(statement, directory=node.directory.require())
    now = node.clock.now()
    new = await node.db.run(
        lambda c: statements.receive(
            c, me=node.me, issuer=statement.issuer, peer=statement.peer, kind=statement.kind,
            detail=statement.detail, issued_at=statement.issued_at, statement=body,
            evidence_sha256=statement.evidence_sha256(), now=now,
        )
    )  # fmt: skip
    return statement, new


async def received_alerts(
    node: Node, *, cursor: str | None = None, limit: int = PAGE_SIZE
) -> Listed[statements.ReceivedAlert]:
    """A page of the alerts other witnesses signed and sent us, newest first."""
    after = position(cursor, "received_witness_alerts")
    page = await node.db.run(lambda c: statements.newest_received(c, after=after, limit=limit))
    return listed(page, "received_witness_alerts")
