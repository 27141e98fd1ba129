"""Expired sessions are deleted: at start and then hourly, by the node itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from exchange.core.clock import ManualClock
from exchange.web.appkeys import SESSIONS_KEY

from ..federation import FAST_DELIVERY, ApiClient, Federation, wait_until


async def _sessions(fed: Federation) -> list[tuple[str, str]]:
    def read(c: Any) -> list[tuple[str, str]]:
        rows = c.execute("SELECT username, expires_at FROM sessions ORDER BY username")
        return [(str(r[0]), str(r[1])) for r in rows.fetchall()]

    return await fed["ES-CNA"].node.db.run(read)


async def test_expired_sessions_are_deleted(tmp_path: Path) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    fed = Federation.create(tmp_path, ["ES-CNA"], clock=clock, extra_config=FAST_DELIVERY)
    await fed.start()
    try:
        early = await ApiClient(fed["ES-CNA"]).login("investigator")
        await early.close()
        clock.advance(timedelta(hours=4))
        late = await ApiClient(fed["ES-CNA"]).login("liaison")
        assert [u for u, _ in await _sessions(fed)] == ["investigator", "liaison"]
        clock.advance(timedelta(hours=5))  # the first is past its 8 hours, the second not
        assert await fed["ES-CNA"].running.app[SESSIONS_KEY].purge_expired() == 1  # type: ignore[union-attr]
        assert [u for u, _ in await _sessions(fed)] == ["liaison"]
        status, _ = await late.call("GET", "/api/me")
        assert status == 200  # a live session is untouched
        await late.close()
        # The node purges by itself when it starts (and then every hour).
        clock.advance(timedelta(hours=8))
        await fed.stop()
        await fed.start()
        await wait_until(lambda: _none_left(fed), what="expired sessions purged at start")
    finally:
        await fed.stop()


async def _none_left(fed: Federation) -> bool:
    return await _sessions(fed) == []
