"""The operator tool never signs two documents with one serial: not into a new
``--out`` file, not from an old draft; its state file, next to the key, only grows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exchange.cli import main
from exchange.core.clock import SystemClock
from exchange.core.directory import parse_operator_key, verify_directory


def _setup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, Path]:
    assert main(["directory", "operator-key", "--out", str(tmp_path / "operator.json")]) == 0
    key = capsys.readouterr().out.split("operator_keys: ")[1].strip()
    data = tmp_path / "ES-CNA"
    assert main(["init", "--authority", "ES-CNA", "--data", str(data), "--operator-key", key]) == 0
    draft = tmp_path / "draft.json"
    assert main(["directory", "add", "--draft", str(draft), str(data / "authority.json")]) == 0
    capsys.readouterr()
    return key, draft


def _sign(tmp_path: Path, draft: Path, out: str) -> int:
    key = str(tmp_path / "operator.json")
    return main(["directory", "sign", "--draft", str(draft), "--key", key, "--out", out])


def _serial(path: Path, key: str) -> int:
    pinned = (parse_operator_key(key),)
    return verify_directory(
        path.read_bytes(), pinned_operator_keys=pinned, now=SystemClock().now()
    ).serial


def test_signing_into_a_new_file_or_from_an_old_draft_never_reuses_a_serial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, draft = _setup(tmp_path, capsys)
    old_draft = draft.read_text()
    assert _sign(tmp_path, draft, str(tmp_path / "a.json")) == 0
    assert _sign(tmp_path, draft, str(tmp_path / "b.json")) == 0  # a new --out file
    draft.write_text(old_draft)  # an old copy of the draft
    assert _sign(tmp_path, draft, str(tmp_path / "c.json")) == 0
    serials = [_serial(tmp_path / name, key) for name in ("a.json", "b.json", "c.json")]
    assert serials == [1, 2, 3]
    state = json.loads((tmp_path / "operator.state.json").read_text())
    assert state["last_serial"] == 3


def test_an_unreadable_state_file_stops_the_tool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, draft = _setup(tmp_path, capsys)
    assert _sign(tmp_path, draft, str(tmp_path / "a.json")) == 0
    (tmp_path / "operator.state.json").write_text("{not json")
    assert _sign(tmp_path, draft, str(tmp_path / "b.json")) != 0
    assert not (tmp_path / "b.json").exists()
    assert "unreadable" in capsys.readouterr().err
