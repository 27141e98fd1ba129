"""Deadlines and escalation alerts: what lists show, and what the scheduler does.

Investigators see the deadlines and alerts of the requests they created; liaison
prosecutors and admins see all of them (``own_only``). Metadata only, but for the
handling code (conditions of use) of each request, shown to those who may read it.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from functools import partial

from ..core.canonical import JsonObject, format_time
from ..core.deadlines import DeadlineState
from ..core.directory_freshness import Freshness
from ..core.errors import Malformed
from ..core.handling import request_conditions
from ..core.roles import Role
from ..store import deadline_lists as lists
from ..store import deadlines as store
from ..store import messages as message_store
from ..store.rows import RequestRow
from .node import Node
from .paging import PAGE_SIZE, Listed, listed, position
from .sessions import User

URGENCIES = ("emergency", "urgent", "standard")
STATES = tuple(s.value for s in DeadlineState)


def own_only(user: User) -> str | None:
    """The creator whose requests ``user`` may follow (None: every request)."""
    return user.username if user.role is Role.INVESTIGATOR else None


def _choice(name: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    if value and value not in allowed:
        raise Malformed(f"{name} must be one of {', '.join(allowed)}")
    return value or None


async def deadlines(
    node: Node,
    user: User,
    *,
    state: str | None = None,
    urgency: str | None = None,
    peer: str | None = None,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> Listed[store.DeadlineRow]:
    """A page of tracked requests with their live state: open ones first by time left,
    then the settled ones by the time they had left when answered (ties by id);
    filters: state, urgency, peer (store/deadline_lists.py)."""
    state = _choice("state", state, STATES)
    urgency = _choice("urgency", urgency, URGENCIES)
    if peer is not None and len(peer) > 64:
        raise Malformed("peer must be an authority id")
    after = position(cursor, "deadlines")
    wanted = lists.DeadlineFilter(state, urgency, peer or None, own_only(user))
    policy, now = node.config.escalation.policy(), node.clock.now()
    page = await node.db.run(
        lambda c: lists.by_time_left(c, wanted, policy=policy, now=now, after=after, limit=limit)
    )
    shown = listed(page, "deadlines")
    if user.role not in (Role.INVESTIGATOR, Role.LIAISON):  # an admin reads no content
        return shown
    return Listed(await _with_handling(node, shown.rows), shown.next)


async def _with_handling(node: Node, rows: list[store.DeadlineRow]) -> list[store.DeadlineRow]:
    """Each row with its request's handling code (issue 16), as every list shows it: it
    lives in the request's sealed content, read for those who may read it."""
    wanted = [row.request_id for row in rows]
    found = await node.db.run(
        lambda c: message_store.contents_of(c, node.vault, wanted, ("request",))
    )
    return [
        dataclasses.replace(r, handling=request_conditions(found[r.request_id])["handling"])
        for r in rows
    ]


async def alerts(
    node: Node,
    user: User,
    *,
    open_only: bool = True,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> Listed[store.AlertRow]:
    """A page of escalations (due soon, overdue, unacknowledged), newest first."""
    after = position(cursor, "alerts")
    page = await node.db.run(
        lambda c: lists.newest_alerts(
            c, created_by=own_only(user), open_only=open_only, after=after, limit=limit
        )
    )
    return listed(page, "alerts")


def directory_warning(node: Node) -> JsonObject | None:
    """The directory's lifetime warning shown beside the alerts (as on the admin page):
    ``ageing`` (75 % used), ``ending`` (under 24 h left) or ``expired``; None while it
    is fresh or none is held."""
    life = node.directory.lifetime()
    held = node.directory.current
    if life is None or held is None or life.state is Freshness.FRESH:
        return None
    return {
        "state": life.state.value,
        "serial": held.serial,
        "expires_at": format_time(held.expires_at),
        "seconds_left": max(int(life.seconds_left), 0),
    }


async def open_alert_count(node: Node, user: User) -> int:
    return await node.db.run(lambda c: store.open_alert_count(c, own_only(user)))


def live_state(node: Node, row: RequestRow, now: datetime) -> str | None:
    """The deadline state of a request at ``now`` (None when it has no deadline)."""
    return store.state_of(row, node.config.escalation.policy(), now)


def annotate(node: Node, rows: list[RequestRow], now: datetime) -> list[RequestRow]:
    """Request rows with their live ``deadline_state`` (for lists and pages)."""
    policy = node.config.escalation.policy()
    return [dataclasses.replace(r, deadline_state=store.state_of(r, policy, now)) for r in rows]


# --- the scheduler's steps ------------------------------------------------------


async def sweep(node: Node, now: datetime) -> store.SweepResult:
    """Bring every deadline state up to ``now``: one transaction (docs/DEADLINES.md)."""
    return await node.db.run(
        partial(
            store.sweep,
            me=node.me,
            policy=node.config.escalation.policy(),
            now=now,
            webhooks=node.config.escalation.webhooks,
        )
    )


async def due_webhooks(node: Node, now: datetime) -> list[store.WebhookCall]:
    return await node.db.run(partial(store.due_webhooks, now=now))


async def webhook_done(node: Node, call_id: int) -> None:
    await node.db.run(partial(store.webhook_done, call_id=call_id))


async def webhook_failed(
    node: Node, call_id: int, *, error: str, retry_at: datetime | None
) -> None:
    await node.db.run(
        partial(store.webhook_failed, call_id=call_id, error=error, retry_at=retry_at)
    )


async def next_webhook_at(node: Node) -> datetime | None:
    return await node.db.run(store.next_webhook_at)
