"""Sharing a case with other authorities: our invitations, our answers to a peer's,
leaving a case, removing a member, the membership list the origin sends after each
change, and the global id a request between members carries. Who may do which is
decided here, once: the case's investigator or a liaison prosecutor invites and
removes; a liaison prosecutor answers an invitation and leaves a case (a received case
has no author of ours). The rules are core/sharing's."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from ..core import content as contents
from ..core.canonical import JsonObject
from ..core.cases import CaseStatus
from ..core.errors import Forbidden, InvalidRequest, Malformed, UnknownCase
from ..core.roles import Role
from ..core.sharing import MemberState, check_answer, check_invite, check_leave, check_remove
from ..store import case_changes as changes
from ..store import case_inbound
from ..store import cases as case_store
from ..store import sharing as store
from ..store import users as user_store
from ..store.messages import OutgoingMessage
from . import sealing
from .cases import check_visible
from .node import Node
from .sessions import User

log = structlog.get_logger("exchange.service")


def _check_inviter(user: User, case: case_store.CaseRow) -> None:
    check_visible(case, user)  # first: another's case does not exist for them
    if user.role is not Role.LIAISON and case.created_by != user.username:
        raise Forbidden("only the case's investigator or a liaison prosecutor invites")


async def invite(node: Node, user: User, case_id: str, body: JsonObject) -> None:
    """Invite an authority of the directory to one of our cases (we are its origin):
    the invitation carries the title, our reference, offences and route, sealed to the
    invitee alone. Audited ``case_member_invited``."""
    if set(body) != {"authority"} or not isinstance(body["authority"], str):
        raise Malformed("the body must be {authority}")
    invitee = body["authority"]
    now = node.clock.now()
    case = await node.db.run(lambda c: case_store.case_row(c, node.vault, case_id))
    _check_inviter(user, case)
    node.peer(invitee)  # in the directory (not_found), and not this node
    shared = await node.db.run(lambda c: store.sharing_of(c, case_id))
    check_invite(  # now, before sealing; and again in the transaction that stores it
        me=node.me,
        origin=shared.ref.origin if shared.ref else None,
        implicit=shared.implicit,
        closed=shared.status is CaseStatus.CLOSED,
        invitee=invitee,
        members=shared.members,
    )
    content: JsonObject = {
        "case": {"origin": node.me, "case_id": case_id},
        "title": case.title,
        "offences": list(case.offences),
        "route": [stop.to_json() for stop in case.route],
    }
    if case.reference is not None:
        content["reference"] = case.reference
    contents.validate("case_invitation", content, max_body_chars=0)
    message = await _seal(node, "case_invitation", content, invitee, now)
    await node.db.run(
        lambda c: store.invite(
            c,
            node.vault,
            me=node.me,
            case_id=case_id,
            message=message,
            actor=user.username,
            now=now,
        )
    )
    log.info("case_member_invited", case_id=case_id, peer=invitee)
    await announce(node, case_id)
    node.wake_delivery(invitee)


async def answer(node: Node, user: User, case_id: str, body: JsonObject, *, accept: bool) -> None:
    """Accept (with our reference) or decline an invitation we hold, to the origin.
    Accepting may name ``investigator``, an investigator of ours who then holds our copy
    (sees it, files requests in it); without one only liaison prosecutors do. Audited
    ``case_invitation_accepted`` / ``case_invitation_declined``."""
    allowed = {"reference", "investigator"} if accept else {"reference"}
    if not set(body) <= allowed:
        raise Malformed(f"the body may hold {', '.join(sorted(allowed))} only")
    holder = body.get("investigator")
    if holder is not None:
        found = await node.db.run(
            lambda c: user_store.get_user(c, holder) if isinstance(holder, str) else None
        )
        if found is None or found.role is not Role.INVESTIGATOR:
            raise InvalidRequest("investigator must be an active investigator of this node")
    case = await node.db.run(lambda c: case_store.case_row(c, node.vault, case_id))
    check_visible(case, user)
    if user.role is not Role.LIAISON:
        raise Forbidden("only a liaison prosecutor answers an invitation")
    shared = await node.db.run(lambda c: store.sharing_of(c, case_id))
    check_answer(shared.members.get(node.me))
    if shared.ref is None:  # an invitation names its case
        raise UnknownCase("no such case")
    content: JsonObject = {"case": shared.ref.to_json(), "accepted": accept}
    if body.get("reference") not in (None, ""):
        content["reference"] = body["reference"]
    contents.validate("case_acceptance", content, max_body_chars=0)
    now = node.clock.now()
    message = await _seal(node, "case_acceptance", content, shared.ref.origin, now)
    await node.db.run(
        lambda c: store.answer(
            c,
            node.vault,
            me=node.me,
            case_id=case_id,
            message=message,
            accepted=accept,
            actor=user.username,
            now=now,
            holder=holder if isinstance(holder, str) else None,
        )
    )
    log.info("case_invitation_answered", case_id=case_id, accepted=accept)
    node.wake_delivery(message.recipient)


async def leave(node: Node, user: User, case_id: str) -> None:
    """Leave a case we are a member of and did not open (a liaison prosecutor, who
    answers for the node as for an invitation): our departure, sealed to the origin,
    which tells the other members. Our copy stays, marked ``left``; it takes no more of
    the case's messages. Audited ``case_left``."""
    case = await node.db.run(lambda c: case_store.case_row(c, node.vault, case_id))
    check_visible(case, user)
    if user.role is not Role.LIAISON:
        raise Forbidden("only a liaison prosecutor leaves a case for this node")
    shared = await node.db.run(lambda c: store.sharing_of(c, case_id))
    origin = shared.ref.origin if shared.ref else None
    check_leave(me=node.me, origin=origin, mine=shared.members.get(node.me))
    if shared.ref is None:  # check_leave refused it already
        raise UnknownCase("no such case")
    now = node.clock.now()
    content: JsonObject = {"case": shared.ref.to_json()}
    contents.validate("case_departure", content, max_body_chars=0)
    message = await _seal(node, "case_departure", content, shared.ref.origin, now)
    await node.db.run(
        lambda c: changes.leave(
            c,
            node.vault,
            me=node.me,
            case_id=case_id,
            message=message,
            actor=user.username,
            now=now,
        )
    )
    log.info("case_left", case_id=case_id, peer=shared.ref.origin)
    node.wake_delivery(message.recipient)


async def remove(node: Node, user: User, case_id: str, authority: str) -> None:
    """As the origin, remove a member (or withdraw an invitation): the case's
    investigator or a liaison prosecutor, as for inviting. The new list goes to the
    members and, this once, to the one removed, in the same transaction. Audited
    ``case_member_removed``."""
    case = await node.db.run(lambda c: case_store.case_row(c, node.vault, case_id))
    _check_inviter(user, case)
    shared = await node.db.run(lambda c: store.sharing_of(c, case_id))
    check_remove(  # now, and again in the transaction
        me=node.me,
        origin=shared.ref.origin if shared.ref else None,
        target=authority,
        members=shared.members,
    )
    now = node.clock.now()
    seal = await _membership_sealer(node, now)

    await node.db.run(
        lambda c: changes.remove(
            c,
            node.vault,
            me=node.me,
            case_id=case_id,
            target=authority,
            seal=seal,
            actor=user.username,
            now=now,
        )
    )
    log.info("case_member_removed", case_id=case_id, peer=authority)
    seal.wake_delivery()


async def announce(node: Node, case_id: str) -> None:
    """As the origin, after a change: the member list, with the next serial, sealed to
    every member that has accepted (invitees learn the list once they are in)."""
    now = node.clock.now()
    seal = await _membership_sealer(node, now)

    def work(conn: sqlite3.Connection) -> int:
        return store.announce(conn, node.vault, me=node.me, case_id=case_id, seal=seal, now=now)

    await node.db.run(work)
    seal.wake_delivery()


async def answered(node: Node, answers: list[tuple[str, str]]) -> None:
    """Answers or departures just stored (message id, sender): the origin tells the
    members who is in the case now. (A crash before this leaves the members with the previous list
    until the next change; nothing is lost that the next list does not carry.)"""
    for msg_id, sender in answers:

        def find(conn: sqlite3.Connection, m: str = msg_id, s: str = sender) -> str | None:
            return case_inbound.case_of_message(conn, s, m)

        case_id = await node.db.run(find)
        if case_id is not None:
            await announce(node, case_id)


async def case_ref_for(node: Node, case_id: str, recipient: str) -> JsonObject | None:
    """The global id a request filed in ``case_id`` carries to ``recipient``: only
    when the case is shared and the recipient a member (a non-member learns nothing
    of the case)."""
    shared = await node.db.run(lambda c: store.sharing_of(c, case_id))
    if shared.ref is None or shared.members.get(recipient) is not MemberState.MEMBER:
        return None
    if shared.members.get(node.me) is not MemberState.MEMBER:  # we left or were removed
        return None
    return shared.ref.to_json()


async def _seal(
    node: Node, msg_type: str, content: JsonObject, recipient: str, now: datetime
) -> OutgoingMessage:
    return sealing.seal_message(
        node,
        msg_type,
        content,
        recipient_id=recipient,
        now=now,
        log_size=await sealing.log_size_now(node),
    )


@dataclass(frozen=True)
class PageOptions:
    """What the case page offers this user about sharing: whom they may invite (none:
    no invite form), the origin of an invitation they may answer, the investigators an
    accepted copy may be handed to, whom they may remove (the origin's), whether they
    may leave the case, and this node's own state in it (``left``, ``removed``: the
    page says so)."""

    invitable: list[tuple[str, str]]  # (authority id, name)
    invitation_from: str | None
    investigators: list[str]
    removable: list[str] = field(default_factory=list)
    may_leave: bool = False
    own_state: str | None = None


async def page_options(node: Node, user: User, case: case_store.CaseRow) -> PageOptions:
    shared = await node.db.run(lambda c: store.sharing_of(c, case.id))
    invitable: list[tuple[str, str]] = []
    may_invite = user.role is Role.LIAISON or case.created_by == user.username
    origin = shared.ref.origin if shared.ref else None
    directory = node.directory.current
    open_named = not case.implicit and case.status is CaseStatus.OPEN
    if may_invite and open_named and origin in (None, node.me) and directory is not None:
        taken = {a for a, s in shared.members.items() if s in _TAKEN}
        invitable = [
            (a.authority_id, a.name)
            for a in directory.authorities
            if a.authority_id != node.me and a.authority_id not in taken
        ]
    invitation_from, investigators = None, []
    if user.role is Role.LIAISON and shared.members.get(node.me) is MemberState.INVITED:
        invitation_from = origin
        users = await node.db.run(user_store.active_users)
        investigators = [u.username for u in users if u.role is Role.INVESTIGATOR]
    mine = shared.members.get(node.me)
    removable = []
    if may_invite and origin == node.me:
        removable = sorted(a for a, st in shared.members.items() if st in _TAKEN and a != node.me)
    may_leave = user.role is Role.LIAISON and origin not in (None, node.me)
    return PageOptions(
        invitable,
        invitation_from,
        investigators,
        removable,
        may_leave and mine is MemberState.MEMBER,
        mine.value if mine is not None else None,
    )


_TAKEN = (MemberState.INVITED, MemberState.MEMBER)


class _MemberLists:
    """Seals a member list to one recipient, all of one change at the same time and
    log size (the store calls it inside its transaction, once a recipient); then wakes
    the delivery of each one it sealed to (the store chose them)."""

    def __init__(self, node: Node, now: datetime, log_size: int) -> None:
        self.node = node
        self.now = now
        self.log_size = log_size
        self.recipients: set[str] = set()

    def __call__(self, recipient: str, content: JsonObject) -> OutgoingMessage:
        self.recipients.add(recipient)
        return sealing.seal_message(
            self.node,
            "case_membership",
            content,
            recipient_id=recipient,
            now=self.now,
            log_size=self.log_size,
        )

    def wake_delivery(self) -> None:
        for recipient in sorted(self.recipients):
            self.node.wake_delivery(recipient)


async def _membership_sealer(node: Node, now: datetime) -> _MemberLists:
    return _MemberLists(node, now, await sealing.log_size_now(node))
