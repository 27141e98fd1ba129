"""The operator's workflow through the real ``exchange`` command, on real files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from exchange.cli import main


def _operator(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str = "operator") -> str:
    assert main(["directory", "operator-key", "--out", str(tmp_path / f"{name}.json")]) == 0
    out = capsys.readouterr().out
    return out.split("operator_keys: ")[1].strip()


def test_operator_workflow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = _operator(tmp_path, capsys)
    assert stat.S_IMODE((tmp_path / "operator.json").stat().st_mode) == 0o600
    assert "private_key" not in capsys.readouterr().out
    for authority, languages in (("ES-CNA", "es,en"), ("MA-CNA", "fr,ar")):
        assert (
            main(
                [
                    "init",
                    "--authority",
                    authority,
                    "--data",
                    str(tmp_path / authority),
                    "--operator-key",
                    key,
                    "--languages",
                    languages,
                ]
            )
            == 0
        )
    capsys.readouterr()
    draft, signed = tmp_path / "draft.json", tmp_path / "directory.json"
    entries = [str(tmp_path / a / "authority.json") for a in ("ES-CNA", "MA-CNA")]
    assert main(["directory", "add", "--draft", str(draft), *entries]) == 0
    assert "added ES-CNA" in capsys.readouterr().out
    sign = [
        "directory",
        "sign",
        "--draft",
        str(draft),
        "--key",
        str(tmp_path / "operator.json"),
        "--out",
        str(signed),
    ]
    assert main(sign) == 0
    assert "signed serial 1 with 2 entries" in capsys.readouterr().out
    first = signed.read_bytes()

    assert main(["directory", "verify", str(signed), "--operator-key", key]) == 0
    assert "OK: serial 1, 2 entries" in capsys.readouterr().out
    assert main(["directory", "search", str(signed), "--language", "fr"]) == 0
    out = capsys.readouterr().out
    assert "MA-CNA" in out and "ES-CNA" not in out

    assert main(["directory", "remove", "--draft", str(draft), "MA-CNA"]) == 0
    assert main(sign) == 0
    assert "signed serial 2 with 1 entries" in capsys.readouterr().out
    # the old document is now a rollback for a node holding serial 2
    (tmp_path / "old.json").write_bytes(first)
    assert (
        main(
            [
                "directory",
                "verify",
                str(tmp_path / "old.json"),
                "--operator-key",
                key,
                "--held-serial",
                "2",
            ]
        )
        == 1
    )
    assert "REJECTED: rollback refused" in capsys.readouterr().out


def test_verify_refuses_other_operators_and_missing_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = _operator(tmp_path, capsys)
    other = _operator(tmp_path, capsys, "other")
    draft, signed = tmp_path / "draft.json", tmp_path / "directory.json"
    sign = [
        "directory",
        "sign",
        "--draft",
        str(draft),
        "--key",
        str(tmp_path / "operator.json"),
        "--out",
        str(signed),
    ]
    assert main(sign) == 2
    assert "No such file or directory" in capsys.readouterr().err
    assert (
        main(
            ["init", "--authority", "SN-CNA", "--data", str(tmp_path / "sn"), "--operator-key", key]
        )
        == 0
    )
    assert (
        main(["directory", "add", "--draft", str(draft), str(tmp_path / "sn/authority.json")]) == 0
    )
    assert main(sign) == 0
    capsys.readouterr()
    assert main(["directory", "verify", str(signed), "--operator-key", other]) == 1
    assert "not signed by a pinned operator key" in capsys.readouterr().out
    signed.write_bytes(signed.read_bytes().replace(b"SN-CNA", b"SN-CNB"))
    assert main(["directory", "verify", str(signed), "--operator-key", key]) == 1
    assert "does not verify" in capsys.readouterr().out


def test_operator_key_is_never_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _operator(tmp_path, capsys)
    before = (tmp_path / "operator.json").read_bytes()
    assert main(["directory", "operator-key", "--out", str(tmp_path / "operator.json")]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert (tmp_path / "operator.json").read_bytes() == before


def test_draft_with_bad_entry_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "authority.json"
    bad.write_text(json.dumps({"authority_id": "ES-CNA"}))
    assert main(["directory", "add", "--draft", str(tmp_path / "d.json"), str(bad)]) == 2
    assert "authority entry lacks" in capsys.readouterr().err
    assert not (tmp_path / "d.json").exists()
