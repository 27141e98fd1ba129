"""``exchange retention run``: erase the contents that are past their retention period."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..config import load_config
from ..core.clock import SystemClock
from ..ops import period_keys
from ..ops.retention import run_pass
from ..store.engine import open_database
from .node import _passphrase


def register(sub: Any) -> None:
    group = sub.add_parser("retention", help="crypto-erase contents past their retention period")
    r = group.add_subparsers(dest="retention_command", required=True, metavar="ACTION")
    p = r.add_parser("run", help="erase now what is due (the node also does it daily)")
    p.add_argument("--data", required=True, type=Path, help="the node's data folder")
    p.add_argument("--dry-run", action="store_true", help="only say what would be erased")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--passphrase-file",
        type=Path,
        help="file holding the storage key's passphrase (default: $EXCHANGE_PASSPHRASE_FILE)",
    )
    p.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    config = load_config(args.data / "node.toml")
    clock = SystemClock()
    passphrase = _passphrase(args.passphrase_file)
    vault = period_keys.open_vault(config, clock, passphrase)
    if not args.dry_run:
        vault.keks.hold()  # keys_in_use while the node runs: its own daily pass does this
    try:
        db = open_database(config)
        try:
            if not args.dry_run:
                period_keys.adopt(db, vault, clock, passphrase)
            summary = run_pass(db, config, clock, vault, dry_run=args.dry_run)
        finally:
            db.close()
    finally:
        vault.keks.release()
    if args.json:
        print(json.dumps(summary))
    else:
        verb = "would erase" if args.dry_run else "erased"
        print(
            f"{verb} the contents of {summary['requests_erased']} request(s): "
            f"{summary['messages_erased']} message(s), {summary['files_erased']} file(s); "
            f"{summary['unsent_uploads_purged']} unsent upload(s) purged; "
            f"{summary['unreferenced_blobs_collected']} unreferenced blob file(s) collected; "
            f"{summary['keys_rewrapped']} key(s) wrapped anew, "
            f"{summary['keys_destroyed']} key-encryption key(s) destroyed"
        )
    return 0
