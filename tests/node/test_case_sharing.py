"""Sharing a case between real nodes (issue 16, item 1): ES invites MA through the API,
MA's liaison prosecutor accepts with its own reference, ES tells the members who is in
the case, and a request ES files in the shared case lands in MA's copy of it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from exchange.core.clock import ManualClock
from exchange.core.envelope import Header, sender_public_key, verify_evidence
from exchange.ops.retention import run_pass

from ..federation import FAST_DELIVERY, ApiClient, Federation, peer_post, wait_until
from ..storage import stored_bytes
from .test_peer_rejections import envelope

CASE = {
    "title": "Network of Ndiaye-Moreau",
    "reference": "UCRIF-AL-2026-0042",
    "offences": ["migrant_smuggling"],
    "route": [{"country": "SN", "role": "origin"}, {"country": "ES", "role": "destination"}],
}
FORM = {
    "to": "MA-CNA",
    "kind": "information_request",
    "urgency": "standard",
    "subject": "Vessel",
    "body": "Who owns the vessel?",
    "language": "en",
}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA", "SN-CNA"])
    await fed.start()
    yield fed
    await fed.stop()


async def shared_cases(client: ApiClient) -> list[dict[str, Any]]:
    status, page = await client.call("GET", "/api/cases?shared=1")
    assert status == 200, page
    return list(page["cases"])


async def invited(fed: Federation) -> tuple[ApiClient, ApiClient, dict[str, Any], str]:
    """ES's investigator opens a case and invites MA; MA holds the invitation. Returns
    ES's investigator, MA's liaison, ES's case and MA's copy's id."""
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    ma = await ApiClient(fed["MA-CNA"]).login("liaison")
    status, case = await es.call("POST", "/api/cases", CASE)
    assert status == 201
    status, got = await es.call("POST", f"/api/cases/{case['id']}/members", {"authority": "MA-CNA"})
    assert status == 202, got
    assert {"authority": "MA-CNA", "state": "invited"} in [
        {k: m[k] for k in ("authority", "state")} for m in got["members"]
    ]

    async def arrived() -> bool:
        return bool(await shared_cases(ma))

    await wait_until(arrived, what="the invitation at MA")
    (copy,) = await shared_cases(ma)
    return es, ma, case, copy["id"]


def states(view: dict[str, Any]) -> dict[str, str]:
    return {m["authority"]: m["state"] for m in view["members"]}


async def test_invite_accept_and_file_a_request_in_the_shared_case(fed: Federation) -> None:
    es, ma, case, copy = await invited(fed)
    try:
        status, view = await ma.call("GET", f"/api/cases/{copy}")
        assert status == 200
        assert view["title"] == CASE["title"] and view["offences"] == CASE["offences"]
        assert (view["origin"], view["origin_case_id"]) == ("ES-CNA", case["id"])
        assert states(view) == {"ES-CNA": "member", "MA-CNA": "invited"}
        status, got = await ma.call("POST", f"/api/cases/{copy}/accept", {"reference": "MA-77"})
        assert (status, got["state"]) == (202, "member")
        await check_kept_evidence(fed, "MA-CNA", copy)

        async def es_knows() -> bool:
            _, view = await es.call("GET", f"/api/cases/{case['id']}")
            return states(view) == {"ES-CNA": "member", "MA-CNA": "member"}

        await wait_until(es_knows, what="the acceptance at ES")
        await check_kept_evidence(fed, "ES-CNA", case["id"])

        async def ma_told() -> bool:
            return (
                await fed["MA-CNA"].node.db.run(
                    lambda c: c.execute(
                        "SELECT membership_serial FROM cases WHERE id = ?", (copy,)
                    ).fetchone()[0]
                )
                >= 1
            )

        await wait_until(ma_told, what="the membership list at MA")
        _, es_view = await es.call("GET", f"/api/cases/{case['id']}")
        references = {m["authority"]: m["reference"] for m in es_view["members"]}
        assert references == {"ES-CNA": CASE["reference"], "MA-CNA": "MA-77"}
        _, ma_view = await ma.call("GET", f"/api/cases/{copy}")
        assert states(ma_view) == {"ES-CNA": "member", "MA-CNA": "member"}
        assert {m["authority"]: m["reference"] for m in ma_view["members"]} == references
        assert {m["type"] for m in es_view["case_messages"]} >= {
            "case_invitation", "case_acceptance", "case_membership"
        }  # fmt: skip

        # a request ES files in the shared case goes into MA's copy
        status, sent = await es.call("POST", "/api/requests", {**FORM, "case_id": case["id"]})
        assert status == 201, sent

        async def filed() -> bool:
            _, view = await ma.call("GET", f"/api/cases/{copy}")
            return len(view["requests"]) == 1

        await wait_until(filed, what="the request in MA's copy")
        _, ma_view = await ma.call("GET", f"/api/cases/{copy}")
        (request,) = ma_view["requests"]
        assert (request["direction"], request["counterpart"]) == ("in", "ES-CNA")
        status, page = await ma.call("GET", "/api/cases")
        assert [c["id"] for c in page["cases"]] == [copy]  # no implicit case was opened
    finally:
        await es.close()
        await ma.close()


async def test_both_members_write_inside_the_shared_case(fed: Federation) -> None:
    """MA's liaison accepts and hands the copy to MA's investigator, who writes to ES
    inside the case: each side's case page lists both requests, both directions, with
    their status and receipts; a liaison cannot hand it to a non-investigator."""
    es, ma, case, copy = await invited(fed)
    ma_inv = await ApiClient(fed["MA-CNA"]).login("investigator")
    try:
        accept = f"/api/cases/{copy}/accept"
        status, got = await ma.call("POST", accept, {"investigator": "auditor"})
        assert (status, got["error"]["code"]) == (422, "invalid_request")
        status, got = await ma.call("POST", accept, {"investigator": "investigator"})
        assert status == 202, got

        async def es_knows() -> bool:
            _, view = await es.call("GET", f"/api/cases/{case['id']}")
            return states(view).get("MA-CNA") == "member"

        await wait_until(es_knows, what="the acceptance at ES")
        status, _ = await es.call("POST", "/api/requests", {**FORM, "case_id": case["id"]})
        assert status == 201
        back = {**FORM, "to": "ES-CNA", "subject": "Crew", "case_id": copy}
        status, sent = await ma_inv.call("POST", "/api/requests", back)
        assert status == 201, sent

        async def both(client: ApiClient, case_id: str) -> bool:
            _, view = await client.call("GET", f"/api/cases/{case_id}")
            directions = sorted(r["direction"] for r in view["requests"])
            receipts = {r["receipt"] for r in view["requests"]}
            return directions == ["in", "out"] and receipts == {"held", "issued"}

        await wait_until(lambda: both(es, case["id"]), what="both requests at ES")
        await wait_until(lambda: both(ma_inv, copy), what="both requests at MA")
        status, page = await es.call("GET", "/api/cases")
        assert [c["id"] for c in page["cases"]] == [case["id"]]
    finally:
        for client in (es, ma, ma_inv):
            await client.close()


async def test_decline(fed: Federation) -> None:
    es, ma, case, copy = await invited(fed)
    try:
        status, got = await ma.call("POST", f"/api/cases/{copy}/decline")
        assert (status, got["state"]) == (202, "declined")

        async def es_knows() -> bool:
            _, view = await es.call("GET", f"/api/cases/{case['id']}")
            return states(view).get("MA-CNA") == "declined"

        await wait_until(es_knows, what="the decline at ES")
        # answered already: a second answer is refused, and ES may invite again
        status, got = await ma.call("POST", f"/api/cases/{copy}/accept")
        assert (status, got["error"]["code"]) == (422, "invalid_request")
        path = f"/api/cases/{case['id']}/members"
        status, got = await es.call("POST", path, {"authority": "MA-CNA"})
        assert status == 202, got

        async def invited_again() -> bool:
            _, view = await ma.call("GET", f"/api/cases/{copy}")
            return states(view).get("MA-CNA") == "invited"

        await wait_until(invited_again, what="the second invitation at MA")
        assert [c["id"] for c in await shared_cases(ma)] == [copy]  # the same copy
        status, got = await ma.call("POST", f"/api/cases/{copy}/accept", {})
        assert (status, got["state"]) == (202, "member")
    finally:
        await es.close()
        await ma.close()


RETENTION = "\n[retention]\nopen_days = 3\n"


async def test_a_shared_case_reads_after_its_months_kek_is_rotated(tmp_path: Path) -> None:
    """The retention pass erases a request of the shared case on both nodes and rotates
    the month's key-encryption key: each copy's title, and the members' references
    sealed in the case messages (store/period_keys.KEYED), still read. The pass that
    erases the last request erases them all, the case messages' contents included."""
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    fed = Federation.create(
        tmp_path, ["ES-CNA", "MA-CNA"], clock=clock, extra_config=FAST_DELIVERY + RETENTION
    )
    fed.publish(valid=timedelta(days=60))
    await fed.start()
    try:
        es, ma, case, copy = await invited(fed)
        status, _ = await ma.call("POST", f"/api/cases/{copy}/accept", {"reference": "MA-77"})
        assert status == 202

        async def member() -> bool:
            _, view = await es.call("GET", f"/api/cases/{case['id']}")
            return states(view).get("MA-CNA") == "member"

        await wait_until(member, what="the acceptance at ES")

        async def filed(n: int) -> bool:
            _, view = await ma.call("GET", f"/api/cases/{copy}")
            return len(view["requests"]) == n and all(m["receipt"] for m in view["case_messages"])

        async def send(n: int) -> None:
            status, _ = await es.call("POST", "/api/requests", {**FORM, "case_id": case["id"]})
            assert status == 201
            await wait_until(lambda: filed(n), what=f"request {n} in MA's copy")

        await send(1)
        await es.close()
        await ma.close()
        clock.advance(timedelta(days=2))
        es = await ApiClient(fed["ES-CNA"]).login("investigator")
        ma = await ApiClient(fed["MA-CNA"]).login("liaison")
        await send(2)
        await es.close()
        await ma.close()
        clock.advance(timedelta(days=1, hours=12))
        rotated = []
        for node_id in ("ES-CNA", "MA-CNA"):
            node = fed[node_id].node
            before = await node.db.run(kek_ids)
            assert run_pass(node.db, fed[node_id].config, clock, node.vault)["requests_erased"]
            rotated.append(before - await node.db.run(kek_ids))
        assert all(rotated), "the pass rotated the month's KEK on both nodes"
        es = await ApiClient(fed["ES-CNA"]).login("investigator")
        ma = await ApiClient(fed["MA-CNA"]).login("liaison")
        references = {"ES-CNA": CASE["reference"], "MA-CNA": "MA-77"}
        for client, case_id in ((es, case["id"]), (ma, copy)):
            status, view = await client.call("GET", f"/api/cases/{case_id}")
            assert status == 200 and view["title"] == CASE["title"], view
            assert {m["authority"]: m["reference"] for m in view["members"]} == references
        await es.close()
        await ma.close()
        # the last request goes on both sides, and with it the title, the references
        # and every case message's contents (an invitation states them too)
        clock.advance(timedelta(days=2))
        for node_id in ("ES-CNA", "MA-CNA"):
            node = fed[node_id].node
            assert run_pass(node.db, fed[node_id].config, clock, node.vault)["requests_erased"]
            left = await node.db.run(
                lambda c: c.execute(
                    "SELECT COUNT(*) FROM case_messages WHERE content IS NOT NULL"
                ).fetchone()[0]
            )
            assert left == 0, node_id
        es = await ApiClient(fed["ES-CNA"]).login("investigator")
        ma = await ApiClient(fed["MA-CNA"]).login("liaison")
        for client, case_id in ((es, case["id"]), (ma, copy)):
            status, view = await client.call("GET", f"/api/cases/{case_id}")
            assert status == 200 and view["title"] is None and view["erased_at"], view
            assert {m["reference"] for m in view["members"]} == {None}
            assert len(view["case_messages"]) >= 3  # ids, types, receipts stay
        await es.close()
        await ma.close()
        for node_id in ("ES-CNA", "MA-CNA"):
            data = stored_bytes(fed[node_id].data)
            assert CASE["title"].encode() not in data and b"MA-77" not in data
    finally:
        await fed.stop()


def kek_ids(conn: Any) -> set[str]:
    """The KEKs the shared case's sealed rows are wrapped under."""
    sql = (
        "SELECT substr(names_key, 2, 16) FROM cases WHERE origin IS NOT NULL"
        " UNION SELECT substr(content_key, 2, 16) FROM case_messages"
    )
    return {bytes(r[0]).decode() for r in conn.execute(sql).fetchall() if r[0]}


async def test_a_refused_case_message_keeps_its_signed_refusal(fed: Federation) -> None:
    """MA holds an invitation to ES's case already (sent with ES's own keys, outside
    ES's node), so it refuses ES's node's invitation (conflict): ES keeps MA's signed
    refusal and audits it with the case's id; the invitation is given up."""
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        _, case = await es.call("POST", "/api/cases", CASE)
        ahead = {"case": {"origin": "ES-CNA", "case_id": case["id"]}, **CASE}
        body = envelope(
            fed, "ES-CNA", "MA-CNA", "msg-ahead-00001", ahead, msg_type="case_invitation"
        )
        status, _ = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", body)
        assert status == 200
        path = f"/api/cases/{case['id']}/members"
        status, _ = await es.call("POST", path, {"authority": "MA-CNA"})
        assert status == 202

        def refusals(conn: Any) -> list[tuple[str, str]]:
            sql = "SELECT r.code, m.type FROM refusals r JOIN case_messages m USING (msg_id)"
            return [tuple(row) for row in conn.execute(sql).fetchall()]

        async def kept() -> bool:
            return bool(await fed["ES-CNA"].node.db.run(refusals))

        await wait_until(kept, what="MA's refusal at ES")
        assert await fed["ES-CNA"].node.db.run(refusals) == [("conflict", "case_invitation")]
        entries = await fed["ES-CNA"].node.db.run(
            lambda c: [json.loads(bytes(r[0])) for r in c.execute(
                "SELECT entry FROM audit_entries ORDER BY idx").fetchall()]
        )  # fmt: skip
        refused = [e for e in entries if e["action"] == "delivery_refused"]
        assert [(e["case_id"], e["code"]) for e in refused] == [(case["id"], "conflict")]
    finally:
        await es.close()


async def check_kept_evidence(fed: Federation, authority_id: str, case_id: str) -> None:
    """Every peer's case message kept here still proves, from what is stored, that its
    sender signed its content (the evidence signature over header and content)."""
    node = fed[authority_id].node

    def kept(conn: Any) -> list[tuple[Any, ...]]:
        sql = (
            "SELECT sender, msg_id, content_key, content, evidence FROM case_messages"
            " WHERE case_id = ? AND sender != ?"
        )
        return [tuple(r) for r in conn.execute(sql, (case_id, authority_id)).fetchall()]

    rows = await node.db.run(kept)
    assert rows
    for sender, msg_id, key, sealed, evidence in rows:
        content = json.loads(node.vault.open(key, sealed, record=f"case-message:{sender}:{msg_id}"))
        document = json.loads(evidence)
        header = Header.from_json(document["header"])
        public = sender_public_key(node.directory.require(), header)
        verify_evidence(header, content, bytes.fromhex(document["signature"]), public)


async def test_one_request_to_a_member_and_a_non_member_of_a_shared_case(
    fed: Federation,
) -> None:
    """Sent to several authorities inside a shared case, the member's copy of the request
    names the case and lands in its copy; the non-member's does not name it (it is told
    nothing of the case) and lands in an implicit case of its own."""
    es, ma, case, copy = await invited(fed)
    sn = await ApiClient(fed["SN-CNA"]).login("liaison")
    try:
        status, got = await ma.call("POST", f"/api/cases/{copy}/accept", {"reference": "MA-77"})
        assert status == 202, got

        async def member() -> bool:
            _, view = await es.call("GET", f"/api/cases/{case['id']}")
            return states(view) == {"ES-CNA": "member", "MA-CNA": "member"}

        await wait_until(member, what="the acceptance at ES")
        body = {**FORM, "to": ["MA-CNA", "SN-CNA"], "case_id": case["id"]}
        status, sent = await es.call("POST", "/api/requests", body)
        assert status == 201 and len(sent["requests"]) == 2, sent

        async def filed() -> bool:
            _, at_ma = await ma.call("GET", f"/api/cases/{copy}")
            _, at_sn = await sn.call("GET", "/api/cases")
            return len(at_ma["requests"]) == 1 and len(at_sn["cases"]) == 1

        await wait_until(filed, what="both requests filed")
        _, at_sn = await sn.call("GET", "/api/cases")
        (sn_case,) = at_sn["cases"]
        assert sn_case["implicit"] is True and sn_case.get("origin") is None
        contents = await fed["SN-CNA"].node.db.run(
            lambda c: c.execute("SELECT COUNT(*) FROM requests WHERE direction = 'in'").fetchone()
        )
        assert contents[0] == 1
        status, view = await sn.call("GET", f"/api/cases/{sn_case['id']}")
        assert status == 200 and case["id"] not in json.dumps(view)  # never told the case
    finally:
        await es.close()
        await ma.close()
        await sn.close()
