"""A hostile operator (or a stolen operator key) signs two documents with one serial,
to show different nodes different directories. A node that sees the second keeps
the first, stores both as proof, audits it and raises an alert, once per document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from exchange.core.audit_entry import decode_entry
from exchange.core.canonical import sha256_hex
from exchange.core.directory import sign_directory

from ..federation import ApiClient, Federation


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA", "SN-CNA"])
    await fed.start("ES-CNA")
    yield fed
    await fed.stop()


async def equivocation_entries(fed: Federation) -> list[dict[str, Any]]:
    rows = await fed["ES-CNA"].node.db.run(
        lambda c: c.execute("SELECT entry FROM audit_entries ORDER BY idx").fetchall()
    )
    entries = [decode_entry(bytes(r[0])) for r in rows]
    return [e for e in entries if e["action"] == "directory_equivocation"]


async def test_same_serial_other_bytes_keeps_the_first_and_raises_one_alert_per_document(
    fed: Federation,
) -> None:
    holder = fed["ES-CNA"].node.directory
    first = fed.publish()
    assert await holder.update(first)
    serial = holder.require().serial
    # the same serial, without SN-CNA (e.g. shown to SN's peers to cut it off)
    other = sign_directory(fed.directory().without_authority("SN-CNA"), fed.operator)
    longer = sign_directory(fed.directory(valid=timedelta(days=60)), fed.operator)

    assert not await holder.update(other)
    assert not await holder.update(other)  # seen again: no second alert
    assert not await holder.update(longer)
    assert holder.require().serial == serial
    assert holder.require().get("SN-CNA") is not None  # the first is kept
    assert not await holder.update(first)  # the very same document is no alert

    rows = await fed["ES-CNA"].node.db.run(
        lambda c: c.execute(
            "SELECT serial, held_document, seen_document FROM directory_alerts ORDER BY id"
        ).fetchall()
    )
    assert [(r[0], bytes(r[1]), bytes(r[2])) for r in rows] == [
        (serial, first, other),
        (serial, first, longer),
    ]
    audited = await equivocation_entries(fed)
    assert [(e["serial"], e["held_sha256"], e["seen_sha256"]) for e in audited] == [
        (serial, sha256_hex(first), sha256_hex(other)),
        (serial, sha256_hex(first), sha256_hex(longer)),
    ]

    # the proof survives a restart, and the first document stays in force
    await fed.stop("ES-CNA")
    (fed.root / "directory.json").write_bytes(other)
    await fed.start("ES-CNA")
    assert fed["ES-CNA"].node.directory.require().get("SN-CNA") is not None
    assert len(await equivocation_entries(fed)) == 2

    # shown to the admin, counted in /metrics
    admin = await ApiClient(fed["ES-CNA"]).login("admin")
    _, page = await admin.call("GET", "/admin")
    assert "Equivocation alerts" in page.decode()
    assert sha256_hex(other)[:16] in page.decode()
    _, metrics = await admin.call("GET", "/metrics")
    assert "exchange_directory_equivocations 2.0" in metrics.decode().splitlines()
    await admin.close()
