"""Sharing a case with other authorities (the SIENA model): each member keeps its own
copy, and membership changes are signed messages carried in envelopes like the others.

A shared case has a global identity, ``CaseRef(origin, case_id)``: the authority that
opened it and its id there. Four message types (docs/PROTOCOL.md):

* ``case_invitation``: the origin, and only the origin, invites an authority (the title,
  the origin's reference, offences and route, sealed to the invitee alone);
* ``case_acceptance``: the invitee answers an invitation it holds, accepted or declined,
  with its own reference;
* ``case_membership``: after each change the origin tells every member who is in the
  case now, a list with a serial that only grows (an older list is a rollback); a
  member the origin removes (``removed``) is sent that one list too, and no more;
* ``case_departure``: a member tells the origin it leaves the case (``left``).

Only the origin invites and removes (a member that wants another authority in, or out,
asks the origin): the strict choice, docs/THREAT_MODEL.md.

Pure rules: plain values in, a value or an ``ExchangeError`` out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from .canonical import JsonObject
from .cases import MAX_REFERENCE, MAX_TITLE, case_fields
from .errors import (
    CaseClosed,
    Conflict,
    InvalidRequest,
    Malformed,
    NotAMember,
    Replay,
    WrongParty,
)

CASE_TYPES = ("case_invitation", "case_acceptance", "case_membership", "case_departure")
MAX_MEMBERS = 100
MAX_ID = 64


class MemberState(StrEnum):
    INVITED = "invited"
    MEMBER = "member"
    DECLINED = "declined"
    LEFT = "left"
    REMOVED = "removed"  # by the origin


@dataclass(frozen=True)
class CaseRef:
    """A case's global identity: the authority that opened it and its id there."""

    origin: str
    case_id: str

    def to_json(self) -> JsonObject:
        return {"origin": self.origin, "case_id": self.case_id}


def case_ref(value: object, name: str = "case") -> CaseRef:
    """``{origin, case_id}``, both identifiers, nothing else."""
    if (
        not isinstance(value, dict)
        or set(value) != {"origin", "case_id"}
        or not all(isinstance(v, str) and 0 < len(v) <= MAX_ID for v in value.values())
    ):
        raise Malformed(f"{name} must be {{origin, case_id}}")
    return CaseRef(value["origin"], value["case_id"])


def validate(msg_type: str, content: JsonObject) -> None:
    """A case message's content, strictly: ``Malformed`` naming the first bad field."""
    if not isinstance(content, dict) or "case" not in content:
        raise Malformed("a case message names its case")
    case_ref(content["case"])
    rest = {k: v for k, v in content.items() if k != "case"}
    if msg_type == "case_invitation":
        if "title" not in rest or rest["title"] in (None, ""):
            raise Malformed("title is required")
        fields = case_fields(rest)  # exactly title, reference, offences, route
        if fields.title is None or len(fields.title) > MAX_TITLE:
            raise Malformed("title is required")
    elif msg_type == "case_acceptance":
        if not {"accepted"} <= set(rest) <= {"accepted", "reference"}:
            raise Malformed("content must have exactly the fields accepted, case")
        if not isinstance(rest["accepted"], bool):
            raise Malformed("accepted must be true or false")
        _reference(rest.get("reference"))
    elif msg_type == "case_membership":
        if set(rest) != {"serial", "members"}:
            raise Malformed("content must have exactly the fields case, members, serial")
        serial = rest["serial"]
        if not isinstance(serial, int) or isinstance(serial, bool) or not 0 < serial < 2**53:
            raise Malformed("serial must be a positive integer")
        members_of(rest["members"])
    elif msg_type == "case_departure":
        if rest:
            raise Malformed("content must have exactly the field case")
    else:
        raise Malformed("unknown message type")


def _reference(value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not 0 < len(value) <= MAX_REFERENCE:
        raise Malformed(f"reference must be text of at most {MAX_REFERENCE} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise Malformed("reference must not hold control characters")


def members_of(value: object) -> dict[str, MemberState]:
    """A membership list: at most ``MAX_MEMBERS`` ``{authority, state}``, each once."""
    if not isinstance(value, list) or not 0 < len(value) <= MAX_MEMBERS:
        raise Malformed(f"members must be a list of 1 to {MAX_MEMBERS} members")
    members: dict[str, MemberState] = {}
    for item in value:
        if not isinstance(item, dict) or set(item) != {"authority", "state"}:
            raise Malformed("members must be {authority, state}")
        authority, state = item["authority"], item["state"]
        if not isinstance(authority, str) or not 0 < len(authority) <= MAX_ID:
            raise Malformed("member authority must be an identifier")
        if authority in members:
            raise Malformed("members must not repeat")
        try:
            members[authority] = MemberState(state)
        except ValueError:
            raise Malformed(
                "member state must be invited, member, declined, left or removed"
            ) from None
    return members


def members_json(members: Mapping[str, MemberState]) -> list[JsonObject]:
    return [{"authority": a, "state": s.value} for a, s in sorted(members.items())]


# Our own users' actions on a case ---------------------------------------------------


def check_invite(
    *,
    me: str,
    origin: str | None,
    implicit: bool,
    closed: bool,
    invitee: str,
    members: Mapping[str, MemberState],
) -> None:
    """Only the origin invites (strict: a member that wants another authority in asks
    the origin), a named open case only, an authority not yet invited or in it. An
    authority that declined or left may be invited again."""
    if origin is not None and origin != me:
        raise InvalidRequest("only the authority that opened the case invites to it")
    if implicit:
        raise InvalidRequest("an implicit case is not shared: open a case with a title")
    if closed:
        raise CaseClosed("the case is closed")
    if invitee == me:
        raise InvalidRequest("a node does not invite itself")
    if members.get(invitee) in (MemberState.INVITED, MemberState.MEMBER):
        raise Conflict("that authority is invited or a member already")


def check_leave(*, me: str, origin: str | None, mine: MemberState | None) -> None:
    """We leave a case we are a member of and did not open (its origin closes it
    instead: it stays the one that states the members)."""
    if origin is None or origin == me:
        raise InvalidRequest("the authority that opened a case closes it; it does not leave")
    if mine is not MemberState.MEMBER:
        raise NotAMember("this node is not a member of the case")


def check_remove(
    *, me: str, origin: str | None, target: str, members: Mapping[str, MemberState]
) -> None:
    """Only the origin removes, a member or an invitee (whose invitation it so
    withdraws), never itself."""
    if origin != me:
        raise InvalidRequest("only the authority that opened the case removes its members")
    if target == me:
        raise InvalidRequest("the authority that opened a case closes it; it is not removed")
    if members.get(target) not in _TAKEN:
        raise NotAMember("that authority is not a member of the case")


def check_files_in(me: str, ref: CaseRef | None, mine: MemberState | None) -> None:
    """A new request goes into a shared case's copy only while this node is in the case:
    not into one it left or was removed from (its copy stays as it was)."""
    if ref is not None and ref.origin != me and mine in _OUT:
        raise NotAMember("this node left the case or was removed from it")


def check_answer(mine: MemberState | None) -> None:
    """We accept or decline an invitation we hold and have not answered."""
    if mine is not MemberState.INVITED:
        raise InvalidRequest("this node holds no open invitation to the case")


# A peer's messages -------------------------------------------------------------------


def check_invitation(*, sender: str, ref: CaseRef, me: str, held: MemberState | None) -> None:
    """An invitation comes from the case's origin, for a case not ours; ``held``: our
    own state in our copy of it, if we hold one. An authority that declined or left may
    be invited again (the origin's ``check_invite`` allows it); one invited or a member
    already is not."""
    if ref.origin != sender:
        raise WrongParty("only the authority that opened a case invites to it")
    if ref.origin == me:
        raise WrongParty("an invitation to one of our own cases")
    if held in (MemberState.INVITED, MemberState.MEMBER):
        raise Conflict("this node holds that case already")


def check_acceptance(*, sender: str, ref: CaseRef, me: str, state: MemberState | None) -> None:
    """An answer to an invitation of ours, from the invitee, while it is open."""
    if ref.origin != me or state is None:
        raise WrongParty("no invitation to this case was sent to that authority")
    if state is not MemberState.INVITED:
        raise Conflict("that authority has answered already")


def check_membership(
    *,
    sender: str,
    ref: CaseRef,
    me: str,
    mine: MemberState | None,
    last_serial: int,
    serial: int,
) -> None:
    """A membership list from the case's origin, about a case this node was invited
    to and has not left nor been removed from, newer than every list it has taken (a
    replayed or older list is refused)."""
    if ref.origin != sender or ref.origin == me or mine is None:
        raise WrongParty("only the authority that opened a case states its members")
    if mine in _OUT:
        raise NotAMember("this node left the case or was removed from it")
    if serial <= last_serial:
        raise Replay("an older membership list than one already taken")


def own_state(mine: MemberState | None, listed: MemberState | None) -> MemberState | None:
    """Our own state after the origin's list: ours to answer, so a list never makes us a
    member we did not accept to be (nor undoes a decline); it may only take us out of a
    case we are a member of (``left``), or remove us (``removed``: a member, or an
    invitee whose invitation the origin withdrew)."""
    if mine in _TAKEN and listed is MemberState.REMOVED:
        return MemberState.REMOVED
    if mine is MemberState.MEMBER and listed is not MemberState.MEMBER:
        return MemberState.LEFT
    return mine


def check_departure(*, sender: str, ref: CaseRef, me: str, state: MemberState | None) -> None:
    """A member's departure, to the origin, from a case it is a member of: a node that
    was never invited is the wrong party; one invited, declined, gone or removed is not
    a member (``not_a_member``)."""
    if ref.origin != me or state is None or sender == me:
        raise WrongParty("a departure goes to the case's origin, from one of its members")
    if state is not MemberState.MEMBER:
        raise NotAMember("that authority is not a member of the case")


def files_into(*, sender: str, mine: MemberState | None, theirs: MemberState | None) -> bool:
    """A peer's request naming a shared case goes into our copy only when we are a
    member and so is its sender; otherwise it is filed in an implicit case."""
    return mine is MemberState.MEMBER and theirs is MemberState.MEMBER and bool(sender)


_TAKEN = (MemberState.INVITED, MemberState.MEMBER)
_OUT = (MemberState.LEFT, MemberState.REMOVED)
