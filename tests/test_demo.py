"""``exchange demo`` prepares four nodes (issue 16): the second Senegalese authority,
SN-PRD, is there so a transfer to the competent authority can be shown."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from exchange.cli.demo import prepare
from exchange.core.directory import parse_operator_key, verify_directory


def test_the_demo_has_a_second_senegalese_authority(tmp_path: Path) -> None:
    state = prepare(tmp_path, 18441)
    assert [n["authority_id"] for n in state["nodes"]] == ["ES-CNA", "MA-CNA", "SN-CNA", "SN-PRD"]
    usernames = [u["username"] for u in state["users"]]
    assert len(usernames) == len(set(usernames)) == 16
    assert "liaison-sn-prd" in usernames and "liaison-sn" in usernames
    assert "liaison-ma" in usernames  # as the README says
    directory = verify_directory(
        (tmp_path / "directory.json").read_bytes(),
        pinned_operator_keys=(parse_operator_key(state["operator_key"]),),
        now=datetime.now(UTC),
    )
    assert directory.get("SN-PRD") is not None
