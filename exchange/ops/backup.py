"""``exchange backup`` / ``exchange restore``: consistent online copies of a node's database.

The backup uses SQLite's online backup API from a separate connection, so it can run
while the node is serving (WAL readers do not block the writer) and yields one
consistent snapshot. It contains contents only in encrypted form: the storage key lives
in ``keys/`` and is backed up separately (docs/OPERATIONS.md). A restore checks the
file's integrity and its audit log before it replaces anything.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

from ..config import NodeConfig, load_config
from ..core.audit_verify import Report
from ..core.errors import ExchangeError
from ..store import snapshots
from .audit_check import WitnessInput, held_directory, verify_database


def backup(data: Path, out: Path) -> int:
    """Write a consistent copy of the node's database to ``out``; return its size in bytes."""
    config = load_config(data / "node.toml")
    refuse_postgresql(config, "back up")
    if out.exists():
        raise ExchangeError(f"{out} exists: refusing to overwrite a backup", code="conflict")
    _replace_with_copy(config.database, out, pages=1024)
    return out.stat().st_size


def refuse_postgresql(config: NodeConfig, what: str) -> None:
    """These commands copy SQLite files: a node on PostgreSQL is backed up and restored
    with PostgreSQL's own tools, which know its files and its write-ahead log."""
    if config.storage_url is not None:
        raise ExchangeError(
            f"this node keeps its data in PostgreSQL ([storage] url): to {what} it, use"
            " pg_dump / pg_restore (or the server's base backups), not this command",
            code="conflict",
        )


def _replace_with_copy(source: Path, target: Path, *, pages: int = -1) -> None:
    """A consistent copy of ``source`` put in place as ``target`` (0600) at once: a
    crash leaves either the old file or the whole new one."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".copy-")
    os.close(fd)
    Path(tmp).unlink()  # the copy makes its own file
    try:
        snapshots.copy(source, Path(tmp), pages=pages)
        os.chmod(tmp, 0o600)
        for suffix in ("-wal", "-shm"):
            Path(str(target) + suffix).unlink(missing_ok=True)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_backup(
    path: Path,
    *,
    authority_id: str,
    operator_keys: tuple[bytes, ...],
    witnesses: WitnessInput | None = None,
) -> Report:
    conn = snapshots.open_read_only(path)
    try:
        if not snapshots.integrity_ok(conn):
            raise ExchangeError(f"{path} fails SQLite's integrity check", code="malformed")
        directory = held_directory(conn, operator_keys)
        return verify_database(
            conn, authority_id=authority_id, directory=directory, witnesses=witnesses
        )
    except sqlite3.DatabaseError as exc:
        raise ExchangeError(f"{path} is not a usable database: {exc}", code="malformed") from None
    finally:
        conn.close()


def restore(
    backup_file: Path,
    data: Path,
    *,
    force: bool = False,
    witnesses: WitnessInput | None = None,
    accept_rollback: bool = False,
) -> Report:
    """Replace the node's database with a checked backup (the node must be stopped).

    Checked against the witnesses' views too when ``witnesses`` says what they answered:
    a backup behind what a witness cosigned would roll the audit log back, and every
    entry the node appends after it would fork from what the witnesses hold. Refused
    (``conflict``) unless ``accept_rollback``: the operator then knows the witnesses will
    report it, by design."""
    config = load_config(data / "node.toml")
    refuse_postgresql(config, "restore")
    report = check_backup(
        backup_file,
        authority_id=config.authority_id,
        operator_keys=config.operator_keys,
        witnesses=witnesses,
    )
    behind = [p for p in report.problems if p.kind == "behind"]
    others = [p for p in report.problems if p.kind != "behind"]
    if others:
        raise ExchangeError(
            f"backup's audit log does not verify: {others[0].message}", code="malformed"
        )
    if behind and not accept_rollback:
        raise ExchangeError(
            f"the backup is older than what the witnesses hold ({behind[0].message}): "
            "restoring it rolls the audit log back, and the witnesses will report every "
            "later entry as a fork. Restore a newer backup, or pass --accept-rollback to "
            "restore it anyway",
            code="conflict",
        )
    target = config.database
    if target.exists() and not force:
        raise ExchangeError(f"{target} exists: pass --force to replace it", code="conflict")
    _replace_with_copy(backup_file, target)
    return report
