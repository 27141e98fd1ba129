"""``exchange demo``: a working four-node federation on loopback, with TLS.

Spain, Morocco and Senegal (``ES-CNA``, ``MA-CNA``, ``SN-CNA``), as in the
joint investigations on the Western Mediterranean route, and a second Senegalese
authority, the public prosecutor's office in Dakar (``SN-PRD``), to which the
central authority can transfer a request. Everything is generated on first run
under the data folder and reused afterwards (a folder made before SN-PRD gains it).
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from pathlib import Path

from ..config import load_config
from ..core.canonical import JsonObject
from ..core.clock import SystemClock
from ..core.directory import Directory, format_operator_key, sign_directory
from ..core.keys import SigningKeyPair
from ..core.roles import ALL as ALL_ROLES
from ..logs import configure_logging
from ..ops.keyfiles import create_operator_key, load_operator_key, write_private
from ..ops.provision import AuthorityInfo, add_user, init_node, read_public_info, write_public_info
from ..runloop import run as run_loop

AUTHORITIES = (
    AuthorityInfo(
        "ES-CNA",
        "Spain — Central Unit against Illegal Immigration Networks (UCRIF)",
        "police",
        ("es", "en", "fr"),
        "Requests for coercive measures need a judicial order.",
        "24/7 duty desk; emergency requests are answered within 8 hours.",
        8,
        "Mon-Sun 00:00-24:00",
        "Europe/Madrid",
    ),
    AuthorityInfo(
        "MA-CNA",
        "Morocco — Directorate of Criminal Affairs and Pardons, Ministry of Justice",
        "central_authority",
        ("ar", "fr", "en"),
        "Formal MLA requests go through the central authority; bank data needs a court order.",
        "Call the duty magistrate; confirm through Exchange.",
        24,
        "Mon-Fri 08:30-16:30",
        "Africa/Casablanca",
    ),
    AuthorityInfo(
        "SN-CNA",
        "Senegal — Directorate of Criminal Affairs and Pardons, Ministry of Justice",
        "central_authority",
        ("fr", "en"),
        "Requests must state the offence and legal basis.",
        "Call the duty prosecutor's office; confirm through Exchange.",
        24,
        "Mon-Fri 08:00-17:00",
        "Africa/Dakar",
    ),
    AuthorityInfo(
        "SN-PRD",
        "Senegal — Public Prosecutor's Office at the Dakar High Court",
        "prosecution",
        ("fr", "en"),
        "Competent for investigations in Dakar; requests may also come through SN-CNA.",
        "Call the duty prosecutor; confirm through Exchange.",
        24,
        "Mon-Fri 08:00-17:00",
        "Africa/Dakar",
    ),
)


def prepare(data: Path, port_base: int) -> JsonObject:
    """Create or refresh the demo federation's files; return the contents of demo.json."""
    clock = SystemClock()
    now = clock.now()
    data.mkdir(parents=True, exist_ok=True)
    operator = _operator_key(data)
    operator_text = format_operator_key(operator.public.public)
    state_path = data / "demo.json"
    previous = json.loads(state_path.read_text()) if state_path.exists() else {}
    nodes, users = [], list(previous.get("users", []))
    directory = Directory(
        serial=int(previous.get("serial", 0)) + 1,
        issued_at=now,
        expires_at=now + timedelta(days=30),
        authorities=(),
    )
    for offset, info in enumerate(AUTHORITIES):
        folder = data / info.authority_id
        port = port_base + offset
        url = f"https://127.0.0.1:{port}"
        if not (folder / "node.toml").exists():
            init_node(
                folder,
                info,
                operator_keys=[operator_text],
                listen_port=port,
                directory_source="../directory.json",
            )
        _set_port(folder / "node.toml", port)
        write_public_info(folder, info, url=url, now=now)
        directory = directory.with_authority(read_public_info(folder))
        nodes.append({"authority_id": info.authority_id, "url": url})
        for role in ALL_ROLES:
            username = f"{role}-{_user_tag(info.authority_id)}"
            if any(
                u["authority_id"] == info.authority_id and u["username"] == username for u in users
            ):
                continue
            password = secrets.token_urlsafe(12)
            add_user(folder, username=username, password=password, role=role)
            users.append(
                {
                    "authority_id": info.authority_id,
                    "username": username,
                    "password": password,
                    "role": role,
                }
            )
    (data / "directory.json").write_bytes(sign_directory(directory, operator))
    state = {
        "nodes": nodes,
        "users": users,
        "operator_key": operator_text,
        "serial": directory.serial,
    }
    write_private(state_path, (json.dumps(state, indent=2) + "\n").encode())
    return state


def _user_tag(authority_id: str) -> str:
    """``liaison-ma`` for a country's central authority, ``liaison-sn-prd`` for another."""
    country, _, unit = authority_id.lower().partition("-")
    return country if unit == "cna" else f"{country}-{unit}"


def _operator_key(data: Path) -> SigningKeyPair:
    path = data / "operator.json"
    return load_operator_key(path) if path.exists() else create_operator_key(path)


def _set_port(config_path: Path, port: int) -> None:
    lines = config_path.read_text().splitlines()
    lines = [f"listen_port = {port}" if ln.startswith("listen_port =") else ln for ln in lines]
    config_path.write_text("\n".join(lines) + "\n")


def run_demo(data: Path, port_base: int) -> int:
    configure_logging("console")
    state = prepare(data, port_base)
    print("\nExchange demo federation (TLS on loopback; certificates are self-signed and pinned)\n")
    for node in state["nodes"]:
        print(f"  {node['authority_id']}: {node['url']}/")
    print("\nUsers (also in", data / "demo.json", "):")
    for user in state["users"]:
        print(
            f"  {user['authority_id']}  {user['role']:<12} {user['username']:<18}"
            f" {user['password']}"
        )
    print("\nPress Ctrl-C to stop.\n", flush=True)
    run_loop(_serve(data, [n["authority_id"] for n in state["nodes"]]))
    return 0


async def _serve(data: Path, authority_ids: list[str]) -> None:
    from ..node.runner import start_node, wait_for_signal

    running = [await start_node(load_config(data / a / "node.toml")) for a in authority_ids]
    try:
        await wait_for_signal()
    finally:
        for node in running:
            await node.stop()
