"""Connection limits per client address, before any authentication: too many new
connections a minute, or too many open at once, get a clear 429 with Retry-After on
their first request, which is not processed; connections already open keep working."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from exchange.core.clock import ManualClock
from exchange.web.appkeys import GATE_KEY

from ..federation import FAST_DELIVERY, Federation, Member, wait_until


def limits(per_minute: int, burst: int, max_open: int) -> str:
    return FAST_DELIVERY + (
        f"\n[limits]\nconnections_per_minute = {per_minute}\n"
        f"connection_burst = {burst}\nmax_open_connections = {max_open}\n"
    )


class Connection:
    """One client connection, kept open between calls (a session with one socket)."""

    def __init__(self, member: Member) -> None:
        self.member = member
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
        self.ssl = aiohttp.Fingerprint(bytes.fromhex(member.fingerprint))

    async def call(
        self, method: str, path: str, json: object = None
    ) -> tuple[int, dict[str, object], aiohttp.typedefs.LooseHeaders]:
        async with self.session.request(
            method, self.member.url + path, json=json, ssl=self.ssl
        ) as r:
            return r.status, await r.json(), r.headers

    async def close(self) -> None:
        await self.session.close()


async def test_new_connections_per_minute(tmp_path: Path) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    fed = Federation.create(tmp_path, ["ES-CNA"], clock=clock, extra_config=limits(60, 3, 0))
    await fed.start()
    es = fed["ES-CNA"]
    opened = [Connection(es) for _ in range(5)]
    try:
        for conn in opened[:3]:  # the burst
            assert (await conn.call("GET", "/v1/health"))[0] == 200
        status, body, headers = await opened[3].call(
            "POST", "/api/login", {"username": "auditor", "password": "wrong"}
        )
        assert status == 429
        assert body["error"] == {
            "code": "rate_limited",
            "message": "too many connections from your address: try again later",
        }
        assert headers["Retry-After"] == "1"  # 60 a minute: the next token in a second
        assert headers["Connection"] == "close"
        # the refused call was not processed: no failed login was counted or audited
        failures = await es.node.db.run(
            lambda c: c.execute("SELECT COUNT(*) FROM login_failures").fetchone()[0]
        )
        logged = await es.node.db.run(
            lambda c: c.execute(
                "SELECT COUNT(*) FROM audit_entries WHERE CAST(entry AS TEXT) LIKE '%login_failed%'"
            ).fetchone()[0]
        )
        assert (failures, logged) == (0, 0)
        # connections already open keep working
        assert (await opened[0].call("GET", "/v1/health"))[0] == 200
        clock.advance(timedelta(seconds=2))
        assert (await opened[4].call("GET", "/v1/health"))[0] == 200
    finally:
        for conn in opened:
            await conn.close()
        await fed.stop()


async def test_open_connections_at_once(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA"], extra_config=limits(0, 1, 2))
    await fed.start()
    es = fed["ES-CNA"]
    gate = es.running.app[GATE_KEY]  # type: ignore[union-attr]
    first, second, third = Connection(es), Connection(es), Connection(es)
    try:
        assert (await first.call("GET", "/v1/health"))[0] == 200
        assert (await second.call("GET", "/v1/health"))[0] == 200
        status, body, headers = await third.call("GET", "/v1/health")
        assert status == 429 and headers["Connection"] == "close"
        assert body["error"] == {
            "code": "rate_limited",
            "message": "too many connections from your address: try again later",
        }
        await wait_until(lambda: gate.open_connections("127.0.0.1") == 2, what="refused closed")
        await first.close()
        await wait_until(lambda: gate.open_connections("127.0.0.1") == 1, what="first closed")
        assert (await third.call("GET", "/v1/health"))[0] == 200  # a new connection now
        assert (await second.call("GET", "/v1/health"))[0] == 200
    finally:
        for conn in (first, second, third):
            await conn.close()
        await fed.stop()
