"""`exchange audit verify` trusts the witnesses, not the node it checks.

An insider with write access to the database (and, in the second test, the audit key
in keys/audit-log.json too) hides what the log recorded: cutting its tail together
with the checkpoint and cosignature rows above the cut, or rewriting an entry and
re-signing the whole tree. The node's own rows then agree with each other; the views
its peer witnesses cosigned do not, and verify fails naming the witness, the size, the
root and the time it saw."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from exchange.cli import main
from exchange.core.merkle import leaf_hash, root
from exchange.core.witness import sign_checkpoint
from exchange.ops.keyfiles import load_or_create_audit_key
from exchange.store import audit, checkpoints
from exchange.web.appkeys import WITNESS_SUBMIT_KEY

from ..federation import ApiClient, Federation, Member
from ..storage import node_database, raw_connection

IDS = ["ES-CNA", "MA-CNA", "SN-CNA"]


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, IDS)
    await fed.start()
    yield fed
    await fed.stop()


async def grow(member: Member, n: int) -> None:
    pin = aiohttp.Fingerprint(bytes.fromhex(member.fingerprint))
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            body = {"username": "nobody", "password": "wrong"}
            async with session.post(member.url + "/api/login", json=body, ssl=pin):
                pass


async def witnessed(fed: Federation) -> int:
    """ES's log, witnessed by MA (pull) and SN (ES pushes to POST /add-checkpoint)."""
    es = fed["ES-CNA"]
    await grow(es, 6)
    size = (await es.checkpoint()).size
    await fed["MA-CNA"].witness_round()
    assert es.running is not None
    assert (await es.running.app[WITNESS_SUBMIT_KEY].submit_all())["SN-CNA"] == size
    return size


async def verify(capsys: pytest.CaptureFixture[str], data: Path, *flags: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["audit", "verify", "--data", str(data), "--json", *flags])
    return code, json.loads(capsys.readouterr().out)


def messages(report: dict) -> str:  # type: ignore[type-arg]
    return "\n".join(p["message"] for p in report["problems"])


def truncate(data: Path, keep: int) -> None:
    """The insider's cut: entries, tree nodes, checkpoints and cosignatures above it."""
    conn = raw_connection(data)
    with conn:
        conn.execute("DELETE FROM audit_entries WHERE idx >= ?", (keep,))
        conn.execute("DELETE FROM audit_cosignatures WHERE size > ?", (keep,))
        conn.execute("DELETE FROM audit_checkpoints WHERE size > ?", (keep,))
        for level in range(64):
            conn.execute("DELETE FROM audit_nodes WHERE level = ? AND ((idx + 1) << ?) > ?",
                         (level, level, keep))  # fmt: skip
    conn.close()


def rewrite_and_resign(data: Path, index: int) -> None:
    """The insider with keys/audit-log.json: an entry changed, the tree rebuilt from the
    entries, every checkpoint and cosignature replaced by one new signed checkpoint."""
    conn = raw_connection(data)
    (entry,) = conn.execute("SELECT entry FROM audit_entries WHERE idx = ?", (index,)).fetchone()
    changed = bytes(entry).replace(b"ES-CNA", b"ES-CNB")
    with conn:
        conn.execute("UPDATE audit_entries SET entry = ? WHERE idx = ?", (changed, index))
        conn.execute("UPDATE audit_nodes SET hash = ? WHERE level = 0 AND idx = ?",
                     (leaf_hash(changed), index))  # fmt: skip
        conn.execute("DELETE FROM audit_nodes WHERE level > 0")
        conn.execute("DELETE FROM audit_cosignatures")
        conn.execute("DELETE FROM audit_checkpoints")
    conn.close()
    key = load_or_create_audit_key(data / "keys")
    db = node_database(data)

    def resign(c: sqlite3.Connection) -> None:
        while audit.extend_tree(c, 1024):
            pass
        size = audit.size(c)
        tree_root = root(audit.tree(c), size)
        note = sign_checkpoint("ES-CNA", size, tree_root, key)
        checkpoints.save(c, size=size, root=tree_root, note=note, now=datetime.now(UTC))

    db.run_sync(resign)
    db.close()


async def test_a_truncated_log_fails_against_the_witnesses_views(
    fed: Federation, capsys: pytest.CaptureFixture[str]
) -> None:
    size = await witnessed(fed)
    es = fed["ES-CNA"]
    auditor = await ApiClient(es).login("auditor")
    status, bundle = await auditor.call("GET", "/api/audit/bundle")
    await auditor.close()
    assert status == 200 and {v["witness"] for v in bundle["witness_views"]} == {"MA-CNA", "SN-CNA"}
    bundle_file = es.data.parent / "bundle.json"
    bundle_file.write_text(json.dumps(bundle))
    await fed.stop("ES-CNA")

    code, report = await verify(capsys, es.data)
    assert code == 0 and report["witness_views"] == 2, report

    truncate(es.data, size - 3)
    assert main(["audit", "verify", "--data", str(es.data), "--offline"]) == 0  # self-consistent
    code, report = await verify(capsys, es.data)
    assert code == 1
    for witness in ("MA-CNA", "SN-CNA"):
        assert f"witness {witness} cosigned size {size}" in messages(report)
    assert f"but the log holds {size - 3} entries: it was truncated" in messages(report)
    # the same from the views the bundle carried, with no network at all
    await fed.stop()
    code, report = await verify(capsys, es.data, "--witness-views", str(bundle_file))
    assert code == 1 and "witness MA-CNA cosigned size" in messages(report)


async def test_a_rewritten_and_resigned_log_fails_against_the_witnesses_views(
    fed: Federation, capsys: pytest.CaptureFixture[str]
) -> None:
    size = await witnessed(fed)
    es = fed["ES-CNA"]
    await fed.stop("ES-CNA")
    rewrite_and_resign(es.data, size - 2)
    assert main(["audit", "verify", "--data", str(es.data), "--offline"]) == 0  # self-consistent
    code, report = await verify(capsys, es.data)
    assert code == 1
    for witness in ("MA-CNA", "SN-CNA"):
        assert f"witness {witness} cosigned size {size} with root" in messages(report)
    assert "the log was rewritten or forked" in messages(report)


async def test_unreachable_witnesses_are_reported_and_none_fails_closed(
    fed: Federation, capsys: pytest.CaptureFixture[str]
) -> None:
    await witnessed(fed)
    data = fed["ES-CNA"].data
    await fed.stop("ES-CNA")
    await fed.stop("SN-CNA")
    code, report = await verify(capsys, data)
    assert code == 0 and report["witness_views"] == 1
    assert any(n.startswith("witness SN-CNA could not be reached (") for n in report["notes"])
    assert any(n.startswith("witness MA-CNA cosigned size ") for n in report["notes"])
    await fed.stop()
    code, report = await verify(capsys, data)
    assert code == 1 and "no witness could be reached" in messages(report)
    code, report = await verify(capsys, data, "--offline")
    assert code == 0 and report["witness_views"] == 0
    assert any("not checked against the witnesses" in n for n in report["notes"])
