"""Restoring a backup cannot quietly roll the audit log back.

A backup older than what the peer witnesses cosigned would make the node's log shorter
than the views they hold; every entry it appends afterwards forks from them. `exchange
restore` checks the backup against the witnesses, as `audit verify` does, and
refuses (naming the witness and the size it holds) unless the operator passes
`--accept-rollback`, knowing the witnesses will report it. Nothing is replaced by a
refused restore."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exchange.cli import main
from exchange.ops.backup import backup

from ..federation import Federation
from ..storage import sqlite_backup
from .test_witnessed_verify import IDS, witnessed

pytestmark = sqlite_backup


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, IDS)
    await fed.start()
    yield fed
    await fed.stop()


def _log_size(data: Path) -> int:
    return _log_size_of(data / "exchange.db")


async def _restore(data: Path, old: Path, *flags: str) -> int:
    argv = ["restore", "--data", str(data), "--backup", str(old), "--force", *flags]
    return await asyncio.to_thread(main, argv)


async def test_a_backup_behind_the_witnesses_is_restored_only_when_the_rollback_is_accepted(
    fed: Federation, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    es = fed["ES-CNA"]
    old = tmp_path / "old.db"
    await asyncio.to_thread(backup, es.data, old)
    held = await witnessed(fed)  # the log grows past the backup; MA and SN cosign it
    await fed.stop("ES-CNA")  # the witnesses keep running
    size = _log_size(es.data)
    assert size >= held > _log_size_of(old)

    capsys.readouterr()
    assert await _restore(es.data, old) == 2
    err = capsys.readouterr().err
    assert "older than what the witnesses hold" in err and "--accept-rollback" in err
    assert f"cosigned size {held}" in err and ("MA-CNA" in err or "SN-CNA" in err)
    assert _log_size(es.data) == size  # nothing replaced

    assert await _restore(es.data, old, "--accept-rollback") == 0
    out = capsys.readouterr().out
    assert "ROLLED BACK: witness" in out and f"cosigned size {held}" in out
    assert _log_size(es.data) == _log_size_of(old)


async def test_a_backup_the_witnesses_agree_with_is_restored_and_offline_says_so(
    fed: Federation, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    es = fed["ES-CNA"]
    held = await witnessed(fed)
    current = tmp_path / "current.db"
    await asyncio.to_thread(backup, es.data, current)
    await fed.stop("ES-CNA")
    capsys.readouterr()
    assert await _restore(es.data, current) == 0
    out = capsys.readouterr().out
    assert "ROLLED BACK" not in out and "witness views checked" in out
    assert _log_size_of(current) >= held
    # without asking the witnesses, the output says the check was not done
    assert await _restore(es.data, current, "--offline") == 0
    assert "NOTE: the log was not checked against the witnesses' views" in capsys.readouterr().out


def _log_size_of(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM audit_entries").fetchone()[0])
    finally:
        conn.close()
