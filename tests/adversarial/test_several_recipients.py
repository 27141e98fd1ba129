"""One request to several authorities (issue 16, item 2), against real nodes.

* It is one request per recipient, each sealed for that recipient alone: every peer
  receives exactly one envelope, addressed to itself, and can open no other's (its node
  refuses it ``wrong_recipient``; its keys do not open it).
* All or nothing: one bad recipient in the list, a bad list, or attachments for several
  recipients are refused with a precise code before anything is sealed; no request,
  case, message, envelope or audit entry is stored, and nothing leaves the node.
* Each has its own msg_id, receipt, deadline and status, all in one case and one group;
  the case page lists one row per recipient; paging never hides one of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from exchange.core.audit_entry import decode_entry
from exchange.core.envelope import open_
from exchange.core.errors import WrongRecipient
from exchange.ops.provision import add_user
from exchange.store import audit

from ..federation import PASSWORD, ApiClient, Federation, Member, peer_post, wait_until
from .test_case_access import stored

IDS = ["ES-CNA", "MA-CNA", "SN-CNA"]
FORM = {
    "kind": "information_request",
    "urgency": "urgent",
    "subject": "Departures Dakar - Nador - Almeria",
    "body": "Who owns the boat that left on 12 May?",
    "language": "fr",
    "reference": "UCRIF-AL-2026-0042",
    "handling": {"code": "H2", "use_limitation": True, "confidential": True},
}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, IDS)
    add_user(fed["ES-CNA"].data, username="colleague", password=PASSWORD, role="investigator")
    await fed.start()
    yield fed
    await fed.stop()


async def received_from(member: Member, sender: str) -> list[tuple[str, str, str]]:
    """(msg_id, recipient, type) of every message ``sender`` sent this node."""

    def read(conn: Any) -> list[tuple[str, str, str]]:
        rows = conn.execute(
            "SELECT msg_id, recipient, type FROM messages WHERE sender = ? ORDER BY id", (sender,)
        )
        return [tuple(r) for r in rows.fetchall()]

    return await member.node.db.run(read)


async def sealed_for(member: Member, msg_id: str) -> bytes:
    def read(conn: Any) -> bytes:
        row = conn.execute("SELECT envelope FROM outbox WHERE msg_id = ?", (msg_id,)).fetchone()
        return bytes(row[0])

    return await member.node.db.run(read)


async def test_each_recipient_gets_its_own_envelope_and_no_other(fed: Federation) -> None:
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    await fed.stop("SN-CNA")  # SN's envelope waits in ES's outbox, for MA to be handed
    try:
        status, sent = await es.call("POST", "/api/requests", {"to": ["MA-CNA", "SN-CNA"], **FORM})
        assert status == 201, sent
        assert set(sent) == {"case_id", "group_id", "requests"}
        rows = sent["requests"]
        assert [r["to"] for r in rows] == ["MA-CNA", "SN-CNA"]
        assert {r["status"] for r in rows} == {"queued"}
        assert len({r["id"] for r in rows}) == len({r["msg_id"] for r in rows}) == 2
        assert all(set(r) == {"id", "msg_id", "to", "status"} for r in rows)
        for row in rows:
            status, one = await es.call("GET", f"/api/requests/{row['id']}")
            assert status == 200
            assert (one["counterpart"], one["case_id"]) == (row["to"], sent["case_id"])
            assert one["group_id"] == sent["group_id"]
            assert one["sender_reference"] == "UCRIF-AL-2026-0042"

        # MA is handed SN's envelope (ES's own signed call, as a hostile relay would):
        # its node refuses it, and MA's keys do not open it
        ma = fed["MA-CNA"]
        mine = [(rows[0]["msg_id"], "MA-CNA", "request")]

        async def ma_has_its_own() -> bool:
            return await received_from(ma, "ES-CNA") == mine

        await wait_until(ma_has_its_own, what="MA's own envelope stored")  # none in flight
        for_sn = await sealed_for(fed["ES-CNA"], rows[1]["msg_id"])
        before = await stored(ma)
        status, body = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", for_sn)
        assert (status, body["error"]["code"]) == (421, "wrong_recipient"), body
        assert await stored(ma) == before
        with pytest.raises(WrongRecipient):
            open_(
                for_sn,
                directory=ma.node.directory.held(),
                me="MA-CNA",
                keys=ma.node.keys,
                now=fed.clock.now(),
            )
        await fed.start("SN-CNA")
        fed["ES-CNA"].node.wake_delivery()
        for row in rows:  # each peer holds exactly one envelope of ES's, its own
            peer = fed[row["to"]]
            want = [(row["msg_id"], row["to"], "request")]

            async def arrived(peer: Member = peer, want: Any = want) -> bool:
                return await received_from(peer, "ES-CNA") == want

            await wait_until(arrived, what=f"{row['to']} holds its envelope only")

        async def receipted() -> Any:
            _, case = await es.call("GET", f"/api/cases/{sent['case_id']}")
            held = [r["receipt"] for r in case["requests"]] == ["held", "held"]
            return case if held else None

        case = await wait_until(receipted, what="both receipts held")
        assert [r["counterpart"] for r in case["requests"]] == ["MA-CNA", "SN-CNA"]
        assert {r["group_id"] for r in case["requests"]} == {sent["group_id"]}
        assert all(r["handling"]["code"] == "H2" for r in case["requests"])
        assert all(r["receipts"] == {"held": 1, "sent": 1} for r in case["requests"])
        assert all(r["deadline"] for r in case["requests"])
        # one request_created each, naming its own envelope; no entry names a content
        rows_ = await fed["ES-CNA"].node.db.run(lambda c: audit.entries(c, 0, 10_000))
        created = [
            e for e in (decode_entry(x) for _, x in rows_) if e["action"] == "request_created"
        ]
        assert sorted((e["peer"], e["msg_id"], e["case_id"]) for e in created) == sorted(
            (r["to"], r["msg_id"], sent["case_id"]) for r in rows
        )
        logged = repr(created)
        assert FORM["subject"] not in logged and FORM["reference"] not in logged
    finally:
        await es.close()


async def test_one_bad_recipient_creates_nothing(fed: Federation) -> None:
    es = fed["ES-CNA"]
    client = await ApiClient(es).login("investigator")
    other = await ApiClient(es).login("colleague")
    try:
        _, case = await other.call(
            "POST", "/api/cases", {"title": "t", "offences": ["migrant_smuggling"], "route": []}
        )
        before = await stored(es)
        refusals: list[tuple[dict[str, Any], int, str]] = [
            ({"to": ["MA-CNA", "XX-NONE"]}, 404, "not_found"),
            ({"to": ["MA-CNA", "ES-CNA"]}, 422, "invalid_request"),
            ({"to": ["MA-CNA", "MA-CNA"]}, 400, "malformed"),
            ({"to": []}, 400, "malformed"),
            ({"to": [f"P{i}" for i in range(21)]}, 400, "malformed"),
            ({"to": ["MA-CNA", 7]}, 400, "malformed"),
            ({"to": ["MA-CNA", ""]}, 400, "malformed"),
            ({"to": ["MA-CNA", "SN-CNA"], "subject": 3}, 400, "malformed"),
            ({"to": ["MA-CNA", "SN-CNA"], "urgency": "whenever"}, 400, "malformed"),
            ({"to": ["MA-CNA", "SN-CNA"], "handling": {"code": "H9"}}, 400, "malformed"),
            ({"to": ["MA-CNA", "SN-CNA"], "attachments": ["a1"]}, 422, "invalid_request"),
        ]
        for extra, want_status, want_code in refusals:
            status, body = await client.call("POST", "/api/requests", {**FORM, **extra})
            assert (status, body["error"]["code"]) == (want_status, want_code), (extra, body)
        # a case that does not exist, or that is not the caller's: the same answer
        for case_id in ("0" * 32, case["id"]):
            body = {**FORM, "to": ["MA-CNA", "SN-CNA"], "case_id": case_id}
            status, got = await client.call("POST", "/api/requests", body)
            assert (status, got["error"]["code"]) == (404, "unknown_case")
        # a draft has one recipient: a list is refused, not half kept
        status, got = await client.call("POST", "/api/drafts", {**FORM, "to": ["MA-CNA"]})
        assert (status, got["error"]["code"]) == (400, "malformed")
        assert "one recipient" in got["error"]["message"]
        assert await stored(es) == before
        assert await received_from(fed["MA-CNA"], "ES-CNA") == []
    finally:
        await client.close()
        await other.close()


async def test_paging_never_hides_a_recipient(fed: Federation) -> None:
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        made = []
        for _ in range(3):
            status, sent = await es.call(
                "POST", "/api/requests", {"to": ["MA-CNA", "SN-CNA"], **FORM}
            )
            assert status == 201, sent
            made += [r["id"] for r in sent["requests"]]
        seen: list[str] = []
        cursor = ""
        for _ in range(20):
            query = "?page_size=1" + (f"&cursor={cursor}" if cursor else "")
            status, page = await es.call("GET", "/api/requests" + query)
            assert status == 200, page
            seen += [r["id"] for r in page["requests"]]
            if not page["next"]:
                break
            cursor = page["next"]
        assert sorted(seen) == sorted(made)
        # a list of one is still a list: its answer has the list's shape
        status, one = await es.call("POST", "/api/requests", {"to": ["MA-CNA"], **FORM})
        assert status == 201 and [r["to"] for r in one["requests"]] == ["MA-CNA"], one
        assert len(seen) == len(set(seen)) == 6
    finally:
        await es.close()
