"""What ``exchange storage migrate`` checks before it commits the copy: each table's
rows, counted and hashed in one canonical order on both engines, and the audit log
verified on both sides (``ops/audit_check.verify_database``: the RFC 9162 root
recomputed from the entries, every checkpoint's signature and root) with the same
size and root. Any difference rolls the whole copy back.

The digest is SHA-256 over each row's typed literal: an integer, text, bytes and NULL
never hash alike, so text that became bytes (or bytes re-encoded as text) on the way is
a difference, not a coincidence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..core.errors import ExchangeError


class CopyNotVerified(ExchangeError):
    """The copy in PostgreSQL differs from the SQLite file (rolled back: nothing kept)."""

    code = "copy_not_verified"


@dataclass(frozen=True)
class TableSum:
    """A table's row count and the digest of its rows in canonical order."""

    rows: int
    digest: str


def table_sum(batches: Iterable[list[tuple[Any, ...]]]) -> TableSum:
    """Count and digest rows read in canonical order (``store/pg_copy.Table.order``).

    A row is hashed as its ``repr``: Python's literal of each value, typed (``1``,
    ``'1'``, ``b'1'`` and ``None`` differ) and escaped (a newline inside a value is
    ``\\n``, so one line is one row). Both drivers hand the same Python types for the
    same stored values (int, str, bytes, None); any other type is a difference too.
    """
    digest = hashlib.sha256()
    rows = 0
    for batch in batches:
        for row in batch:  # row by row: a batch's literal at once would be ~4x its bytes
            digest.update(repr(row).encode() + b"\n")
        rows += len(batch)
    return TableSum(rows, digest.hexdigest())


def compare_tables(source: dict[str, TableSum], target: dict[str, TableSum]) -> None:
    """Raise ``CopyNotVerified`` naming the first table that differs."""
    for name, want in source.items():
        have = target.get(name)
        if have is None or have.rows != want.rows:
            got = "no" if have is None else f"{have.rows:,}"
            raise CopyNotVerified(
                f"table {name}: {want.rows:,} rows in SQLite, {got} in PostgreSQL"
            )
        if have.digest != want.digest:
            raise CopyNotVerified(
                f"table {name}: the same {want.rows:,} rows, but their contents differ"
            )
