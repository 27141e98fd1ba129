"""Leaving a shared case and removing a member (issue 16): the changes are signed
messages between real nodes, audited on both sides; a departed or removed member gets
no more of the case's messages and its copy says so. Wrong-party attempts (our own
users' and a hostile node's, speaking the real protocol with its own keys) and replays
are refused with a precise code and change nothing. docs/THREAT_MODEL.md, "Shared
cases"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from exchange.core.backoff import RETRYABLE_CODES

from ..federation import ApiClient, Federation, peer_post, wait_until
from ..node.test_case_sharing import CASE, FORM
from ..node.test_peer_rejections import envelope
from .test_case_sharing_hostile import Ref, membership, refused, serial, state


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA", "SN-CNA"])
    await fed.start()
    yield fed
    await fed.stop()


async def members_of(fed: Federation, authority_id: str, case_id: str) -> dict[str, str]:
    """An authority's copy's members and their states, read without a view (a view is
    audited, which would move the log under a "nothing changed" check)."""

    def read(conn: Any) -> dict[str, str]:
        sql = "SELECT authority, state FROM case_members WHERE case_id = ?"
        return {a: s for a, s in conn.execute(sql, (case_id,)).fetchall()}

    return await fed[authority_id].node.db.run(read)


async def actions(fed: Federation, authority_id: str) -> list[str]:
    def read(conn: Any) -> list[str]:
        rows = conn.execute("SELECT entry FROM audit_entries ORDER BY idx").fetchall()
        return [str(r[0]) for r in rows]

    return await fed[authority_id].node.db.run(read)


async def shared_with_two(fed: Federation) -> tuple[Ref, dict[str, str]]:
    """ES opens a case and invites MA and SN, whose liaisons accept; every member holds
    a list with both in it. Returns the global id and each node's copy's id."""
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        _, case = await es.call("POST", "/api/cases", CASE)
        copies = {"ES-CNA": case["id"]}
        for peer in ("MA-CNA", "SN-CNA"):
            status, _ = await es.call(
                "POST", f"/api/cases/{case['id']}/members", {"authority": peer}
            )
            assert status == 202
        for peer in ("MA-CNA", "SN-CNA"):
            liaison = await ApiClient(fed[peer]).login("liaison")
            try:

                async def copy(client: ApiClient = liaison) -> str | None:
                    _, page = await client.call("GET", "/api/cases?shared=1")
                    return page["cases"][0]["id"] if page["cases"] else None

                copies[peer] = await wait_until(copy, what=f"the invitation at {peer}")
                status, _ = await liaison.call("POST", f"/api/cases/{copies[peer]}/accept", {})
                assert status == 202
            finally:
                await liaison.close()
        both = {"ES-CNA": "member", "MA-CNA": "member", "SN-CNA": "member"}
        for peer in ("MA-CNA", "SN-CNA"):

            async def told(p: str = peer) -> bool:
                return await members_of(fed, p, copies[p]) == both

            await wait_until(told, what=f"the full member list at {peer}")
        return {"origin": "ES-CNA", "case_id": case["id"]}, copies
    finally:
        await es.close()


async def settled(fed: Federation) -> None:
    """Every node's outbox is delivered (so that a snapshot does not race a receipt)."""

    async def empty() -> bool:
        for authority in ("ES-CNA", "MA-CNA", "SN-CNA"):
            pending = await fed[authority].node.db.run(
                lambda c: c.execute(
                    "SELECT COUNT(*) FROM outbox WHERE state = 'pending'"
                ).fetchone()[0]
            )
            if pending:
                return False
        return True

    await wait_until(empty, what="every outbox delivered")


async def test_a_member_leaves_and_gets_no_more_of_the_case(fed: Federation) -> None:
    """MA's liaison leaves: MA's copy says left, ES and SN learn it through ES's signed
    list, both sides audit it; ES's next list (SN removed) does not go to MA, and a
    request ES files in the case reaches MA outside it."""
    ref, copies = await shared_with_two(fed)
    ma = await ApiClient(fed["MA-CNA"]).login("liaison")
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        status, got = await ma.call("POST", f"/api/cases/{copies['MA-CNA']}/leave")
        assert (status, got["state"]) == (202, "left")
        _, view = await ma.call("GET", f"/api/cases/{copies['MA-CNA']}")
        assert {m["authority"]: m["state"] for m in view["members"]}["MA-CNA"] == "left"
        assert "case_departure" in {m["type"] for m in view["case_messages"]}

        async def everyone_knows() -> bool:
            es_sees = await members_of(fed, "ES-CNA", copies["ES-CNA"])
            sn_sees = await members_of(fed, "SN-CNA", copies["SN-CNA"])
            return es_sees["MA-CNA"] == sn_sees["MA-CNA"] == "left"

        await wait_until(everyone_knows, what="the departure at ES and SN")
        assert any('"case_left"' in e for e in await actions(fed, "MA-CNA"))
        assert any('"case_departure_received"' in e for e in await actions(fed, "ES-CNA"))

        await settled(fed)
        held = await serial(fed, "MA-CNA", copies["MA-CNA"])
        path = f"/api/cases/{ref['case_id']}/members/SN-CNA/remove"
        status, got = await es.call("POST", path)
        assert status == 202, got
        await settled(fed)
        assert await serial(fed, "MA-CNA", copies["MA-CNA"]) == held  # not told
        assert (await members_of(fed, "MA-CNA", copies["MA-CNA"]))["SN-CNA"] == "member"

        status, sent = await es.call("POST", "/api/requests", {**FORM, "case_id": ref["case_id"]})
        assert status == 201, sent
        await settled(fed)
        _, page = await ma.call("GET", "/api/cases")
        assert len(page["cases"]) == 2  # an implicit case took it, not the copy it left
        _, view = await ma.call("GET", f"/api/cases/{copies['MA-CNA']}")
        assert view["requests"] == []
    finally:
        await ma.close()
        await es.close()


async def test_the_origin_removes_a_member_who_is_told_once(fed: Federation) -> None:
    """ES removes SN: SN's copy says removed (by ES's signed list), MA learns it, both
    sides audit it; SN takes no later list (not_a_member) and gets none from ES."""
    ref, copies = await shared_with_two(fed)
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        path = f"/api/cases/{ref['case_id']}/members/SN-CNA/remove"
        status, got = await es.call("POST", path)
        assert status == 202, got
        assert {m["authority"]: m["state"] for m in got["members"]}["SN-CNA"] == "removed"

        async def told() -> bool:
            sn = await members_of(fed, "SN-CNA", copies["SN-CNA"])
            ma = await members_of(fed, "MA-CNA", copies["MA-CNA"])
            return sn["SN-CNA"] == ma["SN-CNA"] == "removed"

        await wait_until(told, what="the removal at SN and MA")
        assert any('"case_member_removed"' in e for e in await actions(fed, "ES-CNA"))
        assert any('"state":"removed"' in e for e in await actions(fed, "SN-CNA"))
        await settled(fed)
        held = await serial(fed, "SN-CNA", copies["SN-CNA"])

        # ES's next change is not sent to SN ...
        status, _ = await es.call("POST", f"/api/cases/{ref['case_id']}/members/MA-CNA/remove")
        assert status == 202
        await settled(fed)
        assert await serial(fed, "SN-CNA", copies["SN-CNA"]) == held
        # ... and a later list in ES's own name is refused by SN, changing nothing
        before = await state(fed, "SN-CNA")
        later = membership(ref, held + 5, {"ES-CNA": "member", "SN-CNA": "member"})
        assert await refused(fed, "ES-CNA", "SN-CNA", "case_membership", later, 1) == (
            409, "not_a_member"
        )  # fmt: skip
        assert await state(fed, "SN-CNA") == before
        assert "not_a_member" not in RETRYABLE_CODES
    finally:
        await es.close()


async def test_our_own_users_wrong_party_attempts_change_nothing(fed: Federation) -> None:
    """A member that is not the origin removing, the origin leaving its own case, a
    departed member leaving again, an investigator leaving for the node, an unknown
    member removed: each has its code, and nothing stored moves but the audited views."""
    ref, copies = await shared_with_two(fed)
    await settled(fed)
    ma = await ApiClient(fed["MA-CNA"]).login("liaison")
    ma_inv = await ApiClient(fed["MA-CNA"]).login("investigator")
    es = await ApiClient(fed["ES-CNA"]).login("liaison")
    try:
        await settled(fed)
        before = {a: await state(fed, a) for a in copies}
        ma_case, es_case = copies["MA-CNA"], ref["case_id"]
        tries = [
            (ma, f"/api/cases/{ma_case}/members/SN-CNA/remove", 422, "invalid_request"),
            (ma, f"/api/cases/{ma_case}/members/ES-CNA/remove", 422, "invalid_request"),
            (es, f"/api/cases/{es_case}/leave", 422, "invalid_request"),
            (es, f"/api/cases/{es_case}/members/ES-CNA/remove", 422, "invalid_request"),
            (es, f"/api/cases/{es_case}/members/XX-NOPE/remove", 409, "not_a_member"),
            (ma_inv, f"/api/cases/{ma_case}/leave", 403, "forbidden"),
            (ma, "/api/cases/no-such-case/leave", 404, "unknown_case"),
        ]
        for client, path, code, error in tries:
            status, got = await client.call("POST", path)
            assert (status, got["error"]["code"]) == (code, error), path
        assert {a: await state(fed, a) for a in copies} == before
        status, _ = await ma.call("POST", f"/api/cases/{ma_case}/leave")
        assert status == 202
        await settled(fed)
        before = {a: await state(fed, a) for a in copies}
        status, got = await ma.call("POST", f"/api/cases/{ma_case}/leave")
        assert (status, got["error"]["code"]) == (409, "not_a_member")
        status, got = await es.call("POST", f"/api/cases/{es_case}/members/MA-CNA/remove")
        assert (status, got["error"]["code"]) == (409, "not_a_member")
        assert {a: await state(fed, a) for a in copies} == before
    finally:
        await ma.close()
        await ma_inv.close()
        await es.close()


async def test_a_hostile_node_cannot_leave_for_another_nor_forge_a_removal(
    fed: Federation,
) -> None:
    """With its own keys: SN (never in ES's second case) departing from it is
    wrong_party; MA naming SN in its departure is malformed; MA telling SN that SN was
    removed is wrong_party (only the origin states the members); none is receipted and
    nothing changes at the receiver."""
    ref, copies = await shared_with_two(fed)
    await settled(fed)
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        _, other = await es.call("POST", "/api/cases", {**CASE, "title": "Another"})
        status, _ = await es.call(
            "POST", f"/api/cases/{other['id']}/members", {"authority": "MA-CNA"}
        )
        assert status == 202
    finally:
        await es.close()
    await settled(fed)
    other_ref = {"origin": "ES-CNA", "case_id": other["id"]}
    before = await state(fed, "ES-CNA")
    assert await refused(fed, "SN-CNA", "ES-CNA", "case_departure", {"case": other_ref}, 1) == (
        403, "wrong_party"
    )  # fmt: skip
    # MA is invited to that case, not a member: it cannot leave it
    assert await refused(fed, "MA-CNA", "ES-CNA", "case_departure", {"case": other_ref}, 2) == (
        409, "not_a_member"
    )  # fmt: skip
    for_sn = {"case": ref, "authority": "SN-CNA"}
    assert await refused(fed, "MA-CNA", "ES-CNA", "case_departure", for_sn, 3) == (
        400, "malformed"
    )  # fmt: skip
    # a departure sent to a member that is not the origin
    assert await refused(fed, "MA-CNA", "SN-CNA", "case_departure", {"case": ref}, 4) == (
        403, "wrong_party"
    )  # fmt: skip
    assert await state(fed, "ES-CNA") == before
    before = await state(fed, "SN-CNA")
    forged = membership(ref, 50, {"ES-CNA": "member", "MA-CNA": "member", "SN-CNA": "removed"})
    assert await refused(fed, "MA-CNA", "SN-CNA", "case_membership", forged, 5) == (
        403, "wrong_party"
    )  # fmt: skip
    assert await state(fed, "SN-CNA") == before
    assert (await members_of(fed, "SN-CNA", copies["SN-CNA"]))["SN-CNA"] == "member"


async def test_a_replayed_departure_changes_nothing(fed: Federation) -> None:
    """MA's departure (sealed with MA's keys), its very bytes sent again: the receipt it
    had, and no new member list, serial or audit entry at the origin; a new departure
    of a node the origin removed is not_a_member."""
    ref, copies = await shared_with_two(fed)
    await settled(fed)
    sent = envelope(
        fed, "MA-CNA", "ES-CNA", "msg-leave-00001", {"case": ref}, msg_type="case_departure"
    )
    status, got = await peer_post(fed, "MA-CNA", "ES-CNA", "/v1/envelopes", sent)
    assert status == 200 and "receipt" in got, got
    await settled(fed)
    assert (await members_of(fed, "SN-CNA", copies["SN-CNA"]))["MA-CNA"] == "left"
    before = await state(fed, "ES-CNA")
    status, again = await peer_post(fed, "MA-CNA", "ES-CNA", "/v1/envelopes", sent)
    assert status == 200 and again["receipt"] == got["receipt"]
    await settled(fed)
    assert await state(fed, "ES-CNA") == before
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        status, _ = await es.call("POST", f"/api/cases/{ref['case_id']}/members/SN-CNA/remove")
        assert status == 202
    finally:
        await es.close()
    await settled(fed)
    before = await state(fed, "ES-CNA")
    assert await refused(fed, "SN-CNA", "ES-CNA", "case_departure", {"case": ref}, 9) == (
        409, "not_a_member"
    )  # fmt: skip
    assert await state(fed, "ES-CNA") == before


async def test_a_replayed_acceptance_announces_nothing_new(fed: Federation) -> None:
    """MA's acceptance (sealed with MA's keys), its very bytes sent again: the receipt
    it had, and no new member list, serial or audit entry at the origin."""
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        _, case = await es.call("POST", "/api/cases", CASE)
        status, _ = await es.call(
            "POST", f"/api/cases/{case['id']}/members", {"authority": "MA-CNA"}
        )
        assert status == 202
    finally:
        await es.close()
    await settled(fed)
    ref = {"origin": "ES-CNA", "case_id": case["id"]}
    content = {"case": ref, "accepted": True}
    sent = envelope(fed, "MA-CNA", "ES-CNA", "msg-accept-0001", content, msg_type="case_acceptance")
    status, got = await peer_post(fed, "MA-CNA", "ES-CNA", "/v1/envelopes", sent)
    assert status == 200 and "receipt" in got, got
    await settled(fed)
    held = await serial(fed, "ES-CNA", case["id"])
    assert (await members_of(fed, "ES-CNA", case["id"]))["MA-CNA"] == "member"
    before = await state(fed, "ES-CNA")
    status, again = await peer_post(fed, "MA-CNA", "ES-CNA", "/v1/envelopes", sent)
    assert status == 200 and again["receipt"] == got["receipt"]
    await settled(fed)
    assert await state(fed, "ES-CNA") == before
    assert await serial(fed, "ES-CNA", case["id"]) == held


async def test_a_copy_we_left_takes_no_new_request(fed: Federation) -> None:
    """MA's liaison accepts and hands the copy to MA's investigator, then leaves: the
    investigator's new request filed in the copy is not_a_member, and nothing is sealed
    or queued."""
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    ma = await ApiClient(fed["MA-CNA"]).login("liaison")
    ma_inv = await ApiClient(fed["MA-CNA"]).login("investigator")
    try:
        _, case = await es.call("POST", "/api/cases", CASE)
        await es.call("POST", f"/api/cases/{case['id']}/members", {"authority": "MA-CNA"})

        async def copy() -> str | None:
            _, page = await ma.call("GET", "/api/cases?shared=1")
            return page["cases"][0]["id"] if page["cases"] else None

        copy_id = await wait_until(copy, what="the invitation at MA")
        body = {"investigator": "investigator"}
        status, _ = await ma.call("POST", f"/api/cases/{copy_id}/accept", body)
        assert status == 202
        status, _ = await ma.call("POST", f"/api/cases/{copy_id}/leave")
        assert status == 202
        await settled(fed)
        before = await state(fed, "MA-CNA")
        form = {**FORM, "to": "ES-CNA", "case_id": copy_id}
        status, got = await ma_inv.call("POST", "/api/requests", form)
        assert (status, got["error"]["code"]) == (409, "not_a_member")
        assert await state(fed, "MA-CNA") == before
    finally:
        for client in (es, ma, ma_inv):
            await client.close()
