"""Run every part of ``exchange bench`` and put the figures side by side."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

from ..core.canonical import JsonObject
from . import (
    audit_bench,
    bare,
    crypto_floor,
    directory_bench,
    e2e,
    evidence_bench,
    ha,
    pg_rps,
    primitives,
    scale,
    volume,
)

TARGETS = {
    "exchange_rps": (">=", 1000.0),
    "ratio": (">=", 0.25),
    "paced_200rps_p99_ms": ("<", 100.0),
    "audit_verify_eps": (">=", 500_000.0),
    "inclusion_proof_ms": ("<", 1.0),
    "consistency_proof_ms": ("<", 1.0),
    "federation_s": ("<", 60.0),
    "directory_search_ms": ("<", 10.0),
    "evidence_deliver_mb_s": (">=", 100.0),
    "evidence_peak_rss_mb": ("<", 300.0),
    "inbox_page_p99_ms": ("<", 50.0),
    "search_p99_ms": ("<", 100.0),
    "startup_s_at_volume": ("<", 30.0),
    "crypto_floor_ratio": (">=", 0.5),
    "ha_failover_s": ("<=", 10.0),
    "ha_lost": ("<=", 0),
    "ha_duplicated": ("<=", 0),
}

# end-to-end throughputs that ``crypto_floor_ratio`` compares with the floor (the best)
END_TO_END = ("exchange_rps", "pg_rps_1", "pg_rps_2", "pg_rps_4")


def machine() -> JsonObject:
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or "unknown",
    }


# the parts ``exchange bench --only`` may name, in the order they run
PARTS = (
    "primitives",
    "crypto",
    "e2e",
    "bare",
    "audit",
    "federation",
    "directory",
    "evidence",
    "volume",
    "ha",
    "pg",
)


def run_all(
    *,
    requests: int,
    concurrency: int,
    size: int,
    audit_entries: int,
    progress: Any,
    evidence_bytes: int = 4 << 30,
    nodes: int = 193,
    only: tuple[str, ...] = PARTS,
    volume_requests: int = 1_000_000,
    storage: str = "sqlite",
) -> JsonObject:
    result: JsonObject = {
        "machine": machine(),
        "payload_bytes": size,
        "concurrency": concurrency,
    }
    steps: list[tuple[str, str, Callable[[], JsonObject]]] = [
        ("primitives", "primitives", lambda: primitives.run(size)),
        ("crypto", "crypto floor", lambda: crypto_floor.run(size)),
        ("e2e", "end-to-end exchange", lambda: e2e.run(requests, concurrency, size)),
        ("bare", "bare HTTPS transport", lambda: bare.run(requests, concurrency, size)),
        ("audit", "audit log", lambda: audit_bench.run(audit_entries)),
        ("federation", f"{nodes}-node federation", lambda: scale.run(nodes)),
        ("directory", "directory search", directory_bench.run),
        ("evidence", "evidence files", lambda: evidence_bench.run(evidence_bytes)),
        (
            "volume",
            f"{volume_requests:,} requests in one node",
            lambda: volume.run(volume_requests),
        ),
        (
            "ha",
            f"two processes of one authority on {storage}, one killed",
            lambda: ha.run(storage=storage),
        ),
        (
            "pg",
            "1, 2 and 4 sender processes on PostgreSQL",
            lambda: pg_rps.run(requests, concurrency, size),
        ),
    ]
    for part, name, step in steps:
        if part not in only:
            continue
        started = time.perf_counter()
        progress(f"{name} ...")
        result.update(step())
        progress(f"{name}: {time.perf_counter() - started:.1f} s")
    if "exchange_rps" in result and "bare_rps" in result:
        result["ratio"] = result["exchange_rps"] / result["bare_rps"]
    best = [float(result[key]) for key in END_TO_END if key in result]
    if "crypto_floor_rps" in result and best:
        result["crypto_floor_ratio"] = max(best) / float(result["crypto_floor_rps"])
    result["targets_met"] = {
        key: _met(result[key], op, bound) for key, (op, bound) in TARGETS.items() if key in result
    }
    return result


def _met(value: float, op: str, bound: float) -> bool:
    if op == "<=":
        return value <= bound
    return value >= bound if op == ">=" else value < bound


def table(result: JsonObject) -> str:
    lines = [f"machine: {result['machine']}"]
    for key, value in result.items():
        if key in ("machine", "targets_met"):
            continue
        target = TARGETS.get(key)
        mark = ""
        if target:
            mark = f"   target {target[0]} {target[1]:g}: " + (
                "met" if result["targets_met"][key] else "NOT met"
            )
        shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
        lines.append(f"  {key:<34} {shown:>16}{mark}")
    return "\n".join(lines)
