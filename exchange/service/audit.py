"""Audit reading and verification: checkpoints and their cosignatures, entries,
proofs, the bundle an auditor takes away, and "verify now" on a read-only copy.

Metadata only: the log holds no contents, so nothing here decrypts anything.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass

import structlog

from ..core.audit_entry import decode_entry
from ..core.canonical import JsonObject, b64e
from ..core.errors import BadSignature, Malformed, NotFound
from ..core.lease import Fence
from ..core.merkle import consistency_proof, inclusion_proof, root
from ..core.note import add_signatures, format_vkey, parse_note, verify_cosignature
from ..core.witness import origin_for, sign_checkpoint, witness_key, witness_name_for
from ..core.witness_views import ObtainedView
from ..ops.audit_check import WitnessInput, verify_database
from ..store import audit, checkpoints, leases, witness_statements
from ..store import witness as witness_store
from ..store.audit_root import signing_root
from ..store.checkpoints import StoredCheckpoint
from ..store.db import transaction
from ..store.engine import open_reader
from ..store.witness import WitnessAlert
from .node import Node
from .paging import PAGE_SIZE, Listed, listed, position

log = structlog.get_logger("exchange.checkpoint")
TREE_CHUNK = 1024  # tree nodes per database job (~2 ms)
# Envelope fields every entry has; the audit page lists the others beside them.
ENTRY_ENVELOPE = ("v", "at", "authority", "action", "actor")


# --- signing ----------------------------------------------------------------------


async def sign_now(node: Node, fence: Fence | None = None) -> StoredCheckpoint:
    """The checkpoint of the log as it is now (a new one only if the log grew); with
    ``fence``, only while this process holds the checkpoints lease (``LeaseLost``)."""
    return await node.db.run(lambda c: _sign(node, c, fence))


async def sign_counted(node: Node, fence: Fence | None = None) -> int:
    """``sign_now``, returning the database's write count just after it (its own write
    included): a later count above it means something was written since."""

    def work(c: sqlite3.Connection) -> int:
        _sign(node, c, fence)
        return int(c.total_changes)

    return await node.db.run(work)


def _sign(node: Node, conn: sqlite3.Connection, fence: Fence | None) -> StoredCheckpoint:
    # One transaction: no entry is appended and no other process of the authority
    # signs in between, so the latest checkpoint's size never goes down. Five
    # statements with BEGIN and COMMIT, six when the tree has nodes to add, one more
    # with a fence (were 36 at 1,400 entries, more as the log grew: audit_root.py).
    with transaction(conn):
        if fence is not None:
            leases.require(conn, fence.duty, fence.holder, fence.number, node.clock.now())
        latest, size = checkpoints.latest_and_log_size(conn)
        if latest is not None and latest.size >= size:
            return latest
        tree_root = signing_root(conn, size)
        note = sign_checkpoint(node.me, size, tree_root, node.audit_key)
        stored = checkpoints.add(conn, size=size, root=tree_root, note=note, now=node.clock.now())
        log.info("checkpoint_signed", size=size)
        return stored


async def build_tree(node: Node) -> int:
    """Hash the log's new entries into its tree in short jobs of at most ``TREE_CHUNK``
    nodes, so that signing a checkpoint never holds the database thread long (at 1,000
    requests a second, 5 s of entries took ~20 ms at once)."""
    added = 0
    while True:
        step = await node.db.run(lambda c: audit.extend_tree(c, TREE_CHUNK))
        added += step
        if step < TREE_CHUNK:
            return added


# --- what peers ask -----------------------------------------------------------------


async def latest_note(node: Node) -> str:
    """The latest checkpoint, signed now if the log grew, with every cosignature."""
    stored = await sign_now(node)
    return await node.db.run(lambda c: _with_cosignatures(c, stored))


def _with_cosignatures(conn: sqlite3.Connection, stored: StoredCheckpoint) -> str:
    lines = [line for _, line, _ in checkpoints.cosignatures(conn, stored.size)]
    return add_signatures(stored.note, lines) if lines else stored.note


async def consistency(node: Node, old: int, new: int) -> list[bytes]:
    def work(c: sqlite3.Connection) -> list[bytes]:
        if not old <= new <= audit.size(c):
            raise Malformed("need 0 <= from <= to <= the log size")
        return consistency_proof(audit.tree(c), old, new)

    return await node.db.run(work)


async def accept_cosignature(node: Node, *, caller: str, size: int, line: str) -> str:
    """Verify a witness's cosignature of one of our checkpoints and keep it; returns the
    witness's name."""
    authority = node.directory.require().get(caller)
    public_key = witness_key(authority) if authority is not None else None
    if public_key is None:
        raise BadSignature("the caller publishes no witness key in the directory")
    stored = await node.db.run(lambda c: checkpoints.at_size(c, size))
    if stored is None:
        raise NotFound(f"no checkpoint of size {size}")
    witness = witness_name_for(caller)
    signed_at = verify_cosignature(parse_note(stored.note).text, line, witness, public_key)
    await node.db.run(
        lambda c: checkpoints.add_cosignature(
            c, size=size, witness=witness, line=line.rstrip("\n"), signed_at=signed_at
        )
    )
    return witness


# --- what auditors read --------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One audit entry: its index, exact bytes and decoded fields."""

    index: int
    leaf: bytes
    entry: JsonObject

    def to_json(self) -> dict[str, object]:
        return {"index": self.index, "leaf": b64e(self.leaf), "entry": self.entry}

    @property
    def fields(self) -> list[tuple[str, object]]:
        """The fields beside the envelope every entry has, sorted by name."""
        return [(k, v) for k, v in sorted(self.entry.items()) if k not in ENTRY_ENVELOPE]


@dataclass(frozen=True)
class Entries:
    size: int
    entries: list[Entry]


async def entries(node: Node, start: int, end: int) -> Entries:
    def work(c: sqlite3.Connection) -> Entries:
        rows = audit.entries(c, start, end)
        return Entries(audit.size(c), [Entry(i, e, decode_entry(e)) for i, e in rows])

    return await node.db.run(work)


@dataclass(frozen=True)
class InclusionProof:
    index: int
    size: int
    root: bytes
    proof: list[bytes]

    def to_json(self) -> dict[str, object]:
        return {
            "index": self.index,
            "size": self.size,
            "root": b64e(self.root),
            "proof": [b64e(h) for h in self.proof],
        }


async def inclusion(node: Node, index: int, size: int) -> InclusionProof:
    def work(c: sqlite3.Connection) -> InclusionProof:
        if not index < size <= audit.size(c):
            raise Malformed("need index < size <= the log size")
        tree = audit.tree(c)
        return InclusionProof(index, size, root(tree, size), inclusion_proof(tree, index, size))

    return await node.db.run(work)


@dataclass(frozen=True)
class Cosignature:
    witness: str
    signed_at: int  # Unix seconds


@dataclass(frozen=True)
class CheckpointView:
    """A signed checkpoint with the cosignatures witnesses sent back."""

    size: int
    root: bytes
    created_at: str
    note: str  # with every cosignature line
    cosignatures: list[Cosignature]

    def to_json(self) -> dict[str, object]:
        return {
            "size": self.size,
            "root": b64e(self.root),
            "created_at": self.created_at,
            "note": self.note,
            "cosignatures": [
                {"witness": c.witness, "signed_at": c.signed_at} for c in self.cosignatures
            ],
        }


def _describe(conn: sqlite3.Connection, stored: StoredCheckpoint) -> CheckpointView:
    cosigs = checkpoints.cosignatures(conn, stored.size)
    return CheckpointView(
        size=stored.size,
        root=stored.root,
        created_at=stored.created_at,
        note=_with_cosignatures(conn, stored),
        cosignatures=[Cosignature(w, t) for w, _, t in cosigs],
    )


@dataclass(frozen=True)
class CheckpointStatus:
    latest: CheckpointView
    cosigned: CheckpointView | None  # the latest one peers have cosigned

    def to_json(self) -> dict[str, object]:
        return {
            "latest": self.latest.to_json(),
            "cosigned": self.cosigned.to_json() if self.cosigned else None,
        }


async def checkpoint_status(node: Node) -> CheckpointStatus:
    latest = await sign_now(node)

    def work(c: sqlite3.Connection) -> CheckpointStatus:
        cosigned = checkpoints.latest_cosigned(c)
        return CheckpointStatus(_describe(c, latest), _describe(c, cosigned) if cosigned else None)

    return await node.db.run(work)


async def witness_alerts(
    node: Node, *, cursor: str | None = None, limit: int = PAGE_SIZE
) -> Listed[WitnessAlert]:
    """A page of the forks and shrunk logs seen in peers, newest first."""
    after = position(cursor, "witness_alerts")
    page = await node.db.run(lambda c: witness_store.newest_alerts(c, after=after, limit=limit))
    return listed(page, "witness_alerts")


@dataclass(frozen=True)
class LogPage:
    """One page of the log for the auditor's page, newest entry first."""

    size: int
    start: int
    end: int
    entries: list[Entry]
    status: CheckpointStatus
    alerts: Listed[WitnessAlert]  # a page of them, newest first


async def log_page(
    node: Node, wanted: int, page: int, *, alerts_cursor: str | None = None
) -> LogPage:
    """Entries ``wanted`` to ``wanted + page`` (the newest page when out of range), and
    a page of witness alerts (after ``alerts_cursor``)."""
    status = await checkpoint_status(node)
    alerts = await witness_alerts(node, cursor=alerts_cursor)

    def read(c: sqlite3.Connection) -> LogPage:
        size = audit.size(c)
        start = wanted if 0 <= wanted < size else max(size - page, 0)
        end = min(start + page, size)
        found = [Entry(i, raw, decode_entry(raw)) for i, raw in audit.entries(c, start, end)]
        return LogPage(size, start, end, found[::-1], status, alerts)

    return await node.db.run(read)


async def verify_now(node: Node, views: tuple[ObtainedView, ...]) -> JsonObject:
    """The auditor's whole-log check over this node's database file, through its own
    read-only connection on its own thread (the node keeps writing meanwhile), against
    ``views``: what the peer witnesses answered just now."""
    directory = node.directory.current
    witnesses = WitnessInput(views)

    def work() -> JsonObject:
        conn = open_reader(node.config)
        try:
            return verify_database(
                conn, authority_id=node.me, directory=directory, witnesses=witnesses
            ).to_json()
        finally:
            conn.close()

    return await asyncio.to_thread(work)


async def bundle(node: Node, views: tuple[ObtainedView, ...]) -> JsonObject:
    """Everything needed to verify the log elsewhere: every entry's exact bytes, every
    signed checkpoint and cosignature, the log's verifier key (no contents exist), and
    ``views``, the peer witnesses' views as obtained from them (the reference)."""

    def work(c: sqlite3.Connection) -> JsonObject:
        size = audit.size(c)
        return {
            "authority_id": node.me,
            "audit_vkey": format_vkey(origin_for(node.me), node.audit_key.public.public),
            "size": size,
            "entries": [b64e(e) for _, e in audit.entries(c, 0, size)],
            "checkpoints": [
                {"size": cp.size, "note": cp.note, "created_at": cp.created_at}
                for cp in checkpoints.all_checkpoints(c)
            ],
            "cosignatures": [
                {"size": size_, "witness": w, "line": line, "signed_at": t}
                for size_, w, line, t in checkpoints.all_cosignatures(c)
            ],
            "witness_alerts": [a.to_json() for a in witness_store.all_alerts(c)],
            # what other witnesses signed and sent us, each statement as received
            "received_witness_alerts": [
                {**alert.to_json(), "statement": statement.decode()}
                for alert, statement in witness_statements.all_received(c)
            ],
            "witness_views": [v.to_json() for v in views],
        }

    return await node.db.run(work)
