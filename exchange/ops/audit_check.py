"""``exchange audit verify``: check a node's audit log from its database file.

Reads the SQLite file read-only and uses none of the node's derived state
except as something to compare with. The reference is the witnesses' views: the latest
checkpoint each peer witness cosigned (fetched by the caller, or read from a bundle),
which the entries must reproduce; the node's own checkpoint rows are a cache. Keys come
from the directory the node holds (its operator signature checked against the operator
keys pinned in ``node.toml``) or, better for an independent auditor, from ``--vkey``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..config import load_config
from ..core.audit_verify import Cosig, Problem, Report, verify_log
from ..core.directory import Directory, verify_directory
from ..core.errors import ExchangeError, Malformed, NotFound
from ..core.keys import SigningKeyPair
from ..core.note import Verifier
from ..core.witness import log_verifier, witness_key, witness_name_for
from ..core.witness_views import ObtainedView, OpenedViews, open_views, views_from_json
from ..store import audit, checkpoints, directory_cache
from ..store.engine import open_reader
from .keyfiles import load_keyring


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
    witnesses: WitnessInput | None = None,
    entries: Iterable[tuple[int, bytes, bytes | None]] | None = None,
) -> Report:
    """The whole check; against the witnesses' views too when ``witnesses`` holds what
    they answered (None: not asked, as restoring a backup does). ``entries``: the log's
    entries in index order when the caller streams them itself (``storage migrate``
    reads PostgreSQL through a server-side cursor); by default read from ``conn``."""
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
    witness_keys: dict[str, bytes] = {}
    for peer in directory.authorities if directory else ():
        public_key = witness_key(peer)
        if public_key is not None and peer.authority_id != authority_id:
            witness_keys[witness_name_for(peer.authority_id)] = public_key
    opened = None
    if witnesses is not None and not witnesses.offline:
        opened = open_views(witnesses.views, log_key=key, directory=directory)
    signed = [(c.size, c.note) for c in checkpoints.all_checkpoints(conn)]
    cosigs = [Cosig(s, w, line) for s, w, line, _ in checkpoints.all_cosignatures(conn)]

    def check(rows: Iterable[tuple[int, bytes, bytes | None]]) -> Report:
        return verify_log(
            rows,
            signed,
            log_key=key,
            witness_keys=witness_keys,
            cosignatures=cosigs,
            progress=progress,
            views=opened.views if opened is not None else (),
        )

    # Fast pass on the entry bytes alone; only if something is wrong, a second pass that
    # also compares each entry with its leaf hash stored at append time, to name it.
    report = check(audit.entries_without_leaves(conn) if entries is None else entries)
    report = report if report.ok else check(audit.entries_with_leaves(conn))
    _witness_outcome(report, witnesses, opened)
    return report


@dataclass(frozen=True)
class WitnessInput:
    """What the peer witnesses answered (fetched now, or read from a bundle or file);
    ``offline``: the check against them is not done, and the report says so;
    ``from_file``: read from a file, where only a signed view is the witness's word."""

    views: tuple[ObtainedView, ...]
    offline: bool = False
    from_file: bool = False


def _witness_outcome(
    report: Report, witnesses: WitnessInput | None, opened: OpenedViews | None
) -> None:
    """Unreachable witnesses are reported, never skipped silently; with none reached the
    check fails closed (the node's own checkpoints prove nothing against its insider)."""
    if witnesses is None or opened is None:
        report.notes.append("the log was not checked against the witnesses' views")
        return
    report.notes.extend(
        f"witness {w} could not be reached ({why}, asked at {at})"
        for w, why, at in opened.unreachable
    )
    report.notes.extend(
        f"witness {w} holds no cosigned checkpoint of this log" for w in opened.holding_none
    )
    report.notes.extend(f"witness {v.witness} cosigned {v.describe()}" for v in opened.views)
    report.problems.extend(Problem("witness", None, message) for message in opened.problems)
    if witnesses.from_file and not opened.views:
        # "holds none" or "unreachable" in a file is whoever wrote the file speaking:
        # a file of such entries would let a truncated log pass (docs/THREAT_MODEL.md)
        report.problems.append(
            Problem(
                "witness",
                None,
                "no view in the witness views file carries a witness's cosignature: "
                "a witness holding none or unreachable is not signed by the witness "
                "(ask the witnesses, or pass --offline)",
            )
        )
    elif not opened.views and not opened.holding_none:
        report.problems.append(
            Problem(
                "witness",
                None,
                "no witness could be reached: the log was checked only against the node's "
                "own checkpoints (run again, use --witness-views FILE, or pass --offline)",
            )
        )


def verify_data_dir(
    data: Path,
    *,
    vkey: str | None = None,
    progress: Callable[[int], None] | None = None,
    witnesses: WitnessInput | None = None,
) -> Report:
    config = load_config(data / "node.toml")
    conn = open_reader(config)
    try:
        directory = held_directory(conn, config.operator_keys)
        return verify_database(
            conn,
            authority_id=config.authority_id,
            directory=directory,
            vkey=vkey,
            progress=progress,
            witnesses=witnesses,
        )
    finally:
        conn.close()


def read_views_file(path: Path) -> tuple[ObtainedView, ...]:
    """The witnesses' views kept in a file: an audit bundle, or ``{"witness_views": [...]}``
    (each as obtained from its witness; they are verified like fresh ones)."""
    try:
        document = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError):
        raise Malformed(f"{path} is not JSON") from None
    if not isinstance(document, dict) or "witness_views" not in document:
        raise Malformed(f"{path} holds no witness_views")
    return views_from_json(document["witness_views"])


@dataclass(frozen=True)
class Caller:
    """What a data folder needs to ask its peers as the node would (signed calls)."""

    me: str
    key: SigningKeyPair
    directory: Directory
    call_timeout: timedelta


def caller_of(data: Path) -> Caller:
    """The node's identity for peer calls: its newest signing key that the directory it
    holds publishes and lets sign now."""
    config = load_config(data / "node.toml")
    conn = open_reader(config)
    try:
        directory = held_directory(conn, config.operator_keys)
    finally:
        conn.close()
    entry = directory.get(config.authority_id) if directory is not None else None
    if directory is None or entry is None:
        raise NotFound("the node holds no directory listing it: pass --witness-views or --offline")
    now = datetime.now(UTC)
    published = {k.key_id: k for k in entry.signing_keys}
    usable = [
        k
        for k in load_keyring(config.keys_dir).signing
        if k.public.key_id in published
        and k.public.valid_at(now)
        and published[k.public.key_id].signs_at(now)
    ]
    if not usable:
        raise NotFound("no signing key of this node may sign now: pass --witness-views")
    key = max(usable, key=lambda k: k.public.not_before)
    return Caller(config.authority_id, key, directory, config.delivery.request_timeout)
