"""Login attempts per client address and password checks at once are bounded: a flood
of logins under made-up names cannot occupy the node's cores with Argon2id checks."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from exchange.core import passwords
from exchange.core.clock import ManualClock
from exchange.web.appkeys import LOGIN_GATE_KEY

from ..federation import FAST_DELIVERY, PASSWORD, ApiClient, Federation


def limits(per_minute: int, burst: int, at_once: int = 2) -> str:
    return FAST_DELIVERY + (
        f"\n[limits]\nlogins_per_minute = {per_minute}\nlogin_burst = {burst}\n"
        f"password_checks_at_once = {at_once}\n"
    )


async def test_login_attempts_per_address(tmp_path: Path) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    fed = Federation.create(tmp_path, ["ES-CNA"], clock=clock, extra_config=limits(6, 3))
    await fed.start()
    client = ApiClient(fed["ES-CNA"])
    try:
        for i in range(3):  # the burst: wrong passwords under made-up names
            status, body = await client.call(
                "POST", "/api/login", {"username": f"nobody{i}", "password": "wrong"}
            )
            assert (status, body["error"]["code"]) == (401, "unauthorized")
        status, body = await client.call(
            "POST", "/api/login", {"username": "investigator", "password": PASSWORD}
        )
        assert status == 429  # even a right password: the address is over its limit
        assert body["error"] == {
            "code": "rate_limited",
            "message": "too many login attempts from this address: try again later",
        }
        page = await client.session.post(
            fed["ES-CNA"].url + "/login",
            data={"username": "investigator", "password": PASSWORD},
            ssl=client.ssl,
            allow_redirects=False,
        )
        assert page.status == 429 and int(page.headers["Retry-After"]) >= 1
        assert "too many login attempts" in await page.text()
        clock.advance(timedelta(seconds=10))  # 6 a minute: one more token
        status, body = await client.call(
            "POST", "/api/login", {"username": "investigator", "password": PASSWORD}
        )
        assert status == 200 and body["role"] == "investigator"
        # a logged-in user is not slowed down by the login limit
        for _ in range(5):
            assert (await client.call("GET", "/api/me"))[0] == 200
    finally:
        await client.close()
        await fed.stop()


async def test_password_checks_at_once_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA"], extra_config=limits(0, 1, at_once=2))
    await fed.start()
    es = fed["ES-CNA"]
    gate = es.running.app[LOGIN_GATE_KEY]  # type: ignore[union-attr]
    real = passwords.verify_password
    lock = threading.Lock()
    running, peak = [0], [0]
    release = threading.Event()

    def observed(stored: str, password: str) -> bool:
        # The real check, held until the test has seen how many run at once.
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            release.wait(10)
            return real(stored, password)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr("exchange.service.sessions.verify_password", observed)
    clients = [ApiClient(es) for _ in range(6)]
    try:
        calls = [
            asyncio.ensure_future(
                c.call("POST", "/api/login", {"username": f"x{i}", "password": "wrong"})
            )
            for i, c in enumerate(clients)
        ]
        # bounded wait (10 s) until all six are in the gate and two checks have reached
        # their threads (a slot taken is not yet a check running: the executor starts it)
        for _ in range(1000):
            if gate.waiting == 6 and running[0] == 2:
                break
            await asyncio.sleep(0.01)
        assert gate.waiting == 6 and running[0] == 2  # two checks run, four wait
        release.set()
        results = await asyncio.gather(*calls)
        assert [status for status, _ in results] == [401] * 6
        assert peak[0] == 2
        # when the queue is full, a new login is refused at once
        gate.waiting = gate.MAX_WAITING
        status, body = await clients[0].call(
            "POST", "/api/login", {"username": "investigator", "password": PASSWORD}
        )
        assert status == 429 and "too many logins at once" in body["error"]["message"]
        gate.waiting = 0
        status, _ = await clients[0].call(
            "POST", "/api/login", {"username": "investigator", "password": PASSWORD}
        )
        assert status == 200
    finally:
        release.set()
        for c in clients:
            await c.close()
        await fed.stop()
