"""The case messages a request's evidence bundle carries (issue 16): the membership
statements between this node and the request's other party about the case the request
is filed in (the invitation, the answer, the member lists, a departure), each as the
evidence document its sender signed, with the receipt its recipient signed. They prove,
offline, that both were members of the case (or when one stopped being one)."""

from __future__ import annotations

import json
import sqlite3

from ..core.canonical import b64e, canonical_json
from ..core.errors import DecryptionFailed
from ..core.vault import Vault
from .db import fetch_all, fetch_one
from .messages import MessageEvidence
from .sharing import record

_ROWS = """SELECT msg_id, type, sender, recipient, content_key, content, evidence, receipt
    FROM case_messages WHERE case_id = ? AND (sender = ? OR recipient = ?) ORDER BY id"""


def case_evidence_of(
    conn: sqlite3.Connection, vault: Vault, request_id: str
) -> list[MessageEvidence]:
    """The request's case's messages exchanged with its other party, oldest first; one
    whose evidence or content is not held (kept before evidence was, or erased with the
    case's title) is left out: the bundle proves what it carries, nothing more."""
    row = fetch_one(conn, "SELECT case_id, counterpart FROM requests WHERE id = ?", (request_id,))
    if row is None or row["case_id"] is None:
        return []
    peer = row["counterpart"]
    found = []
    for kept in fetch_all(conn, _ROWS, (row["case_id"], peer, peer)):
        if kept["evidence"] is None or kept["content_key"] is None:
            continue
        try:
            plain = vault.open(
                kept["content_key"], kept["content"], record=record(kept["sender"], kept["msg_id"])
            )
        except DecryptionFailed:
            continue
        evidence = json.loads(kept["evidence"])
        document = canonical_json(
            {
                "header": evidence["header"],
                "content": json.loads(plain),
                "signature": b64e(bytes.fromhex(evidence["signature"])),
            }
        )
        found.append(
            MessageEvidence(
                msg_id=kept["msg_id"],
                type=kept["type"],
                sender=kept["sender"],
                recipient=kept["recipient"],
                evidence=document,
                receipt=kept["receipt"].encode() if kept["receipt"] else None,
                refusals=tuple(
                    r["refusal"].encode()
                    for r in fetch_all(
                        conn,
                        "SELECT refusal FROM refusals WHERE msg_id = ? ORDER BY id",
                        (kept["msg_id"],),
                    )
                ),
            )
        )
    return found
