"""``exchange storage migrate``: a node's data from its SQLite file into PostgreSQL."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..ops.storage_migrate import Migration, migrate_storage


def register(sub: Any) -> None:
    group = sub.add_parser("storage", help="move a node's data between storage engines")
    s = group.add_subparsers(dest="storage_command", required=True, metavar="ACTION")
    p = s.add_parser(
        "migrate",
        help="copy a stopped node's SQLite data into an empty PostgreSQL database, verified",
    )
    p.add_argument("--data", required=True, type=Path, help="the node's data folder")
    p.add_argument(
        "--to",
        required=True,
        metavar="URL",
        help="postgresql://user@host/db of an empty database (LC_COLLATE 'C'); a password is"
        " best left to ~/.pgpass or PGPASSWORD",
    )
    p.add_argument(
        "--switch",
        action="store_true",
        help="after a verified copy, write [storage] url into node.toml and rename"
        " exchange.db aside (kept, never deleted)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_migrate)


def cmd_migrate(args: argparse.Namespace) -> int:
    result = migrate_storage(args.data, args.to, switch=args.switch)
    if args.json:
        print(json.dumps(to_json(result)))
        return 0
    for line in describe(result, args.data):
        print(line)
    return 0


def to_json(result: Migration) -> dict[str, object]:
    return {
        "target": result.target,
        "tables": result.tables,
        "rows": result.rows,
        "audit_size": result.audit_size,
        "audit_root": result.audit_root,
        "checkpoints": result.checkpoints,
        "identities_reset": result.identities,
        "schema_version": result.schema_version,
        "source_migrated_from": result.source_migrated_from,
        "seconds": round(result.seconds, 3),
        "database_moved_to": str(result.database_moved_to) if result.database_moved_to else None,
        "config_line": result.config_line,
    }


def describe(result: Migration, data: Path) -> list[str]:
    rate = result.rows / result.seconds if result.seconds > 0 else 0.0
    lines = []
    if result.source_migrated_from is not None:
        lines.append(
            f"the SQLite file was at schema version {result.source_migrated_from}: migrated"
            f" to {result.schema_version} first, as the node does when it starts"
        )
    lines.append(
        f"copied {result.rows:,} rows of {len(result.tables)} tables into {result.target}"
        f" in {result.seconds:.1f} s ({rate:,.0f} rows/s), schema version"
        f" {result.schema_version}, {result.identities} identity sequences reset"
    )
    lines += [f"  {name}: {rows:,}" for name, rows in result.tables.items() if rows]
    lines.append(
        f"verified: every table's row count and digest, and the audit log on both sides:"
        f" {result.audit_size:,} entries, root {result.audit_root},"
        f" {result.checkpoints} checkpoints"
    )
    if result.database_moved_to is not None:
        lines.append(
            f"switched: {data / 'node.toml'} now says [storage] {result.config_line};"
            f" the SQLite file is kept as {result.database_moved_to}"
        )
        lines.append("next: start the node (`exchange node --data DIR`) and check it")
    else:
        lines.append(
            f"next: add these two lines to {data / 'node.toml'}, then start the node (not"
            " before: what it wrote to SQLite now would not be in PostgreSQL):"
        )
        lines += ["  [storage]", f"  {result.config_line}"]
        lines.append(f"  and keep {data / 'exchange.db'} aside until PostgreSQL is backed up")
    if "***@" in result.target:
        lines.append("the password is not written: give it to libpq in ~/.pgpass or PGPASSWORD")
    lines.append(
        "then back up PostgreSQL with its own tools (pg_dump, base backups): docs/OPERATIONS.md"
    )
    return lines
