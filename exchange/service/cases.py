"""Cases as users see them: opened, listed a page at a time, viewed with every request
in them, closed. Who may see which case is decided here, once: investigators the cases
they opened, liaison prosecutors every case (the rule of requests); auditors and admins
never reach them (``web``'s role checks).

A request filed without a case opens an implicit one (``filing``); one filed in a case
must name an open case of its author's, checked again in the filing transaction.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime

from ..core import ids
from ..core.canonical import JsonObject
from ..core.cases import IMPLICIT, CaseFields, case_fields, check_country, check_status
from ..core.errors import Malformed, UnknownCase
from ..core.handling import request_conditions
from ..core.roles import Role
from ..core.sharing import check_files_in
from ..store import audit as audit_store
from ..store import case_consents as consent_store
from ..store import case_lists
from ..store import cases as store
from ..store import messages as message_store
from ..store import sharing as sharing_store
from ..store.case_consents import Consent
from ..store.case_lists import CaseFilter
from ..store.cases import CaseRow, NewCase
from ..store.db import transaction
from ..store.messages import Traffic
from ..store.rows import RequestRow
from ..store.sharing import CaseMessage, Member
from .deadlines import annotate
from .node import Node
from .paging import PAGE_SIZE, Listed, listed, position
from .sessions import User

CasePage = Listed[CaseRow]


async def open_case(node: Node, user: User, body: JsonObject) -> CaseRow:
    """Open a case explicitly (investigators): audited, ``case_opened``."""
    fields = case_fields(body)
    case = NewCase(ids.request_id(), fields, created_by=user.username, now=node.clock.now())

    def work(conn: sqlite3.Connection) -> CaseRow:
        store.open_case(conn, node.vault, me=node.me, case=case)
        return store.case_row(conn, node.vault, case.id)

    return await node.db.run(work)


async def filing(
    node: Node, *, actor: str, case_id: str | None, now: datetime
) -> tuple[str, NewCase | None]:
    """Where a new request of ``actor``'s goes: the case named (checked now, before
    anything is sealed, and again when it is stored), or a new implicit case."""
    if case_id is None:
        return implicit_case(actor, now)
    await node.db.run(lambda c: store.check_filing(c, case_id, actor=actor))
    shared = await node.db.run(lambda c: sharing_store.sharing_of(c, case_id))
    check_files_in(node.me, shared.ref, shared.members.get(node.me))
    return case_id, None


def implicit_case(actor: str, now: datetime, fields: CaseFields = IMPLICIT) -> tuple[str, NewCase]:
    case = NewCase(ids.request_id(), fields, created_by=actor, now=now, implicit=True)
    return case.id, case


def case_filter(
    node: Node,
    *,
    status: str | None = None,
    authority: str | None = None,
    country: str | None = None,
    overdue: bool = False,
    shared: bool = False,
) -> CaseFilter:
    """The board's filters, all applied in the query. A country is on the route, or is
    the country of a counterpart (the directory's authorities in it)."""
    peers: tuple[str, ...] = ()
    if country:
        check_country(country)
        directory = node.directory.current
        held = directory.authorities if directory else ()
        peers = tuple(a.authority_id for a in held if a.country == country)
    if authority is not None and not 0 < len(authority) <= 100:
        raise Malformed("authority must be an authority id")
    return CaseFilter(
        status=check_status(status).value if status else None,
        authority=authority or None,
        country=country or None,
        peers=peers,
        overdue_at=node.clock.now() if overdue else None,
        shared=shared,
    )


async def list_cases(
    node: Node, user: User, wanted: CaseFilter, *, cursor: str | None, limit: int = PAGE_SIZE
) -> CasePage:
    """A page of the cases the user may see, newest first (the rule of ``check_visible``
    in the query)."""
    after = position(cursor, "cases")
    created_by = user.username if user.role is Role.INVESTIGATOR else None
    page = await node.db.run(
        lambda c: case_lists.newest_first(
            c, node.vault, wanted, created_by=created_by, after=after, limit=limit
        )
    )
    return listed(page, "cases")


def check_visible(case: CaseRow, user: User) -> None:
    """Investigators see the cases they opened; liaison prosecutors every case. The
    answer for another's case is the one for a missing case."""
    if user.role not in (Role.INVESTIGATOR, Role.LIAISON):
        raise UnknownCase("no such case")
    if user.role is Role.INVESTIGATOR and case.created_by != user.username:
        raise UnknownCase("no such case")


def receipt_state(row: RequestRow) -> str:
    """``held``: the recipient's signed receipt is ours; ``awaiting``: not yet;
    ``issued``: a peer's request, which this node receipted when it stored it."""
    if row.direction == "in":
        return "issued"
    return "held" if row.delivered_at is not None else "awaiting"


@dataclass(frozen=True)
class CaseView:
    """A case and every request in it, both directions, with their live state.
    ``subject``: an implicit case's first request's subject (its title is none)."""

    case: CaseRow
    requests: list[RequestRow]
    subject: str | None
    # the per-recipient table (issue 16): each request's last message and receipts
    traffic: dict[str, Traffic] = field(default_factory=dict)
    members: list[Member] = field(default_factory=list)  # a shared case's (store/sharing)
    case_messages: list[CaseMessage] = field(default_factory=list)
    # consent requests about its requests, both directions, with their answers
    consents: list[Consent] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            **self.case.to_json(),
            "subject": self.subject,
            "members": [m.to_json() for m in self.members],
            "case_messages": [m.to_json() for m in self.case_messages],
            "consents": [c.to_json() for c in self.consents],
            "requests": [
                {
                    "id": r.id,
                    "direction": r.direction,
                    "counterpart": r.counterpart,
                    "kind": r.kind,
                    "urgency": r.urgency,
                    "status": r.status.value,
                    "created_at": r.created_at,
                    "deadline": r.deadline,
                    "deadline_state": r.deadline_state,
                    "receipt": receipt_state(r),
                    "group_id": r.group_id,
                    "sender_reference": r.sender_reference,
                    "recipient_reference": r.recipient_reference,
                    "handling": r.handling,
                    **(self.traffic[r.id].to_json() if r.id in self.traffic else {}),
                }
                for r in self.requests
            ],
        }


async def case_view(node: Node, user: User, case_id: str) -> CaseView:
    """The case with its requests; viewing it is audited (``case_viewed``), as opening a
    request is, since the view shows its title and reference."""
    now = node.clock.now()

    def read(conn: sqlite3.Connection) -> CaseView:
        case = store.case_row(conn, node.vault, case_id)
        check_visible(case, user)
        rows = store.requests_of(conn, case_id)
        if user.role is Role.INVESTIGATOR:  # theirs, and in a shared case the members'
            shared = case.origin is not None
            rows = [
                r for r in rows if r.created_by == user.username or (shared and r.direction == "in")
            ]
        with transaction(conn):
            audit_store.append(
                conn,
                at=now,
                authority=node.me,
                action="case_viewed",
                actor=user.username,
                case_id=case_id,
            )
        subject = _first_subject(conn, node, rows) if case.title is None else None
        wanted = [r.id for r in rows]
        found = message_store.contents_of(conn, node.vault, wanted, _CONDITIONS)
        rows = [dataclasses.replace(r, **request_conditions(found[r.id])) for r in rows]
        return CaseView(
            case,
            rows,
            subject,
            message_store.traffic_of(conn, wanted, me=node.me),
            sharing_store.members(conn, node.vault, case_id),
            sharing_store.case_messages(conn, case_id),
            consent_store.consents_of(conn, wanted),
        )

    view = await node.db.run(read)
    return dataclasses.replace(view, requests=annotate(node, view.requests, now))


_CONDITIONS = ("request", "acknowledgement")  # where references and handling are


def _first_subject(conn: sqlite3.Connection, node: Node, rows: list[RequestRow]) -> str | None:
    if not rows or rows[0].erased_at is not None:
        return None
    first = message_store.messages(conn, node.vault, rows[0].id)
    subject = first[0].content.get("subject") if first else None
    return subject if isinstance(subject, str) else None


async def close_case(node: Node, user: User, case_id: str) -> CaseRow:
    """Close a case none of whose requests awaits an answer (investigators: their own;
    liaison: any); audited, ``case_closed``."""

    def work(conn: sqlite3.Connection) -> CaseRow:
        check_visible(store.case_row(conn, node.vault, case_id), user)
        return store.close_case(
            conn,
            node.vault,
            me=node.me,
            case_id=case_id,
            actor=user.username,
            now=node.clock.now(),
        )

    return await node.db.run(work)
