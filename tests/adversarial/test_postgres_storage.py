"""The PostgreSQL engine under attack and failure (a real cluster, real processes):

- the node's database connection is killed in the middle of a request's transaction
  (``pg_terminate_backend``, as an administrator or a failover would): the request is
  refused 503 ``unavailable``, nothing of it is stored, and the next request succeeds
  on a new connection;
- two processes write one database at once: the audit log stays one sequence, every
  index once, no gap, its tree verifying (writers are serialised by the database);
- erased rows' dead versions are pruned by the retention pass; backup and restore,
  which copy SQLite files, refuse a PostgreSQL node and name pg_dump.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from exchange.cli import main
from exchange.config import ConfigError, load_config
from exchange.core.directory import format_operator_key
from exchange.core.errors import ExchangeError
from exchange.core.merkle import MemoryHashStore, leaf_hash, root
from exchange.ops.backup import backup, restore
from exchange.ops.provision import AuthorityInfo, init_node
from exchange.ops.retention import truncate_wal
from exchange.store import audit
from exchange.store.pg import PgConnection, PgDatabase, migrate_pg

from ..federation import ApiClient, Federation, wait_until
from ..postgres import ENV, cluster

REQUEST = {
    "to": "MA-CNA",
    "kind": "information_request",
    "urgency": "urgent",
    "subject": "Killed",
    "body": "A request whose connection dies",
    "language": "en",
}

# The node's backend, waiting for the outbox (locked by the test: no other job writes
# it before this request is queued) while it holds the request's rows, written in the
# same transaction.
_MID_REQUEST = """SELECT a.pid FROM pg_stat_activity a
    WHERE a.datname = current_database() AND a.pid != pg_backend_pid()
      AND a.wait_event_type = 'Lock'
      AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.granted
                  AND l.relation = 'requests'::regclass AND l.mode = 'RowExclusiveLock')"""


async def counts(member: Any) -> tuple[int, int, int, int]:
    def read(c: Any) -> tuple[int, int, int, int]:
        return tuple(  # type: ignore[return-value]
            c.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608 (fixed names)
            for table in ("requests", "messages", "outbox", "audit_entries")
        )

    return await member.node.db.run(read)


async def test_a_connection_killed_mid_request_is_refused_whole_then_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "postgresql")
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start("ES-CNA")
    es = fed["ES-CNA"]
    url = es.config.storage_url
    assert url is not None
    investigator = await ApiClient(es).login("investigator")
    try:
        before = await counts(es)
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("BEGIN")
            admin.execute("LOCK TABLE outbox IN EXCLUSIVE MODE")  # reads still pass
            call = asyncio.ensure_future(investigator.call("POST", "/api/requests", REQUEST))

            def mid_request() -> int | None:
                row = admin.execute(_MID_REQUEST).fetchone()
                return None if row is None else int(row[0])

            pid = await wait_until(mid_request, what="the request's transaction mid-way")
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            admin.execute("ROLLBACK")
            status, body = await call
        assert status == 503, body
        assert body["error"]["code"] == "unavailable"
        assert "storage" in body["error"]["message"]
        assert await counts(es) == before  # its rows went with its transaction

        status, body = await investigator.call("POST", "/api/requests", REQUEST)
        assert status == 201, body  # a new connection, by itself
        after = await counts(es)
        assert after[:3] == (before[0] + 1, before[1] + 1, before[2] + 1)
        assert after[3] > before[3]
    finally:
        await investigator.close()
        await fed.stop()


# One writer process: waits for "go" on stdin, then appends its entries, one
# transaction each, as the node's actions do.
_WRITER = """
import sys
from datetime import UTC, datetime
from exchange.store import audit
from exchange.store.db import transaction
from exchange.store.pg import PgDatabase

url, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
db = PgDatabase(url)
sys.stdin.readline()

def one(i):
    def job(conn):
        with transaction(conn):
            return audit.append(conn, at=datetime.now(UTC), authority="ES-CNA",
                                action="node_initialised", actor=name, n=i)
    return job

for i in range(count):
    db.run_sync(one(i))
db.close()
print("done", flush=True)
"""


def test_two_processes_writing_at_once_keep_one_audit_sequence() -> None:
    url = cluster().database()
    conn = PgConnection(url)
    migrate_pg(conn)  # before the writers (each would wait for the other's migration)
    count = 150
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, url, name, str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("first", "second")
    ]
    try:
        for writer in writers:
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
        for writer in writers:
            out, err = writer.communicate(timeout=120)
            assert writer.returncode == 0, err[-2000:]
            assert out.strip() == "done"
        rows = list(audit.entries_with_leaves(conn))
        assert [i for i, _, _ in rows] == list(range(2 * count))  # no gap, no duplicate
        assert all(h == leaf_hash(e) for _, e, h in rows)
        actors = [e for _, e, _ in rows]
        assert sum(b'"first"' in e for e in actors) == count
        assert sum(b'"second"' in e for e in actors) == count
        expected = MemoryHashStore()
        for _, entry, _ in rows:
            expected.append(entry)
        assert root(audit.tree(conn), 2 * count) == root(expected, 2 * count)
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
        conn.close()


def test_the_retention_pass_prunes_erased_row_versions() -> None:
    """No secure_delete on PostgreSQL: the pass's last step (``truncate_wal``) runs a
    VACUUM, so an erased row's bytes leave its page then, not whenever autovacuum runs."""
    url = cluster().database()
    db = PgDatabase(url)
    try:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
            admin.execute("ALTER TABLE witness_alerts SET (autovacuum_enabled = off)")

            def fill(c: Any) -> None:
                for i in range(20):
                    c.execute(
                        "INSERT INTO witness_alerts (peer, kind, detail, evidence, at)"
                        " VALUES ('p', 'k', ?, '{}', 'now')",
                        (f"ERASED-MARKER-{i:02d}" + "x" * 40,),
                    )
                c.execute("DELETE FROM witness_alerts WHERE detail LIKE 'ERASED-MARKER-07%'")

            db.run_sync(fill)

            def page() -> bytes:
                row = admin.execute("SELECT get_raw_page('witness_alerts', 0)").fetchone()
                return bytes(row[0]) if row else b""

            assert b"ERASED-MARKER-07" in page()  # the dead row version, as deleted
            assert truncate_wal(db)
            assert b"ERASED-MARKER-07" not in page()
            assert b"ERASED-MARKER-06" in page()  # the others stay
    finally:
        db.close()


def test_backup_and_restore_refuse_a_postgresql_node(tmp_path: Path) -> None:
    data = tmp_path / "ES-CNA"
    init_node(
        data,
        AuthorityInfo(authority_id="ES-CNA", name="Spain"),
        operator_keys=[format_operator_key(bytes(range(32)))],
        storage_url=cluster().database(),
    )
    with pytest.raises(ExchangeError, match="pg_dump") as caught:
        backup(data, tmp_path / "backup.db")
    assert caught.value.code == "conflict"
    assert not (tmp_path / "backup.db").exists() and not (data / "exchange.db").exists()
    with pytest.raises(ExchangeError, match="pg_dump"):
        restore(tmp_path / "backup.db", data)


def test_init_on_postgresql_refuses_a_database_holding_a_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = cluster().database()
    key = format_operator_key(bytes(range(32)))
    args = ["init", "--authority", "ES-CNA", "--operator-key", key, "--storage-url", url]
    assert main([*args, "--data", str(tmp_path / "first")]) == 0
    assert load_config(tmp_path / "first" / "node.toml").storage_url == url
    assert not (tmp_path / "first" / "exchange.db").exists()
    capsys.readouterr()
    # a second node pointed at the same database would append to the first one's log
    assert main([*args, "--data", str(tmp_path / "second")]) != 0
    assert "already holds an audit log" in capsys.readouterr().err
    assert not (tmp_path / "second" / "node.toml").exists()
    with pytest.raises(ConfigError, match="storage"):
        init_node(
            tmp_path / "third",
            AuthorityInfo(authority_id="ES-CNA", name="Spain"),
            operator_keys=[key],
            storage_url="mysql://somewhere/db",
        )
    assert not (tmp_path / "third" / "node.toml").exists()
