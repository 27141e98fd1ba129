"""Editing node.toml between two starts is recorded in the audit log, once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..federation import Federation


async def _settings_entries(fed: Federation) -> list[dict[str, Any]]:
    def read(c: Any) -> list[dict[str, Any]]:
        rows = c.execute("SELECT entry FROM audit_entries ORDER BY idx").fetchall()
        entries = [json.loads(bytes(r[0])) for r in rows]
        return [e for e in entries if e["action"] == "settings_changed"]

    return await fed["ES-CNA"].node.db.run(read)


async def test_settings_change_is_audited(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA"], users=False)
    try:
        await fed.start()
        assert await _settings_entries(fed) == []  # the first start sets the baseline
        await fed.stop()
        await fed.start()
        assert await _settings_entries(fed) == []  # same settings: nothing to record
        await fed.stop()

        toml = fed["ES-CNA"].data / "node.toml"
        toml.write_text(toml.read_text() + "\n[escalation]\ndue_soon_fraction = 0.5\n")
        await fed.start()
        entries = await _settings_entries(fed)
        assert len(entries) == 1
        assert entries[0]["sections"] == ["escalation"]
        assert entries[0]["actor"] == "local_admin"
        assert len(entries[0]["settings_sha256"]) == 64
    finally:
        await fed.stop()
