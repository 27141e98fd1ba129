"""A peer's follow-up is timed by its arrival here: a hostile peer (its own valid keys,
the real protocol) that backdates its acknowledgement, answer or rejection, or times it
before the request it answers, is refused with ``bad_time`` and nothing changes; an
honest late answer counts from when it reached us, its signed time kept beside."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from exchange.core.backoff import RETRYABLE_CODES
from exchange.core.canonical import format_time, parse_time
from exchange.core.clock import ManualClock
from exchange.core.content import follow_up_content
from exchange.core.envelope import seal
from exchange.service import requests
from exchange.service.forms import RequestForm
from exchange.web.appkeys import DEADLINES_KEY

from ..federation import ApiClient, Federation, peer_post, wait_until
from ..node.test_peer_rejections import CONTENT, FOLLOW_UPS, snapshot, thread

T0 = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    clock = ManualClock(T0)
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], clock=clock)
    clock.set(T0 + 5 * DAY)  # keys and directory valid since T0: a backdate stays signable
    await fed.start()
    yield fed
    await fed.stop()


def answer(fed: Federation, msg_type: str, ref: dict[str, str], msg_id: str, at: datetime) -> bytes:
    """MA's follow-up, sealed with MA's own keys and signed as created ``at``."""
    ma = fed["MA-CNA"].node
    return seal(
        follow_up_content(msg_type, **ref, **FOLLOW_UPS[msg_type]),
        log_size=7,
        msg_type=msg_type,
        msg_id=msg_id,
        sender_id="MA-CNA",
        sender_key=ma.keys.current_signing(at),
        recipient=ma.directory.require().get("ES-CNA"),  # type: ignore[arg-type]
        now=at,
    ).data


async def sent_request(fed: Federation) -> tuple[str, dict[str, str]]:
    """ES's urgent request (24 h), receipted by MA: its id at ES and its reference."""
    es = fed["ES-CNA"].node
    created = await requests.create(
        es, actor="investigator", form=RequestForm.of({"to": "MA-CNA", **CONTENT})
    )
    assert created.msg_id is not None
    ref = {"origin": "ES-CNA", "msg_id": created.msg_id}

    async def delivered() -> bool:
        return (await thread(fed, "ES-CNA", **ref))["status"] == "delivered"

    await wait_until(delivered, what="ES's request receipted by MA")
    return created.id, ref


async def swept(fed: Federation) -> None:
    """Wait until ES's deadline scheduler has judged the clock's time (its own
    bookkeeping, not something a refused envelope changes)."""
    running = fed["ES-CNA"].running
    assert running is not None
    scheduler, moment = running.app[DEADLINES_KEY], fed.clock.now()
    await wait_until(
        lambda: scheduler.last_swept_at is not None and scheduler.last_swept_at >= moment,
        what="ES swept",
    )


async def deadline_of(client: ApiClient, request_id: str) -> dict[str, Any]:
    _, body = await client.call("GET", "/api/deadlines")
    return next(d for d in body["deadlines"] if d["request_id"] == request_id)


async def test_a_backdated_follow_up_is_refused_and_changes_nothing(fed: Federation) -> None:
    request_id, ref = await sent_request(fed)
    await swept(fed)
    investigator = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        before, request = await snapshot(fed, "ES-CNA"), await thread(fed, "ES-CNA", **ref)
        state = await deadline_of(investigator, request_id)
        assert state["state"] == "on_track"
        four_days_ago = fed.clock.now() - 4 * DAY
        for n, msg_type in enumerate(FOLLOW_UPS):
            body = answer(fed, msg_type, ref, f"msg-back-{n:05}", four_days_ago)
            status, got = await peer_post(fed, "MA-CNA", "ES-CNA", "/v1/envelopes", body)
            assert (status, got.get("error", {}).get("code")) == (422, "bad_time"), msg_type
        assert "bad_time" not in RETRYABLE_CODES
        assert await thread(fed, "ES-CNA", **ref) == request  # status, times, timeline
        assert await snapshot(fed, "ES-CNA") == before  # messages, events, audit log
        assert await deadline_of(investigator, request_id) == state
    finally:
        await investigator.close()


async def test_a_follow_up_timed_before_the_request_is_refused(fed: Federation) -> None:
    """Within the clock-skew allowance of its arrival, but before the request it answers."""
    assert isinstance(fed.clock, ManualClock)
    _, ref = await sent_request(fed)
    signed = parse_time((await thread(fed, "ES-CNA", **ref))["created_at"])
    fed.clock.advance(timedelta(minutes=1))
    await swept(fed)
    before, request = await snapshot(fed, "ES-CNA"), await thread(fed, "ES-CNA", **ref)
    for n, msg_type in enumerate(FOLLOW_UPS):
        body = answer(fed, msg_type, ref, f"msg-early-{n:04}", signed - timedelta(minutes=2))
        status, got = await peer_post(fed, "MA-CNA", "ES-CNA", "/v1/envelopes", body)
        assert (status, got.get("error", {}).get("code")) == (422, "bad_time"), msg_type
    assert await thread(fed, "ES-CNA", **ref) == request
    assert await snapshot(fed, "ES-CNA") == before


async def test_a_late_answer_counts_from_its_arrival(fed: Federation) -> None:
    """Signed two minutes before the deadline (within the skew), arriving one minute
    after it: the deadline is missed; both times are kept and shown."""
    assert isinstance(fed.clock, ManualClock)
    request_id, ref = await sent_request(fed)
    deadline = parse_time((await thread(fed, "ES-CNA", **ref))["deadline"])
    arrival, signed = deadline + timedelta(minutes=1), deadline - timedelta(minutes=2)
    fed.clock.set(arrival)
    body = answer(fed, "response", ref, "msg-late-00001", signed)
    status, _ = await peer_post(fed, "MA-CNA", "ES-CNA", "/v1/envelopes", body)
    assert status == 200
    row = await thread(fed, "ES-CNA", **ref)
    assert row["status"] == "answered"
    assert row["answered_at"] == format_time(arrival)  # ours, not the peer's claim
    investigator = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        assert (await deadline_of(investigator, request_id))["state"] == "missed"
        _, view = await investigator.call("GET", f"/api/requests/{request_id}")
        (response,) = [m for m in view["messages"] if m["type"] == "response"]
        assert response["created_at"] == format_time(signed)  # the peer's signed time
        assert response["received_at"] == format_time(arrival)  # when it reached us
        (ours,) = [m for m in view["messages"] if m["type"] == "request"]
        assert ours["received_at"] is None  # our own message: no arrival here
        status, page = await investigator.call("GET", f"/requests/{request_id}")
        assert status == 200
        assert b"signed by the sender" in page and b"arrived here" in page
    finally:
        await investigator.close()
