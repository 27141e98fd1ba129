"""Two processes of one authority on one data folder (``[cluster] active_active``,
issue 18): here two nodes in one test process, each with its own database connection,
HTTPS listener, lease keeper and caches, as two OS processes have (the chaos test
tests/chaos/test_failover.py runs real processes and kills one).

Each test is the failure a second process caused before: a session logged out in one
process still served by the other, a directory one process installed never seen by the
other or overwritten by an older one, a period key one process made unreadable in the
other, a checkpoint signed by a process that no longer holds the duty."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from exchange.core.clock import ManualClock, SystemClock
from exchange.core.lease import Fence, LeaseLost
from exchange.core.vault import Vault, period_of
from exchange.node.runner import start_node
from exchange.ops.keyfiles import load_storage_key
from exchange.ops.period_keys import READER_GRACE, PeriodKeyFiles, settle
from exchange.service import admin, audit, leases
from exchange.service.directory import DirectoryHolder
from exchange.service.forms import RequestForm
from exchange.service.requests import create
from exchange.store import blobs, directory_cache
from exchange.web.auth import COOKIE
from exchange.workers import directory

from ..federation import FAST_DELIVERY, ApiClient, Federation, Member, free_port, wait_until
from ..storage import node_database

CLUSTER = FAST_DELIVERY + "\n[cluster]\nactive_active = true\n"
CONTENT = {"kind": "information_request", "urgency": "urgent", "subject": "Vessel",
           "body": "Which vessel?", "language": "en"}  # fmt: skip


async def _second(fed: Federation, authority: str) -> Member:
    """Another process of ``authority`` on its data folder, listening elsewhere."""
    first = fed[authority]
    member = Member(authority, first.data, free_port())
    config = dataclasses.replace(first.config, listen_port=member.port)
    member.running = await start_node(config, clock=fed.clock)
    return member


async def _count(member: Member, sql: str, *params: Any) -> int:
    return int(await member.node.db.run(lambda c: c.execute(sql, params).fetchone()[0]))


async def test_a_logout_in_one_process_holds_in_the_other_at_once(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA"], extra_config=CLUSTER)
    await fed.start()
    b = await _second(fed, "ES-CNA")
    client = await ApiClient(b).login("investigator")
    try:
        assert (await client.call("GET", "/api/me"))[0] == 200  # B has seen the session
        token = {c.key: c.value for c in client.session.cookie_jar}[COOKIE]
        client.member = fed["ES-CNA"]
        assert (await client.call("POST", "/api/logout"))[0] == 200  # logged out through A
        client.member = b
        # the token as someone who kept it would send it (the browser's cookie is gone)
        status, body = await client.call("GET", "/api/me", headers={"Cookie": f"{COOKIE}={token}"})
        assert status == 401, body  # before: B's cache still let the token in for 2 s
    finally:
        await client.close()
        assert b.running is not None
        await b.running.stop()
        await fed.stop()


async def test_requests_created_through_either_process_are_delivered_once(
    tmp_path: Path,
) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], extra_config=CLUSTER)
    await fed.start()
    b = await _second(fed, "ES-CNA")
    a = fed["ES-CNA"]
    try:
        made = []
        for member in (a, b, a, b):
            outcome = await create(
                member.node, actor="investigator", form=RequestForm.of({"to": "MA-CNA", **CONTENT})
            )
            made.append(outcome.msg_id)
        receipted = "SELECT COUNT(*) FROM messages WHERE sender = 'ES-CNA' AND receipt IS NOT NULL"
        await wait_until(lambda: _all(a, receipted, len(made)), what="every request receipted")
        ma = fed["MA-CNA"]
        assert await _count(ma, "SELECT COUNT(*) FROM requests") == len(made)
        assert await _count(ma, "SELECT COUNT(DISTINCT msg_id) FROM requests") == len(made)
        rows = await leases.rows(a.node)
        holders = {r.duty: r.holder for r in rows if r.expires_at > SystemClock().now()}
        # every duty has one holder, and both processes' keepers agree on who
        held_a, held_b = set(_keeper(a).held()), set(_keeper(b).held())
        assert not held_a & held_b
        for duty in ("checkpoints", "witness", "witness_submit", "deadlines", "sessions"):
            assert duty in held_a | held_b
            mine = a if duty in held_a else b
            assert holders[duty] == _keeper(mine).holder
    finally:
        assert b.running is not None
        await b.running.stop()
        await fed.stop()


async def _all(member: Member, sql: str, want: int) -> bool:
    return await _count(member, sql) == want


def _keeper(member: Member) -> Any:
    from exchange.web.appkeys import LEASES_KEY

    assert member.running is not None
    return member.running.app[LEASES_KEY]


async def test_a_directory_one_process_installs_reaches_the_other(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], extra_config=CLUSTER)
    await fed.start()
    b = await _second(fed, "ES-CNA")
    a = fed["ES-CNA"]
    try:
        fed.publish()  # serial 2
        assert a.running is not None
        await directory.refresh(
            a.node.directory, "../directory.json", a.data, a.running.app[_client_key()]
        )
        assert a.node.directory.held_serial == 2
        await wait_until(lambda: b.node.directory.held_serial == 2, what="B caught up")
    finally:
        assert b.running is not None
        await b.running.stop()
        await fed.stop()


def _client_key() -> Any:
    from exchange.web.appkeys import CLIENT_KEY

    return CLIENT_KEY


async def test_a_slower_process_never_lowers_the_rollback_floor(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], extra_config=CLUSTER)
    two, three = fed.publish(), fed.publish()  # serials 2 and 3
    keys = fed["ES-CNA"].config.operator_keys
    db_a, db_b = node_database(fed["ES-CNA"].data), node_database(fed["ES-CNA"].data)
    try:
        a = DirectoryHolder(me="ES-CNA", operator_keys=keys, db=db_a, clock=fed.clock)
        b = DirectoryHolder(me="ES-CNA", operator_keys=keys, db=db_b, clock=fed.clock)
        await a.load_cached()
        await b.load_cached()
        assert await a.update(three)
        assert not await b.update(two)  # before: B stored serial 2 over A's 3
        stored = await db_a.run(directory_cache.load)
        assert stored is not None and stored.serial == 3
        assert b.held_serial == 3  # and B now holds what A stored
    finally:
        db_a.close()
        db_b.close()


def test_a_period_key_made_by_the_writer_is_read_by_the_other_process(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA"], extra_config=CLUSTER, users=False)
    keys_dir = fed["ES-CNA"].config.keys_dir
    storage = load_storage_key(keys_dir)
    writer, reader = PeriodKeyFiles(keys_dir, storage), PeriodKeyFiles(keys_dir, storage)
    try:
        assert writer.try_hold() and not reader.try_hold()
        now = fed.clock.now()
        writer.prepare(now)  # this period's key and the next one's, ahead of time
        kid, key = writer.active(period_of(now))
        assert reader.get(kid) == key  # before: None (a key made since it started)
        assert reader.active(period_of(now)) == (kid, key)  # before: it tried to write
        later = period_of(now + timedelta(days=7))
        assert reader.active(later)[0].startswith(later)
    finally:
        writer.release()
        reader.release()


async def test_a_process_that_lost_the_checkpoints_lease_cannot_sign(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA"], extra_config=CLUSTER)
    await fed.start()
    node = fed["ES-CNA"].node
    try:
        row = await wait_until(lambda: _lease(node, "checkpoints"), what="checkpoints held")
        await audit.sign_now(node, Fence("checkpoints", row.holder, row.fence))  # the holder
        for stale in (Fence("checkpoints", row.holder, row.fence - 1),
                      Fence("checkpoints", "another-process", row.fence)):  # fmt: skip
            with pytest.raises(LeaseLost):
                await audit.sign_now(node, stale)
    finally:
        await fed.stop()


async def _lease(node: Any, duty: str) -> Any:
    return next((r for r in await leases.rows(node) if r.duty == duty), None)


async def test_a_process_starting_keeps_the_uploads_another_is_receiving(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA"], extra_config=CLUSTER)
    await fed.start()
    a = fed["ES-CNA"]
    now = fed.clock.now()
    reservation = await a.node.db.run(
        lambda c: blobs.reserve(c, peer="MA-CNA", size=1000, quota=1 << 30, now=now)
    )
    b = await _second(fed, "ES-CNA")  # before: its start-up dropped every reservation
    try:
        sql = "SELECT COUNT(*) FROM blob_reservations WHERE id = ?"
        assert await _count(a, sql, reservation) == 1
    finally:
        assert b.running is not None
        await b.running.stop()
        await fed.stop()


async def test_keys_rotated_in_one_process_are_loaded_by_the_other(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA"], extra_config=CLUSTER)
    await fed.start()
    b = await _second(fed, "ES-CNA")
    a = fed["ES-CNA"]
    try:
        await admin.rotate(a.node)  # the admin page's "rotate keys", served by A
        ids = [k.public.key_id for k in a.node.keys.encryption]
        assert len(ids) == 2
        # before: B never decrypted what peers sealed to the new key until restarted
        await wait_until(
            lambda: [k.public.key_id for k in b.node.keys.encryption] == ids,
            what="B loaded the new keys",
        )
    finally:
        assert b.running is not None
        await b.running.stop()
        await fed.stop()


def test_a_period_key_a_reader_picked_outlives_an_erasure_for_a_grace(tmp_path: Path) -> None:
    """An erasure's rotation retires the period's KEK while the other process has just
    picked it to wrap a new record (not committed yet, so no stored key names it)."""
    fed = Federation.create(tmp_path, ["ES-CNA"], extra_config=CLUSTER, users=False)
    config = fed["ES-CNA"].config
    storage, clock = load_storage_key(config.keys_dir), SystemClock()
    files, reader = (
        PeriodKeyFiles(config.keys_dir, storage),
        PeriodKeyFiles(config.keys_dir, storage),
    )
    writer, db = Vault(storage, files, clock), node_database(fed["ES-CNA"].data)
    try:
        assert files.try_hold()
        now = clock.now()
        files.prepare(now)
        kid, key = reader.active(period_of(now))  # the reader picks the period's KEK...
        files.rotate(kid)  # ...and the writer's erasure replaces it
        # before: settled at once, the KEK went, and the reader's record with it
        assert kid not in settle(db, writer, clock, READER_GRACE)
        assert reader.get(kid) == key
        # once the grace has passed, the next settling destroys it (nothing names it)
        later = ManualClock(now + READER_GRACE + timedelta(minutes=1))
        assert kid in settle(db, writer, later, READER_GRACE)
        assert reader.get(kid) is None
    finally:
        db.close()
        files.release()
