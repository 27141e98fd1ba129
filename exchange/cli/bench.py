"""``exchange bench``: throughput, latency and scale, beside the bare transport."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..bench.report import PARTS, run_all, table

# each node sends to 10 others; a directory holds at most 100,000 authorities
MIN_NODES, MAX_NODES = 11, 100_000


def register(sub: Any) -> None:
    p = sub.add_parser("bench", help="measure end-to-end throughput, latency, audit and scale")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--requests", type=int, default=3000, help="requests in the end-to-end run")
    p.add_argument("--concurrency", type=int, default=64, help="concurrent API clients")
    p.add_argument("--payload", type=int, default=2000, help="request body size in bytes")
    p.add_argument("--audit-entries", type=int, default=1_000_000)
    p.add_argument("--evidence-bytes", type=int, default=4 << 30,
                   help="size of the evidence file uploaded, delivered and downloaded")  # fmt: skip
    p.add_argument("--nodes", type=int, default=193, help="nodes in the federation run")
    p.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        help="run only this part (repeatable), e.g. --only federation",
    )
    p.add_argument(
        "--volume", type=int, default=1_000_000, help="requests in the node of the volume run"
    )
    p.add_argument(
        "--storage",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the ha part's engine: postgresql starts a throwaway cluster (Debian's initdb)",
    )
    p.set_defaults(handler=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    if not 1 << 20 <= args.evidence_bytes <= 1 << 40:
        print("error: --evidence-bytes 1 MiB..1 TiB", file=sys.stderr)
        return 2
    if not (1 <= args.requests <= 1_000_000 and 1 <= args.concurrency <= 1000):
        print("error: --requests 1..1000000 and --concurrency 1..1000", file=sys.stderr)
        return 2
    if not MIN_NODES <= args.nodes <= MAX_NODES:
        print(f"error: --nodes {MIN_NODES}..{MAX_NODES}", file=sys.stderr)
        return 2
    if not 1 <= args.volume <= 10_000_000:
        print("error: --volume 1..10000000", file=sys.stderr)
        return 2
    result = run_all(
        requests=args.requests,
        concurrency=args.concurrency,
        size=args.payload,
        audit_entries=args.audit_entries,
        evidence_bytes=args.evidence_bytes,
        volume_requests=args.volume,
        progress=lambda m: print(m, file=sys.stderr, flush=True),
        nodes=args.nodes,
        only=tuple(args.only or PARTS),
        storage=args.storage,
    )
    print(json.dumps(result) if args.json else table(result))
    return 0
