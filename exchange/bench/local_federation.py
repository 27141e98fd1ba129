"""Provision a local federation for benchmarks: real keys, TLS, users, signed directory."""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..core.directory import Directory, format_operator_key, sign_directory
from ..core.keys import SigningKeyPair
from ..ops.keyfiles import tls_fingerprint
from ..ops.provision import AuthorityInfo, add_user, init_node, read_public_info


@dataclass(frozen=True)
class BenchNode:
    authority_id: str
    data: Path
    port: int
    password: str

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def fingerprint(self) -> bytes:
        return bytes.fromhex(tls_fingerprint(self.data / "keys" / "tls.crt"))


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports (all held open while choosing, so none repeats)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def provision(
    root: Path,
    ids: list[str],
    *,
    extra_config: str = "",
    users: bool = True,
    urls: dict[str, str] | None = None,
) -> list[BenchNode]:
    """``urls`` overrides the address published in the directory (e.g. a proxy's)."""
    now = datetime.now(UTC)
    operator = SigningKeyPair.generate(now - timedelta(hours=1), timedelta(days=30))
    operator_text = format_operator_key(operator.public.public)
    nodes = []
    for authority_id, port in zip(ids, free_ports(len(ids)), strict=True):
        data = root / authority_id
        info = AuthorityInfo(authority_id, f"{authority_id} authority", languages=("en", "fr"))
        init_node(
            data,
            info,
            operator_keys=[operator_text],
            listen_port=port,
            directory_source="../directory.json",
            public_url=(urls or {}).get(authority_id),
        )
        with (data / "node.toml").open("a") as handle:
            handle.write(extra_config)
        password = secrets.token_urlsafe(16)
        if users:
            add_user(data, username="investigator", password=password, role="investigator")
        nodes.append(BenchNode(authority_id, data, port, password))
    directory = Directory(1, now - timedelta(minutes=1), now + timedelta(days=1), ())
    for node in nodes:
        directory = directory.with_authority(read_public_info(node.data))
    (root / "directory.json").write_bytes(sign_directory(directory, operator))
    return nodes
