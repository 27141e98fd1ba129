"""core/sharing.py: who may send which case message, in which state, and its strict
fields (pure rules, no node)."""

from __future__ import annotations

from typing import Any

import pytest

from exchange.core.content import validate
from exchange.core.errors import ExchangeError
from exchange.core.sharing import (
    CaseRef,
    MemberState,
    check_acceptance,
    check_answer,
    check_departure,
    check_files_in,
    check_invitation,
    check_invite,
    check_leave,
    check_membership,
    check_remove,
    files_into,
    own_state,
)

REF = {"origin": "ES-CNA", "case_id": "01a2-case"}
INVITATION = {
    "case": REF,
    "title": "Network",
    "reference": "UCRIF-1",
    "offences": ["migrant_smuggling"],
    "route": [{"country": "SN", "role": "origin"}],
}
M, INV, D = MemberState.MEMBER, MemberState.INVITED, MemberState.DECLINED


def code(fn: Any, **kwargs: Any) -> str | None:
    try:
        fn(**kwargs)
    except ExchangeError as exc:
        return exc.code
    return None


@pytest.mark.parametrize(
    ("msg_type", "content"),
    [
        ("case_invitation", INVITATION),
        ("case_invitation", {k: v for k, v in INVITATION.items() if k != "reference"}),
        ("case_acceptance", {"case": REF, "accepted": True, "reference": "MA-1"}),
        ("case_acceptance", {"case": REF, "accepted": False}),
        ("case_membership", {"case": REF, "serial": 1, "members": [
            {"authority": "ES-CNA", "state": "member"}]}),
        ("request", {"kind": "information_request", "urgency": "standard", "language": "en",
                     "subject": "s", "body": "b", "deadline": None, "case": REF,
                     "handling": {"code": "H0", "use_limitation": False,
                                  "confidential": False}}),
    ],
)  # fmt: skip
def test_valid_contents(msg_type: str, content: dict[str, Any]) -> None:
    validate(msg_type, content, max_body_chars=100)


@pytest.mark.parametrize(
    ("msg_type", "content"),
    [
        ("case_invitation", {**INVITATION, "title": ""}),
        ("case_invitation", {**INVITATION, "extra": 1}),
        ("case_invitation", {**INVITATION, "case": {"origin": "ES-CNA"}}),
        ("case_invitation", {**INVITATION, "case": {**REF, "x": "y"}}),
        ("case_invitation", {**INVITATION, "offences": ["piracy"]}),
        ("case_acceptance", {"case": REF, "accepted": "yes"}),
        ("case_acceptance", {"case": REF}),
        ("case_acceptance", {"case": REF, "accepted": True, "reference": "x" * 101}),
        ("case_membership", {"case": REF, "serial": 0, "members": [
            {"authority": "ES-CNA", "state": "member"}]}),
        ("case_membership", {"case": REF, "serial": True, "members": [
            {"authority": "ES-CNA", "state": "member"}]}),
        ("case_membership", {"case": REF, "serial": 2, "members": []}),
        ("case_membership", {"case": REF, "serial": 2, "members": [
            {"authority": "ES-CNA", "state": "owner"}]}),
        ("case_membership", {"case": REF, "serial": 2, "members": [
            {"authority": "ES-CNA", "state": "member"},
            {"authority": "ES-CNA", "state": "left"}]}),
        ("case_membership", {"serial": 2, "members": [
            {"authority": "ES-CNA", "state": "member"}]}),
    ],
)  # fmt: skip
def test_malformed_contents(msg_type: str, content: dict[str, Any]) -> None:
    with pytest.raises(ExchangeError) as raised:
        validate(msg_type, content, max_body_chars=100)
    assert raised.value.code == "malformed"


def test_only_the_origin_invites_to_a_named_open_case() -> None:
    base = {"me": "ES-CNA", "origin": None, "implicit": False, "closed": False,
            "invitee": "MA-CNA", "members": {}}  # fmt: skip
    assert code(check_invite, **base) is None
    assert code(check_invite, **{**base, "origin": "ES-CNA", "members": {"MA-CNA": D}}) is None
    assert code(check_invite, **{**base, "origin": "SN-CNA"}) == "invalid_request"
    assert code(check_invite, **{**base, "implicit": True}) == "invalid_request"
    assert code(check_invite, **{**base, "closed": True}) == "case_closed"
    assert code(check_invite, **{**base, "invitee": "ES-CNA"}) == "invalid_request"
    assert code(check_invite, **{**base, "members": {"MA-CNA": INV}}) == "conflict"
    assert code(check_invite, **{**base, "members": {"MA-CNA": M}}) == "conflict"


def test_an_answer_needs_an_open_invitation() -> None:
    assert code(check_answer, mine=INV) is None
    for state in (None, M, D, MemberState.LEFT):
        assert code(check_answer, mine=state) == "invalid_request"


def test_a_peer_invitation_comes_from_the_origin() -> None:
    ref = CaseRef("ES-CNA", "c1")
    assert code(check_invitation, sender="ES-CNA", ref=ref, me="MA-CNA", held=None) is None
    assert code(check_invitation, sender="SN-CNA", ref=ref, me="MA-CNA", held=None) == (
        "wrong_party"
    )
    for again in (D, MemberState.LEFT):  # invited again after a decline or a leave
        assert code(check_invitation, sender="ES-CNA", ref=ref, me="MA-CNA", held=again) is None
    mine = CaseRef("MA-CNA", "c1")
    assert code(check_invitation, sender="MA-CNA", ref=mine, me="MA-CNA", held=None) == (
        "wrong_party"
    )
    for held in (INV, M):
        assert code(check_invitation, sender="ES-CNA", ref=ref, me="MA-CNA", held=held) == (
            "conflict"
        )


def test_an_acceptance_answers_an_invitation_sent() -> None:
    ref = CaseRef("ES-CNA", "c1")
    ok = {"sender": "MA-CNA", "ref": ref, "me": "ES-CNA"}
    assert code(check_acceptance, **ok, state=INV) is None
    assert code(check_acceptance, **ok, state=None) == "wrong_party"
    assert code(check_acceptance, **ok, state=M) == "conflict"
    other = {**ok, "ref": CaseRef("SN-CNA", "c1")}
    assert code(check_acceptance, **other, state=INV) == "wrong_party"


def test_a_membership_list_from_the_origin_with_a_growing_serial() -> None:
    ref = CaseRef("ES-CNA", "c1")
    ok = {"sender": "ES-CNA", "ref": ref, "me": "MA-CNA", "mine": M, "last_serial": 3}
    assert code(check_membership, **ok, serial=4) is None
    assert code(check_membership, **ok, serial=3) == "replay"
    assert code(check_membership, **ok, serial=1) == "replay"
    assert code(check_membership, **{**ok, "sender": "SN-CNA"}, serial=9) == "wrong_party"
    assert code(check_membership, **{**ok, "mine": None}, serial=9) == "wrong_party"
    own = {**ok, "me": "ES-CNA"}
    assert code(check_membership, **own, serial=9) == "wrong_party"


def test_a_request_goes_into_a_copy_only_between_members() -> None:
    assert files_into(sender="ES-CNA", mine=M, theirs=M)
    assert not files_into(sender="SN-CNA", mine=M, theirs=None)
    assert not files_into(sender="ES-CNA", mine=INV, theirs=M)
    assert not files_into(sender="ES-CNA", mine=M, theirs=MemberState.LEFT)


def test_our_own_state_is_ours_to_answer() -> None:
    """A list makes us neither a member we never accepted to be nor undoes a decline;
    it may take us out of a case (left)."""
    assert own_state(INV, M) is INV
    assert own_state(D, M) is D
    assert own_state(None, M) is None
    assert own_state(M, M) is M
    assert own_state(M, None) is MemberState.LEFT
    assert own_state(M, INV) is MemberState.LEFT


L, R = MemberState.LEFT, MemberState.REMOVED


def test_a_member_leaves_a_case_it_did_not_open() -> None:
    assert code(check_leave, me="MA-CNA", origin="ES-CNA", mine=M) is None
    for mine in (None, INV, D, L, R):
        assert code(check_leave, me="MA-CNA", origin="ES-CNA", mine=mine) == "not_a_member"
    assert code(check_leave, me="ES-CNA", origin="ES-CNA", mine=M) == "invalid_request"
    assert code(check_leave, me="ES-CNA", origin=None, mine=None) == "invalid_request"


def test_only_the_origin_removes_a_member_or_an_invitee() -> None:
    members = {"ES-CNA": M, "MA-CNA": M, "SN-CNA": INV, "FR-CNA": D, "IT-CNA": L, "PT": R}
    ok = {"me": "ES-CNA", "origin": "ES-CNA", "members": members}
    assert code(check_remove, **ok, target="MA-CNA") is None
    assert code(check_remove, **ok, target="SN-CNA") is None  # an invitation withdrawn
    for gone in ("FR-CNA", "IT-CNA", "PT", "XX-NONE"):
        assert code(check_remove, **ok, target=gone) == "not_a_member"
    assert code(check_remove, **ok, target="ES-CNA") == "invalid_request"
    member = {**ok, "me": "MA-CNA"}
    assert code(check_remove, **member, target="SN-CNA") == "invalid_request"


def test_a_departure_comes_from_a_member_to_the_origin() -> None:
    ref = CaseRef("ES-CNA", "c1")
    ok = {"sender": "MA-CNA", "ref": ref, "me": "ES-CNA"}
    assert code(check_departure, **ok, state=M) is None
    assert code(check_departure, **ok, state=None) == "wrong_party"
    for state in (INV, D, L, R):
        assert code(check_departure, **ok, state=state) == "not_a_member"
    elsewhere = {**ok, "me": "SN-CNA"}
    assert code(check_departure, **elsewhere, state=M) == "wrong_party"
    validate("case_departure", {"case": REF}, max_body_chars=0)
    with pytest.raises(ExchangeError, match="exactly the field case"):
        validate("case_departure", {"case": REF, "authority": "SN-CNA"}, max_body_chars=0)


def test_a_removed_or_departed_node_takes_no_more_lists() -> None:
    ref = CaseRef("ES-CNA", "c1")
    ok = {"sender": "ES-CNA", "ref": ref, "me": "MA-CNA", "last_serial": 3, "serial": 4}
    for mine in (L, R):
        assert code(check_membership, **ok, mine=mine) == "not_a_member"
    assert own_state(M, R) is R
    assert own_state(INV, R) is R  # the invitation withdrawn
    assert own_state(D, R) is D
    assert own_state(M, L) is L


def test_a_copy_we_left_or_were_removed_from_takes_no_request() -> None:
    ref = CaseRef("ES-CNA", "c1")
    for mine in (L, R):
        assert code(check_files_in, me="MA-CNA", ref=ref, mine=mine) == "not_a_member"
    for mine in (M, INV, D, None):
        assert code(check_files_in, me="MA-CNA", ref=ref, mine=mine) is None
    assert code(check_files_in, me="ES-CNA", ref=ref, mine=M) is None
    assert code(check_files_in, me="ES-CNA", ref=None, mine=None) is None
