"""Provision a local federation for benchmarks: real keys, TLS, users, signed directory."""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..core.directory import Directory, format_operator_key, sign_directory
from ..core.keys import SigningKeyPair
from ..core.ports import browser_refuses
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


def listening_ports(n: int) -> list[int]:
    """``n`` distinct free ports *below* the ephemeral range, all held while choosing.

    For a federation that binds its ports long after choosing them (1,000 nodes take a
    minute to provision): a port from the ephemeral range may meanwhile become the
    source port of some process's outgoing connection, or another program's bind(0),
    and the node then fails to start (measured: "address already in use"). Never a port
    browsers refuse (6000, X11, failed a browser test in CI).
    """
    low = _ephemeral_low()
    first = max(1024, low - 30_000)
    chosen: list[socket.socket] = []
    try:
        for port in candidate_ports(first, low, first + secrets.randbelow(low - first)):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            chosen.append(s)
            if len(chosen) == n:
                return [int(c.getsockname()[1]) for c in chosen]
        raise RuntimeError(f"fewer than {n} free ports below {low}")
    finally:
        for s in chosen:
            s.close()


def candidate_ports(first: int, end: int, start: int) -> list[int]:
    """The ports of ``[first, end)`` from ``start`` round to ``start - 1``, but those
    browsers refuse."""
    return [p for p in (*range(start, end), *range(first, start)) if not browser_refuses(p)]


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def provision(
    root: Path,
    ids: list[str],
    *,
    extra_config: str = "",
    users: bool = True,
    urls: dict[str, str] | None = None,
    storage_urls: dict[str, str] | None = None,
) -> list[BenchNode]:
    """``urls`` overrides the address published in the directory (e.g. a proxy's);
    ``storage_urls`` gives a node a PostgreSQL database instead of its SQLite file."""
    operator = operator_key()
    operator_text = format_operator_key(operator.public.public)
    nodes = [
        provision_node(
            root,
            authority_id,
            port,
            operator_text,
            extra_config=extra_config,
            users=users,
            url=(urls or {}).get(authority_id),
            storage_url=(storage_urls or {}).get(authority_id),
        )
        for authority_id, port in zip(ids, free_ports(len(ids)), strict=True)
    ]
    sign_federation(root, [n.data for n in nodes], operator)
    return nodes


def operator_key() -> SigningKeyPair:
    return SigningKeyPair.generate(datetime.now(UTC) - timedelta(hours=1), timedelta(days=30))


def provision_node(
    root: Path,
    authority_id: str,
    port: int,
    operator_text: str,
    *,
    extra_config: str = "",
    users: bool = True,
    url: str | None = None,
    storage_url: str | None = None,
) -> BenchNode:
    """One node's data folder under ``root``, listening on ``port``."""
    data = root / authority_id
    info = AuthorityInfo(authority_id, f"{authority_id} authority", languages=("en", "fr"))
    init_node(
        data,
        info,
        operator_keys=[operator_text],
        listen_port=port,
        directory_source="../directory.json",
        public_url=url,
        storage_url=storage_url,
    )
    with (data / "node.toml").open("a") as handle:
        handle.write(extra_config)
    password = secrets.token_urlsafe(16)
    if users:
        add_user(data, username="investigator", password=password, role="investigator")
    return BenchNode(authority_id, data, port, password)


def sign_federation(root: Path, folders: list[Path], operator: SigningKeyPair) -> None:
    """``root/directory.json``: every node's entry, signed by ``operator`` (the
    entries sorted once, not re-sorted per entry added: O(N log N), not O(N² log N))."""
    now = datetime.now(UTC)
    entries = sorted((read_public_info(f) for f in folders), key=lambda a: a.authority_id)
    directory = Directory(1, now - timedelta(minutes=1), now + timedelta(days=1), tuple(entries))
    (root / "directory.json").write_bytes(sign_directory(directory, operator))
