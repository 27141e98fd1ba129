"""A transaction's receipts stored as one set of statements (``store_receipts``)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from exchange.core import ids
from exchange.core.errors import NotFound
from exchange.core.vault import Vault, new_storage_key
from exchange.store import audit
from exchange.store import requests as store
from exchange.store.messages import OutgoingMessage
from exchange.store.receipts import store_receipts

from ..storage import connect

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _conn(path: Path) -> sqlite3.Connection:
    conn = connect(path)
    return conn


def _send(conn: sqlite3.Connection, vault: Vault, n: int) -> list[tuple[str, str]]:
    """``n`` queued requests to MA-CNA: (request id, msg id) each."""
    sent = []
    for i in range(n):
        msg_id, request_id = ids.message_id(), ids.request_id()
        message = OutgoingMessage(
            msg_id=msg_id,
            type="request",
            recipient="MA-CNA",
            created_at=NOW,
            content={"kind": "information_request", "urgency": "urgent", "language": "en"},
            envelope=b'{"envelope": %d}' % i,
            envelope_sha256="0" * 64,
            expires_at=NOW + timedelta(days=1),
        )
        store.create_request(
            conn, vault, me="ES-CNA", request_id=request_id, message=message,
            actor="inv", now=NOW,
        )  # fmt: skip
        sent.append((request_id, msg_id))
    return sent


def _receipt(msg_id: str) -> bytes:
    return json.dumps({"receipt_for": msg_id}).encode()


def test_a_batch_is_recorded_once_in_order(tmp_path: Path) -> None:
    conn = _conn(tmp_path / "a.db")
    vault = Vault(new_storage_key())
    sent = _send(conn, vault, 5)
    before = audit.size(conn)
    batch = [(m, _receipt(m)) for _, m in sent[:3]]
    later = NOW + timedelta(seconds=3)
    assert store_receipts(conn, me="ES-CNA", receipts=batch, now=later) == 3
    # again, with two new ones: only the new ones count and get entries
    batch = [(m, _receipt(m)) for _, m in sent]
    assert store_receipts(conn, me="ES-CNA", receipts=batch, now=later) == 2
    assert store_receipts(conn, me="ES-CNA", receipts=batch, now=later) == 0

    rows = conn.execute(
        "SELECT r.status, r.delivered_at, m.receipt, o.state, length(o.envelope)"
        " FROM requests r JOIN messages m ON m.request_id = r.id"
        " JOIN outbox o ON o.msg_id = m.msg_id"
    ).fetchall()
    assert {row[0] for row in rows} == {"delivered"}
    assert {row[1] for row in rows} == {"2026-11-23T10:00:03.000000Z"}
    assert sorted(row[2] for row in rows) == sorted(_receipt(m).decode() for _, m in sent)
    assert {(row[3], row[4]) for row in rows} == {("done", 0)}  # envelopes dropped
    entries = [json.loads(e) for _, e in audit.entries(conn, before, audit.size(conn))]
    assert [(e["action"], e["msg_id"]) for e in entries] == [
        (action, m) for _, m in sent for action in ("request_sent", "request_delivered")
    ]
    assert {e["attempt"] for e in entries if e["action"] == "request_sent"} == {1}
    events = conn.execute("SELECT COUNT(*) FROM events WHERE event = 'delivered'").fetchone()
    assert events[0] == 5
    root_size = audit.tree(conn).size
    assert root_size == audit.size(conn)
    conn.close()


def test_an_unknown_message_fails_the_batch_and_changes_nothing(tmp_path: Path) -> None:
    conn = _conn(tmp_path / "a.db")
    vault = Vault(new_storage_key())
    sent = _send(conn, vault, 2)
    before = audit.size(conn)
    batch = [(sent[0][1], _receipt(sent[0][1])), ("never-sent-0001", b"{}")]
    with pytest.raises(NotFound):
        store_receipts(conn, me="ES-CNA", receipts=batch, now=NOW)
    assert audit.size(conn) == before
    states = conn.execute("SELECT state, length(envelope) > 0 FROM outbox").fetchall()
    assert set(states) == {("pending", 1)}
    conn.close()


def test_a_late_receipt_records_without_moving_a_rejected_request_back(tmp_path: Path) -> None:
    conn = _conn(tmp_path / "a.db")
    vault = Vault(new_storage_key())
    (request_id, msg_id), (other_id, other_msg) = _send(conn, vault, 2)
    conn.execute("UPDATE requests SET status = 'rejected' WHERE id = ?", (request_id,))
    batch = [(msg_id, _receipt(msg_id)), (other_msg, _receipt(other_msg))]
    assert store_receipts(conn, me="ES-CNA", receipts=batch, now=NOW) == 2
    status = dict(conn.execute("SELECT id, status FROM requests").fetchall())
    assert status == {request_id: "rejected", other_id: "delivered"}
    conn.close()
