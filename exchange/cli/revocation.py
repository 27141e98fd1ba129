"""``exchange keys revoke ... --statement FILE --revocation-key PATH`` and
``exchange keys send-revocation FILE --data DIR``: the emergency path, when a key is
stolen and peers must stop accepting it before the next directory."""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from ..config import load_config
from ..core.clock import SystemClock
from ..core.errors import InvalidRequest
from ..core.revocation import sign_statement
from ..ops.keyfiles import load_revocation_key
from ..workers.revocations import send_revocation


def add_statement_options(p: Any) -> None:
    p.add_argument(
        "--statement",
        type=Path,
        metavar="FILE",
        help="also write a revocation statement to FILE (needs --revocation-key)",
    )
    p.add_argument(
        "--revocation-key",
        type=Path,
        metavar="PATH",
        help="the offline revocation key file (keys/revocation.key as exchange init made it)",
    )


def register_send(keys: Any) -> None:
    p = keys.add_parser(
        "send-revocation", help="send a revocation statement to every peer of the directory now"
    )
    p.add_argument("statement", type=Path, metavar="FILE")
    p.add_argument("--data", required=True, type=Path)
    p.set_defaults(handler=cmd_send_revocation)


def write_statement(
    args: argparse.Namespace, *, authority: str, key_id: str, revoked_at: datetime
) -> None:
    """The statement for a key just revoked, if asked (checked before revoking)."""
    if args.statement is None:
        return
    pair = load_revocation_key(args.revocation_key)
    document = sign_statement(
        authority=authority,
        key_id=key_id,
        revoked_at=revoked_at,
        issued_at=SystemClock().now(),
        revocation_key=pair,
    )
    args.statement.write_bytes(document)
    print(f"revocation statement written to {args.statement}")
    print(f"send it to every peer now: exchange keys send-revocation {args.statement} --data DIR")
    print("then put the revocation key back offline")


def check_statement_options(args: argparse.Namespace) -> None:
    if (args.statement is None) != (args.revocation_key is None):
        raise InvalidRequest("--statement and --revocation-key go together")
    if args.statement is not None:
        if args.statement.exists():
            raise FileExistsError(f"{args.statement} exists: refusing to overwrite it")
        load_revocation_key(args.revocation_key)  # readable before anything is revoked


def cmd_send_revocation(args: argparse.Namespace) -> int:
    config = load_config(args.data / "node.toml")
    document = args.statement.read_bytes()
    statement, outcomes = asyncio.run(send_revocation(config, document, clock=SystemClock()))
    print(f"statement revoking {statement.key_id} of {statement.authority}:")
    for peer, outcome in sorted(outcomes.items()):
        print(f"  {peer:<16} {outcome}")
    failed = [p for p, o in outcomes.items() if o != "ok"]
    if failed:
        print(f"{len(failed)} peer(s) did not take it: run this again, or reach them otherwise")
        return 1
    return 0
