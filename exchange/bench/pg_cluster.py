"""A throwaway PostgreSQL cluster: ``initdb`` and ``pg_ctl`` in a temporary folder, on a
free loopback port, stopped (and its folder removed) by ``stop()``.

The tests' cluster (``tests/postgres.py``) and ``exchange bench --only ha --storage
postgresql`` both use it. The binaries are Debian's (``make test`` installs the
``postgresql`` package when they are missing). initdb refuses to run as root: as root
the cluster is run by the ``postgres`` user.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .local_federation import listening_ports


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

    def _run(self, *args: object) -> None:
        command = [str(a) for a in args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        # PostgreSQL's own binaries with our fixed arguments (no outside input)
        subprocess.run(command, check=True, capture_output=True, timeout=120)  # noqa: S603

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
        import psycopg  # loaded only where a cluster is started

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                f"CREATE DATABASE \"{name}\" TEMPLATE \"{template}\" LC_COLLATE 'C' LC_CTYPE 'C'"
            )
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def _migrated(self) -> str:
        if self._template is None:
            from ..store.pg import PgConnection, migrate_pg

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
