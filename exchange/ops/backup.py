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

from ..config import load_config
from ..core.audit_verify import Report
from ..core.errors import ExchangeError
from .audit_check import held_directory, verify_database


def backup(data: Path, out: Path) -> int:
    """Write a consistent copy of the node's database to ``out``; return its size in bytes."""
    config = load_config(data / "node.toml")
    if out.exists():
        raise ExchangeError(f"{out} exists: refusing to overwrite a backup", code="conflict")
    source = sqlite3.connect(f"file:{config.database}?mode=ro", uri=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".backup-")
    os.close(fd)
    try:
        target = sqlite3.connect(tmp)
        try:
            source.backup(target, pages=1024)
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
        os.chmod(tmp, 0o600)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        source.close()
    return out.stat().st_size


def check_backup(path: Path, *, authority_id: str, operator_keys: tuple[bytes, ...]) -> Report:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("PRAGMA integrity_check").fetchone()
        if row is None or row[0] != "ok":
            raise ExchangeError(f"{path} fails SQLite's integrity check", code="malformed")
        directory = held_directory(conn, operator_keys)
        return verify_database(conn, authority_id=authority_id, directory=directory)
    except sqlite3.DatabaseError as exc:
        raise ExchangeError(f"{path} is not a usable database: {exc}", code="malformed") from None
    finally:
        conn.close()


def restore(backup_file: Path, data: Path, *, force: bool = False) -> Report:
    """Replace the node's database with a checked backup (the node must be stopped)."""
    config = load_config(data / "node.toml")
    report = check_backup(
        backup_file, authority_id=config.authority_id, operator_keys=config.operator_keys
    )
    if not report.ok:
        raise ExchangeError(
            f"backup's audit log does not verify: {report.problems[0].message}", code="malformed"
        )
    target = config.database
    if target.exists() and not force:
        raise ExchangeError(f"{target} exists: pass --force to replace it", code="conflict")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".restore-")
    os.close(fd)
    try:
        source = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
        dest = sqlite3.connect(tmp)
        try:
            source.backup(dest)
        finally:
            dest.close()
            source.close()
        os.chmod(tmp, 0o600)
        for suffix in ("-wal", "-shm"):
            Path(str(target) + suffix).unlink(missing_ok=True)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return report
