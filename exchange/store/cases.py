"""Cases: opened (explicitly, or implicitly by a request), read, closed, erased.

The title and the national reference may name people: they are sealed together at
rest by the vault under the record ``case:<id>`` (``names_key``, ``names``), and
erased with the case's last request (``erase_if_last``). Offences and the route are
codes, kept clear so that lists filter on them. Every write is one transaction with
its audit entry (ids and codes only, never the title or the reference).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..core.canonical import canonical_json, format_time
from ..core.cases import CaseFields, CaseStatus, Stop, check_close, check_file
from ..core.errors import UnknownCase
from ..core.lifecycle import expects_answer
from ..core.vault import Vault
from . import audit, sharing
from .db import fetch_all, fetch_one, transaction
from .rows import REQUEST_COLUMNS, RequestRow


@dataclass(frozen=True)
class NewCase:
    """A case to open: ``implicit`` when a request opens it without a title."""

    id: str
    fields: CaseFields
    created_by: str | None
    now: datetime
    implicit: bool = False


@dataclass(frozen=True)
class CaseRow:
    """One case, its title and reference opened (None once erased, or never given)."""

    id: str
    implicit: bool
    title: str | None
    reference: str | None
    offences: tuple[str, ...]
    route: tuple[Stop, ...]
    status: CaseStatus
    created_by: str | None
    created_at: str
    updated_at: str
    closed_at: str | None
    erased_at: str | None
    # a shared case's global id (store/sharing.py): the authority that opened it and
    # its id there; None until shared
    origin: str | None = None
    origin_case_id: str | None = None

    def to_json(self) -> dict[str, object]:
        shown = dataclasses.asdict(self)
        shown["offences"] = list(self.offences)
        shown["route"] = [stop.to_json() for stop in self.route]
        return shown


CASE_COLUMNS = (
    "id, implicit, offences, route, status, created_by, created_at, updated_at, closed_at,"
    " names_key, names, erased_at, origin, origin_case_id"
)


def record(case_id: str) -> str:
    """The vault record (associated data) of a case's sealed title and reference."""
    return f"case:{case_id}"


def case_of(vault: Vault, row: Mapping[str, Any]) -> CaseRow:
    title = reference = None
    if row["names"] is not None:
        names = json.loads(vault.open(row["names_key"], row["names"], record=record(row["id"])))
        title, reference = names["title"], names["reference"]
    return CaseRow(
        id=row["id"],
        implicit=bool(row["implicit"]),
        title=title,
        reference=reference,
        offences=tuple(json.loads(row["offences"])),
        route=tuple(Stop(s["country"], s["role"]) for s in json.loads(row["route"])),
        status=CaseStatus(row["status"]),
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        closed_at=row["closed_at"],
        erased_at=row["erased_at"],
        origin=row.get("origin"),
        origin_case_id=row.get("origin_case_id"),
    )


def insert_case(conn: sqlite3.Connection, vault: Vault, case: NewCase) -> None:
    """The case's row, inside the caller's transaction (no audit entry: an implicit
    case is named by its request's ``request_created`` entry; ``open_case`` audits)."""
    fields, at = case.fields, format_time(case.now)
    names_key = names = None
    if fields.title is not None or fields.reference is not None:
        plain = canonical_json({"title": fields.title, "reference": fields.reference})
        names_key, names = vault.seal(plain, record=record(case.id))
    conn.execute(
        """INSERT INTO cases (id, implicit, offences, route, status, created_by, created_at,
           updated_at, names_key, names) VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?)""",
        (
            case.id,
            int(case.implicit),
            json.dumps(list(fields.offences)),
            json.dumps([stop.to_json() for stop in fields.route]),
            case.created_by,
            at,
            at,
            names_key,
            names,
        ),
    )


def open_case(conn: sqlite3.Connection, vault: Vault, *, me: str, case: NewCase) -> None:
    """A case opened explicitly, with its ``case_opened`` entry (codes only)."""
    with transaction(conn):
        insert_case(conn, vault, case)
        audit.append(
            conn,
            at=case.now,
            authority=me,
            action="case_opened",
            actor=case.created_by or "",
            case_id=case.id,
            offences=list(case.fields.offences),
            route=[stop.country for stop in case.fields.route],
        )


def check_filing(conn: sqlite3.Connection, case_id: str, *, actor: str) -> None:
    """A request of ``actor``'s may be filed in the case: it exists, is theirs (the
    same answer as for a missing one) and is open. Run inside the filing transaction,
    so that a case closed meanwhile takes nothing."""
    row = fetch_one(conn, "SELECT status, created_by FROM cases WHERE id = ?", (case_id,))
    if row is None or row["created_by"] != actor:
        raise UnknownCase("no such case")
    check_file(CaseStatus(row["status"]))


def case_row(conn: sqlite3.Connection, vault: Vault, case_id: str) -> CaseRow:
    row = fetch_one(conn, f"SELECT {CASE_COLUMNS} FROM cases WHERE id = ?", (case_id,))  # noqa: S608 (fixed column names)
    if row is None:
        raise UnknownCase("no such case")
    return case_of(vault, row)


def requests_of(conn: sqlite3.Connection, case_id: str) -> list[RequestRow]:
    """The case's requests, oldest first (both directions)."""
    sql = f"SELECT {REQUEST_COLUMNS} FROM requests WHERE case_id = ? ORDER BY created_at, id"  # noqa: S608 (fixed column names)
    return [RequestRow.of(row) for row in fetch_all(conn, sql, (case_id,))]


def close_case(
    conn: sqlite3.Connection, vault: Vault, *, me: str, case_id: str, actor: str, now: datetime
) -> CaseRow:
    """Close a case none of whose requests awaits an answer, with its audit entry."""
    with transaction(conn):
        case = case_row(conn, vault, case_id)
        requests = requests_of(conn, case_id)
        check_close(case.status, [r.status.value for r in requests if expects_answer(r.kind)])
        at = format_time(now)
        conn.execute(
            "UPDATE cases SET status = 'closed', closed_at = ?, updated_at = ? WHERE id = ?",
            (at, at, case_id),
        )
        audit.append(conn, at=now, authority=me, action="case_closed", actor=actor, case_id=case_id)
        return case_row(conn, vault, case_id)


def erase_if_last(
    conn: sqlite3.Connection, *, me: str, request_id: str, now: datetime
) -> tuple[bytes, ...]:
    """Inside the erasure of a request: if its case holds no other request whose
    contents are kept, the case's title and reference are erased too (the wrapped key
    and the ciphertext), and so are its case messages' contents (a shared case's
    invitation states them too: ``store/sharing.erase_contents``), with a
    ``case_erased`` entry. Returns the wrapped keys erased (their KEKs are then rotated
    by the pass)."""
    found = fetch_one(conn, "SELECT case_id FROM requests WHERE id = ?", (request_id,))
    case_id = found["case_id"] if found else None
    if case_id is None:
        return ()
    kept = fetch_one(
        conn,
        "SELECT 1 FROM requests WHERE case_id = ? AND erased_at IS NULL AND id != ?",
        (case_id, request_id),
    )
    if kept is not None:
        return ()
    sealed = fetch_one(conn, "SELECT names_key FROM cases WHERE id = ?", (case_id,))
    erased = conn.execute(
        "UPDATE cases SET names_key = NULL, names = NULL, erased_at = ? WHERE id = ?"
        " AND erased_at IS NULL",
        (format_time(now), case_id),
    )
    if erased.rowcount == 0:
        return ()
    audit.append(
        conn, at=now, authority=me, action="case_erased", actor="retention", case_id=case_id
    )
    wrapped = sealed["names_key"] if sealed else None
    names = (bytes(wrapped),) if wrapped is not None else ()
    return names + sharing.erase_contents(conn, case_id)
