"""The lease keeper of a running node (workers/leases.py, ``[cluster] active_active``):
a duty stops when its lease is taken over, and stops in time on its own when renewals
cannot reach the database, before the lease expires for anyone else."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from exchange.service import leases as lease_service
from exchange.store import leases
from exchange.web.appkeys import LEASES_KEY

from ..federation import FAST_DELIVERY, Federation, wait_until
from ..storage import node_database, raw_connection

CLUSTER = FAST_DELIVERY + "\n[cluster]\nactive_active = true\n"


def _keeper(fed: Federation) -> Any:
    running = fed["ES-CNA"].running
    assert running is not None
    return running.app[LEASES_KEY]


async def test_a_duty_stops_when_its_lease_is_taken_over(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA"], extra_config=CLUSTER)
    await fed.start()
    keeper = _keeper(fed)
    other = node_database(fed["ES-CNA"].data)
    try:
        await wait_until(lambda: "checkpoints" in keeper.held(), what="checkpoints held")
        duty = next(t for t in asyncio.all_tasks() if t.get_name() == "duty-checkpoints")
        # another process takes the row over (as it would once the lease had expired)
        later = fed.clock.now() + timedelta(seconds=7)
        with capture_logs() as logs:
            taken = other.run_sync(
                lambda c: leases.acquire(c, "checkpoints", "intruder", later, timedelta(seconds=60))
            )
            assert taken is not None
            await wait_until(lambda: duty.done(), what="the duty stopped")
            await wait_until(lambda: "checkpoints" not in keeper.held(), what="let go")
        lost = [e for e in logs if e["event"] == "lease_lost" and e["duty"] == "checkpoints"]
        # its next fenced write (a checkpoint, every 0.2 s) or its next renewal saw it
        assert [e["reason"] for e in lost] in (["fenced_write_refused"], ["taken_over"])
        rows = {r.duty: r.holder for r in await lease_service.rows(fed["ES-CNA"].node)}
        assert rows["checkpoints"] == "intruder"  # and the node did not take it back
    finally:
        other.close()
        await fed.stop()


async def test_a_duty_stops_before_expiry_when_renewals_cannot_commit(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA"], extra_config=CLUSTER)
    await fed.start()
    keeper = _keeper(fed)
    blocker = raw_connection(fed["ES-CNA"].data)
    try:
        grant = await wait_until(lambda: keeper._grants.get("checkpoints"), what="held")
        with capture_logs() as logs:
            blocker.execute("BEGIN IMMEDIATE")  # the database's write lock, held
            # (PostgreSQL: the engine sends BEGIN and the lock with the next statement)
            blocker.execute("SELECT 1").fetchone()
            try:
                expires_at = grant.state.expires_at  # the last renewal before the lock
                await wait_until(lambda: _stopped(logs), timeout=30, what="the duty stopped")
                stopped_at = fed.clock.now()
            finally:
                blocker.execute("ROLLBACK")
        # stopped by the watchdog, before the row (renewed at most up to the lock) expired
        assert grant.lost.is_set()
        assert stopped_at < grant_expiry(expires_at, keeper)
        lost = [e for e in logs if e["event"] == "lease_lost" and e["duty"] == "checkpoints"]
        assert [e["reason"] for e in lost] == ["not_renewed_in_time"]
    finally:
        blocker.close()
        await fed.stop()


def _stopped(logs: list[Any]) -> bool:
    return any(e["event"] == "duty_stopped" and e["duty"] == "checkpoints" for e in logs)


def grant_expiry(first: Any, keeper: Any) -> Any:
    """The latest the row could expire: renewals run every renew_every before the lock."""
    return first + keeper.timing.renew_every
