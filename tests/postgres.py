"""A throwaway PostgreSQL cluster for the tests: ``initdb`` and ``pg_ctl`` in a
temporary folder, on a free loopback port, stopped at the end of the session.

``EXCHANGE_TEST_STORAGE=postgresql`` makes every node and store test use it (each its
own fresh database); without it only the PostgreSQL tests start one. The binaries are
Debian's (``make test`` installs the ``postgresql`` package when they are missing).
initdb refuses to run as root: as root the cluster is run by the ``postgres`` user.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from exchange.bench.local_federation import listening_ports

ENV = "EXCHANGE_TEST_STORAGE"


def on_postgresql() -> bool:
    return os.environ.get(ENV, "sqlite") == "postgresql"


def binaries() -> Path:
    """The newest installed PostgreSQL's ``bin`` folder."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if not found:
        raise RuntimeError("PostgreSQL is not installed: `make test` installs it")
    return found[-1].parent


class Cluster:
    """One running cluster; ``database()`` gives a fresh database's URL."""

    def __init__(self) -> None:
        self.bin = binaries()
        self.root = Path(tempfile.mkdtemp(prefix="exchange-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.port = listening_ports(1)[0]  # below the ephemeral range, as the nodes
        self._names = itertools.count(1)
        self._as_postgres = os.geteuid() == 0
        self._template: str | None = None
        self._template: str | None = None

    def _run(self, *args: str) -> None:
        command = [str(a) for a in args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> Cluster:
        self.sockets.mkdir()
        if self._as_postgres:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sockets, "postgres")
        self._run(
            self.bin / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust",
            "--locale=C", "--encoding=UTF8", "--no-sync",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port}"
            f" -c unix_socket_directories={self.sockets}"
            # a throwaway cluster: durability is the SQLite suite's and the crash tests'
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=300"
        )
        self._run(
            self.bin / "pg_ctl", "-D", self.data, "-o", options, "-w", "-t", "60",
            "-l", self.root / "log", "start",
        )  # fmt: skip
        return self

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database(self, *, empty: bool = False) -> str:
        """A new database (byte order, as the engine requires), its schema migrated
        unless ``empty``; its URL. Copied from a template migrated once, instead of
        migrating each node's database anew."""
        template = "template0" if empty else self._migrated()
        return self._create(f"node_{os.getpid()}_{next(self._names)}", template)

    def _create(self, name: str, template: str) -> str:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                f"CREATE DATABASE \"{name}\" TEMPLATE \"{template}\" LC_COLLATE 'C' LC_CTYPE 'C'"
            )
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def _migrated(self) -> str:
        if self._template is None:
            from exchange.store.pg import PgConnection, migrate_pg

            conn = PgConnection(self._create("exchange_template", "template0"))
            migrate_pg(conn)
            conn.close()
            self._template = "exchange_template"
        return self._template

    def stop(self) -> None:
        try:
            self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


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
