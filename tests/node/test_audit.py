"""The audit log across real nodes: checkpoints, witnessing and cosigning by
peers, fork and shrink detection, the auditor's API and `exchange audit verify`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exchange.cli import main
from exchange.core.canonical import b64d
from exchange.core.merkle import leaf_hash, verify_inclusion
from exchange.core.note import parse_checkpoint, parse_note
from exchange.store import audit
from exchange.store.db import transaction

from ..federation import ApiClient, Federation, wait_until
from ..storage import node_database, raw_connection

REQUEST = {"to": "MA-CNA", "kind": "information_request", "urgency": "urgent",
           "subject": "Vessel", "body": "Secret body text 7781", "language": "fr"}  # fmt: skip
IDS = ["ES-CNA", "MA-CNA", "SN-CNA"]


@pytest.fixture
async def fed3(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, IDS)
    await fed.start()
    yield fed
    await fed.stop()


async def _send(fed: Federation, n: int = 2) -> None:
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        for _ in range(n):
            status, body = await es.call("POST", "/api/requests", REQUEST)
            assert status == 201, body
        await wait_until(
            lambda: fed["ES-CNA"].node.db.run(
                lambda c: c.execute(
                    "SELECT COUNT(*) = 0 FROM requests WHERE delivered_at IS NULL"
                ).fetchone()[0]
            ),
            what="deliveries",
        )
    finally:
        await es.close()


async def _round(fed: Federation) -> dict[str, dict[str, str]]:
    for member in fed.members.values():
        await member.checkpoint()
    return {
        a: {p: j.verdict for p, j in (await fed[a].witness_round()).items()} for a in fed.members
    }


async def test_peers_witness_and_cosign_each_other(fed3: Federation) -> None:
    await _send(fed3)
    first = await _round(fed3)
    assert first == {a: {p: "advance" for p in IDS if p != a} for a in IDS}
    await _send(fed3, 1)  # both logs grow: the witnesses check consistency proofs
    second = await _round(fed3)
    assert second["MA-CNA"]["ES-CNA"] == "advance" and second["SN-CNA"]["ES-CNA"] == "advance"
    assert second["ES-CNA"]["SN-CNA"] == "same"

    auditor = await ApiClient(fed3["ES-CNA"]).login("auditor")
    try:
        status, body = await auditor.call("GET", "/api/audit/checkpoint")
        assert status == 200, body
        assert body["latest"]["size"] >= body["cosigned"]["size"]
        body = body["cosigned"]
        assert {c["witness"] for c in body["cosignatures"]} == {
            "exchange/MA-CNA/witness", "exchange/SN-CNA/witness"
        }  # fmt: skip
        note = parse_note(body["note"])
        assert len(note.signatures) == 3  # the log's own and two cosignatures
        checkpoint = parse_checkpoint(note.text)

        status, entries = await auditor.call(
            "GET", f"/api/audit/entries?start=0&end={checkpoint.size}"
        )
        assert status == 200 and len(entries["entries"]) == checkpoint.size
        actions = [e["entry"]["action"] for e in entries["entries"]]
        assert {"request_created", "request_delivered", "login_succeeded"} <= set(actions)
        assert b"Secret body" not in json.dumps(entries).encode()  # metadata only
        for item in entries["entries"][:: max(1, checkpoint.size // 5)]:
            status, proof = await auditor.call(
                "GET", f"/api/audit/proof?index={item['index']}&size={checkpoint.size}"
            )
            assert status == 200, proof
            verify_inclusion(leaf_hash(b64d(item["leaf"])), item["index"], checkpoint.size,
                             [b64d(h) for h in proof["proof"]], checkpoint.root)  # fmt: skip

        status, report = await auditor.call("POST", "/api/audit/verify")
        assert status == 200 and report["ok"], report
        assert report["cosignatures"] >= 2
        for bad in ("/api/audit/proof?index=5&size=2", "/api/audit/entries?start=0&end=5000",
                    "/api/audit/proof?index=-1&size=2", "/api/audit/entries?start=x"):  # fmt: skip
            status, body = await auditor.call("GET", bad)
            assert status in (400, 413) and body["error"]["code"] in ("malformed", "too_large")
    finally:
        await auditor.close()

    investigator = await ApiClient(fed3["ES-CNA"]).login("investigator")
    try:
        status, body = await investigator.call("GET", "/api/audit/entries")
        assert status == 403 and body["error"]["code"] == "forbidden"
    finally:
        await investigator.close()


async def test_peer_audit_endpoints_require_peer_authentication(fed3: Federation) -> None:
    client = ApiClient(fed3["MA-CNA"])
    try:
        for path in ("/v1/audit/checkpoint", "/v1/audit/consistency?from=0&to=1"):
            status, body = await client.call("GET", path)
            assert status == 401 and body["error"]["code"] == "unauthorized"
    finally:
        await client.close()


def _rewrite_history(data: Path, keep: int, extra: int) -> None:
    """What a dishonest node does: cut its log after ``keep`` entries and write others."""
    conn = raw_connection(data)
    with conn:
        conn.execute("DELETE FROM audit_entries WHERE idx >= ?", (keep,))
        conn.execute("DELETE FROM audit_cosignatures")
        conn.execute("DELETE FROM audit_checkpoints")
        for level in range(64):
            conn.execute("DELETE FROM audit_nodes WHERE level = ? AND ((idx + 1) << ?) > ?",
                         (level, level, keep))  # fmt: skip
    conn.close()
    if extra:
        db = node_database(data)
        from datetime import UTC, datetime

        def write(c: sqlite3.Connection) -> None:
            with transaction(c):
                for i in range(extra):
                    audit.append(c, at=datetime.now(UTC), authority="MA-CNA",
                                 action="settings_changed", actor=f"rogue-{i}")  # fmt: skip

        db.run_sync(write)
        db.close()


@pytest.mark.parametrize(("extra", "verdict"), [(0, "shrunk"), (40, "fork")])
async def test_a_peer_rewriting_its_history_is_caught(
    fed3: Federation, extra: int, verdict: str
) -> None:
    await _send(fed3)
    await _round(fed3)
    size = await fed3["MA-CNA"].node.db.run(audit.size)
    await fed3.stop("MA-CNA")
    _rewrite_history(fed3["MA-CNA"].data, keep=size // 2, extra=extra)
    await fed3.start("MA-CNA")
    await fed3["MA-CNA"].checkpoint()
    verdicts = await fed3["ES-CNA"].witness_round()
    assert verdicts["MA-CNA"].verdict == verdict

    auditor = await ApiClient(fed3["ES-CNA"]).login("auditor")
    try:
        status, body = await auditor.call("GET", "/api/audit/alerts")
        assert status == 200
        alert = body["alerts"][0]
        assert alert["peer"] == "MA-CNA" and alert["kind"] == verdict
        assert alert["evidence"]["previous"] and alert["evidence"]["presented"]
        status, entries = await auditor.call("GET", "/api/audit/entries?start=0&end=1000")
        assert any(e["entry"]["action"] == "witness_alert" for e in entries["entries"])
    finally:
        await auditor.close()
    # the witness keeps the view it verified, and reports once, not every round
    await fed3["ES-CNA"].witness_round()
    alerts = await fed3["ES-CNA"].node.db.run(
        lambda c: c.execute("SELECT COUNT(*) FROM witness_alerts").fetchone()[0]
    )
    assert alerts == 1


async def test_audit_verify_command_on_a_real_node(
    fed3: Federation, capsys: pytest.CaptureFixture[str]
) -> None:
    await _send(fed3, 3)
    await _round(fed3)
    await _round(fed3)
    data = fed3["ES-CNA"].data
    await fed3.stop()

    assert main(["audit", "verify", "--data", str(data), "--offline", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["entries"] > 5 and report["cosignatures"] >= 2

    conn = raw_connection(data)
    _, entry = conn.execute("SELECT idx, entry FROM audit_entries WHERE idx = 3").fetchone()
    with conn:
        conn.execute("UPDATE audit_entries SET entry = ? WHERE idx = 3",
                     (bytes(entry).replace(b"ES-CNA", b"ES-CNB"),))  # fmt: skip
    assert main(["audit", "verify", "--data", str(data), "--offline"]) == 1
    assert "FAIL: entry 3 was changed" in capsys.readouterr().out
    with conn:
        conn.execute("UPDATE audit_entries SET entry = ? WHERE idx = 3", (entry,))
        last = conn.execute("SELECT MAX(idx) FROM audit_entries").fetchone()[0]
        conn.execute("DELETE FROM audit_entries WHERE idx = ?", (last,))
    assert main(["audit", "verify", "--data", str(data), "--offline"]) == 1
    assert "FAIL: log truncated" in capsys.readouterr().out
    conn.close()
