"""Deadlines between real nodes driven by a manual clock: states change at the
right instants on both sides, each escalation happens exactly once with its
audit entry and a signed webhook call to a real local HTTP receiver, and a
restarted node recomputes what it missed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import nacl.exceptions
import nacl.signing
import pytest
from aiohttp import web

from exchange.core.canonical import b64d
from exchange.core.clock import ManualClock
from exchange.core.webhook import verify_webhook
from exchange.web.appkeys import DEADLINES_KEY

from ..federation import FAST_DELIVERY, ApiClient, Federation, Member, free_port, wait_until

H = timedelta(hours=1)
T0 = datetime.now(UTC).replace(microsecond=0)


class Receiver:
    """A real HTTP server standing in for the ticketing system a webhook feeds."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.port = free_port()
        self.fail_next = 0

    async def handle(self, request: web.Request) -> web.Response:
        if self.fail_next:
            self.fail_next -= 1
            return web.Response(status=503)  # the receiver is down for a moment: retried
        self.calls.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def bodies(self, authority: str) -> list[dict[str, Any]]:
        return [
            json.loads(body)
            for headers, body in self.calls
            if headers["X-Exchange-Authority"] == authority
        ]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", rec.port).start()
    yield rec
    await runner.cleanup()


def config(receiver: Receiver) -> str:
    return FAST_DELIVERY + f'\n[escalation]\nwebhooks = ["{receiver.url}"]\n'


async def judged(fed: Federation, moment: datetime) -> None:
    """Set the clock and wait until every running node's scheduler has judged that time."""
    assert isinstance(fed.clock, ManualClock)
    fed.clock.set(moment)
    for member in fed.members.values():
        if member.running is not None:
            scheduler = member.running.app[DEADLINES_KEY]
            await wait_until(
                lambda s=scheduler: s.last_swept_at is not None and s.last_swept_at >= moment,
                what=f"{member.authority_id} swept at {moment}",
            )


async def states(member: Member) -> dict[str, str]:
    def read(c: Any) -> dict[str, str]:
        rows = c.execute("SELECT urgency, deadline_state FROM requests").fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    return await member.node.db.run(read)


async def escalations(member: Member) -> list[tuple[str, str]]:
    def read(c: Any) -> list[tuple[str, str]]:
        rows = c.execute(
            "SELECT r.urgency, e.kind FROM deadline_escalations e"
            " JOIN requests r ON r.id = e.request_id ORDER BY e.id"
        ).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    return await member.node.db.run(read)


async def audit_escalations(member: Member) -> int:
    def read(c: Any) -> int:
        return int(
            c.execute(
                "SELECT COUNT(*) FROM audit_entries WHERE CAST(entry AS TEXT)"
                ' LIKE \'%"action":"deadline_escalated"%\''
            ).fetchone()[0]
        )

    return await member.node.db.run(read)


async def send(client: ApiClient, urgency: str) -> str:
    status, body = await client.call(
        "POST",
        "/api/requests",
        {
            "to": "MA-CNA",
            "kind": "information_request",
            "urgency": urgency,
            "subject": f"{urgency} request",
            "body": "Which boat left Nador on 3 November?",
            "language": "en",
        },
    )
    assert status == 201, body
    return str(body["id"])


async def incoming_id(ma: Member, urgency: str) -> str:
    def read(c: Any) -> str:
        row = c.execute(
            "SELECT id FROM requests WHERE direction = 'in' AND urgency = ?", (urgency,)
        ).fetchone()
        return str(row[0]) if row else ""

    return str(await wait_until(lambda: ma.node.db.run(read), what=f"{urgency} at MA"))


async def test_deadlines_move_on_time_on_both_nodes(tmp_path: Any, receiver: Receiver) -> None:
    clock = ManualClock(T0)
    fed = Federation.create(
        tmp_path, ["ES-CNA", "MA-CNA"], clock=clock, extra_config=config(receiver)
    )
    fed.publish(valid=timedelta(days=90))  # the standard request runs 30 days
    await fed.start()
    es, ma = fed["ES-CNA"], fed["MA-CNA"]
    try:
        investigator = await ApiClient(es).login("investigator")
        for urgency in ("emergency", "urgent", "standard"):
            await send(investigator, urgency)
        await investigator.close()
        urgent_at_ma = await incoming_id(ma, "urgent")
        await incoming_id(ma, "emergency")
        await incoming_id(ma, "standard")
        both = (es, ma)

        await judged(fed, T0 + timedelta(minutes=30) - timedelta(seconds=1))
        for m in both:
            assert await states(m) == {u: "on_track" for u in ("emergency", "urgent", "standard")}
            assert await escalations(m) == []

        # an emergency not acknowledged within 30 minutes escalates at once
        await judged(fed, T0 + timedelta(minutes=30))
        for m in both:
            assert await escalations(m) == [("emergency", "unacknowledged")]

        await judged(fed, T0 + 6 * H - timedelta(seconds=1))
        assert (await states(es))["emergency"] == "on_track"
        await judged(fed, T0 + 6 * H)  # 2 hours before an 8-hour deadline
        for m in both:
            assert (await states(m))["emergency"] == "due_soon"
        await judged(fed, T0 + 8 * H)
        for m in both:
            assert (await states(m))["emergency"] == "overdue"
        await judged(fed, T0 + 18 * H)  # 25 % of the 24-hour window left
        for m in both:
            assert (await states(m))["urgent"] == "due_soon"

        # MA answers the urgent request at T0+20h: met on both sides
        clock.set(T0 + 20 * H)
        liaison = await ApiClient(ma).login("liaison")
        status, body = await liaison.call(
            "POST", f"/api/requests/{urgent_at_ma}/responses", {"body": "The Nour II."}
        )
        assert status == 200, body
        await liaison.close()
        await wait_until(lambda: _answered(es), what="the answer back at ES")
        await judged(fed, T0 + 21 * H)
        for m in both:
            assert (await states(m))["urgent"] == "met"

        await judged(fed, T0 + 540 * H - timedelta(seconds=1))
        assert (await states(ma))["standard"] == "on_track"
        await judged(fed, T0 + 540 * H)
        for m in both:
            assert (await states(m))["standard"] == "due_soon"
        await judged(fed, T0 + 720 * H)
        await judged(fed, T0 + 800 * H)  # time passing adds nothing once overdue
        expected = [
            ("emergency", "unacknowledged"),
            ("emergency", "due_soon"),
            ("emergency", "overdue"),
            ("urgent", "due_soon"),
            ("standard", "due_soon"),
            ("standard", "overdue"),
        ]
        for m in both:
            assert await states(m) == {
                "emergency": "overdue",
                "urgent": "met",
                "standard": "overdue",
            }
            assert await escalations(m) == expected  # exactly once each, in order
            assert await audit_escalations(m) == len(expected)

        # every escalation reached the webhook once, signed by the node's key
        await wait_until(lambda: len(receiver.calls) == 2 * len(expected), what="webhooks")
        for m in both:
            bodies = receiver.bodies(m.authority_id)
            assert [(b["urgency"], b["escalation"]) for b in bodies] == expected
        directory = es.node.directory.require()
        for headers, body in receiver.calls:
            authority = directory.get(headers["X-Exchange-Authority"])
            assert authority is not None
            header = headers["X-Exchange-Signature"]
            alg, key_id, sig = header.split(" ")
            assert alg == "ed25519"
            verify_webhook(header, body, authority)  # JCS({ctx: webhook, body_sha256})
            key = next(k for k in authority.signing_keys if k.key_id == key_id.split("=", 1)[1])
            with pytest.raises(nacl.exceptions.BadSignatureError):  # not over the bare body
                nacl.signing.VerifyKey(key.public).verify(body, b64d(sig.split("=", 1)[1]))
            assert b"Nador" not in body and b"Nour" not in body  # metadata only

        # the API: sorted by time left, filters, alerts per role
        investigator = await ApiClient(es).login("investigator")
        status, body = await investigator.call("GET", "/api/deadlines")
        assert status == 200
        assert [d["urgency"] for d in body["deadlines"]] == ["emergency", "standard", "urgent"]
        assert body["deadlines"][0]["time_left"].startswith("overdue by")
        status, body = await investigator.call("GET", "/api/deadlines?state=met")
        assert [d["urgency"] for d in body["deadlines"]] == ["urgent"]
        status, body = await investigator.call("GET", "/api/deadlines?state=late")
        assert status == 400 and body["error"]["code"] == "malformed"
        status, body = await investigator.call("GET", "/api/alerts")
        assert {(a["urgency"], a["kind"]) for a in body["alerts"]} == set(expected) - {
            ("urgent", "due_soon")  # settled: no longer an open alert
        }
        # the web UI shows the open alerts beside the navigation, as text and a count
        status, page = await investigator.call("GET", "/alerts")
        assert status == 200 and b'aria-label="5 open">5</span>' in page
        assert b"overdue" in page and b"unacknowledged" in page
        await investigator.close()
        auditor = await ApiClient(es).login("auditor")
        status, body = await auditor.call("GET", "/api/deadlines")
        assert status == 403
        await auditor.close()
    finally:
        await fed.stop()


async def _answered(es: Member) -> bool:
    def read(c: Any) -> bool:
        row = c.execute("SELECT answered_at FROM requests WHERE urgency = 'urgent'").fetchone()
        return bool(row and row[0])

    return await es.node.db.run(read)


async def test_restarted_node_recomputes_and_escalates_once(
    tmp_path: Any, receiver: Receiver
) -> None:
    clock = ManualClock(T0)
    fed = Federation.create(
        tmp_path, ["ES-CNA", "MA-CNA"], clock=clock, extra_config=config(receiver)
    )
    await fed.start()
    es, ma = fed["ES-CNA"], fed["MA-CNA"]
    try:
        investigator = await ApiClient(es).login("investigator")
        await send(investigator, "urgent")
        await investigator.close()
        await incoming_id(ma, "urgent")
        await judged(fed, T0 + H)
        await fed.stop("MA-CNA")

        receiver.fail_next = 1  # the first webhook call fails and is retried
        await judged(fed, T0 + 19 * H)  # ES sees due soon, then overdue, while MA is down
        await judged(fed, T0 + 25 * H)
        assert await escalations(es) == [("urgent", "due_soon"), ("urgent", "overdue")]

        await fed.start("MA-CNA")  # MA was down through both instants
        await judged(fed, T0 + 25 * H)
        assert await states(ma) == {"urgent": "overdue"}
        assert await escalations(ma) == [("urgent", "overdue")]  # the one that still matters
        await fed.stop("MA-CNA")
        await fed.start("MA-CNA")  # and once is enough, however often it restarts
        await judged(fed, T0 + 26 * H)
        assert await escalations(ma) == [("urgent", "overdue")]
        assert await audit_escalations(ma) == 1
        await wait_until(lambda: len(receiver.calls) == 3, what="webhook calls, one retried")
        assert len(receiver.bodies("ES-CNA")) == 2
        assert [b["escalation"] for b in receiver.bodies("MA-CNA")] == ["overdue"]
    finally:
        await fed.stop()
