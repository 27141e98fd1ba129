"""Witness alerts reach everyone (issue 15, item 2): a witness that catches a log
rewriting its history signs an alert statement and sends it to the watched node and
to every other peer (``POST /v1/witness/alerts``), which verify it and show it on the
audit page and in /metrics. A forged alert (a bad signature, a key or issuer the
directory does not give, evidence the watched log never signed, evidence that shows
nothing) is refused with its code and stored nowhere."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from exchange.core.keys import SigningKeyPair
from exchange.core.witness import sign_checkpoint
from exchange.core.witness_alert import AlertStatement, issue_alert, parse_alert, verify_alert
from exchange.ops.keyfiles import load_or_create_audit_key
from exchange.store import audit

from ..federation import ApiClient, Federation, peer_post, wait_until
from ..node.test_audit import _rewrite_history, _round, _send

IDS = ["ES-CNA", "MA-CNA", "SN-CNA"]
PATH = "/v1/witness/alerts"


@pytest.fixture
async def fed3(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, IDS)
    await fed.start()
    yield fed
    await fed.stop()


async def _received(fed: Federation, at: str) -> list[tuple[str, str, str]]:
    rows = await fed[at].node.db.run(
        lambda c: c.execute(
            "SELECT issuer, peer, kind FROM witness_alerts_received ORDER BY id"
        ).fetchall()
    )
    return [tuple(r) for r in rows]


async def test_the_watched_node_and_a_third_node_receive_and_show_the_alert(
    fed3: Federation,
) -> None:
    await _send(fed3)
    await _round(fed3)
    size = await fed3["MA-CNA"].node.db.run(audit.size)
    await fed3.stop("MA-CNA")
    _rewrite_history(fed3["MA-CNA"].data, keep=size // 2, extra=0)
    await fed3.start("MA-CNA")
    await fed3["MA-CNA"].checkpoint()
    assert (await fed3["ES-CNA"].witness_round())["MA-CNA"].verdict == "shrunk"

    for node in ("MA-CNA", "SN-CNA"):  # the watched node, and a third one
        got = await wait_until(lambda n=node: _received(fed3, n), what=f"alert at {node}")
        assert got == [("ES-CNA", "MA-CNA", "shrunk")]
        auditor = await ApiClient(fed3[node]).login("auditor")
        admin = await ApiClient(fed3[node]).login("admin")
        try:
            status, page = await auditor.call("GET", "/audit")
            assert status == 200
            html = page.decode()
            assert "received-alert" in html and "ES-CNA" in html and "shrunk" in html
            status, entries = await auditor.call("GET", "/api/audit/entries?start=0&end=1000")
            actions = [e["entry"]["action"] for e in entries["entries"]]
            assert "witness_alert_received" in actions
            status, metrics = await admin.call("GET", "/metrics")
            assert status == 200
            wanted = 'exchange_witness_alerts_received{kind="shrunk",peer="MA-CNA"} 1.0'
            assert wanted in metrics.decode()
            # ... and the auditor's API and bundle: the statement as received, which
            # verifies elsewhere under the issuer's key from the directory
            status, listed = await auditor.call("GET", "/api/audit/received-alerts")
            assert status == 200 and listed["next"] is None
            assert [(a["issuer"], a["peer"], a["kind"]) for a in listed["alerts"]] == got
            status, bundle = await auditor.call("GET", "/api/audit/bundle")
            assert status == 200
            (kept,) = bundle["received_witness_alerts"]
            statement = parse_alert(kept["statement"].encode())
            verify_alert(statement, directory=fed3[node].node.directory.require())
            assert (statement.issuer, statement.peer, statement.kind) == got[0]
        finally:
            await auditor.close()
            await admin.close()
    # sent once: another round sends nothing again, and a resend is not kept twice
    await fed3["ES-CNA"].witness_round()
    assert len(await _received(fed3, "SN-CNA")) == 1


def _statement(fed: Federation, **changes: object) -> AlertStatement:
    """A shrunk alert by SN-CNA about MA-CNA, with notes signed by MA's log key."""
    ma_log = load_or_create_audit_key(fed["MA-CNA"].data / "keys")
    root = os.urandom(32)
    fields: dict[str, object] = {
        "issuer": "SN-CNA",
        "peer": "MA-CNA",
        "kind": "shrunk",
        "detail": "log shrank from 20 to 12 entries",
        "previous": sign_checkpoint("MA-CNA", 20, root, ma_log),
        "presented": sign_checkpoint("MA-CNA", 12, os.urandom(32), ma_log),
        "issued_at": fed.clock.now(),
        "key": fed["SN-CNA"].node.keys.current_signing(fed.clock.now()),
    }
    fields.update(changes)
    return issue_alert(**fields)  # type: ignore[arg-type]


async def test_a_true_alert_from_a_peer_witness_is_accepted(fed3: Federation) -> None:
    status, body = await peer_post(fed3, "SN-CNA", "ES-CNA", PATH, _statement(fed3).to_bytes())
    assert status == 200 and body["recorded"] is True, body
    assert await _received(fed3, "ES-CNA") == [("SN-CNA", "MA-CNA", "shrunk")]


async def test_forged_alerts_are_refused_and_stored_nowhere(fed3: Federation) -> None:
    stranger = SigningKeyPair.generate(fed3.clock.now() - timedelta(hours=1), timedelta(days=1))
    good = _statement(fed3)
    flipped = replace(good, signature=bytes([good.signature[0] ^ 1]) + good.signature[1:])
    cases = [
        ("bad signature", flipped, 403, "bad_signature"),
        ("a key the directory does not give", _statement(fed3, key=stranger), 403,
         "unknown_sender"),
        ("another issuer's name", _statement(fed3, issuer="ES-CNA"), 403, "wrong_party"),
        ("notes the log never signed", _statement(
            fed3, previous=sign_checkpoint("MA-CNA", 20, os.urandom(32), stranger)), 422,
         "bad_evidence"),
        ("notes that show no shrink", _statement(
            fed3, presented=_statement(fed3).previous, previous=_statement(fed3).presented),
         422, "bad_evidence"),
        ("a log with no key", _statement(fed3, peer="XX-CNA"), 422, "bad_evidence"),
    ]  # fmt: skip
    for what, statement, status_wanted, code in cases:
        status, body = await peer_post(fed3, "SN-CNA", "ES-CNA", PATH, statement.to_bytes())
        assert (status, body["error"]["code"]) == (status_wanted, code), what
    status, body = await peer_post(fed3, "SN-CNA", "ES-CNA", PATH, b'{"alert": 1}')
    assert status == 400 and body["error"]["code"] == "malformed"
    assert await _received(fed3, "ES-CNA") == []
