"""``exchange storage migrate`` (issue 18, part 4) with real nodes, a real SQLite file and
the session's real PostgreSQL cluster, whatever EXCHANGE_TEST_STORAGE says: the source
is always a node on SQLite (so this file is not in the Makefile's PG_TESTS, where it
would run twice).

- A node that exchanged requests, receipts, a case and checkpoints with a peer moves
  to PostgreSQL (``--switch``), starts there, serves the same requests and contents,
  its audit log verifies with the same root at the old size, and a new request after
  the move is delivered and receipted (identity sequences were set past the copy).
- Refused with nothing written: a target holding rows or a schema of another version,
  a running node, a URL that is not PostgreSQL's, an unreachable server (its password
  never shown), a source newer than the code.
- A copy that fails midway leaves the target without a row: a corrupt row PostgreSQL's
  schema refuses (an orphan SQLite let in), the connection killed in the middle of a
  table's COPY; a value whose type changes on the way is caught by the row digests.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import tomllib
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

from exchange.cli import main
from exchange.config import load_config
from exchange.core.merkle import TreeBuilder, leaf_hash
from exchange.ops.audit_check import verify_data_dir
from exchange.ops.storage_migrate import migrate_storage
from exchange.ops.storage_switch import config_line, with_storage
from exchange.store import audit
from exchange.store.pg import PgConnection

from ..federation import ApiClient, Federation, wait_until
from ..postgres import ENV, cluster

TABLES_SQL = """SELECT table_name FROM information_schema.tables
    WHERE table_schema = 'public' AND table_name != 'schema_version'"""


def request(subject: str) -> dict[str, str]:
    return {
        "to": "MA-CNA",
        "kind": "information_request",
        "urgency": "urgent",
        "subject": subject,
        "body": f"Body of {subject}",
        "language": "en",
    }


def sqlite_federation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Federation:
    monkeypatch.setenv(ENV, "sqlite")  # the source is a node on its SQLite file
    return Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])


def rows_in(url: str) -> dict[str, int]:
    counts = {}
    with psycopg.connect(url) as conn:
        for (table,) in conn.execute(TABLES_SQL).fetchall():
            row = conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()  # noqa: S608 (catalogue)
            counts[table] = row[0] if row else 0
    return counts


def prefix_root(conn: sqlite3.Connection, size: int) -> str:
    tree = TreeBuilder()
    for _, entry in audit.entries(conn, 0, size):
        tree.add(leaf_hash(entry))
    assert tree.size == size
    return tree.root().hex()


async def _delivered_and_receipted(client: ApiClient, rid: str) -> bool:
    _, view = await client.call("GET", f"/api/requests/{rid}")
    return view["status"] != "queued" and bool(view["messages"][0]["receipt"])


async def test_a_node_moves_to_postgresql_and_carries_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fed = sqlite_federation(tmp_path, monkeypatch)
    await fed.start()
    es_member = fed["ES-CNA"]
    es = await ApiClient(es_member).login("investigator")
    ma = await ApiClient(fed["MA-CNA"]).login("liaison")
    try:
        ids = []
        for n in range(3):
            status, created = await es.call("POST", "/api/requests", request(f"Vessel {n}"))
            assert status == 201, created
            ids.append(created["id"])
        for rid in ids:
            await wait_until(lambda rid=rid: _delivered_and_receipted(es, rid), what="receipt")
        _, inbox = await ma.call("GET", "/api/inbox")
        incoming = inbox["requests"][0]["id"]
        status, _ = await ma.call("POST", f"/api/requests/{incoming}/acknowledge")
        assert status == 200
        _, mine = await es.call("GET", "/api/requests")
        msg_id = inbox["requests"][0]["msg_id"]
        acknowledged_id = next(r["id"] for r in mine["requests"] if r["msg_id"] == msg_id)
        await wait_until(
            lambda: _status_is(es, acknowledged_id, "acknowledged"), what="acknowledged at ES"
        )
        await es_member.checkpoint()
        _, listed_before = await es.call("GET", "/api/requests")
        _, detail_before = await es.call("GET", f"/api/requests/{acknowledged_id}")
        _, cases_before = await es.call("GET", "/api/cases")
    finally:
        await es.close()
    await fed.stop("ES-CNA")
    before = verify_data_dir(es_member.data)
    assert before.ok and before.entries > 10 and before.checkpoints >= 1
    with closing(sqlite3.connect(es_member.data / "exchange.db")) as conn, conn:
        messages_before = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]

    url = cluster().database(empty=True)  # no schema yet: the command migrates it
    assert main(["storage", "migrate", "--data", str(es_member.data), "--to", url, "--switch"]) == 0
    said = capsys.readouterr().out
    assert f"{before.entries:,} entries, root {before.root}" in said
    assert f"messages: {messages_before:,}" in said and "switched:" in said
    assert load_config(es_member.data / "node.toml").storage_url == url
    assert not (es_member.data / "exchange.db").exists()
    assert len(list(es_member.data.glob("exchange.db.migrated-*"))) == 1  # kept aside

    await fed.start("ES-CNA")  # now on PostgreSQL
    es = await ApiClient(es_member).login("investigator")
    try:
        assert es_member.node.db.url == url  # type: ignore[attr-defined]
        _, listed_after = await es.call("GET", "/api/requests")
        assert listed_after == listed_before
        _, detail_after = await es.call("GET", f"/api/requests/{acknowledged_id}")
        assert detail_after["messages"] == detail_before["messages"]  # contents decrypt
        assert detail_after["messages"][0]["content"]["body"].startswith("Body of Vessel")
        _, cases_after = await es.call("GET", "/api/cases")
        assert cases_after == cases_before
        # a new request after the move: new rows in every table with an identity column
        status, created = await es.call("POST", "/api/requests", request("After the move"))
        assert status == 201, created
        await wait_until(
            lambda: _delivered_and_receipted(es, created["id"]), what="receipt after the move"
        )
        await es_member.checkpoint()
    finally:
        await es.close()
        await ma.close()
        await fed.stop()
    after = verify_data_dir(es_member.data)
    assert after.ok and after.entries > before.entries, after.problems
    conn = PgConnection(url)
    try:
        assert prefix_root(conn, before.entries) == before.root  # type: ignore[arg-type]
    finally:
        conn.close()


async def _status_is(client: ApiClient, rid: str, want: str) -> bool:
    _, view = await client.call("GET", f"/api/requests/{rid}")
    return bool(view["status"] == want)


async def test_refusals_write_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fed = sqlite_federation(tmp_path, monkeypatch)
    data = fed["ES-CNA"].data

    def migrate(url: str) -> str:
        assert main(["storage", "migrate", "--data", str(data), "--to", url]) == 2
        return capsys.readouterr().err

    # a running node
    await fed.start("ES-CNA")
    try:
        url = cluster().database()
        assert "node_running" in migrate(url)
        assert sum(rows_in(url).values()) == 0
    finally:
        await fed.stop()

    # a target holding rows: one row of one table is enough
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(
            "INSERT INTO login_failures (username, failures, last_at) VALUES ('x', 1, 'y')"
        )
    err = migrate(url)
    assert "target_not_empty" in err and "login_failures" in err
    assert rows_in(url) == {**dict.fromkeys(rows_in(url), 0), "login_failures": 1}

    # a schema at another version
    other = cluster().database(empty=True)
    with psycopg.connect(other, autocommit=True) as admin:
        admin.execute("CREATE TABLE schema_version (version BIGINT NOT NULL)")
        admin.execute("INSERT INTO schema_version VALUES (1), (2), (3)")
    err = migrate(other)
    assert "target_not_empty" in err and "version 3" in err
    assert rows_in(other) == {}  # nothing created either

    # not a PostgreSQL URL; an unreachable server, its password never shown
    assert "config_error" in migrate("mysql://user@127.0.0.1/db")
    closed = _closed_port()
    err = migrate(f"postgresql://exchange:s3cret-pw@127.0.0.1:{closed}/nodb")
    assert "cannot connect to PostgreSQL at postgresql://exchange:***@127.0.0.1" in err
    assert "s3cret-pw" not in err
    err = migrate("postgresql://exchange:s3cret-pw@127.0.0.1:port/nodb")
    assert "cannot connect to PostgreSQL" in err and "s3cret-pw" not in err

    # a file newer than this code
    with closing(sqlite3.connect(data / "exchange.db")) as conn, conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (999)")
    fresh = cluster().database()
    err = migrate(fresh)
    assert "newer than this Exchange" in err
    assert sum(rows_in(fresh).values()) == 0
    assert load_config(data / "node.toml").storage_url is None  # never switched


def _closed_port() -> int:
    from exchange.bench.local_federation import listening_ports

    return listening_ports(1)[0]  # free: nothing listens there


def test_a_row_postgresql_refuses_rolls_the_whole_copy_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fed = sqlite_federation(tmp_path, monkeypatch)
    data = fed["ES-CNA"].data
    # an orphan SQLite let in (a plain connection does not enforce foreign keys);
    # events are copied after requests, cases, messages: midway through the copy
    with closing(sqlite3.connect(data / "exchange.db")) as conn, conn:
        conn.execute(
            "INSERT INTO events (request_id, at, event, actor, detail)"
            " VALUES ('no-such-request', '2026-01-01T00:00:00.000000Z', 'created', 'x', '{}')"
        )
    url = cluster().database()
    with pytest.raises(Exception, match="refused a row of events") as caught:
        migrate_storage(data, url)
    assert caught.value.code == "copy_not_verified"  # type: ignore[attr-defined]
    assert sum(rows_in(url).values()) == 0


def test_a_value_changed_on_the_way_is_caught_by_the_digests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fed = sqlite_federation(tmp_path, monkeypatch)
    data = fed["ES-CNA"].data
    # SQLite keeps bytes in a TEXT column as bytes; PostgreSQL's text column takes them
    # as their escaped form: a copy that "works" but is not the same data
    with closing(sqlite3.connect(data / "exchange.db")) as conn, conn:
        conn.execute("UPDATE users SET created_at = CAST(created_at AS BLOB)")
    url = cluster().database()
    with pytest.raises(Exception, match="users: the same 4 rows, but their contents differ"):
        migrate_storage(data, url)
    assert sum(rows_in(url).values()) == 0


def test_a_connection_killed_mid_copy_leaves_the_target_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fed = sqlite_federation(tmp_path, monkeypatch)
    data = fed["ES-CNA"].data
    url = cluster().database()
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            migrate_storage(data, url)
            outcome.append(None)
        except BaseException as exc:  # handed to the test's thread
            outcome.append(exc)

    with (
        psycopg.connect(url, autocommit=True) as admin,
        psycopg.connect(url, autocommit=True) as watcher,  # outside admin's snapshot
    ):
        # readers pass, writers wait: the copy stops at this table's COPY, with the
        # tables before it already written in its transaction
        admin.execute("BEGIN")
        admin.execute("LOCK TABLE users IN SHARE MODE")
        worker = threading.Thread(target=run)
        worker.start()
        pid = _poll(
            watcher,
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid != pg_backend_pid() AND wait_event_type = 'Lock'"
            " AND query LIKE 'COPY \"users\"%'",
        )
        written = watcher.execute(
            "SELECT COUNT(*) FROM pg_locks WHERE pid = %s AND mode = 'RowExclusiveLock'", (pid,)
        ).fetchone()
        assert written and written[0] > 1  # tables before users were written
        watcher.execute("SELECT pg_terminate_backend(%s)", (pid,))
        worker.join(timeout=60)
        admin.execute("ROLLBACK")
    assert not worker.is_alive()
    (error,) = outcome
    assert error is not None and "connection to PostgreSQL was lost while copying users" in str(
        error
    )
    assert sum(rows_in(url).values()) == 0


def _poll(conn: psycopg.Connection, sql: str, within: float = 30.0) -> int:  # type: ignore[type-arg]
    """Bounded polling for the one row ``sql`` finds (no fixed sleep as synchronisation)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        row = conn.execute(sql).fetchone()
        if row is not None:
            return int(row[0])
        time.sleep(0.02)
    raise AssertionError(f"nothing found by {sql}")


def test_the_storage_line_never_holds_the_password_and_reads_back(tmp_path: Path) -> None:
    line = config_line('postgresql://ex:pw"1@db.example.org:5432/ex?sslmode=verify-full')
    assert line == 'url = "postgresql://ex@db.example.org:5432/ex?sslmode=verify-full"'
    base = '[node]\nauthority_id = "ES-CNA"\n'
    # a [storage] table already there (comments only) gets the line; else one is added
    for text in (base, base + "\n[storage] # PostgreSQL\n# url = ...\n\n[audit]\nx = 1\n"):
        written = with_storage(text, line)
        parsed = tomllib.loads(written)
        assert (
            parsed["storage"]["url"] == "postgresql://ex@db.example.org:5432/ex?sslmode=verify-full"
        )
        assert written.count("[storage]") == 1
