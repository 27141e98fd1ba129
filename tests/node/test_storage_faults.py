"""A full disk (SQLite's page limit reached) or a read-only database: the node
refuses new work with a clear, retryable error, writes nothing half-way, and
recovers by itself when space returns; peers retry until it does."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ..federation import FAST_DELIVERY, ApiClient, Federation, wait_until
from ..storage import refuse_writes, sqlite_only

REQUEST = {
    "to": "MA-CNA",
    "kind": "information_request",
    "urgency": "urgent",
    "subject": "Disk",
    "body": "A body that needs pages " * 200,
    "language": "en",
}


async def counts(member: Any) -> tuple[int, int, int]:
    def read(c: Any) -> tuple[int, int, int]:
        return (
            c.execute("SELECT COUNT(*) FROM requests").fetchone()[0],
            c.execute("SELECT COUNT(*) FROM messages").fetchone()[0],
            c.execute("SELECT COUNT(*) FROM audit_entries").fetchone()[0],
        )

    return await member.node.db.run(read)


async def fill_disk(member: Any) -> None:
    """No more pages than the file has now: the next growth fails with SQLITE_FULL."""

    def limit(c: Any) -> None:
        pages = c.execute("PRAGMA page_count").fetchone()[0]
        c.execute(f"PRAGMA max_page_count = {pages}")

    await member.node.db.run(limit)


async def free_disk(member: Any) -> None:
    await member.node.db.run(lambda c: c.execute("PRAGMA max_page_count = 1073741823"))


async def toggle_writes(member: Any, *, refused: bool) -> None:
    await asyncio.to_thread(
        member.node.db.run_outside_transaction, lambda c: refuse_writes(c, refused)
    )


@sqlite_only(
    "PRAGMA max_page_count stands for a full disk; on PostgreSQL a full disk is an"
    " OperationalError, answered 503 as a lost connection is: test_postgres_storage.py::"
    "test_a_connection_killed_mid_request_is_refused_whole_then_recovers"
)
async def test_full_disk_refuses_cleanly_and_recovers(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], extra_config=FAST_DELIVERY)
    await fed.start()
    es, ma = fed["ES-CNA"], fed["MA-CNA"]
    investigator = await ApiClient(es).login("investigator")
    try:
        # the sender's own disk is full: a clear 503, nothing half-written
        await fill_disk(es)
        before = await counts(es)
        refused = 0
        for _ in range(5):  # until the free pages left in the file are used up
            status, body = await investigator.call("POST", "/api/requests", REQUEST)
            if status == 503:
                assert body["error"]["code"] == "unavailable"
                assert "storage" in body["error"]["message"]
                refused += 1
        assert refused >= 1
        after = await counts(es)
        assert after[0] - before[0] == after[1] - before[1]  # a request never without its message
        await free_disk(es)
        status, _ = await investigator.call("POST", "/api/requests", REQUEST)
        assert status == 201

        # the receiver's disk is full: the sender is told "unavailable" and keeps retrying
        await fill_disk(ma)
        for _ in range(40):  # use up the free pages, so delivery must fail
            status, _ = await investigator.call("POST", "/api/requests", REQUEST)
            assert status == 201
        sent = (await counts(es))[0]

        async def refused_by_ma() -> bool:
            rows = await es.node.db.run(
                lambda c: c.execute(
                    "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND last_error IS NOT NULL"
                ).fetchone()[0]
            )
            return bool(rows)

        await wait_until(refused_by_ma, what="MA refusing for lack of space")
        await free_disk(ma)

        async def all_delivered() -> bool:
            return (await counts(ma))[0] == sent

        await wait_until(all_delivered, timeout=30, what="delivery once space returned")

        async def all_receipted() -> bool:
            pending = await es.node.db.run(
                lambda c: c.execute("SELECT COUNT(*) FROM outbox WHERE state != 'done'").fetchone()[
                    0
                ]
            )
            return bool(pending == 0)

        await wait_until(all_receipted, what="every receipt back at ES")
        assert (await counts(ma))[0] == sent  # exactly once
    finally:
        await investigator.close()
        await fed.stop()


async def test_read_only_database_refuses_with_a_clear_error(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start("ES-CNA")
    es = fed["ES-CNA"]
    investigator = await ApiClient(es).login("investigator")
    try:
        # The database goes read-only and back from outside the node's jobs (between
        # groups): as a job, the switch back was once grouped behind the checkpointer's,
        # whose BEGIN the read-only database refused, and failed with the group.
        await toggle_writes(es, refused=True)
        status, body = await investigator.call("POST", "/api/requests", REQUEST)
        assert status == 503 and body["error"]["code"] == "unavailable"
        await toggle_writes(es, refused=False)
        status, _ = await investigator.call("POST", "/api/requests", REQUEST)
        assert status == 201
    finally:
        await investigator.close()
        await fed.stop()
