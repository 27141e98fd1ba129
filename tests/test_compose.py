"""docker-compose.yml, read as the engine would (no Docker engine runs here): every
node container runs a command the `exchange` CLI accepts, every volume and secret it
names is declared, and the highly available authority is what docs/OPERATIONS.md says:
two processes on one data volume and one PostgreSQL database, behind a balancer that
sends to exactly those two. The topology itself runs for real in `make demo` and the
multi-node tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from exchange.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]


def nodes() -> dict[str, Any]:
    return {name: s for name, s in SERVICES.items() if s.get("image") == "exchange:latest"}


def test_every_node_runs_a_command_the_cli_accepts() -> None:
    assert set(nodes()) >= {"es", "ma", "sn", "it-1", "it-2"}
    for name, service in nodes().items():
        args = build_parser().parse_args(service["command"])
        assert args.command == "node" and str(args.data) == "/data", name
        assert service["read_only"] is True and "federation" in service["networks"], name


def test_every_volume_and_secret_named_is_declared() -> None:
    for name, service in SERVICES.items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith("."):
                assert source in COMPOSE["volumes"], (name, source)
            else:
                assert (ROOT / source).exists(), (name, source)
        for secret in service.get("secrets", []):
            assert secret in COMPOSE["secrets"], (name, secret)


def test_the_ha_authority_is_two_processes_one_volume_one_database() -> None:
    one, two = SERVICES["it-1"], SERVICES["it-2"]
    assert one["volumes"] == two["volumes"] and "it-data:/data" in one["volumes"]
    assert one["depends_on"]["it-db"]["condition"] == "service_healthy"
    assert one["environment"]["PGPASSFILE"].startswith("/run/secrets/")
    db = SERVICES["it-db"]
    assert db["image"].startswith("postgres:") and int(db["image"].split(":")[1]) >= 15
    assert "--locale=C" in db["environment"]["POSTGRES_INITDB_ARGS"]
    balancer = SERVICES["it"]
    (config,) = [v.split(":")[0] for v in balancer["volumes"] if "haproxy" in v]
    text = (ROOT / config).read_text()
    assert re.search(r"^\s*mode tcp", text, re.M)  # TLS passed through: pins still hold
    servers = re.findall(r"^\s*server (\S+) (\S+):(\d+)", text, re.M)
    assert sorted((n, host, int(port)) for n, host, port in servers) == [
        ("it-1", "it-1", 8441),
        ("it-2", "it-2", 8441),
    ]
    assert "http-check send meth GET uri /v1/health" in text
