"""``exchange directory``: the operator's tools (key, add, remove, sign) and
anyone's (verify, show, search).

The operator keeps an unsigned *draft* (the directory payload as JSON),
adds or updates entries from the ``authority.json`` each node's
``exchange init`` writes (refusing one whose self-signature does not hold),
and signs it into the document nodes fetch. Each
signing increases the serial, so nodes accept the new document and refuse
the old one; the serial the operator key last signed is kept next to it
(``ops/operator_state.py``), so a serial is never signed twice, even into a new
``--out`` file.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..core.canonical import format_time
from ..core.directory import (
    KINDS,
    Authority,
    Directory,
    format_operator_key,
    parse_operator_key,
    sign_directory,
    verify_directory,
)
from ..core.directory_search import DirectoryIndex
from ..core.errors import DirectoryRejected, Malformed
from ..ops.keyfiles import create_operator_key, load_operator_key
from ..ops.operator_state import next_serial, record_signed


def register(sub: Any) -> None:
    group = sub.add_parser(
        "directory", help="create, sign, verify and search the authority directory"
    )
    d = group.add_subparsers(dest="directory_command", required=True, metavar="ACTION")

    p = d.add_parser(
        "operator-key", help="create the directory operator's signing key (file mode 0600)"
    )
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(handler=cmd_operator_key)

    p = d.add_parser(
        "add", help="add or update entries in a draft from nodes' authority.json files"
    )
    p.add_argument(
        "--draft", required=True, type=Path, help="the unsigned draft (created if missing)"
    )
    p.add_argument("entries", nargs="+", type=Path, help="authority.json files")
    p.set_defaults(handler=cmd_add)

    p = d.add_parser("remove", help="remove an authority from a draft")
    p.add_argument("--draft", required=True, type=Path)
    p.add_argument("authority_id")
    p.set_defaults(handler=cmd_remove)

    p = d.add_parser("sign", help="sign a draft into a directory document with a new serial")
    p.add_argument("--draft", required=True, type=Path)
    p.add_argument(
        "--key", required=True, type=Path, action="append", help="operator key file (repeatable)"
    )
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--valid-days", type=int, default=30)
    p.set_defaults(handler=cmd_sign)

    p = d.add_parser("verify", help="verify a signed directory against pinned operator keys")
    p.add_argument("document", type=Path)
    p.add_argument(
        "--operator-key", required=True, action="append", help="'ed25519:...' (repeatable)"
    )
    p.add_argument(
        "--held-serial", type=int, help="refuse serials older than this (rollback check)"
    )
    p.set_defaults(handler=cmd_verify)

    p = d.add_parser("show", help="list the entries of a directory document or draft")
    p.add_argument("document", type=Path)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_show)

    p = d.add_parser("search", help="search a directory document or draft")
    p.add_argument("document", type=Path)
    p.add_argument("query", nargs="?", default="", help="free text (name, id, requirements)")
    p.add_argument("--country")
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--language")
    p.add_argument("--limit", type=int, default=50)
    p.set_defaults(handler=cmd_search)


def cmd_operator_key(args: argparse.Namespace) -> int:
    pair = create_operator_key(args.out)
    print(f"operator key written to {args.out} (keep it offline)")
    print(
        "public key to pin in every node's [directory] operator_keys: "
        + format_operator_key(pair.public.public)
    )
    return 0


def _read_draft(path: Path) -> Directory:
    if not path.exists():
        now = datetime.now(UTC)
        return Directory(1, now, now + timedelta(days=1), ())
    return _load_any(path)


def _load_any(path: Path) -> Directory:
    """A draft (bare payload) or a signed document (entries read without verifying)."""
    try:
        data = json.loads(path.read_bytes())
    except ValueError:
        raise Malformed(f"{path} is not JSON") from None
    payload = data.get("directory", data) if isinstance(data, dict) else data
    return Directory.from_payload(payload)


def _write_draft(path: Path, directory: Directory) -> None:
    path.write_text(json.dumps(directory.payload(), indent=2, ensure_ascii=False) + "\n")


def cmd_add(args: argparse.Namespace) -> int:
    """Nothing is written unless every entry parses and its self-signature holds now
    (the authority holds the private half of the key it publishes)."""
    directory = _read_draft(args.draft)
    now = datetime.now(UTC)
    for entry_path in args.entries:
        try:
            authority = Authority.from_json(json.loads(entry_path.read_text()))
        except (ValueError, Malformed) as exc:
            raise Malformed(f"{entry_path}: {exc}") from None
        try:
            authority.check_self_signature(now)
        except DirectoryRejected as exc:
            raise DirectoryRejected(f"{entry_path}: {exc.message}; nothing written") from None
        verb = "updated" if directory.get(authority.authority_id) else "added"
        directory = directory.with_authority(authority)
        print(f"{verb} {authority.authority_id} ({authority.name})")
    _write_draft(args.draft, directory)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    _write_draft(args.draft, _read_draft(args.draft).without_authority(args.authority_id))
    print(f"removed {args.authority_id}")
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    if not 1 <= args.valid_days <= 366:
        raise Malformed("--valid-days must be 1..366")
    draft = _load_any(args.draft)
    previous = _load_any(args.out).serial if args.out.exists() else 0
    now = datetime.now(UTC)
    for authority in draft.authorities:  # before a serial is taken: nothing written
        try:
            authority.check_self_signature(now)
        except DirectoryRejected as exc:
            raise DirectoryRejected(f"{args.draft}: {exc.message}; nothing signed") from None
    directory = Directory(
        next_serial(args.key, wanted=max(draft.serial, previous + 1)),
        now,
        now + timedelta(days=args.valid_days),
        draft.authorities,
    )
    operators = [load_operator_key(path) for path in args.key]
    document = sign_directory(directory, *operators)
    record_signed(args.key, serial=directory.serial, document=document, now=now)
    args.out.write_bytes(document)
    _write_draft(args.draft, directory)
    print(
        f"signed serial {directory.serial} with {len(directory.authorities)} entries, "
        f"expires {format_time(directory.expires_at)}: {args.out}"
    )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    keys = tuple(parse_operator_key(k) for k in args.operator_key)
    try:
        directory = verify_directory(
            args.document.read_bytes(),
            pinned_operator_keys=keys,
            now=datetime.now(UTC),
            held_serial=args.held_serial,
        )
    except DirectoryRejected as exc:
        print(f"REJECTED: {exc.message}")
        return 1
    print(
        f"OK: serial {directory.serial}, {len(directory.authorities)} entries, "
        f"expires {format_time(directory.expires_at)}"
    )
    return 0


def _print_table(authorities: list[Authority]) -> None:
    for a in authorities:
        print(
            f"{a.authority_id:<16} {a.country}  {a.kind:<28} {','.join(a.languages):<12} {a.name}"
        )


def cmd_show(args: argparse.Namespace) -> int:
    directory = _load_any(args.document)
    if args.json:
        print(json.dumps(directory.payload(), indent=2, ensure_ascii=False))
        return 0
    print(
        f"serial {directory.serial}, issued {format_time(directory.issued_at)}, "
        f"expires {format_time(directory.expires_at)}, {len(directory.authorities)} entries"
    )
    _print_table(list(directory.authorities))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    index = DirectoryIndex(_load_any(args.document))
    found = index.search(
        args.query, country=args.country, kind=args.kind, language=args.language, limit=args.limit
    )
    _print_table(found)
    print(f"{len(found)} found")
    return 0
