"""``exchange init``, ``exchange node``, ``exchange keys``, ``exchange user``, ``exchange demo``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import os
import signal
import sys
from pathlib import Path
from typing import Any

from ..config import load_config
from ..core.canonical import format_time, parse_time
from ..core.directory import KINDS
from ..core.roles import ALL as ROLES
from ..logs import configure_logging
from ..ops.keyfiles import load_keyring, protect_storage_key_file, read_passphrase_file
from ..ops.provision import (
    AuthorityInfo,
    activate_tls_rotation,
    add_user,
    init_node,
    prepare_tls_rotation,
    revoke_key,
    rotate_keys,
)
from ..runloop import run as run_loop
from . import revocation


def register(sub: Any) -> None:
    p = sub.add_parser(
        "init", help="create a node's data folder: keys, TLS certificate, config, database"
    )
    p.add_argument("--authority", required=True, help="authority id, e.g. ES-CNA")
    p.add_argument("--data", required=True, type=Path, help="the node's data folder")
    p.add_argument(
        "--operator-key",
        action="append",
        required=True,
        help="pinned directory operator key 'ed25519:...' (repeatable)",
    )
    p.add_argument("--name", help="authority name as shown in the directory")
    p.add_argument("--kind", default="central_authority", choices=KINDS)
    p.add_argument("--languages", default="en", help="accepted languages, comma-separated BCP 47")
    p.add_argument("--timezone", default="UTC", help="IANA time zone of the contact hours")
    p.add_argument("--contact-hours", default="Mon-Fri 08:00-18:00")
    p.add_argument("--legal-requirements", default="")
    p.add_argument("--urgent-procedure", default=AuthorityInfo("XX-X", "x").urgent_procedure)
    p.add_argument("--max-response-hours", type=int, default=24)
    p.add_argument("--listen-host", default="127.0.0.1")
    p.add_argument("--listen-port", type=int, default=8441)
    p.add_argument("--url", help="public https URL of this node (default from host and port)")
    p.add_argument("--directory-source", default="directory.json", help="file or https URL")
    p.add_argument(
        "--storage-url",
        help="postgresql://user@host/db: keep the data in PostgreSQL (default: SQLite file)",
    )
    p.set_defaults(handler=cmd_init)

    p = sub.add_parser("node", help="run a node until interrupted")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--log-format", choices=("json", "console"))
    p.add_argument(
        "--port",
        type=int,
        help="listen on this port instead of node.toml's (a second process of the authority"
        " on one machine: [cluster] active_active)",
    )
    p.add_argument(
        "--passphrase-file",
        type=Path,
        help="file holding the storage key's passphrase (default: $EXCHANGE_PASSPHRASE_FILE)",
    )
    p.set_defaults(handler=cmd_node)

    keys = sub.add_parser("keys", help="show, rotate or revoke a node's keys").add_subparsers(
        dest="keys_command", required=True, metavar="ACTION"
    )
    p = keys.add_parser(
        "rotate",
        help="make new signing and encryption keys (the old signing key becomes verify-only)",
    )
    p.add_argument("--data", required=True, type=Path)
    p.add_argument(
        "--tls",
        action="store_true",
        help="replace the TLS certificate instead: prepare the next one and announce it",
    )
    p.add_argument(
        "--activate",
        action="store_true",
        help="with --tls: switch to the announced certificate (once peers have the directory)",
    )
    p.set_defaults(handler=cmd_keys_rotate)
    p = keys.add_parser(
        "revoke", help="revoke a stolen key: published as revoked, its private key deleted"
    )
    p.add_argument("key_id", metavar="KEY_ID", help="e.g. ed25519:3f9a0c1b2d3e4f50")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument(
        "--compromised-at",
        metavar="TIME",
        help="refuse what it signed from this UTC time on (e.g. 2026-03-01T08:00:00Z); default now",
    )
    revocation.add_statement_options(p)
    p.set_defaults(handler=cmd_keys_revoke)
    revocation.register_send(keys)
    p = keys.add_parser(
        "protect", help="protect the storage key with a passphrase (Argon2id); asked at start"
    )
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--passphrase-file", type=Path, help="default: ask twice on the terminal")
    p.set_defaults(handler=cmd_keys_protect)
    p = keys.add_parser("show", help="list key ids and validity (never private keys)")
    p.add_argument("--data", required=True, type=Path)
    p.set_defaults(handler=cmd_keys_show)

    users = sub.add_parser("user", help="manage local users").add_subparsers(
        dest="user_command", required=True, metavar="ACTION"
    )
    p = users.add_parser("add", help="add a user (password from a prompt or --password-file)")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--username", required=True)
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--password-file", type=Path)
    p.set_defaults(handler=cmd_user_add)

    p = sub.add_parser("demo", help="start a local three-node federation (Spain, Morocco, Senegal)")
    p.add_argument("--data", type=Path, default=Path(".demo"))
    p.add_argument("--port-base", type=int, default=8441)
    p.set_defaults(handler=cmd_demo)


def cmd_init(args: argparse.Namespace) -> int:
    info = AuthorityInfo(
        authority_id=args.authority,
        name=args.name or args.authority,
        kind=args.kind,
        languages=tuple(x.strip() for x in args.languages.split(",") if x.strip()),
        legal_requirements=args.legal_requirements,
        urgent_procedure=args.urgent_procedure,
        max_response_hours=args.max_response_hours,
        contact_hours=args.contact_hours,
        timezone=args.timezone,
    )
    path = init_node(
        args.data,
        info,
        operator_keys=args.operator_key,
        listen_host=args.listen_host,
        listen_port=args.listen_port,
        public_url=args.url,
        directory_source=args.directory_source,
        storage_url=args.storage_url,
    )
    print(f"initialised {args.authority} in {args.data}")
    print(f"  config: {path}")
    print(f"  public entry for the directory operator: {args.data / 'authority.json'}")
    print(f"  revocation key: {args.data / 'keys' / 'revocation.key'} -- move it OFFLINE now")
    print("    (it alone can revoke this node's keys at once if they are stolen; see OPERATIONS)")
    return 0


def cmd_node(args: argparse.Namespace) -> int:
    config = load_config(args.data / "node.toml")
    if args.port is not None:
        if not 0 < args.port < 65536:
            print("error: --port must be between 1 and 65535", file=sys.stderr)
            return 2
        config = dataclasses.replace(config, listen_port=args.port)
    configure_logging(args.log_format or config.log_format)
    from ..node.runner import start_node, wait_for_signal

    passphrase = _passphrase(args.passphrase_file)

    async def run() -> None:
        running = await start_node(config, passphrase=passphrase)
        print(
            f"{config.authority_id} listening on https://{config.listen_host}:{config.listen_port}",
            flush=True,
        )
        # SIGHUP: serve a replaced certificate now (it is also picked up within seconds)
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, running.reload_certificate)
        try:
            await wait_for_signal()
        finally:
            await running.stop()

    run_loop(run())
    return 0


def _passphrase(given: Path | None) -> bytes | None:
    path = given or (Path(os.environ["EXCHANGE_PASSPHRASE_FILE"])
                     if os.environ.get("EXCHANGE_PASSPHRASE_FILE") else None)  # fmt: skip
    return read_passphrase_file(path) if path else None


def cmd_keys_protect(args: argparse.Namespace) -> int:
    config = load_config(args.data / "node.toml")
    if args.passphrase_file:
        passphrase = read_passphrase_file(args.passphrase_file)
    else:
        first = getpass.getpass("new passphrase for the storage key: ").encode()
        if first != getpass.getpass("again: ").encode():
            print("error: the passphrases differ", file=sys.stderr)
            return 2
        if len(first) < 12:
            print("error: a passphrase needs at least 12 characters", file=sys.stderr)
            return 2
        passphrase = first
    protect_storage_key_file(config.keys_dir, passphrase)
    print(f"storage key of {config.authority_id} protected: start the node with its passphrase")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    if args.activate and not args.tls:
        print("error: --activate goes with --tls", file=sys.stderr)
        return 2
    if args.tls:
        return _rotate_tls(args.data, activate=args.activate)
    ring = rotate_keys(args.data)
    print(f"new signing key {ring.signing[-1].public.key_id}")
    print(f"new encryption key {ring.encryption[-1].public.key_id}")
    print(f"send the updated {args.data / 'authority.json'} to the directory operator")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    at = parse_time(args.compromised_at, field="--compromised-at") if args.compromised_at else None
    revocation.check_statement_options(args)
    public = revoke_key(args.data, args.key_id, compromised_at=at)
    assert public.revoked_at is not None
    print(f"key {public.key_id} revoked from {format_time(public.revoked_at)}; private key deleted")
    authority = load_config(args.data / "node.toml").authority_id
    revocation.write_statement(
        args, authority=authority, key_id=public.key_id, revoked_at=public.revoked_at
    )
    print(f"send the updated {args.data / 'authority.json'} to the directory operator now")
    return 0


def _rotate_tls(data: Path, *, activate: bool) -> int:
    fingerprint = activate_tls_rotation(data) if activate else prepare_tls_rotation(data)
    if activate:
        print(
            f"TLS certificate {fingerprint} is now the node's: a running node serves it to"
            " new connections within seconds (at once on SIGHUP), without a restart"
        )
        print(f"send the updated {data / 'authority.json'} to the directory operator")
    else:
        print(f"next TLS certificate {fingerprint} prepared; the node still serves the current")
        print(f"1. send the updated {data / 'authority.json'} to the directory operator")
        print("2. once peers have that directory: exchange keys rotate --tls --activate")
    return 0


def cmd_keys_show(args: argparse.Namespace) -> int:
    ring = load_keyring(args.data / "keys")
    for p in [k.public for k in ring.signing] + [k.public for k in ring.encryption]:
        retired = f"  verify-only since {p.retired_at:%Y-%m-%d %H:%M}" if p.retired_at else ""
        print(f"{p.key_id}  {p.not_before:%Y-%m-%d} .. {p.not_after:%Y-%m-%d}{retired}")
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    if args.password_file:
        password = args.password_file.read_text().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("error: passwords differ", file=sys.stderr)
            return 2
    try:
        add_user(args.data, username=args.username, password=password, role=args.role)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"added {args.role} {args.username}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args.data, args.port_base)
