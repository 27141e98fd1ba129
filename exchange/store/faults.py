"""What the node makes of SQLite's refusals: too old a library, a full disk."""

from __future__ import annotations

import sqlite3

from ..core.errors import StorageUnavailable

# INSERT ... RETURNING (3.35) and UPDATE ... FROM (3.33) are used by the store.
MIN_SQLITE = (3, 35, 0)


def require_sqlite(version: tuple[int, int, int]) -> None:
    """Refuse to start on an SQLite too old for the store's statements, with a clear
    message (instead of a syntax error in the middle of a request)."""
    if version < MIN_SQLITE:
        have, need = ".".join(map(str, version)), ".".join(map(str, MIN_SQLITE))
        raise StorageUnavailable(f"this Python's SQLite is {have}; Exchange needs {need} or newer")


_STORAGE_FAULTS = ("database or disk is full", "readonly database", "disk i/o error")


def storage_error(exc: BaseException) -> BaseException:
    """A full disk or a read-only database becomes a clear, retryable refusal."""
    if isinstance(exc, sqlite3.OperationalError) and any(
        fault in str(exc).lower() for fault in _STORAGE_FAULTS
    ):
        refused = StorageUnavailable("the node cannot write to its storage now: try again later")
        refused.__cause__ = exc
        return refused
    return exc
