"""Migration 23 of store/schema.py (kept apart so that schema.py stays readable):
resumable uploads. ``blob_parts`` holds each peer's upload of a blob in progress
(store/blob_parts.py), ``uploads`` the local API's tus uploads (store/uploads.py; its
``key_wrapped`` is in store/period_keys.KEYED), and ``attachments.sent_bytes`` how much
of a file its recipient has confirmed (the request page's progress)."""

from __future__ import annotations

RESUMABLE_UPLOADS: list[str] = [
    "CREATE TABLE blob_parts (peer TEXT NOT NULL, blob_sha256 TEXT NOT NULL, length"
    " INTEGER NOT NULL, verified INTEGER NOT NULL, started_at TEXT NOT NULL, updated_at"
    " TEXT NOT NULL, PRIMARY KEY (peer, blob_sha256))",
    "CREATE TABLE uploads (id TEXT PRIMARY KEY, owner TEXT NOT NULL, length INTEGER NOT"
    " NULL, received INTEGER NOT NULL, blob_bytes INTEGER NOT NULL, media_type TEXT NOT"
    " NULL, filename_sealed BLOB NOT NULL, key_wrapped BLOB, created_at TEXT NOT NULL)",
    "ALTER TABLE attachments ADD COLUMN sent_bytes INTEGER NOT NULL DEFAULT 0",
]
