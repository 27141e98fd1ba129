"""Delivery survives a peer that is down, key rotation and directory updates."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from exchange.core.audit_entry import decode_entry
from exchange.core.canonical import canonical_json, parse_time
from exchange.core.directory import sign_directory
from exchange.core.errors import DirectoryRejected
from exchange.core.keys import SigningKeyPair
from exchange.ops.provision import rotate_keys
from exchange.store import audit
from exchange.workers.delivery import DeliveryWorker

from ..federation import FAST_DELIVERY, ApiClient, Federation, wait_until
from ..storage import rows

REQUEST = {
    "to": "MA-CNA",
    "kind": "information_request",
    "urgency": "emergency",
    "subject": "Missing boat",
    "body": "Forty people on board, last seen 03:00.",
    "language": "en",
}


async def count(fed: Federation, authority_id: str, sql: str) -> Any:
    return await fed[authority_id].node.db.run(lambda c: c.execute(sql).fetchone()[0])


async def count_all(fed: Federation, authority_id: str, sql: str) -> list[Any]:
    return await fed[authority_id].node.db.run(lambda c: [r[0] for r in c.execute(sql)])


async def count_is(fed: Federation, authority_id: str, sql: str, expected: int) -> bool:
    return bool(await count(fed, authority_id, sql) == expected)


async def delivered_is(fed: Federation, expected: int) -> bool:
    """ES-CNA holds ``expected`` receipted requests."""
    sql = "SELECT COUNT(*) FROM requests WHERE delivered_at IS NOT NULL"
    return await count_is(fed, "ES-CNA", sql, expected)


async def every_envelope_due(fed: Federation, authority_id: str) -> None:
    """With the node stopped: wait (bounded) until its last scheduled retry has passed."""

    def all_due() -> bool:
        ((latest,),) = rows(fed[authority_id].data, "SELECT MAX(next_attempt_at) FROM outbox")
        return bool(parse_time(latest) <= fed.clock.now())

    await wait_until(all_due, what="every envelope due")


async def test_recipient_down_then_back_delivers_once(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start("ES-CNA")
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        status, _ = await es.call("POST", "/api/requests", REQUEST)
        assert status == 201
        # The worker keeps retrying while MA is down (backoff, nothing lost).
        await wait_until(
            lambda: count(fed, "ES-CNA", "SELECT MAX(attempts) FROM outbox"), what="failed attempts"
        )
        assert await count(fed, "ES-CNA", "SELECT status FROM requests") == "queued"
        await fed.start("MA-CNA")
        fed["ES-CNA"].running.app  # noqa: B018 (still running)
        await wait_until(
            lambda: count(fed, "ES-CNA", "SELECT delivered_at FROM requests"),
            what="delivery after MA came back",
        )
        assert await count(fed, "MA-CNA", "SELECT COUNT(*) FROM requests") == 1
        assert await count(fed, "MA-CNA", "SELECT COUNT(*) FROM messages") == 1
        assert await count(fed, "ES-CNA", "SELECT state FROM outbox") == "done"
        # the auditor sees each failed attempt, then the send that worked and its receipt
        logged = [
            decode_entry(e)
            for _, e in await fed["ES-CNA"].node.db.run(lambda c: audit.entries(c, 0, 1000))
        ]
        msg_id = await count(fed, "ES-CNA", "SELECT msg_id FROM outbox")
        failed = [e for e in logged if e["action"] == "delivery_failed"]
        assert failed and all(e["peer"] == "MA-CNA" and e["msg_ids"] == [msg_id] for e in failed)
        assert [e["attempt"] for e in failed] == list(range(1, len(failed) + 1))
        actions = [e["action"] for e in logged if e.get("msg_id") == msg_id]
        assert actions[-2:] == ["request_sent", "request_delivered"]
        sent = next(e for e in logged if e["action"] == "request_sent")
        assert sent["attempt"] == len(failed) + 1
    finally:
        await es.close()
        await fed.stop()


async def test_rotation_keeps_in_flight_and_old_messages_readable(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start()
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        _, first = await es.call("POST", "/api/requests", {**REQUEST, "subject": "first"})
        await wait_until(
            lambda: count(
                fed, "ES-CNA", "SELECT COUNT(*) FROM requests WHERE delivered_at IS NOT NULL"
            ),
            what="first delivered",
        )
        await fed.stop("MA-CNA")
        old_key = (
            fed["ES-CNA"]
            .node.directory.require()
            .get("MA-CNA")
            .current_encryption_key(  # type: ignore[union-attr]
                fed.clock.now()
            )
            .key_id
        )
        _, second = await es.call("POST", "/api/requests", {**REQUEST, "subject": "second"})
        # MA rotates while the second request, sealed to its old key, waits in ES's outbox.
        rotate_keys(fed["MA-CNA"].data)
        document = fed.publish()
        await fed.start("MA-CNA")
        await fed["ES-CNA"].node.directory.update(document)
        await wait_until(
            lambda: count_is(fed, "MA-CNA", "SELECT COUNT(*) FROM requests", 2),
            what="second delivered after rotation",
        )
        _, third = await es.call("POST", "/api/requests", {**REQUEST, "subject": "third"})
        await wait_until(
            lambda: count_is(fed, "MA-CNA", "SELECT COUNT(*) FROM requests", 3),
            what="third delivered with the new key",
        )
        ma = await ApiClient(fed["MA-CNA"]).login("liaison")
        _, inbox = await ma.call("GET", "/api/inbox")
        by_msg = {r["msg_id"]: r for r in inbox["requests"]}
        for created, subject in ((first, "first"), (second, "second"), (third, "third")):
            _, view = await ma.call("GET", f"/api/requests/{by_msg[created['msg_id']]['id']}")
            assert view["messages"][0]["content"]["subject"] == subject
        await ma.close()
        new_key = (
            fed["ES-CNA"]
            .node.directory.require()
            .get("MA-CNA")
            .current_encryption_key(  # type: ignore[union-attr]
                fed.clock.now()
            )
            .key_id
        )
        assert new_key != old_key
        rows = await fed["MA-CNA"].node.db.run(
            lambda c: c.execute("SELECT evidence FROM messages ORDER BY id").fetchall()
        )
        key_ids = [json.loads(r[0])["header"]["recipient_key_id"] for r in rows]
        assert key_ids == [old_key, old_key, new_key]
    finally:
        await es.close()
        await fed.stop()


async def test_directory_updates_are_verified(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], users=False)
    await fed.start("ES-CNA")
    holder = fed["ES-CNA"].node.directory
    try:
        good = fed.publish()
        assert await holder.update(good)
        serial = holder.require().serial
        entries_before = await fed["ES-CNA"].node.db.run(audit.size)

        fed.serial -= 3
        rollback = sign_directory(fed.directory(), fed.operator)
        now = fed.clock.now()
        rogue = SigningKeyPair.generate(now - timedelta(days=1), timedelta(days=10))
        fed.serial += 10
        unknown_operator = sign_directory(fed.directory(), rogue)
        obj = json.loads(sign_directory(fed.directory(), fed.operator))
        obj["directory"]["authorities"][0]["name"] = "Tampered"
        tampered = json.dumps(obj).encode()
        expired = sign_directory(fed.directory(valid=timedelta(seconds=-1)), fed.operator)
        for name, document in [
            ("rollback", rollback),
            ("unknown operator", unknown_operator),
            ("tampered", tampered),
            ("expired", expired),
            ("garbage", b"not json"),
            ("empty", canonical_json({})),
        ]:
            with pytest.raises(DirectoryRejected):
                await holder.update(document)
            assert holder.require().serial == serial, name  # the last good one is kept
        # Every refusal is on the audit record.
        assert await fed["ES-CNA"].node.db.run(audit.size) == entries_before + 6
        # After a restart the node still holds the last good directory, even if the
        # published file is now bad.
        (tmp_path / "directory.json").write_bytes(tampered)
        await fed.stop("ES-CNA")
        await fed.start("ES-CNA")
        assert fed["ES-CNA"].node.directory.require().serial == serial
    finally:
        await fed.stop()


async def test_new_signing_key_is_used_only_once_the_directory_publishes_it(
    tmp_path: Path,
) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start()
    try:
        await fed.stop("ES-CNA")
        rotate_keys(fed["ES-CNA"].data)  # the operator has not published it yet
        await fed.start("ES-CNA")
        es_node = fed["ES-CNA"].node
        now = fed.clock.now()
        newest = es_node.keys.current_signing(now)
        assert es_node.signing_key(now) is not newest  # peers could not verify it yet
        es = await ApiClient(fed["ES-CNA"]).login("investigator")
        await es.call("POST", "/api/requests", {**REQUEST, "subject": "before publishing"})
        await wait_until(
            lambda: count_is(fed, "MA-CNA", "SELECT COUNT(*) FROM requests", 1),
            what="delivered, signed with the published key",
        )
        document = fed.publish()
        for member in fed.members.values():
            await member.node.directory.update(document)
        assert es_node.signing_key(fed.clock.now()) is newest
        await es.call("POST", "/api/requests", {**REQUEST, "subject": "after publishing"})
        await wait_until(
            lambda: count_is(fed, "MA-CNA", "SELECT COUNT(*) FROM requests", 2),
            what="delivered, signed with the new key",
        )
        rows = await fed["MA-CNA"].node.db.run(
            lambda c: c.execute("SELECT evidence FROM messages ORDER BY id").fetchall()
        )
        signers = [json.loads(r[0])["header"]["sender_key_id"] for r in rows]
        assert signers[1] == newest.public.key_id and signers[0] != signers[1]
        await es.close()
    finally:
        await fed.stop()


async def test_pipeline_keeps_several_transactions_in_flight_and_delivers_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backlog goes out as up to ``pipeline`` concurrent transactions, never more, and
    every envelope is delivered exactly once."""
    pipeline = 3
    config = FAST_DELIVERY.replace(
        "[delivery]\n", f"[delivery]\nbatch_size = 3\npipeline = {pipeline}\n"
    )
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], extra_config=config)
    await fed.start("ES-CNA")
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        for i in range(30):
            status, _ = await es.call("POST", "/api/requests", {**REQUEST, "subject": f"n{i}"})
            assert status == 201
    finally:
        await es.close()
    await fed.stop("ES-CNA")  # a backlog of 30, all due once the last backoff has passed
    await every_envelope_due(fed, "ES-CNA")

    post = DeliveryWorker._post
    in_flight: list[int] = [0]
    peak: list[int] = [0]
    entered: list[int] = [0]
    full = asyncio.Event()
    active: set[str] = set()
    overlaps: list[str] = []
    sent: list[str] = []

    async def observed(
        worker: DeliveryWorker, peer: str, batch: list[Any], now: Any
    ) -> list[object]:
        # Observes the real call. The first `pipeline` calls wait (bounded) until all of
        # them are in, so the overlap is certain rather than a matter of timing.
        ids = [item.msg_id for item in batch]
        overlaps.extend(i for i in ids if i in active)  # in two transactions at once?
        active.update(ids)
        in_flight[0] += 1
        entered[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        if in_flight[0] == pipeline:
            full.set()
        try:
            if entered[0] <= pipeline:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(full.wait(), timeout=10)
            results = await post(worker, peer, batch, now)
            sent.extend(ids)
            return results
        finally:
            in_flight[0] -= 1
            active.difference_update(ids)

    monkeypatch.setattr(DeliveryWorker, "_post", observed)
    await fed.start("MA-CNA")  # the peer first: the backlog meets a peer that is up
    await fed.start("ES-CNA")
    try:
        await wait_until(
            lambda: delivered_is(fed, 30),
            what="all 30 delivered",
        )
        assert peak[0] == pipeline
        assert overlaps == []  # no envelope was in two transactions at once
        assert set(sent) == set(await count_all(fed, "ES-CNA", "SELECT msg_id FROM outbox"))
        assert await count(fed, "MA-CNA", "SELECT COUNT(*) FROM requests") == 30
        assert await count(fed, "MA-CNA", "SELECT COUNT(DISTINCT msg_id) FROM messages") == 30
        assert await count(fed, "ES-CNA", "SELECT COUNT(*) FROM outbox WHERE state = 'done'") == 30
    finally:
        await fed.stop()


async def test_an_emergency_goes_ahead_of_the_backlog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After an outage, an emergency request queued behind a backlog of standard ones
    leaves in the first transaction, not after the backlog."""
    config = FAST_DELIVERY.replace("[delivery]\n", "[delivery]\nbatch_size = 4\npipeline = 1\n")
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], extra_config=config)
    await fed.start("ES-CNA")
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        for i in range(12):
            standard = {**REQUEST, "urgency": "standard", "subject": f"s{i}"}
            assert (await es.call("POST", "/api/requests", standard))[0] == 201
        status, emergency = await es.call(
            "POST", "/api/requests", {**REQUEST, "urgency": "emergency", "subject": "now"}
        )
        assert status == 201
    finally:
        await es.close()
    await fed.stop("ES-CNA")
    await every_envelope_due(fed, "ES-CNA")
    post = DeliveryWorker._post
    batches: list[list[str]] = []

    async def observed(
        worker: DeliveryWorker, peer: str, batch: list[Any], now: Any
    ) -> list[object]:
        batches.append([item.msg_id for item in batch])
        return await post(worker, peer, batch, now)

    monkeypatch.setattr(DeliveryWorker, "_post", observed)
    await fed.start("MA-CNA")
    await fed.start("ES-CNA")
    try:
        await wait_until(
            lambda: delivered_is(fed, 13),
            what="all 13 delivered",
        )
        assert batches[0][0] == emergency["msg_id"]  # first in the first transaction
        sent = [msg_id for batch in batches for msg_id in batch]
        assert len(batches) == 4 and len(sent) == len(set(sent)) == 13
        flags = await count_all(fed, "ES-CNA", "SELECT emergency FROM outbox ORDER BY emergency")
        assert flags == [0] * 12 + [1]
    finally:
        await fed.stop()


async def test_a_peer_that_answers_again_gets_its_backlog_at_once(tmp_path: Path) -> None:
    """Retries after an outage are spaced out (here 30 s); once a transaction gets
    through, the rest of the backlog is due at once instead of at those retry times."""
    config = FAST_DELIVERY.replace("0.05", "30").replace("0.5\n", "30\n")
    assert "backoff_initial_seconds = 30" in config and "backoff_max_seconds = 30" in config
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], extra_config=config)
    await fed.start("ES-CNA")
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        for i in range(5):
            assert (await es.call("POST", "/api/requests", {**REQUEST, "subject": f"b{i}"}))[
                0
            ] == 201
        await wait_until(
            lambda: count_is(
                fed, "ES-CNA", "SELECT COUNT(*) FROM outbox WHERE last_error IS NOT NULL", 5
            ),
            what="the backlog failed once and waits 30 s",
        )
        await fed.start("MA-CNA")
        assert (await es.call("POST", "/api/requests", {**REQUEST, "subject": "new"}))[0] == 201
        await wait_until(
            lambda: delivered_is(fed, 6),
            timeout=10,
            what="the backlog right after the new request, well before its 30 s retry",
        )
    finally:
        await es.close()
        await fed.stop()


async def test_answers_to_an_emergency_are_emergencies_too(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start()
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    ma = await ApiClient(fed["MA-CNA"]).login("liaison")
    try:
        for urgency in ("emergency", "standard"):
            status, _ = await es.call(
                "POST", "/api/requests", {**REQUEST, "urgency": urgency, "subject": urgency}
            )
            assert status == 201

        async def both_in() -> bool:
            return len((await ma.call("GET", "/api/inbox"))[1]["requests"]) == 2

        await wait_until(both_in, what="both requests at MA")
        for row in (await ma.call("GET", "/api/inbox"))[1]["requests"]:
            status, _ = await ma.call("POST", f"/api/requests/{row['id']}/acknowledge")
            assert status == 200
        flags = await count_all(
            fed, "MA-CNA", "SELECT r.urgency || ':' || o.emergency FROM outbox o"
            " JOIN messages m ON m.msg_id = o.msg_id JOIN requests r ON r.id = m.request_id"
            " ORDER BY r.urgency",
        )  # fmt: skip
        assert flags == ["emergency:1", "standard:0"]
    finally:
        await es.close()
        await ma.close()
        await fed.stop()
