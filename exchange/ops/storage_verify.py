"""What ``exchange storage migrate`` checks before it commits the copy: each table's
rows, counted and hashed in one canonical order on both engines, and the audit log
verified on both sides (``ops/audit_check.verify_database``: the RFC 9162 root
recomputed from the entries, every checkpoint's signature and root) with the same
size and root. Any difference rolls the whole copy back.

The digest is SHA-256 over each row's values, each tagged with its type and length: an
integer, text, bytes and NULL never hash alike, so text that became bytes (or bytes
re-encoded as text) on the way is a difference, not a coincidence.
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


def _value(value: Any) -> bytes:
    if value is None:
        return b"N"
    if isinstance(value, bool):  # (no column is boolean: an int, as SQLite stores it)
        value = int(value)
    if isinstance(value, int):
        data, tag = str(value).encode(), b"I"
    elif isinstance(value, float):
        data, tag = value.hex().encode(), b"F"
    elif isinstance(value, str):
        data, tag = value.encode("utf-8", "surrogatepass"), b"T"
    elif isinstance(value, bytes | bytearray | memoryview):
        data, tag = bytes(value), b"B"
    else:
        raise TypeError(f"unexpected {type(value).__name__} in a row")
    return tag + len(data).to_bytes(8, "big") + data


def table_sum(batches: Iterable[list[tuple[Any, ...]]]) -> TableSum:
    """Count and digest rows read in canonical order (``store/pg_copy.Table.order``)."""
    digest = hashlib.sha256()
    rows = 0
    for batch in batches:
        for row in batch:
            digest.update(len(row).to_bytes(2, "big"))
            digest.update(b"".join(_value(v) for v in row))
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
