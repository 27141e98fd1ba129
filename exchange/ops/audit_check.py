"""``exchange audit verify``: check a node's audit log from its database file.

Reads the SQLite file read-only and uses none of the node's derived state
except as something to compare with. Keys come from the directory the node
holds (its operator signature checked against the operator keys pinned in
``node.toml``) or, better for an independent auditor, from ``--vkey``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from ..config import load_config
from ..core.audit_verify import Cosig, Report, verify_log
from ..core.directory import Directory, verify_directory
from ..core.errors import ExchangeError
from ..core.note import Verifier
from ..core.witness import log_verifier, witness_key, witness_name_for
from ..store import audit, checkpoints, directory_cache
from ..store.snapshots import open_read_only


def held_directory(conn: sqlite3.Connection, operator_keys: tuple[bytes, ...]) -> Directory | None:
    document = directory_cache.held_document(conn)
    if document is None:
        return None
    return verify_directory(
        document, pinned_operator_keys=operator_keys, now=datetime.now(UTC), check_time=False
    )


def verify_database(
    conn: sqlite3.Connection,
    *,
    authority_id: str,
    directory: Directory | None,
    vkey: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    if vkey is not None:
        key: Verifier = log_verifier(authority_id, vkey)
    else:
        entry = directory.get(authority_id) if directory else None
        if entry is None or entry.audit_vkey is None:
            raise ExchangeError(
                f"the directory holds no audit_vkey for {authority_id}: pass --vkey",
                code="not_found",
            )
        key = log_verifier(authority_id, entry.audit_vkey)
    witnesses: dict[str, bytes] = {}
    for peer in directory.authorities if directory else ():
        public_key = witness_key(peer)
        if public_key is not None and peer.authority_id != authority_id:
            witnesses[witness_name_for(peer.authority_id)] = public_key
    signed = [(c.size, c.note) for c in checkpoints.all_checkpoints(conn)]
    cosigs = [Cosig(s, w, line) for s, w, line, _ in checkpoints.all_cosignatures(conn)]

    def check(rows: Iterable[tuple[int, bytes, bytes | None]]) -> Report:
        return verify_log(
            rows,
            signed,
            log_key=key,
            witness_keys=witnesses,
            cosignatures=cosigs,
            progress=progress,
        )

    # Fast pass on the entry bytes alone; only if something is wrong, a second pass that
    # also compares each entry with its leaf hash stored at append time, to name it.
    report = check(audit.entries_without_leaves(conn))
    return report if report.ok else check(audit.entries_with_leaves(conn))


def verify_data_dir(
    data: Path, *, vkey: str | None = None, progress: Callable[[int], None] | None = None
) -> Report:
    config = load_config(data / "node.toml")
    conn = open_read_only(config.database)
    try:
        directory = held_directory(conn, config.operator_keys)
        return verify_database(
            conn,
            authority_id=config.authority_id,
            directory=directory,
            vkey=vkey,
            progress=progress,
        )
    finally:
        conn.close()
