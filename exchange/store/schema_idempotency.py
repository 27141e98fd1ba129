"""Migration 22 of store/schema.py (kept apart so that schema.py stays readable): the
``idempotency_keys`` table of store/idempotency.py. A key is claimed in the transaction it
guards; its first answer is sealed (``answer_key`` is wrapped: store/period_keys.KEYED)."""

from __future__ import annotations

IDEMPOTENCY_KEYS: list[str] = [
    "CREATE TABLE idempotency_keys (username TEXT NOT NULL, key TEXT NOT NULL, fingerprint"
    " TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL, audit_from INTEGER"
    " NOT NULL, audit_to INTEGER NOT NULL, status INTEGER, answer_key BLOB, answer BLOB,"
    " PRIMARY KEY (username, key))",
    "CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at)",
    "CREATE INDEX idempotency_keys_kek ON idempotency_keys (substr(answer_key, 2, 16))",
]
