"""``exchange storage migrate``: move a stopped node's data from its SQLite file into an
empty PostgreSQL database, check the copy, then (``--switch``) point the node at it.

In order, each step refusing with a precise message and nothing written:

1. the node is stopped: its period keys' writer lock is taken (a running node holds it;
   ``ops/period_keys.take_writer_lock``) and kept to the end, so none starts meanwhile;
2. the SQLite file is brought to this code's schema as a node starting on it would
   (``store/db.migrate``); a file newer than this code is refused;
3. the target is reached, byte-ordered (``require_c_collation``), at no schema or at
   this code's version, and migrated to it (``migrate_pg``);
4. in ONE PostgreSQL transaction holding the engine's write lock: the target is checked
   empty (no row in any of our tables), every table is copied parents first with
   ``COPY``, in batches, from one consistent SQLite snapshot; identity sequences are
   set past the copied ids; each table's rows are counted and hashed on both sides and
   the audit log verified on both (``ops/storage_verify``). Only then COMMIT: any
   failure, a lost connection included, leaves the target without a row.

The URL's password is never shown: messages carry ``redacted_url``, and the server's
own error text is scrubbed of it. ``--switch`` writes ``[storage] url`` without the
password (libpq reads it from ``~/.pgpass`` or ``PGPASSWORD``, as config/node.example.toml
asks) and renames ``exchange.db`` aside; it never deletes it.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import structlog

from ..config import NodeConfig, check_storage_url, load_config, redacted_url
from ..core.errors import Conflict, ExchangeError, NotFound, StorageUnavailable
from ..core.note import format_vkey
from ..core.witness import origin_for
from ..store import audit, pg_copy
from ..store.db import Database
from ..store.pg import PgConnection, migrate_pg, require_c_collation
from ..store.schema import MIGRATIONS
from ..store.snapshots import open_read_only
from .audit_check import held_directory, verify_database
from .keyfiles import AUDIT_KEY_FILE, load_or_create_audit_key
from .period_keys import KeysInUse, take_writer_lock
from .storage_switch import switch_to
from .storage_verify import CopyNotVerified, TableSum, compare_tables, table_sum

log = structlog.get_logger()


class NodeRunning(ExchangeError):
    """The node (or another command holding its keys) runs on this data folder."""

    code = "node_running"


class TargetNotEmpty(Conflict):
    """The PostgreSQL database holds rows, or a schema of another version."""

    code = "target_not_empty"


class StorageRefused(ExchangeError):
    """PostgreSQL refused a statement of the migration (a missing privilege, ...)."""

    code = "storage_refused"


@dataclass
class Migration:
    """What ``migrate_storage`` did (nothing in it is secret)."""

    target: str  # the URL, its password redacted
    tables: dict[str, int] = field(default_factory=dict)  # rows copied per table
    audit_size: int = 0
    audit_root: str = ""
    checkpoints: int = 0
    identities: int = 0  # identity sequences set past the copied ids
    schema_version: int = 0
    source_migrated_from: int | None = None  # the SQLite file's version, when older
    seconds: float = 0.0
    database_moved_to: Path | None = None  # --switch: where exchange.db went
    config_line: str = ""  # [storage] url = "...", its password left out

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def migrate_storage(
    data: Path,
    url: str,
    *,
    switch: bool = False,
    batch: int = pg_copy.BATCH,
    timer: Callable[[], float] = time.monotonic,
) -> Migration:
    config = load_config(data / "node.toml")
    if config.storage_url is not None:
        raise Conflict(
            f"this node keeps its data in PostgreSQL already ({redacted_url(config.storage_url)})"
        )
    check_storage_url(url)
    if not config.database.exists():
        raise NotFound(f"no SQLite database at {config.database}: nothing to migrate")
    started = timer()
    lock = _stopped_node(config)
    try:
        result = Migration(target=redacted_url(url), schema_version=len(MIGRATIONS))
        target = _connect(url)  # unreachable: refused before the file is touched
        try:
            result.source_migrated_from = _source_up_to_date(config.database)
            _prepare_target(target, url)
            _copy_verified(config, target, url, result, batch)
        except psycopg.Error as exc:  # the server refused a statement (a permission...)
            raise StorageRefused(
                f"PostgreSQL at {redacted_url(url)} refused: {_cause(exc, url)}; nothing was"
                " committed"
            ) from None
        finally:
            target.close()
        result.config_line, moved = switch_to(config, url, switch=switch)
        result.database_moved_to = moved
    finally:
        os.close(lock)
    result.seconds = timer() - started
    log.info(
        "storage_migrated",
        target=result.target,
        rows=result.rows,
        audit_size=result.audit_size,
        seconds=round(result.seconds, 3),
        switched=result.database_moved_to is not None,
    )
    return result


def _stopped_node(config: NodeConfig) -> int:
    try:
        return take_writer_lock(config.keys_dir)
    except KeysInUse:
        raise NodeRunning(
            f"the node is running on {config.data_dir} (or another exchange command is:"
            " it holds the node's keys): stop it, then migrate"
        ) from None


def _source_up_to_date(path: Path) -> int | None:
    """Bring the file to this code's schema as a starting node would; its old version."""
    reader = open_read_only(path)
    try:
        version = pg_copy.source_version(reader)
    finally:
        reader.close()
    if version > len(MIGRATIONS):
        raise Conflict(
            f"{path} is at schema version {version}, newer than this Exchange's"
            f" {len(MIGRATIONS)}: migrate it with the version that wrote it"
        )
    if version == len(MIGRATIONS):
        return None
    Database(path).close()  # migrates, as `exchange node` does when it starts
    return version


def _connect(url: str) -> PgConnection:
    try:
        return PgConnection(url)
    except StorageUnavailable as exc:
        raise StorageUnavailable(
            f"cannot connect to PostgreSQL at {redacted_url(url)}: {_cause(exc, url)}"
        ) from None


def _cause(exc: BaseException, url: str) -> str:
    """The server's or libpq's first line, never the password (nor a row's values:
    PostgreSQL puts those in the DETAIL lines)."""
    cause = exc.__cause__ or exc
    text = str(cause).split("\n", 1)[0].strip() or type(cause).__name__
    try:
        password = psycopg.conninfo.conninfo_to_dict(url).get("password")
    except psycopg.Error:  # a URL libpq cannot even parse: say only that
        return "libpq cannot parse the URL"
    if password:
        text = text.replace(str(password), "***")
    return text


def _prepare_target(target: PgConnection, url: str) -> None:
    """Byte order, a schema at no or this code's version, migrated to it."""
    require_c_collation(target)
    version = pg_copy.target_version(target)
    if version is not None and version != len(MIGRATIONS):
        raise TargetNotEmpty(
            f"the database at {redacted_url(url)} holds a schema at version {version}"
            f" (this Exchange's is {len(MIGRATIONS)}): migrate into an empty database"
        )
    migrate_pg(target)


def _copy_verified(
    config: NodeConfig, target: PgConnection, url: str, result: Migration, batch: int
) -> None:
    source = open_read_only(config.database)
    try:
        with pg_copy.snapshot(source), pg_copy.one_transaction(target):
            tables = pg_copy.source_tables(source)
            _same_tables(tables, pg_copy.target_columns(target))
            held = pg_copy.tables_holding_rows(target, [t.name for t in tables])
            if held:
                raise TargetNotEmpty(
                    f"the database at {redacted_url(url)} is not empty: {', '.join(held[:5])}"
                    f"{' and more' if len(held) > 5 else ''} hold rows. Migrate into an"
                    " empty database (created with LC_COLLATE 'C')"
                )
            for table in tables:
                result.tables[table.name] = _copy(target, table, source, batch, url)
            result.identities = len(pg_copy.reset_identities(target))
            _verify(config, source, target, tables, result, batch)
    finally:
        source.close()


def _same_tables(tables: list[pg_copy.Table], held: dict[str, tuple[str, ...]]) -> None:
    """The target's schema has every table and column of the file (same migrations)."""
    for table in tables:
        missing = set(table.copied) - set(held.get(table.name, ()))
        if missing:
            raise CopyNotVerified(
                f"the PostgreSQL schema lacks {table.name}({', '.join(sorted(missing))})"
            )


def _copy(
    target: PgConnection, table: pg_copy.Table, source: sqlite3.Connection, batch: int, url: str
) -> int:
    try:
        return pg_copy.copy_into(target, table, pg_copy.source_rows(source, table, batch))
    except psycopg.OperationalError as exc:
        raise StorageUnavailable(
            f"the connection to PostgreSQL was lost while copying {table.name}"
            f" ({_cause(exc, url)}): nothing was committed, the target holds no row"
        ) from None
    except psycopg.Error as exc:
        what = _cause(exc, url) if isinstance(exc, psycopg.IntegrityError) else exc.sqlstate
        raise CopyNotVerified(
            f"PostgreSQL refused a row of {table.name} ({what}; a row SQLite let in but its"
            " schema forbids, such as an orphan: run SQLite's foreign key check on the"
            " file): nothing was committed"
        ) from None


def _verify(
    config: NodeConfig,
    source: sqlite3.Connection,
    target: PgConnection,
    tables: list[pg_copy.Table],
    result: Migration,
    batch: int,
) -> None:
    before: dict[str, TableSum] = {}
    after: dict[str, TableSum] = {}
    for table in tables:
        before[table.name] = table_sum(pg_copy.source_rows(source, table, batch))
        after[table.name] = table_sum(pg_copy.target_rows(target, table, batch))
    compare_tables(before, after)
    vkey = _own_vkey(config)
    source_log = verify_database(
        source,
        authority_id=config.authority_id,
        directory=held_directory(source, config.operator_keys),
        vkey=vkey,
    )
    target_log = verify_database(
        target,  # type: ignore[arg-type]  # PgConnection: what the store reads of one
        authority_id=config.authority_id,
        directory=held_directory(target, config.operator_keys),  # type: ignore[arg-type]
        vkey=vkey,
        entries=pg_copy.target_audit_entries(target),
    )
    if not source_log.ok:
        raise CopyNotVerified(
            f"the node's own audit log does not verify ({source_log.problems[0].message}):"
            " run `exchange audit verify` and resolve it before migrating"
        )
    same = (target_log.entries, target_log.root) == (source_log.entries, source_log.root)
    if not target_log.ok or not same:
        raise CopyNotVerified(
            f"the copied audit log differs: {source_log.entries:,} entries, root"
            f" {source_log.root} in SQLite; {target_log.entries:,}, root {target_log.root}"
            " in PostgreSQL"
        )
    result.audit_size, result.audit_root = source_log.entries, source_log.root
    result.checkpoints = source_log.checkpoints
    if audit.size(source) != result.audit_size:
        raise CopyNotVerified("the audit log's size and its entries disagree")


def _own_vkey(config: NodeConfig) -> str | None:
    """The node's own audit key (the one it signs checkpoints with); else the directory's."""
    if not (config.keys_dir / AUDIT_KEY_FILE).exists():
        return None
    pair = load_or_create_audit_key(config.keys_dir)
    return format_vkey(origin_for(config.authority_id), pair.public.public)
