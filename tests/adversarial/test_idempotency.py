"""Idempotency-Key on the local API (issue 17, item 2), against real nodes.

* A retry with the same key answers the first result (same status and body) and
  creates, sends and audits nothing more: the peer holds one request.
* Keys are scoped per user: another user sending someone's key (and body) gets no
  answer of theirs; their call is their own.
* A malformed key is refused (400 ``malformed_idempotency_key``), a key reused for
  another body or path is refused (422 ``idempotency_key_reused``), a retry while the
  first call runs is refused (409 ``idempotency_in_progress``): nothing stored changes.
* A key expires (``[api] idempotency_ttl_hours``) and housekeeping collects it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from exchange.core.clock import ManualClock
from exchange.ops.provision import add_user

from ..federation import FAST_DELIVERY, PASSWORD, ApiClient, Federation, Member, wait_until
from .test_case_access import CASE, FORM, stored


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    add_user(fed["ES-CNA"].data, username="colleague", password=PASSWORD, role="investigator")
    await fed.start()
    yield fed
    await fed.stop()


async def keyed(
    client: ApiClient, path: str, body: Any, key: str | None, method: str = "POST"
) -> tuple[int, Any, dict[str, str]]:
    """A call with ``Idempotency-Key: key``; its status, JSON body and headers."""
    headers = {"X-CSRF-Token": client.csrf, "Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    async with client.session.request(
        method,
        client.member.url + path,
        data=json.dumps(body).encode(),
        headers=headers,
        ssl=client.ssl,
    ) as response:
        raw = await response.read()
        return response.status, json.loads(raw), dict(response.headers)


async def received(member: Member, sender: str) -> int:
    def count(conn: Any) -> int:
        sql = "SELECT COUNT(*) FROM requests WHERE counterpart = ? AND direction = 'in'"
        return int(conn.execute(sql, (sender,)).fetchone()[0])

    return await member.node.db.run(count)


async def test_a_retry_answers_the_first_result_and_creates_nothing(fed: Federation) -> None:
    es, ma = fed["ES-CNA"], fed["MA-CNA"]
    client = await ApiClient(es).login("investigator")
    try:
        status, first, _ = await keyed(client, "/api/requests", FORM, "retry-1")
        assert status == 201, first
        await wait_until(lambda: delivered(es), what="the request receipted")
        after_first = await stored(es)
        for _ in range(3):
            again, body, headers = await keyed(client, "/api/requests", FORM, "retry-1")
            assert (again, body) == (status, first)
            assert headers["Idempotent-Replayed"] == "true"
        assert await stored(es) == after_first
        await wait_until(lambda: _is(received(ma, "ES-CNA"), 1))
        # a new key is a new request (the key, not the body, says "the same call")
        status, other, _ = await keyed(client, "/api/requests", FORM, "retry-2")
        assert status == 201 and other["id"] != first["id"]
        await wait_until(lambda: _is(received(ma, "ES-CNA"), 2))
        assert await received(ma, "ES-CNA") == 2
    finally:
        await client.close()


async def test_keys_are_scoped_per_user(fed: Federation) -> None:
    es = fed["ES-CNA"]
    owner = await ApiClient(es).login("investigator")
    thief = await ApiClient(es).login("colleague")
    liaison = await ApiClient(es).login("liaison")
    try:
        status, first, _ = await keyed(owner, "/api/requests", FORM, "shared-key")
        assert status == 201
        # the same key and body from another investigator: their own request, never
        # the owner's answer (which would name the owner's request)
        status, theirs, headers = await keyed(thief, "/api/requests", FORM, "shared-key")
        assert status == 201 and "Idempotent-Replayed" not in headers
        assert theirs["id"] != first["id"]
        # a user who may not create requests is refused as without a key
        await wait_until(lambda: delivered(es), what="both requests receipted")
        before = await stored(es)
        status, body, _ = await keyed(liaison, "/api/requests", FORM, "shared-key")
        assert status == 403 and body["error"]["code"] == "forbidden"
        assert first["id"] not in json.dumps(body)
        assert await stored(es) == before
        # without the owner's CSRF token, the owner's own key answers nothing either
        owner_csrf, owner.csrf = owner.csrf, "forged"
        status, body, _ = await keyed(owner, "/api/requests", FORM, "shared-key")
        assert status == 403 and body["error"]["code"] == "csrf_failed"
        owner.csrf = owner_csrf
    finally:
        for client in (owner, thief, liaison):
            await client.close()


@pytest.mark.parametrize(
    "key",
    ["", '" padded"', '""', "x" * 256, '"unterminated\\"', '"a"b"', "tab\there"],
)
async def test_malformed_keys_are_refused(fed: Federation, key: str) -> None:
    es = fed["ES-CNA"]
    client = await ApiClient(es).login("investigator")
    try:
        before = await stored(es)
        status, body, _ = await keyed(client, "/api/requests", FORM, key)
        assert (status, body["error"]["code"]) == (400, "malformed_idempotency_key")
        assert await stored(es) == before
    finally:
        await client.close()


async def test_two_keys_in_one_call_are_refused(fed: Federation) -> None:
    es = fed["ES-CNA"]
    client = await ApiClient(es).login("investigator")
    try:
        before = await stored(es)
        async with client.session.post(
            es.url + "/api/requests",
            data=json.dumps(FORM).encode(),
            headers=[
                ("X-CSRF-Token", client.csrf),
                ("Content-Type", "application/json"),
                ("Idempotency-Key", "one"),
                ("Idempotency-Key", "two"),
            ],
            ssl=client.ssl,
        ) as response:
            assert response.status == 400
            assert (await response.json())["error"]["code"] == "malformed_idempotency_key"
        assert await stored(es) == before
    finally:
        await client.close()


async def test_a_key_reused_for_another_call_is_refused(fed: Federation) -> None:
    es = fed["ES-CNA"]
    client = await ApiClient(es).login("investigator")
    try:
        status, first, _ = await keyed(client, "/api/requests", FORM, "reused")
        assert status == 201
        await wait_until(lambda: delivered(es), what="the request receipted")
        before = await stored(es)
        other_body = {**FORM, "subject": "Another vessel"}
        refusals = [
            ("/api/requests", other_body, "POST"),  # another body
            ("/api/cases", {"title": "A case"}, "POST"),  # another path
            ("/api/requests?x=1", FORM, "POST"),  # another query
            (f"/api/requests/{first['id']}/close", FORM, "POST"),
        ]
        for path, body, method in refusals:
            status, answer, _ = await keyed(client, path, body, "reused", method)
            assert (status, answer["error"]["code"]) == (422, "idempotency_key_reused"), path
            assert first["id"] not in json.dumps(answer)
        assert await stored(es) == before
    finally:
        await client.close()


async def test_a_retry_while_the_first_call_runs_is_refused(tmp_path: Path) -> None:
    # a clock that stands still: the session, checked once, stays in the node's cache,
    # so the first call's only database job is its key lookup
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], clock=clock)
    await fed.start()
    es = fed["ES-CNA"]
    client = await ApiClient(es).login("investigator")
    assert (await client.call("GET", "/api/me"))[0] == 200
    held, release = threading.Event(), threading.Event()

    def block(conn: Any) -> None:  # holds the database thread: the first call waits
        held.set()
        release.wait(30)

    try:
        before = await stored(es)
        blocker = asyncio.ensure_future(es.node.db.run(block))
        await wait_until(held.is_set)
        first = asyncio.ensure_future(keyed(client, "/api/requests", FORM, "slow"))
        await wait_until(lambda: looking_up(es), what="the first call's key lookup queued")
        status, body, _ = await keyed(client, "/api/requests", FORM, "slow")
        assert (status, body["error"]["code"]) == (409, "idempotency_in_progress")
        release.set()
        await blocker
        assert (await first)[0] == 201
        after = await stored(es)
        assert after["requests"] == before["requests"] + 1
        assert after["audit_entries"] > before["audit_entries"]
        # and a retry now is the first answer again
        status, again, _ = await keyed(client, "/api/requests", FORM, "slow")
        assert status == 201 and again == (await first)[1]
    finally:
        release.set()
        await client.close()
        await fed.stop()


async def delivered(member: Member) -> bool:
    """Nothing this node sent awaits its receipt (delivery is done changing rows)."""
    sql = "SELECT COUNT(*) FROM messages WHERE sender = ? AND receipt IS NULL"
    pending = await member.node.db.run(lambda c: c.execute(sql, (member.authority_id,)).fetchone())
    return bool(pending[0] == 0)


async def _is(count: Any, wanted: int) -> bool:
    return bool(await count == wanted)


def looking_up(member: Member) -> bool:
    """Whether a call's key lookup (service/idempotency.earlier) is queued behind the
    held database thread: the first call is inside, holding its key."""
    return any("earlier" in getattr(fn, "__qualname__", "") for fn, _ in member.node.db._pending)


async def test_keys_expire_and_are_collected(tmp_path: Path) -> None:
    from exchange.service import idempotency  # here: the module is new with the feature

    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    ttl = FAST_DELIVERY + "\n[api]\nidempotency_ttl_hours = 1\n"
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], clock=clock, extra_config=ttl)
    await fed.start()
    es = fed["ES-CNA"]
    client = await ApiClient(es).login("investigator")
    try:
        status, first, _ = await keyed(client, "/api/requests", FORM, "daily")
        assert status == 201
        clock.advance(timedelta(minutes=59))
        status, body, _ = await keyed(client, "/api/requests", {**FORM, "subject": "x"}, "daily")
        assert (status, body["error"]["code"]) == (422, "idempotency_key_reused")
        assert await idempotency.collect(es.node) == 0
        clock.advance(timedelta(minutes=1))
        # expired, not yet collected: the key is free again
        status, second, _ = await keyed(client, "/api/requests", {**FORM, "subject": "x"}, "daily")
        assert status == 201 and second["id"] != first["id"]
        assert (await keyed(client, "/api/requests", FORM, "other"))[0] == 201
        clock.advance(timedelta(hours=1))
        assert await idempotency.collect(es.node) == 2
    finally:
        await client.close()
        await fed.stop()


async def test_every_state_changing_route_is_covered(fed: Federation) -> None:
    """Not only creation: a case, a draft saved, edited, sent, discarded, and a message
    of the conversation at the peer; each retried call answers the first result (a
    second DELETE is not a 404, a second send is not "already sent") and stores nothing.
    """
    es, ma = fed["ES-CNA"], fed["MA-CNA"]
    investigator = await ApiClient(es).login("investigator")
    liaison = await ApiClient(ma).login("liaison")

    calls: list[str] = []

    async def twice(client: ApiClient, member: Member, method: str, path: str, body: Any) -> Any:
        calls.append(path)
        key = f"call-{len(calls)}"
        status, first, _ = await keyed(client, path, body, key, method)
        assert status < 300, first
        await wait_until(lambda: delivered(member), what="what the call sent, delivered")
        after = await stored(member)
        again, body_again, headers = await keyed(client, path, body, key, method)
        assert (again, body_again) == (status, first) and headers["Idempotent-Replayed"] == "true"
        assert await stored(member) == after, path
        return first

    try:
        await twice(investigator, es, "POST", "/api/cases", CASE)
        draft = await twice(investigator, es, "POST", "/api/drafts", FORM)
        path = f"/api/drafts/{draft['id']}"
        await twice(investigator, es, "PUT", path, {**FORM, "subject": "Edited"})
        sent = await twice(investigator, es, "POST", f"/api/requests/{draft['id']}/send", {})
        other = await twice(investigator, es, "POST", "/api/drafts", {**FORM, "subject": "2"})
        await twice(investigator, es, "DELETE", f"/api/drafts/{other['id']}", {})

        async def arrived() -> str | None:
            row = await ma.node.db.run(
                lambda c: c.execute(
                    "SELECT id FROM requests WHERE msg_id = ?", (sent["msg_id"],)
                ).fetchone()
            )
            return None if row is None else str(row[0])

        at_ma = await wait_until(arrived, what="the request at MA")
        ack = {"type": "acknowledgement", "reference": "MA-2026-7"}
        await twice(liaison, ma, "POST", f"/api/requests/{at_ma}/messages", ack)

        async def acknowledgements() -> int:
            sql = "SELECT COUNT(*) FROM messages WHERE type = 'acknowledgement' AND sender = ?"
            return int(await es.node.db.run(lambda c: c.execute(sql, ("MA-CNA",)).fetchone()[0]))

        await wait_until(acknowledgements, what="the acknowledgement at ES")
        assert await acknowledgements() == 1
    finally:
        await investigator.close()
        await liaison.close()
