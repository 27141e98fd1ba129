"""The example configuration parses, and bad settings get a clear error."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from exchange.config import ConfigError, parse_config, settings_summary
from exchange.core.directory import format_operator_key

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = tomllib.loads((ROOT / "config" / "node.example.toml").read_text())
# the example holds a placeholder for the operator key each deployment pins
EXAMPLE["directory"]["operator_keys"] = [format_operator_key(bytes(range(32)))]


def test_example_config_parses(tmp_path: Path) -> None:
    config = parse_config(EXAMPLE, data_dir=tmp_path)
    assert config.deadlines["emergency"] == timedelta(hours=8)
    assert config.escalation.due_soon_before["emergency"] == timedelta(hours=2)
    assert config.escalation.acknowledge_within["emergency"] == timedelta(minutes=30)
    assert config.escalation.webhooks == ()
    assert config.metrics_token_file is None
    assert config.evidence.unreferenced_grace == timedelta(hours=96)
    assert config.evidence.peer_quota_bytes == 2 * 20 * config.limits.max_attachment_bytes


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("escalation", {"due_soon_fraction": 1.5}, "due_soon_fraction"),
        ("escalation", {"webhooks": ["ftp://x"]}, "webhooks"),
        ("escalation", {"emergency_acknowledge_minutes": -1}, "emergency_acknowledge_minutes"),
        ("metrics", {"token_file": 7}, "token_file"),
        ("evidence", {"peer_quota_bytes": 0}, "peer_quota_bytes"),
        ("evidence", {"unreferenced_grace_hours": -1}, "unreferenced_grace_hours"),
        ("witness", {"logs": [{"origin": "exchange/ES-CNA/audit", "vkey": "x"}]}, "origin"),
        ("witness", {"logs": [{"origin": "example.com/log", "vkey": "bad"}]}, "vkey"),
        ("witness", {"logs": [{"origin": "example.com/log"}]}, "origin and vkey"),
        ("witness", {"submissions_per_minute": 0}, "submissions_per_minute"),
        ("node", {"listen_port": 6000}, "listen_port 6000 is a port web browsers refuse"),
        ("node", {"listen_port": 10080}, "ERR_UNSAFE_PORT"),
    ],
)
def test_bad_settings_are_named(
    tmp_path: Path, section: str, values: dict[str, object], message: str
) -> None:
    raw = {**EXAMPLE, section: {**EXAMPLE.get(section, {}), **values}}
    with pytest.raises(ConfigError, match=message):
        parse_config(raw, data_dir=tmp_path)


def test_witnessed_logs_parse(tmp_path: Path) -> None:
    from exchange.core.note import format_vkey, format_witness_vkey

    vkey = format_vkey("example.com/log", bytes(range(32)))
    raw = {**EXAMPLE, "witness": {"logs": [{"origin": "example.com/log", "vkey": vkey}]}}
    (log,) = parse_config(raw, data_dir=tmp_path).witness.logs
    assert (log.origin, log.vkey) == ("example.com/log", vkey)
    for bad in (
        [{"origin": "example.com/log", "vkey": format_witness_vkey("w", bytes(32))}],
        [{"origin": "example.com/log", "vkey": vkey}] * 2,
    ):
        with pytest.raises(ConfigError):
            parse_config({**EXAMPLE, "witness": {"logs": bad}}, data_dir=tmp_path)


def test_storage_url_chooses_postgresql_and_hides_its_password(tmp_path: Path) -> None:
    url = "postgresql://exchange:s3cret-pw@db.example.org:5432/exchange"
    config = parse_config({**EXAMPLE, "storage": {"url": url}}, data_dir=tmp_path)
    assert config.storage_url == url
    assert "s3cret-pw" not in repr(config)
    summary = settings_summary(config)
    assert "s3cret-pw" not in repr(summary)
    assert summary["storage_url"] == "postgresql://exchange:***@db.example.org:5432/exchange"
    # absent: SQLite, and the audited settings of existing nodes do not change
    plain = parse_config(EXAMPLE, data_dir=tmp_path)
    assert plain.storage_url is None and "storage_url" not in settings_summary(plain)


@pytest.mark.parametrize(
    "url", ["sqlite:///x.db", "mysql://u:s3cret-pw@h/db", "s3cret-pw", 7, "", "/var/lib/x"]
)
def test_other_storage_urls_are_refused_without_echoing_them(tmp_path: Path, url: object) -> None:
    with pytest.raises(ConfigError, match=r"\[storage\] url") as caught:
        parse_config({**EXAMPLE, "storage": {"url": url}}, data_dir=tmp_path)
    assert "s3cret-pw" not in str(caught.value)
