"""What this node, as a witness, holds of each log it watches, and the alerts it raised
(with both notes as evidence, audited).

One check-and-persist path: whether a checkpoint comes by the C2SP tlog-witness
``add-checkpoint`` call (a log pushing it) or by the pull witness (workers/witness.py),
the view changes only by compare-and-swap on the (size, root) it was judged against,
together with the cosignature this witness gives, in one transaction.
"""

from __future__ import annotations

import sqlite3

from ..core.errors import ExchangeError
from ..core.note import (
    Checkpoint,
    Note,
    add_signatures,
    cosign,
    parse_note,
    parse_vkey,
)
from ..core.tlog_witness import Held, TrustedLog, decide, parse_submission
from ..core.witness import Judgement, origin_for, witness_name_for
from ..store import witness as store
from ..store.witness import LogView
from .node import Node


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
    line = cosign(parsed.text, witness_name_for(node.me), node.audit_key, _unix(node))
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
        line = cosign(verified.text, witness_name_for(node.me), node.audit_key, _unix(node))
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


def _unix(node: Node) -> int:
    return max(1, int(node.clock.now().timestamp()))  # the spec: never a zero timestamp


async def cosigned_view(node: Node, origin: str) -> str | None:
    """The latest checkpoint this witness cosigned for ``origin``: the log's signed note
    with this witness's cosignature line; None when it cosigned none."""
    view = await node.db.run(lambda c: store.log_view(c, origin))
    if view is None or view.cosignature is None:
        return None
    return add_signatures(view.note, [view.cosignature])


async def raise_alert(
    node: Node, peer: str, judgement: Judgement, *, previous: str, presented: str
) -> bool:
    """Record a fork or a shrunk log once; True when it is new."""
    evidence = {"previous": previous, "presented": presented}
    now = node.clock.now()

    def work(c: sqlite3.Connection) -> bool:
        if store.alert_exists(c, peer, judgement.verdict, judgement.detail):
            return False
        store.raise_alert(
            c,
            me=node.me,
            peer=peer,
            kind=judgement.verdict,
            detail=judgement.detail,
            evidence=evidence,
            now=now,
        )
        return True

    return await node.db.run(work)
