"""``exchange evidence export`` and ``exchange evidence verify``: one request's
evidence bundle, written from a node's data folder and checked by anyone, offline."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..core.errors import ExchangeError, TooLarge
from ..core.evidence_bundle import MAX_BUNDLE_BYTES, verify_bundle
from ..ops.evidence import export_request
from .node import _passphrase


def register(sub: Any) -> None:
    group = sub.add_parser("evidence", help="export and check a request's evidence bundle")
    e = group.add_subparsers(dest="evidence_command", required=True, metavar="ACTION")
    p = e.add_parser(
        "export", help="write a request's evidence bundle (signed documents, receipts, directories)"
    )
    p.add_argument("request_id", metavar="REQUEST_ID", help="the request's id at this node")
    p.add_argument("--data", required=True, type=Path, help="the node's data folder")
    p.add_argument("--out", required=True, type=Path, help="the new bundle file (never replaced)")
    p.add_argument(
        "--passphrase-file",
        type=Path,
        help="file holding the storage key's passphrase (default: $EXCHANGE_PASSPHRASE_FILE)",
    )
    p.set_defaults(handler=cmd_export)
    p = e.add_parser(
        "verify",
        help="check a bundle with no node and no network; say what it proves (exit 2 if not)",
    )
    p.add_argument("file", metavar="FILE", type=Path, help="the bundle")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_verify)


def cmd_export(args: argparse.Namespace) -> int:
    passphrase = _passphrase(args.passphrase_file)
    export = export_request(args.data, args.request_id, args.out, passphrase=passphrase)
    print(f"evidence bundle written to {export.path} ({export.size:,} bytes); it proves:")
    for line in export.lines:
        print(line)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        if args.file.stat().st_size > MAX_BUNDLE_BYTES:
            raise TooLarge("bundle is too large")
        lines = verify_bundle(args.file.read_bytes())
    except ExchangeError as exc:
        if args.json:
            print(json.dumps({"ok": False, "code": exc.code, "reason": exc.message}))
        else:
            print(f"NOT VERIFIED ({exc.code}): {exc.message}")
        return 2
    if args.json:
        print(json.dumps({"ok": True, "lines": lines}))
    else:
        print("\n".join(lines))
        print("OK: every signature and hash of the bundle holds")
    return 0
