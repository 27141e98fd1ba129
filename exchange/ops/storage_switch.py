"""After a verified ``storage migrate``: the ``[storage] url`` line a node needs, and
(``--switch``) the node pointed at PostgreSQL.

The line never holds the password: node.toml is no place for one (libpq reads it
from ``~/.pgpass`` or ``PGPASSWORD``; config/node.example.toml), and the line is shown.
``--switch`` writes node.toml first, then renames ``exchange.db`` aside, so that a
crash between the two leaves a node on PostgreSQL beside its old file, never a node
that would start on a new, empty SQLite file. The file is kept, never deleted: it is
the way back until the operator has a PostgreSQL backup of their own.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ..config import NodeConfig, load_config
from ..core.errors import Conflict
from ..store.snapshots import fold_wal
from .keyfiles import write_private


def without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}@{host}"))


def config_line(url: str) -> str:
    """``url = "..."`` (a TOML basic string: JSON's escapes are TOML's)."""
    return f"url = {json.dumps(without_password(url))}"


def with_storage(text: str, line: str) -> str:
    """node.toml's text with ``line`` in its ``[storage]`` table (added when absent)."""
    header = re.search(r"(?m)^\[storage\][ \t]*(#.*)?$", text)
    if header is None:
        return text.rstrip("\n") + "\n\n[storage]\n" + line + "\n"
    return text[: header.end()] + "\n" + line + text[header.end() :]


def switch_to(config: NodeConfig, url: str, *, switch: bool) -> tuple[str, Path | None]:
    """The line; with ``switch``, node.toml rewritten and the database renamed aside
    (returns where it went)."""
    line = config_line(url)
    if not switch:
        return line, None
    path = config.data_dir / "node.toml"
    write_private(path, with_storage(path.read_text(encoding="utf-8"), line).encode())
    if load_config(path).storage_url != without_password(url):  # never a half-right file
        raise Conflict(f"{path} does not read back with the new [storage] url: check it")
    moved = moved_name(config.database)
    fold_wal(config.database)  # one file to keep, not three
    for suffix in ("", "-wal", "-shm"):
        source = Path(str(config.database) + suffix)
        if source.exists():
            os.replace(source, Path(str(moved) + suffix))
    return line, moved


def moved_name(database: Path, now: datetime | None = None) -> Path:
    """``exchange.db.migrated-<UTC time>``: beside the old, never over another."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return database.with_name(f"{database.name}.migrated-{stamp}")
