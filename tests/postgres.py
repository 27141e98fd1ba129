"""The tests' throwaway PostgreSQL cluster (``exchange.bench.pg_cluster``, which the
bench's ``ha`` part uses too), one per session, stopped at its end.

``EXCHANGE_TEST_STORAGE=postgresql`` makes every node and store test use it (each its
own fresh database); without it only the PostgreSQL tests start one.
"""

from __future__ import annotations

import os

from exchange.bench.pg_cluster import Cluster

ENV = "EXCHANGE_TEST_STORAGE"


def on_postgresql() -> bool:
    return os.environ.get(ENV, "sqlite") == "postgresql"


_cluster: Cluster | None = None


def cluster() -> Cluster:
    """The session's cluster, started on first use (stopped by ``stop_cluster``)."""
    global _cluster
    if _cluster is None:
        _cluster = Cluster().start()
    return _cluster


def stop_cluster() -> None:
    global _cluster
    if _cluster is not None:
        _cluster.stop()
        _cluster = None
