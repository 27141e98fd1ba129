"""The crypto floor: how many requests a second the cryptography alone allows.

One request's cryptography is what the two nodes must do for it whatever the storage
and the transport: the sender seals the envelope (sign, encrypt, sign), the receiver
opens it (verify, decrypt, verify), signs a receipt for it, and the sender verifies
that receipt. Nothing else: no JSON API, no HTTP, no TLS, no database.

Measured on every core at once (one process a core, all started together, each
counting for the same window), so that ``crypto_floor_ratio`` (the best end-to-end
throughput / this) says how much of what the machine's cryptography allows the whole
system reaches. Receipts are signed one by one here; the nodes sign a transaction's
receipts once, as a batch, so the end-to-end system may in principle pass the floor.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from datetime import timedelta
from multiprocessing.synchronize import Event
from typing import Any

from ..core.canonical import JsonObject
from ..core.directory import Directory
from ..core.envelope import open_, seal
from ..core.keys import KeyRing
from ..core.receipt import issue_receipt, verify_receipt
from .primitives import NOW, bench_authority


class OneRequest:
    """Two authorities' keys and a directory: ``__call__`` does one request's crypto."""

    def __init__(self, payload_bytes: int) -> None:
        self.a, self.a_sk, _ = bench_authority("ES-CNA")
        self.b, self.b_sk, b_ek = bench_authority("MA-CNA")
        self.directory = Directory(
            1, NOW - timedelta(hours=1), NOW + timedelta(days=1), (self.a, self.b)
        )
        self.ring = KeyRing((), (b_ek,))
        self.content: JsonObject = {"kind": "information_request", "body": "x" * payload_bytes}
        self.count = 0

    def __call__(self) -> None:
        self.count += 1
        msg_id = f"floor-{self.count:08d}"
        sealed = seal(
            self.content,
            msg_type="request",
            msg_id=msg_id,
            sender_id="ES-CNA",
            sender_key=self.a_sk,
            recipient=self.b,
            now=NOW,
            log_size=self.count,
        )
        opened = open_(sealed.data, directory=self.directory, me="MA-CNA", keys=self.ring, now=NOW)
        evidence = hashlib.sha256(opened.evidence_json).hexdigest()
        receipt = issue_receipt(
            msg_id=msg_id,
            sender="ES-CNA",
            recipient="MA-CNA",
            envelope_sha256=opened.envelope_sha256,
            evidence_sha256=evidence,
            received_at=NOW,
            key=self.b_sk,
            log_size=self.count,
        )
        verify_receipt(
            receipt,
            directory=self.directory,
            expected_msg_id=msg_id,
            expected_sender="ES-CNA",
            expected_recipient="MA-CNA",
            expected_envelope_sha256=opened.envelope_sha256,
            expected_evidence_sha256=evidence,
        )


def _worker(payload_bytes: int, seconds: float, go: Event, results: Any) -> None:
    one = OneRequest(payload_bytes)
    one()  # warm: imports and first-call costs outside the window
    results.put(("ready", 0, 0.0))
    go.wait()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(10):
            one()
        done += 10
    results.put(("done", done, time.perf_counter() - start))


def run(payload_bytes: int = 2000, *, seconds: float = 2.0, cores: int | None = None) -> JsonObject:
    """``crypto_floor_rps`` on all cores (and ``crypto_floor_rps_1core``, one alone)."""
    cores = cores or os.cpu_count() or 1
    one = OneRequest(payload_bytes)
    one()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds / 2:
        one()
        count += 1
    single = count / (time.perf_counter() - start)
    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(payload_bytes, seconds, go, results), daemon=True)
        for _ in range(cores)
    ]
    for proc in procs:
        proc.start()
    try:
        for _ in procs:
            results.get(timeout=120)  # every worker ready before the window opens
        go.set()
        rates = []
        for _ in procs:
            _, done, elapsed = results.get(timeout=seconds + 120)
            rates.append(done / elapsed)
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
    return {
        "crypto_floor_rps": sum(rates),
        "crypto_floor_rps_1core": single,
        "crypto_floor_cores": cores,
        "crypto_floor_ms_per_request": 1000 / single,
    }
