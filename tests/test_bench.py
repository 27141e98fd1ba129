"""``exchange bench`` keeps working: each part runs for real at a small size and reports
every figure the full run reports. No figure is judged here (speed is measured by the
benchmark, never asserted in tests)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from exchange.bench import (
    audit_bench,
    bare,
    crypto_floor,
    directory_bench,
    e2e,
    evidence_bench,
    ha,
    pg_rps,
    primitives,
    report,
    scale,
    volume,
)
from exchange.bench.client import Connection, PinMismatch
from exchange.bench.local_federation import free_port
from exchange.bench.processes import spawn, stop, wait_healthy
from exchange.bench.un_members import UN_MEMBERS, authority_ids
from exchange.cli import main
from exchange.ops.keyfiles import create_tls_certificate, tls_fingerprint


def test_every_part_reports_its_figures(tmp_path: Path) -> None:
    result: dict[str, object] = {"machine": report.machine()}
    result.update(primitives.run(200))
    result.update(crypto_floor.run(200, seconds=0.2))
    result.update(e2e.run(40, 4, 200, work=tmp_path))
    result.update(bare.run(40, 4, 200))
    result.update(audit_bench.run(2_000))
    result.update(directory_bench.run(500, queries=20))
    # evidence at a smoke size: 2 MiB in 64 KiB parts, the receiver killed halfway
    result.update(evidence_bench.run(2 << 20, part_bytes=64 << 10, work=tmp_path))
    assert result["exchange_requests"] == 40
    assert result["delivery_pipeline"] == e2e.PIPELINE
    for key in ("exchange_rps", "bare_rps", "bare_rps_lean_client", "p50_ms", "p99_ms",
                "audit_verify_eps", "inclusion_proof_ms", "directory_search_ms",
                "cpu_ms_per_request", "cpu_ms_per_request_sender",
                "cpu_ms_per_request_receiver", "cpu_ms_per_request_load_generator"):  # fmt: skip
        value = result[key]
        assert isinstance(value, float) and value > 0, key
    for key in ("evidence_upload_mb_s", "evidence_deliver_mb_s", "evidence_download_mb_s",
                "evidence_peak_rss_mb"):  # fmt: skip
        value = result[key]
        assert isinstance(value, float) and value > 0, key
    assert result["evidence_bytes"] == 2 << 20 and result["evidence_download_ok"] is True
    assert isinstance(result["evidence_resume_ok"], bool)  # judged by the full run only
    assert set(result["evidence_peak_rss_mb_by_node"]) == {"ES-CNA", "MA-CNA"}  # type: ignore[arg-type]
    assert result["p50_ms"] <= result["p99_ms"]  # type: ignore[operator]
    # the outage run: a backlog of 200 queued while the receiver was down, all delivered
    assert result["outage_backlog"] == 200 and result["outage_delivered"] >= 202
    for key in ("outage_emergency_ms", "outage_standard_ms", "outage_drain_s"):
        value = result[key]
        assert isinstance(value, float) and value > 0, key
    result.update(scale.run(12, workers=2))  # the full run is 193 nodes or more
    assert result["federation_nodes"] == 12 and result["federation_requests"] == 120
    for key in ("federation_setup_s", "federation_start_s", "federation_s",
                "federation_cpu_s", "federation_peak_rss_mb"):  # fmt: skip
        value = result[key]
        assert isinstance(value, float) and value > 0, key
    # a node holding a few hundred requests written as the volume run writes a million:
    # it starts, builds its search index, pages through its lists and answers searches
    result.update(volume.run(300, pages=3, searches=10, work=tmp_path))
    assert result["volume_requests"] == 300
    for key in ("startup_s_at_volume", "inbox_page_p99_ms", "requests_page_p99_ms",
                "cases_page_p99_ms", "search_p99_ms",
                "search_index_ready_s_at_volume"):  # fmt: skip
        value = result[key]
        assert isinstance(value, float) and value > 0, key
    # two processes of one authority, the lease holder killed: --only ha at a smoke size
    result.update(ha.run(tmp_path / "ha", load_s=1.0, clients=2))
    assert isinstance(result["ha_failover_s"], float) and result["ha_failover_s"] > 0
    for key in ("ha_lost", "ha_duplicated", "ha_requests", "ha_unreceipted"):
        assert isinstance(result[key], int), key
    assert result["ha_requests"] > 0  # type: ignore[operator]
    assert isinstance(result["ha_audit_ok"], bool) and isinstance(result["ha_exclusive"], bool)
    result["ratio"] = result["exchange_rps"] / result["bare_rps"]  # type: ignore[operator]
    assert result["crypto_floor_cores"] >= 1
    for key in ("crypto_floor_rps", "crypto_floor_rps_1core"):
        value = result[key]
        assert isinstance(value, float) and value > 0, key
    floor = result["crypto_floor_rps"]
    result["crypto_floor_ratio"] = result["exchange_rps"] / floor  # type: ignore[operator]
    result["targets_met"] = {
        key: report._met(float(result[key]), op, bound)  # type: ignore[arg-type]
        for key, (op, bound) in report.TARGETS.items()
    }
    shown = report.table(result)
    assert "exchange_rps" in shown and ("met" in shown or "NOT met" in shown)


def test_the_load_generator_refuses_a_certificate_it_did_not_pin(tmp_path: Path) -> None:
    create_tls_certificate(tmp_path, common_name="bare", hosts=["127.0.0.1"])
    right = bytes.fromhex(tls_fingerprint(tmp_path / "tls.crt"))
    port = free_port()
    server = spawn(["-m", "exchange.bench.bare", str(port), str(tmp_path)], tmp_path / "log")

    async def check() -> int:
        await wait_healthy(f"https://127.0.0.1:{port}", right)
        with pytest.raises(PinMismatch):
            await Connection.open("127.0.0.1", port, bytes(32))
        conn = await Connection.open("127.0.0.1", port, right)
        try:
            status, _, body = await conn.request(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        finally:
            await conn.close()
        assert json.loads(body) == {"status": "ok"}
        return status

    try:
        assert asyncio.run(check()) == 200
    finally:
        stop(server)


def test_the_ha_part_on_postgresql_starts_its_own_cluster(tmp_path: Path) -> None:
    """``--only ha --storage postgresql``: ES's two processes on a throwaway cluster's
    database (its checks read that database, not the data folder's SQLite file)."""
    result = ha.run(tmp_path / "ha", load_s=1.0, clients=2, storage="postgresql")
    assert result["ha_storage"] == "postgresql" and result["ha_requests"] > 0  # type: ignore[operator]
    assert result["ha_lost"] == 0 and result["ha_duplicated"] == 0 and result["ha_audit_ok"]


def test_the_federation_alone_at_any_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--only", "federation", "--nodes", "14", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["federation_nodes"] == 14 and result["federation_requests"] == 140
    assert "exchange_rps" not in result and "federation_193_s" not in result
    assert set(result["targets_met"]) == {"federation_s"}
    assert main(["bench", "--only", "federation", "--nodes", "10"]) == 2  # fewer than 11


def test_authority_ids_beyond_the_member_states() -> None:
    ids = authority_ids(1000)
    assert len(set(ids)) == 1000 and ids == authority_ids(1000)
    assert ids[:193] == [f"{c}-CNA" for c in UN_MEMBERS]
    assert ids[193:195] == [f"{UN_MEMBERS[0]}-0001", f"{UN_MEMBERS[1]}-0001"]


def test_the_crypto_floor_alone_and_its_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    """``--only crypto``: the floor on every core; no end-to-end run, so no ratio."""
    assert main(["bench", "--only", "crypto", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["crypto_floor_rps"] > 0 and result["crypto_floor_rps_1core"] > 0
    assert "crypto_floor_ratio" not in result and "exchange_rps" not in result


def test_the_floors_request_is_checked_like_a_real_one() -> None:
    """The floor measures real work: a receipt that does not match fails its check."""
    one = crypto_floor.OneRequest(100)
    one()
    one.b_sk = crypto_floor.bench_authority("MA-CNA")[1]  # a key not in the directory
    with pytest.raises(Exception, match="not in the directory"):
        one()


def test_the_pg_part_runs_senders_of_1_and_2_processes_on_postgresql() -> None:
    """``--only pg`` at a smoke size: its own cluster, a sender of one process and one
    of two on PostgreSQL (the full run adds 4, and SQLite's), two peers; nothing lost
    or stored twice."""
    result = pg_rps.run(20, 4, 200, counts=(1, 2), receivers=2, sqlite=False)
    for key in ("pg_rps_1", "pg_rps_2", "pg_rps_2_vs_1",
                "pg_rps_1_cpu_ms_per_request", "pg_rps_2_postgres_cpu_ms_per_request"):  # fmt: skip
        value = result[key]
        assert isinstance(value, float) and value > 0, key
    assert result["pg_rps_requests"] == 20 and result["pg_rps_receivers"] == 2
    assert result["pg_rps_lost"] == 0 and result["pg_rps_duplicated"] == 0
