"""A hostile member, or a hostile stranger, against shared cases (issue 16, item 1),
speaking the real protocol with its own keys: each refusal has its precise code, gets
no receipt and changes nothing stored. docs/THREAT_MODEL.md, "Shared cases"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from exchange.core.backoff import RETRYABLE_CODES
from exchange.store.messages import messages

from ..federation import ApiClient, Federation, peer_post, wait_until
from ..node.test_case_sharing import CASE, FORM
from ..node.test_peer_rejections import CONTENT, envelope

Ref = dict[str, str]


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA", "SN-CNA"])
    await fed.start()
    yield fed
    await fed.stop()


async def state(fed: Federation, authority_id: str) -> dict[str, Any]:
    """Every row a case message or a request writes, the members and serials, and the
    audit log's leaves."""

    def read(conn: Any) -> dict[str, Any]:
        tables = ("cases", "case_members", "case_messages", "requests", "messages", "outbox")
        got = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}  # noqa: S608
        got["members"] = conn.execute(
            "SELECT group_concat(case_id || authority || state, ',') FROM case_members"
        ).fetchone()[0]
        got["serials"] = conn.execute(
            "SELECT group_concat(id || membership_serial, ',') FROM cases"
        ).fetchone()[0]
        leaves = "SELECT COUNT(*) FROM audit_nodes WHERE level = 0"
        got["audit_leaves"] = conn.execute(leaves).fetchone()[0]
        return got

    return await fed[authority_id].node.db.run(read)


async def shared_case(fed: Federation, *, accept: bool = True) -> tuple[Ref, str]:
    """ES opens a case and invites MA, whose liaison accepts (or not yet): the case's
    global id, and MA's copy's id (once MA holds the membership list, if accepted)."""
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    ma = await ApiClient(fed["MA-CNA"]).login("liaison")
    try:
        _, case = await es.call("POST", "/api/cases", CASE)
        path = f"/api/cases/{case['id']}/members"
        status, _ = await es.call("POST", path, {"authority": "MA-CNA"})
        assert status == 202

        async def copy() -> str | None:
            _, page = await ma.call("GET", "/api/cases?shared=1")
            return page["cases"][0]["id"] if page["cases"] else None

        await wait_until(copy, what="the invitation at MA")
        copy_id = await copy()
        assert copy_id is not None
        if accept:
            status, _ = await ma.call("POST", f"/api/cases/{copy_id}/accept", {})
            assert status == 202

            async def told() -> bool:
                return await serial(fed, "MA-CNA", copy_id) >= 1

            await wait_until(told, what="the membership list at MA")
        return {"origin": "ES-CNA", "case_id": case["id"]}, copy_id
    finally:
        await es.close()
        await ma.close()


async def serial(fed: Federation, authority_id: str, case_id: str) -> int:
    def read(conn: Any) -> int:
        sql = "SELECT membership_serial FROM cases WHERE id = ?"
        return int(conn.execute(sql, (case_id,)).fetchone()[0])

    return await fed[authority_id].node.db.run(read)


def membership(ref: Ref, n: int, members: dict[str, str]) -> dict[str, Any]:
    listed = [{"authority": a, "state": s} for a, s in sorted(members.items())]
    return {"case": ref, "serial": n, "members": listed}


async def refused(
    fed: Federation, sender: str, recipient: str, msg_type: str, content: Any, n: int
) -> tuple[int, str]:
    body = envelope(fed, sender, recipient, f"msg-hostile-{n:05}", content, msg_type=msg_type)
    status, got = await peer_post(fed, sender, recipient, "/v1/envelopes", body)
    assert "receipt" not in got
    return status, got.get("error", {}).get("code")


async def test_a_membership_list_from_anyone_but_the_origin_is_refused(fed: Federation) -> None:
    """SN (no member) and MA (a member, not the origin) state who is in ES's case:
    wrong_party, not retryable, nothing changes at the receiving node."""
    ref, _ = await shared_case(fed)
    forged = membership(ref, 99, {"ES-CNA": "left", "MA-CNA": "member", "SN-CNA": "member"})
    before = await state(fed, "MA-CNA")
    assert await refused(fed, "SN-CNA", "MA-CNA", "case_membership", forged, 1) == (
        403, "wrong_party"
    )  # fmt: skip
    assert await state(fed, "MA-CNA") == before
    before = await state(fed, "ES-CNA")
    assert await refused(fed, "MA-CNA", "ES-CNA", "case_membership", forged, 2) == (
        403, "wrong_party"
    )  # fmt: skip
    assert await state(fed, "ES-CNA") == before
    assert "wrong_party" not in RETRYABLE_CODES


async def test_an_older_membership_list_is_refused(fed: Federation) -> None:
    """The origin's own keys replaying a list as old as the one held (or older), with
    other members: replay (409), nothing changes; a newer one is taken."""
    ref, copy = await shared_case(fed)
    held = await serial(fed, "MA-CNA", copy)
    before = await state(fed, "MA-CNA")
    for n, old in enumerate((held, held - 1, 0)):
        rollback = membership(ref, old, {"ES-CNA": "member", "MA-CNA": "invited"})
        got = await refused(fed, "ES-CNA", "MA-CNA", "case_membership", rollback, n)
        assert got == ((409, "replay") if old > 0 else (400, "malformed")), old
    assert await state(fed, "MA-CNA") == before
    newer = membership(ref, held + 1, {"ES-CNA": "member", "MA-CNA": "member"})
    body = envelope(fed, "ES-CNA", "MA-CNA", "msg-newer-00001", newer, msg_type="case_membership")
    status, got = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", body)
    assert status == 200 and "receipt" in got
    assert await serial(fed, "MA-CNA", copy) == held + 1


async def test_an_acceptance_of_an_invitation_never_sent_is_refused(fed: Federation) -> None:
    """SN accepts an invitation to ES's case it never had, names a case ES never
    opened, or MA accepts twice: wrong_party or conflict, nothing changes at ES."""
    ref, _ = await shared_case(fed)
    before = await state(fed, "ES-CNA")
    accepted = {"case": ref, "accepted": True, "reference": "SN-1"}
    assert await refused(fed, "SN-CNA", "ES-CNA", "case_acceptance", accepted, 1) == (
        403, "wrong_party"
    )  # fmt: skip
    unknown = {**accepted, "case": {"origin": "ES-CNA", "case_id": "no-such-case"}}
    assert await refused(fed, "SN-CNA", "ES-CNA", "case_acceptance", unknown, 2) == (
        403, "wrong_party"
    )  # fmt: skip
    assert await refused(fed, "MA-CNA", "ES-CNA", "case_acceptance", accepted, 3) == (
        409, "conflict"
    )  # fmt: skip
    assert await state(fed, "ES-CNA") == before


async def test_an_invitation_in_another_authoritys_name_is_refused(fed: Federation) -> None:
    """SN invites MA to a case it says ES opened (only the origin invites): wrong_party;
    ES invites MA again to a case MA holds: conflict. Nothing changes at MA."""
    ref, _ = await shared_case(fed)
    before = await state(fed, "MA-CNA")
    fields = dict(CASE)
    forged = {"case": {"origin": "ES-CNA", "case_id": "another-case"}, **fields}
    assert await refused(fed, "SN-CNA", "MA-CNA", "case_invitation", forged, 1) == (
        403, "wrong_party"
    )  # fmt: skip
    again = {"case": ref, **fields}
    assert await refused(fed, "ES-CNA", "MA-CNA", "case_invitation", again, 2) == (
        409, "conflict"
    )  # fmt: skip
    assert await state(fed, "MA-CNA") == before


async def test_a_request_naming_a_case_is_filed_only_between_members(fed: Federation) -> None:
    """SN, no member, sends MA a request naming ES's shared case: MA files it in an
    implicit case of its own, never in its copy of ES's case, and keeps the field."""
    ref, copy = await shared_case(fed)
    content = {**CONTENT, "case": ref}
    body = envelope(fed, "SN-CNA", "MA-CNA", "msg-intruder-001", content)
    status, got = await peer_post(fed, "SN-CNA", "MA-CNA", "/v1/envelopes", body)
    assert status == 200 and "receipt" in got

    def filed(conn: Any) -> tuple[str, int]:
        row = conn.execute(
            "SELECT case_id FROM requests WHERE origin = 'SN-CNA' AND msg_id = ?",
            ("msg-intruder-001",),
        ).fetchone()
        implicit = conn.execute("SELECT implicit FROM cases WHERE id = ?", (row[0],)).fetchone()
        return str(row[0]), int(implicit[0])

    case_id, implicit = await fed["MA-CNA"].node.db.run(filed)
    assert case_id != copy and implicit == 1

    def kept(conn: Any) -> Any:
        sql = "SELECT id FROM requests WHERE msg_id = 'msg-intruder-001'"
        (request_id,) = conn.execute(sql).fetchone()
        return messages(conn, fed["MA-CNA"].node.vault, request_id)[0].content["case"]

    assert await fed["MA-CNA"].node.db.run(kept) == ref  # kept in the signed content


async def test_a_request_before_the_invitee_accepted_is_filed_implicitly(fed: Federation) -> None:
    """ES's own keys send MA a request naming the case MA was invited to but has not
    accepted: an implicit case, not the copy."""
    ref, copy = await shared_case(fed, accept=False)
    body = envelope(fed, "ES-CNA", "MA-CNA", "msg-early-00001", {**CONTENT, "case": ref})
    status, _ = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", body)
    assert status == 200

    def case_of(conn: Any) -> str:
        sql = "SELECT case_id FROM requests WHERE msg_id = 'msg-early-00001'"
        return str(conn.execute(sql).fetchone()[0])

    assert await fed["MA-CNA"].node.db.run(case_of) != copy


async def test_invitations_our_users_may_not_send(fed: Federation) -> None:
    """An authority outside the directory: not_found; ourselves: invalid_request; MA
    inviting to ES's case (only the origin invites): invalid_request; an implicit case:
    invalid_request; an auditor: forbidden; twice: conflict. Nothing changes."""
    ref, copy = await shared_case(fed)
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    ma = await ApiClient(fed["MA-CNA"]).login("liaison")
    auditor = await ApiClient(fed["ES-CNA"]).login("auditor")
    try:
        status, sent = await es.call("POST", "/api/requests", {**FORM, "to": "SN-CNA"})
        assert status == 201

        async def delivered() -> bool:
            _, got = await es.call("GET", f"/api/requests/{sent['id']}")
            return bool(got["status"] == "delivered")

        await wait_until(delivered, what="the request receipted")
        es_before, ma_before = await state(fed, "ES-CNA"), await state(fed, "MA-CNA")
        path = f"/api/cases/{ref['case_id']}/members"
        cases = [
            (es, path, {"authority": "XX-NOWHERE"}, 404, "not_found"),
            (es, path, {"authority": "ES-CNA"}, 422, "invalid_request"),
            (es, path, {"authority": "MA-CNA"}, 409, "conflict"),
            (es, path, {"authority": 7}, 400, "malformed"),
            (es, path, {"authority": "SN-CNA", "more": 1}, 400, "malformed"),
            (auditor, path, {"authority": "SN-CNA"}, 403, "forbidden"),
            (ma, f"/api/cases/{copy}/members", {"authority": "SN-CNA"}, 422, "invalid_request"),
            (es, f"/api/cases/{sent['case_id']}/members", {"authority": "SN-CNA"},
             422, "invalid_request"),
            (ma, f"/api/cases/{copy}/accept", {}, 422, "invalid_request"),
        ]  # fmt: skip
        for client, url, body, code, error in cases:
            got_status, got = await client.call("POST", url, body)
            assert (got_status, got["error"]["code"]) == (code, error), (url, body)
        assert await state(fed, "MA-CNA") == ma_before
        after = await state(fed, "ES-CNA")
        assert after == es_before
    finally:
        for client in (es, ma, auditor):
            await client.close()


async def test_the_origin_cannot_make_an_invitee_a_member(fed: Federation) -> None:
    """ES, the origin, sends MA (invited, not yet answered) a newer list naming MA a
    member: the list is taken for the others, but MA stays invited, and a request of
    ES's naming the case still goes into an implicit case."""
    ref, copy = await shared_case(fed, accept=False)
    forged = membership(ref, 5, {"ES-CNA": "member", "MA-CNA": "member", "SN-CNA": "invited"})
    body = envelope(fed, "ES-CNA", "MA-CNA", "msg-forged-0001", forged, msg_type="case_membership")
    status, _ = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", body)
    assert status == 200

    def mine(conn: Any) -> str:
        sql = "SELECT state FROM case_members WHERE case_id = ? AND authority = 'MA-CNA'"
        return str(conn.execute(sql, (copy,)).fetchone()[0])

    assert await fed["MA-CNA"].node.db.run(mine) == "invited"
    request = envelope(fed, "ES-CNA", "MA-CNA", "msg-forced-0001", {**CONTENT, "case": ref})
    status, _ = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", request)
    assert status == 200

    def case_of(conn: Any) -> str:
        sql = "SELECT case_id FROM requests WHERE msg_id = 'msg-forced-0001'"
        return str(conn.execute(sql).fetchone()[0])

    assert await fed["MA-CNA"].node.db.run(case_of) != copy
