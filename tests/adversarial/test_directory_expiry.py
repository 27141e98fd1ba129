"""A hostile network blocks the directory URL so that no removal or revocation
reaches the nodes: once the directory held has expired, nothing goes in or out
(``directory_expired``, 503), nothing is lost, and exchange resumes with a fresh one.
A restart does not forget the highest serial, even when its document has expired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from exchange.core.clock import ManualClock
from exchange.core.directory import sign_directory
from exchange.core.envelope import seal
from exchange.core.errors import DirectoryRejected
from exchange.web.ui.strings import EN

from ..federation import ApiClient, Federation, peer_post, wait_until

T0 = datetime.now(UTC).replace(microsecond=0)
LIFETIME = timedelta(hours=2)
REQUEST = {
    "to": "MA-CNA",
    "kind": "information_request",
    "urgency": "urgent",
    "subject": "Boat seen off Tarifa",
    "body": "Details follow.",
    "language": "en",
}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], clock=ManualClock(T0))
    fed.publish(valid=LIFETIME)
    await fed.start()
    yield fed
    await fed.stop()


def advance(fed: Federation, delta: timedelta) -> None:
    clock = fed.clock
    assert isinstance(clock, ManualClock)
    clock.advance(delta)


async def scalar(fed: Federation, authority_id: str, sql: str) -> Any:
    return await fed[authority_id].node.db.run(lambda c: c.execute(sql).fetchone()[0])


async def scalar_is(fed: Federation, authority_id: str, sql: str, expected: object) -> bool:
    return bool(await scalar(fed, authority_id, sql) == expected)


async def counts(fed: Federation, authority_id: str) -> tuple[int, int, int]:
    return (
        await scalar(fed, authority_id, "SELECT COUNT(*) FROM requests"),
        await scalar(fed, authority_id, "SELECT COUNT(*) FROM messages"),
        await scalar(fed, authority_id, "SELECT COUNT(*) FROM outbox"),
    )


def fresh_envelope(fed: Federation, msg_id: str) -> bytes:
    """What ES-CNA would send MA-CNA now, sealed with the entries it still holds."""
    now = fed.clock.now()
    es = fed["ES-CNA"].node
    return seal(
        {"kind": "information_request", "urgency": "urgent", "language": "en"}
        | {"subject": "s", "body": "b", "deadline": None}
        | {"handling": {"code": "H2", "use_limitation": True, "confidential": True}},
        log_size=7,
        msg_type="request",
        msg_id=msg_id,
        sender_id="ES-CNA",
        sender_key=es.keys.current_signing(now),
        recipient=es.directory.held().get("MA-CNA"),
        now=now,
    ).data  # type: ignore[arg-type]


async def test_an_expired_directory_stops_envelopes_in_and_out_until_a_fresh_one(
    fed: Federation,
) -> None:
    await fed.stop("MA-CNA")  # ES's request waits in its outbox
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    status, queued = await es.call("POST", "/api/requests", REQUEST)
    assert status == 201, queued
    await es.close()

    advance(fed, LIFETIME + timedelta(minutes=1))  # the directory URL is blocked meanwhile
    await fed.start("MA-CNA")
    blocked = (fed.root / "directory.json").read_bytes()  # all the nodes can still fetch
    for name in ("ES-CNA", "MA-CNA"):
        with pytest.raises(DirectoryRejected, match="expired"):
            await fed[name].node.directory.update(blocked)

    # out: no new request, no follow-up, no delivery of what waits
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    before = await counts(fed, "ES-CNA")
    status, body = await es.call("POST", "/api/requests", {**REQUEST, "subject": "new"})
    assert (status, body["error"]["code"]) == (503, "directory_expired"), body
    assert "expired" in body["error"]["message"]
    assert await counts(fed, "ES-CNA") == before
    await wait_until(
        lambda: scalar_is(fed, "ES-CNA", "SELECT last_error FROM outbox", "directory_expired"),
        what="the delivery worker refused to send under an expired directory",
    )
    assert await scalar(fed, "ES-CNA", "SELECT state FROM outbox") == "pending"
    assert await scalar(fed, "MA-CNA", "SELECT COUNT(*) FROM requests") == 0

    # in: a peer's envelopes and transactions are refused, nothing stored
    before = await counts(fed, "MA-CNA")
    envelope = fresh_envelope(fed, "msg-expired-1")
    for path, body_bytes in (
        ("/v1/envelopes", envelope),
        ("/v1/transactions", b'{"envelopes":[]}'),
    ):
        status, answer = await peer_post(fed, "ES-CNA", "MA-CNA", path, body_bytes)
        assert (status, answer["error"]["code"]) == (503, "directory_expired"), path
    assert await counts(fed, "MA-CNA") == before

    # reading goes on
    status, listed = await es.call("GET", "/api/requests")
    assert status == 200 and len(listed["requests"]) == 1
    status, _ = await es.call("GET", "/api/directory")
    assert status == 200
    await es.close()

    # a fresh directory: the waiting request is delivered, nothing was lost
    document = fed.publish(valid=LIFETIME)
    for member in fed.members.values():
        assert await member.node.directory.update(document)
    advance(fed, timedelta(seconds=5))  # past the retry time the refusal set
    await wait_until(
        lambda: scalar(fed, "MA-CNA", "SELECT COUNT(*) FROM requests"),
        what="the waiting request delivered under the fresh directory",
    )
    status, answer = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", envelope)
    assert status == 200, answer


async def test_after_a_restart_an_expired_cache_still_refuses_an_older_serial(
    fed: Federation,
) -> None:
    held = fed["ES-CNA"].node.directory.require().serial
    fed.serial -= 1
    older = sign_directory(fed.directory(valid=timedelta(days=30)), fed.operator)
    fed.serial += 1
    with pytest.raises(DirectoryRejected, match="rollback"):
        await fed["ES-CNA"].node.directory.update(older)

    await fed.stop("ES-CNA")
    advance(fed, LIFETIME + timedelta(minutes=1))
    (fed.root / "directory.json").write_bytes(older)  # the network serves the old one
    await fed.start("ES-CNA")
    holder = fed["ES-CNA"].node.directory
    with pytest.raises(DirectoryRejected, match="rollback"):
        await holder.update(older)
    assert holder.held().serial == held
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    status, body = await es.call("POST", "/api/requests", REQUEST)
    assert (status, body["error"]["code"]) == (503, "directory_expired")
    await es.close()


def gauge(text: str, name: str) -> float:
    line = next(x for x in text.splitlines() if x.startswith(name + " "))
    return float(line.split()[1])


async def test_the_admin_page_and_metrics_warn_at_three_quarters_and_a_day_left(
    fed: Federation,
) -> None:
    document = fed.publish(valid=timedelta(days=8))  # 75 % is at 6 days, 24 h left at 7
    for member in fed.members.values():
        await member.node.directory.update(document)
    expected = [
        (timedelta(days=1), None),
        (timedelta(days=5, hours=1), "75 %"),
        (timedelta(days=1), "less than 24 hours"),
        (timedelta(days=1), "has expired"),
    ]
    for step, warning in expected:
        advance(fed, step)
        admin = await ApiClient(fed["ES-CNA"]).login("admin")
        status, page = await admin.call("GET", "/admin")
        assert status == 200
        notices = [w for w in ("75 %", "less than 24 hours", "has expired") if w in page.decode()]
        assert notices == ([warning] if warning else []), step
        _, metrics = await admin.call("GET", "/metrics")
        text = metrics.decode()
        life = fed["ES-CNA"].node.directory.lifetime()
        assert life is not None
        assert gauge(text, "exchange_directory_seconds_left") == life.seconds_left
        assert gauge(text, "exchange_directory_lifetime_used") == pytest.approx(life.used)
        await admin.close()
    assert gauge(text, "exchange_directory_lifetime_used") > 1
    assert gauge(text, "exchange_directory_equivocations") == 0


async def test_the_alerts_warn_about_the_directory_at_three_quarters_and_a_day_left(
    fed: Federation,
) -> None:
    document = fed.publish(valid=timedelta(days=8))  # 75 % is at 6 days, 24 h left at 7
    for member in fed.members.values():
        await member.node.directory.update(document)
    serial = fed["ES-CNA"].node.directory.require().serial
    expected = [
        (timedelta(days=1), None),
        (timedelta(days=5, hours=1), "ageing"),
        (timedelta(days=1), "ending"),
        (timedelta(days=1), "expired"),
    ]
    for step, state in expected:
        advance(fed, step)
        for role in ("investigator", "liaison"):  # sessions do not outlive the days skipped
            client = await ApiClient(fed["ES-CNA"]).login(role)
            status, body = await client.call("GET", "/api/alerts")
            page = await client.session.get(fed["ES-CNA"].url + "/alerts", ssl=client.ssl)
            html = await page.text()
            await client.close()
            assert status == 200 and page.status == 200
            assert set(body) == {"alerts", "next", "directory"}
            if state is None:
                assert body["directory"] is None, step
                assert 'id="directory-warning"' not in html
            else:
                assert body["directory"]["state"] == state, step
                assert body["directory"]["serial"] == serial
                assert 'id="directory-warning"' in html  # the page warns too
                assert EN[f"directory_{state}"].replace("'", "&#39;") in html
