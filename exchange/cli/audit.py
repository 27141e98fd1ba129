"""``exchange audit verify``: the auditor's check of a node's audit log."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from ..core.clock import SystemClock
from ..core.witness_views import ObtainedView
from ..ops.audit_check import WitnessInput, caller_of, read_views_file, verify_data_dir
from ..ops.backup import backup, restore
from ..workers.witness_views import fetch_views


def register(sub: Any) -> None:
    group = sub.add_parser("audit", help="verify a node's tamper-evident audit log")
    a = group.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    p = a.add_parser(
        "verify",
        help="recompute the Merkle tree, check every checkpoint and cosignature (exit 1 if not)",
    )
    p.add_argument("--data", required=True, type=Path, help="the node's data folder")
    p.add_argument("--vkey", help="the log's verifier key (default: from the held directory)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _witness_source(p)
    p.set_defaults(handler=cmd_verify)
    register_backup(sub)


def _witness_source(p: argparse.ArgumentParser) -> None:
    """Where the witnesses' views come from: asked now (the default), a file, or not at all."""
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--witness-views",
        type=Path,
        metavar="FILE",
        help="the witnesses' views from FILE (an audit bundle) instead of asking them now",
    )
    source.add_argument(
        "--offline",
        action="store_true",
        help="do not check against the witnesses (the report says it was not done)",
    )


def cmd_verify(args: argparse.Namespace) -> int:
    started = time.perf_counter()

    def progress(done: int) -> None:
        rate = done / max(time.perf_counter() - started, 1e-9)
        print(f"  {done:,} entries checked ({rate:,.0f}/s)", file=sys.stderr, flush=True)

    witnesses = _witnesses(args)
    report = verify_data_dir(args.data, vkey=args.vkey, progress=progress, witnesses=witnesses)
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps({**report.to_json(), "seconds": round(seconds, 3)}))
    else:
        print(
            f"{report.entries:,} entries, {report.checkpoints} checkpoints, "
            f"{report.cosignatures} cosignatures checked in {seconds:.2f} s"
        )
        print(f"root {report.root}; {report.witness_views} witness views checked")
        for note in report.notes:
            print(f"NOTE: {note}")
        for problem in report.problems:
            print(f"FAIL: {problem.message}")
        if report.ok:
            print("OK: the log is intact")
    return 0 if report.ok else 1


def _witnesses(args: argparse.Namespace) -> WitnessInput:
    """What the peer witnesses say of the log: asked now (as the node, with its keys), or
    read from ``--witness-views``; nothing with ``--offline``."""
    if args.offline:
        return WitnessInput((), offline=True)
    if args.witness_views is not None:
        return WitnessInput(read_views_file(args.witness_views), from_file=True)
    caller = caller_of(args.data)

    async def ask() -> tuple[ObtainedView, ...]:
        async with aiohttp.ClientSession() as session:
            return await fetch_views(
                session,
                me=caller.me,
                key=caller.key,
                directory=caller.directory,
                clock=SystemClock(),
                call_timeout=caller.call_timeout,
            )

    return WitnessInput(asyncio.run(ask()))


def register_backup(sub: Any) -> None:
    p = sub.add_parser("backup", help="consistent online backup of a node's database")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(handler=cmd_backup)
    p = sub.add_parser("restore", help="check a backup (integrity, audit log) and restore it")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--backup", required=True, type=Path)
    p.add_argument("--force", action="store_true", help="replace an existing database")
    p.add_argument(
        "--accept-rollback",
        action="store_true",
        help="restore a backup older than what the witnesses hold (they will report it)",
    )
    _witness_source(p)
    p.set_defaults(handler=cmd_restore)


def cmd_backup(args: argparse.Namespace) -> int:
    size = backup(args.data, args.out)
    print(f"backup written to {args.out} ({size:,} bytes; the storage key in keys/ is not in it)")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    report = restore(
        args.backup,
        args.data,
        force=args.force,
        witnesses=_witnesses(args),
        accept_rollback=args.accept_rollback,
    )
    print(
        f"restored {report.entries:,} audit entries, {report.checkpoints} checkpoints: "
        f"audit log verified ({report.witness_views} witness views checked)"
    )
    for note in report.notes:
        print(f"NOTE: {note}")
    for problem in report.problems:
        print(f"ROLLED BACK: {problem.message}")
    return 0
