"""Active-active failover with real processes (issue 18): ES-CNA runs as two ``exchange
node`` processes on one data folder behind a balancer, MA-CNA is its peer. Requests
are created through both ES processes and through MA while the ES process holding the
leases is killed with SIGKILL. The other takes every duty over within 10 s (the lease
TTL 6 s plus one renewal interval), and at the end no request is lost or duplicated,
every one is receipted, both audit logs verify, and no duty was ever held by both
processes at once (from their own log events).

The harness is ``exchange.bench.ha`` (the bench's ``ha`` part runs the same): the
storage engine is its parameter. On SQLite both processes share the data folder's
file; on PostgreSQL both use one fresh database of the session's throwaway cluster
(the peer stays on SQLite), and every check reads through the engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from exchange.bench.ha import failover

from ..postgres import cluster

pytestmark = pytest.mark.slow
# engine name -> ES's [storage] url (None: the SQLite file in its data folder)
ENGINES: dict[str, Callable[[], str | None]] = {
    "sqlite": lambda: None,
    "postgresql": lambda: cluster().database(),
}


@pytest.mark.parametrize("engine", sorted(ENGINES))
async def test_the_lease_holder_killed_under_load(tmp_path: Path, engine: str) -> None:
    result = await failover(tmp_path, load_s=4.0, clients=4, storage_url=ENGINES[engine]())
    print(f"{engine}: {result.to_json()}")
    assert "checkpoints" in result.killed_duties  # the victim held (at least) that duty
    assert result.failover_s <= 10.0
    assert result.lost == 0 and result.duplicated == 0
    assert result.unreceipted == 0 and result.audit_ok
    assert not result.overlaps, result.overlaps
    # both ES processes answered API calls and the peer's calls (through the balancer)
    es_urls = [u for u in result.created if u != result.peer_url]
    assert all(result.created[u] > 0 for u in es_urls), result.created
    assert result.created[result.peer_url] > 0
    assert all(count > 0 for count in result.served.values()), result.served
