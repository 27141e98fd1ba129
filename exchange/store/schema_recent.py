"""Migrations 21 onwards, in order: each lives in a module of its own beside
store/schema.py (which is at the size limit), and each module says what it changes."""

from __future__ import annotations

from . import (
    list_indexes,
    schema_directory_once,
    schema_idempotency,
    schema_leases,
    schema_members,
    schema_peer_nonces,
    schema_uploads,
)

RECENT: list[list[str]] = [
    schema_members.MEMBERS_REMOVED,  # 21
    schema_idempotency.IDEMPOTENCY_KEYS,  # 22
    schema_uploads.RESUMABLE_UPLOADS,  # 23
    list_indexes.MIGRATION,  # 24
    schema_leases.LEASES,  # 25
    schema_directory_once.DIRECTORY_ONCE,  # 26
    schema_peer_nonces.PEER_NONCES,  # 27
]
