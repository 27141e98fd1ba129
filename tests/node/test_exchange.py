"""End to end: real nodes exchange requests, acknowledgements and responses
over HTTPS on loopback, with signed receipts verified and stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exchange.core.audit_entry import decode_entry
from exchange.core.receipt import parse_receipt, verify_receipt
from exchange.ops.provision import add_user
from exchange.store import audit

from ..federation import PASSWORD, ApiClient, Federation, wait_until


@pytest.fixture
async def fed3(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA", "SN-CNA"])
    await fed.start()
    yield fed
    await fed.stop()


async def _status(client: ApiClient, request_id: str) -> str:
    status, body = await client.call("GET", f"/api/requests/{request_id}")
    assert status == 200, body
    return str(body["status"])


async def _find_incoming(client: ApiClient, msg_id: str) -> dict:  # type: ignore[type-arg]
    status, body = await client.call("GET", "/api/inbox")
    assert status == 200, body
    return next((r for r in body["requests"] if r["msg_id"] == msg_id), None)  # type: ignore[return-value]


async def test_request_acknowledge_answer_between_two_nodes(fed3: Federation) -> None:
    es = await ApiClient(fed3["ES-CNA"]).login("investigator")
    ma = await ApiClient(fed3["MA-CNA"]).login("liaison")
    try:
        status, created = await es.call(
            "POST",
            "/api/requests",
            {
                "to": "MA-CNA",
                "kind": "information_request",
                "urgency": "urgent",
                "subject": "Boat departure Tangier 12 May",
                "body": "Please identify the owner of the vessel.",
                "language": "fr",
            },
        )
        assert status == 201, created
        assert created["status"] == "queued"
        rid = created["id"]
        await wait_until(lambda: _is(es, rid, "delivered"), what="delivered")
        await wait_until(lambda: _find_incoming(ma, created["msg_id"]), what="in MA inbox")

        incoming = await _find_incoming(ma, created["msg_id"])
        assert incoming["counterpart"] == "ES-CNA" and incoming["status"] == "received"
        assert incoming["urgency"] == "urgent" and incoming["deadline"] is not None
        status, detail = await ma.call("GET", f"/api/requests/{incoming['id']}")
        assert (
            detail["messages"][0]["content"]["body"] == "Please identify the owner of the vessel."
        )

        status, body = await ma.call("POST", f"/api/requests/{incoming['id']}/acknowledge")
        assert (status, body["status"]) == (200, "acknowledged")
        await wait_until(lambda: _is(es, rid, "acknowledged"), what="acknowledged at ES")

        status, body = await ma.call(
            "POST",
            f"/api/requests/{incoming['id']}/responses",
            {"body": "The owner is registered in Larache."},
        )
        assert (status, body["status"]) == (200, "answered")
        await wait_until(lambda: _is(es, rid, "answered"), what="answered at ES")

        status, view = await es.call("GET", f"/api/requests/{rid}")
        types = [m["type"] for m in view["messages"]]
        assert types == ["request", "acknowledgement", "response"]
        assert view["messages"][2]["content"]["body"] == "The owner is registered in Larache."
        events = [e["event"] for e in view["timeline"]]
        assert events[:3] == ["created", "queued", "delivered"]
        assert "acknowledgement" in events and "response" in events
        # The request's receipt is signed by MA-CNA and verifies against the directory.
        receipt = parse_receipt(view["messages"][0]["receipt"])
        verify_receipt(
            receipt,
            directory=fed3["ES-CNA"].node.directory.require(),
            expected_msg_id=created["msg_id"],
            expected_sender="ES-CNA",
            expected_recipient="MA-CNA",
            expected_envelope_sha256=view["messages"][0]["envelope_sha256"],
            expected_evidence_sha256=receipt.evidence_sha256,  # held by tests/adversarial
        )
        # MA's acknowledgement and response each came back with ES's receipt.
        await wait_until(lambda: _all_receipted(ma, incoming["id"]), what="receipts at MA")

        # The investigator closes the answered request; closing twice is a conflict.
        status, body = await es.call("POST", f"/api/requests/{rid}/close")
        assert (status, body["status"]) == (200, "closed")
        status, body = await es.call("POST", f"/api/requests/{rid}/close")
        assert status == 409 and body["error"]["code"] == "conflict"
        status, view = await es.call("GET", f"/api/requests/{rid}")
        assert view["timeline"][-1]["event"] == "closed" and view["closed_at"]
    finally:
        await es.close()
        await ma.close()


async def _is(client: ApiClient, request_id: str, want: str) -> bool:
    return await _status(client, request_id) == want


async def _all_receipted(client: ApiClient, request_id: str) -> bool:
    _, view = await client.call("GET", f"/api/requests/{request_id}")
    ours = [m for m in view["messages"] if m["sender"] == client.member.authority_id]
    return bool(ours) and all(m["receipt"] for m in ours)


async def test_three_nodes_exchange_concurrently(fed3: Federation) -> None:
    clients = {a: await ApiClient(fed3[a]).login("investigator") for a in fed3.members}
    sent: list[tuple[str, str, str]] = []
    try:
        for sender, recipient in [
            ("ES-CNA", "MA-CNA"),
            ("ES-CNA", "SN-CNA"),
            ("SN-CNA", "ES-CNA"),
            ("MA-CNA", "SN-CNA"),
            ("SN-CNA", "MA-CNA"),
        ]:
            for n in range(3):
                status, created = await clients[sender].call(
                    "POST",
                    "/api/requests",
                    {
                        "to": recipient,
                        "kind": "spontaneous_information",
                        "urgency": "standard",
                        "subject": f"case {n}",
                        "body": f"information {n} from {sender}",
                        "language": "en",
                    },
                )
                assert status == 201, created
                sent.append((sender, recipient, created["id"]))
        for sender, _, rid in sent:
            await wait_until(lambda s=sender, r=rid: _is(clients[s], r, "delivered"), what=rid)
        for authority_id, member in fed3.members.items():
            received = await member.node.db.run(
                lambda c: c.execute(
                    "SELECT origin, COUNT(*) FROM requests WHERE direction='in' GROUP BY origin"
                ).fetchall()
            )
            expected: dict[str, int] = {}
            for s, r, _ in sent:
                if r == authority_id:
                    expected[s] = expected.get(s, 0) + 1
            assert dict(received) == expected
            # Every action left an audit entry: the log is non-empty and grows with the traffic.
            assert await member.node.db.run(audit.size) > 3 * len(expected)
    finally:
        for client in clients.values():
            await client.close()


async def test_a_draft_stays_home_until_sent(fed3: Federation) -> None:
    es = await ApiClient(fed3["ES-CNA"]).login("investigator")
    liaison = await ApiClient(fed3["ES-CNA"]).login("liaison")
    ma = await ApiClient(fed3["MA-CNA"]).login("liaison")
    try:
        form = {
            "to": "MA-CNA",
            "kind": "mla_request",
            "urgency": "standard",
            "subject": "Draft",
            "body": "Bank records of the skipper",
            "language": "fr",
        }
        status, draft = await es.call("POST", "/api/drafts", form)
        assert (status, draft["status"]) == (201, "draft")
        status, view = await es.call("GET", f"/api/requests/{draft['id']}")
        assert view["status"] == "draft" and view["draft"]["body"] == form["body"]
        assert view["messages"] == [] and view["deadline"] is None
        status, _ = await liaison.call("GET", f"/api/requests/{draft['id']}")
        assert status == 404  # a draft is its author's alone
        outbox = await fed3["ES-CNA"].node.db.run(
            lambda c: c.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        )
        assert outbox == 0
        status, _ = await es.call("POST", "/api/drafts", {**form, "to": "XX-NONE"})
        assert status == 404  # checked when saved, not only when sent

        status, sent = await es.call("POST", f"/api/requests/{draft['id']}/send")
        assert (status, sent["status"]) == (200, "queued")
        await wait_until(lambda: _is(es, draft["id"], "delivered"), what="the draft delivered")
        incoming = await wait_until(lambda: _find_incoming(ma, sent["msg_id"]), what="at MA")
        assert incoming["kind"] == "mla_request" and incoming["deadline"] is not None
        status, again = await es.call("POST", f"/api/requests/{draft['id']}/send")
        assert status == 422 and again["error"]["code"] == "invalid_request"
        status, view = await es.call("GET", f"/api/requests/{draft['id']}")
        events = [e["event"] for e in view["timeline"]]
        assert events[:3] == ["drafted", "created", "queued"]
    finally:
        for client in (es, liaison, ma):
            await client.close()


async def test_a_draft_is_edited_or_discarded_by_its_author_only(fed3: Federation) -> None:
    member = fed3["ES-CNA"]
    add_user(member.data, username="investigator2", password=PASSWORD, role="investigator")
    es = await ApiClient(member).login("investigator")
    other = await ApiClient(member).login("investigator2")
    form = {
        "to": "MA-CNA",
        "kind": "information_request",
        "urgency": "urgent",
        "subject": "First wording",
        "body": "Who owns the vessel?",
        "language": "en",
    }
    try:
        _, draft = await es.call("POST", "/api/drafts", form)
        path = f"/api/drafts/{draft['id']}"
        edited = {**form, "to": "SN-CNA", "subject": "Second wording", "language": "fr"}
        status, body = await other.call("PUT", path, edited)
        assert status == 404  # another investigator's draft does not exist for them
        status, body = await es.call("PUT", path, {**edited, "to": "XX-NONE"})
        assert status == 404  # checked as when saved
        status, body = await es.call("PUT", path, {**edited, "deadline": "tomorrow"})
        assert status == 400 and body["error"]["code"] == "malformed"
        status, body = await es.call("PUT", path, edited)
        assert (status, body) == (200, {"id": draft["id"], "status": "draft"})
        _, view = await es.call("GET", f"/api/requests/{draft['id']}")
        assert view["draft"]["subject"] == "Second wording"
        assert (view["counterpart"], view["language"]) == ("SN-CNA", "fr")
        assert [e["event"] for e in view["timeline"]] == ["drafted", "draft_updated"]

        status, _ = await other.call("DELETE", path)
        assert status == 404
        status, body = await es.call("DELETE", path)
        assert (status, body) == (200, {"id": draft["id"], "status": "discarded"})
        status, _ = await es.call("GET", f"/api/requests/{draft['id']}")
        assert status == 404
        status, _ = await es.call("DELETE", path)
        assert status == 404

        # a request that was sent is no draft: neither edited nor discarded
        _, sent = await es.call("POST", "/api/requests", form)
        for method, payload in (("PUT", form), ("DELETE", None)):
            status, body = await es.call(method, f"/api/drafts/{sent['id']}", payload)
            assert status == 422 and body["error"]["code"] == "invalid_request"

        rows = await member.node.db.run(lambda c: audit.entries(c, 0, 10_000))
        logged = [decode_entry(e) for _, e in rows]
        mine = [e["action"] for e in logged if e.get("request_id") == draft["id"]]
        # reading the draft back was itself recorded
        assert mine == ["request_drafted", "draft_updated", "request_opened", "draft_discarded"]
        leftovers = await member.node.db.run(
            lambda c: c.execute(
                "SELECT (SELECT COUNT(*) FROM drafts), (SELECT COUNT(*) FROM events"
                " WHERE request_id = ?)",
                (draft["id"],),
            ).fetchone()
        )
        assert leftovers == (0, 0)  # the sealed form and its timeline are gone
    finally:
        await es.close()
        await other.close()
