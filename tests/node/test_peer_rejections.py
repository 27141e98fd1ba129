"""Hostile input on the peer API: each bad envelope gets its precise code and
status, and nothing stored changes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exchange.core.backoff import RETRYABLE_CODES
from exchange.core.canonical import b64d, b64e, canonical_json
from exchange.core.content import follow_up_content
from exchange.core.envelope import seal
from exchange.core.keys import SigningKeyPair
from exchange.core.peer_auth import HEADER, sign_call
from exchange.service import requests
from exchange.service.forms import RequestForm
from exchange.store import messages as message_store
from exchange.store import requests as request_store

from ..federation import FAST_DELIVERY, Federation, peer_post, wait_until

CONTENT = {
    "kind": "information_request",
    "urgency": "urgent",
    "language": "en",
    "subject": "s",
    "body": "b",
    "deadline": None,
    "handling": {"code": "H2", "use_limitation": True, "confidential": True},
}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA", "SN-CNA"], users=False)
    await fed.start()
    yield fed
    await fed.stop()


def envelope(
    fed: Federation,
    sender: str = "ES-CNA",
    recipient: str = "MA-CNA",
    msg_id: str = "msg-00000001",
    content: dict[str, Any] | None = None,
    key: SigningKeyPair | None = None,
    msg_type: str = "request",
) -> bytes:
    now = fed.clock.now()
    node = fed[sender].node
    return seal(
        content or CONTENT,
        log_size=7,
        msg_type=msg_type,
        msg_id=msg_id,
        sender_id=sender,
        sender_key=key or node.keys.current_signing(now),
        recipient=node.directory.require().get(recipient),
        now=now,
    ).data  # type: ignore[arg-type]


async def snapshot(fed: Federation, authority_id: str) -> dict[str, Any]:
    def read(conn: Any) -> dict[str, Any]:
        tables = ("requests", "messages", "events", "outbox", "audit_entries")
        counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}  # noqa: S608
        counts["last_entry"] = conn.execute("SELECT MAX(idx) FROM audit_entries").fetchone()[0]
        # the log's leaves; its upper tree levels are derived data the checkpointer
        # builds in the background at its own pace (a count of them would race it)
        leaves = "SELECT COUNT(*) FROM audit_nodes WHERE level = 0"
        counts["audit_leaves"] = conn.execute(leaves).fetchone()[0]
        return counts

    return await fed[authority_id].node.db.run(read)


def _mutate(data: bytes, fn: Any) -> bytes:
    obj = json.loads(data)
    fn(obj)
    return canonical_json(obj)


async def test_rejections_have_precise_codes_and_change_nothing(fed: Federation) -> None:
    before = await snapshot(fed, "MA-CNA")
    now = fed.clock.now()
    stranger = SigningKeyPair.generate(now - timedelta(days=1), timedelta(days=30))
    real_id = fed["ES-CNA"].node.keys.current_signing(now).public.key_id
    forged_key = SigningKeyPair(
        public=type(stranger.public)(
            real_id,
            "ed25519",
            stranger.public.public,
            stranger.public.not_before,
            stranger.public.not_after,
        ),
        seed=stranger.seed,
    )
    cases: list[tuple[str, bytes, str, int]] = [
        ("forged", envelope(fed, key=forged_key), "bad_signature", 403),
        (
            "altered",
            _mutate(
                envelope(fed),
                lambda o: o.__setitem__("ciphertext", b64e(b64d(o["ciphertext"])[::-1])),
            ),
            "bad_signature",
            403,
        ),
        (
            "altered header",
            _mutate(
                envelope(fed),
                lambda o: o["header"].__setitem__("created_at", "2020-01-01T00:00:00.000000Z"),
            ),
            "bad_signature",
            403,
        ),
        ("misaddressed", envelope(fed, recipient="SN-CNA"), "wrong_recipient", 421),
        ("malformed", b'{"v": 1, "header": {}}', "malformed", 400),
        ("not json", b"\x00\x01garbage", "malformed", 400),
        ("oversized", b"{" + b" " * (2 * 1024 * 1024 + 10) + b"}", "too_large", 413),
        ("bad content", envelope(fed, content={"kind": "gossip"}), "malformed", 400),
    ]
    for name, body, code, status in cases:
        got_status, got = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", body)
        assert (got_status, got["error"]["code"]) == (status, code), name
        assert got["error"]["message"], name
    assert await snapshot(fed, "MA-CNA") == before


async def test_sender_must_be_the_authenticated_peer(fed: Federation) -> None:
    before = await snapshot(fed, "MA-CNA")
    sn_envelope = envelope(fed, sender="SN-CNA")
    status, body = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", sn_envelope)
    assert (status, body["error"]["code"]) == (403, "unknown_sender")
    assert await snapshot(fed, "MA-CNA") == before


async def test_unauthenticated_and_stale_calls(fed: Federation) -> None:
    member = fed["MA-CNA"]
    ssl = aiohttp.Fingerprint(bytes.fromhex(member.fingerprint))
    body = envelope(fed)
    now = fed.clock.now()
    key = fed["ES-CNA"].node.keys.current_signing(now)
    stale = sign_call(
        method="POST",
        path="/v1/envelopes",
        sender="ES-CNA",
        recipient="MA-CNA",
        body=body,
        key=key,
        now=now - timedelta(minutes=10),
    )
    wrong_body = sign_call(
        method="POST",
        path="/v1/envelopes",
        sender="ES-CNA",
        recipient="MA-CNA",
        body=b"other",
        key=key,
        now=now,
    )
    async with aiohttp.ClientSession() as session:
        for headers, code, status in [
            ({}, "unauthorized", 401),
            ({HEADER: stale}, "unauthorized", 401),
            ({HEADER: "garbage"}, "malformed", 400),
            ({HEADER: wrong_body}, "bad_signature", 403),
        ]:
            async with session.post(
                member.url + "/v1/envelopes", data=body, headers=headers, ssl=ssl
            ) as response:
                payload = await response.json()
                assert (response.status, payload["error"]["code"]) == (status, code), headers


async def test_duplicate_gets_same_receipt_and_replay_is_refused(fed: Federation) -> None:
    body = envelope(fed, msg_id="msg-dup-000001")
    status, first = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", body)
    assert status == 200, first
    after_first = await snapshot(fed, "MA-CNA")
    status, second = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", body)
    assert status == 200 and second == first
    other = envelope(fed, msg_id="msg-dup-000001", content={**CONTENT, "body": "different"})
    status, replay = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", other)
    assert (status, replay["error"]["code"]) == (409, "replay")
    assert await snapshot(fed, "MA-CNA") == after_first
    assert after_first["requests"] == 1


async def test_transaction_batch_results_per_envelope(fed: Federation) -> None:
    good = envelope(fed, msg_id="msg-batch-0001")
    bad = envelope(fed, recipient="SN-CNA", msg_id="msg-batch-0002")
    payload = canonical_json({"envelopes": [b64e(good), b64e(bad), "%%%"]})
    status, body = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/transactions", payload)
    assert status == 200
    results = body["results"]
    assert "receipt" in results[0]
    assert results[1]["error"]["code"] == "wrong_recipient"
    assert results[2]["error"]["code"] == "malformed"
    for bad_body, code in [
        (b"{}", "malformed"),
        (b'{"envelopes":[]}', "malformed"),
        (canonical_json({"envelopes": ["AA=="] * 101}), "too_large"),
    ]:
        status, body = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/transactions", bad_body)
        assert body["error"]["code"] == code


async def test_a_peer_calling_too_often_gets_429(tmp_path: Path) -> None:
    limits = "\n[limits]\npeer_calls_per_minute = 60\npeer_burst = 2\n"
    fed = Federation.create(
        tmp_path, ["ES-CNA", "MA-CNA", "SN-CNA"], extra_config=FAST_DELIVERY + limits
    )
    await fed.start()
    try:
        codes = []
        for _ in range(3):
            status, body = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", b"{}")
            codes.append((status, body["error"]["code"]))
        assert codes == [(400, "malformed"), (400, "malformed"), (429, "rate_limited")]
        # another peer is not slowed down by ES's flood
        status, body = await peer_post(fed, "SN-CNA", "MA-CNA", "/v1/envelopes", b"{}")
        assert (status, body["error"]["code"]) == (400, "malformed")
    finally:
        await fed.stop()


FOLLOW_UPS = {
    "acknowledgement": {},
    "response": {"body": "Here is what you asked for.", "language": "en"}
    | {"handling": {"code": "H2", "use_limitation": True, "confidential": True}},
    "rejection": {"reason": "Not competent."},
}


def follow_up(
    fed: Federation, sender: str, recipient: str, msg_type: str, ref: dict[str, str], msg_id: str
) -> bytes:
    """A follow-up sealed by ``sender`` with its own keys, over the real protocol."""
    content = follow_up_content(msg_type, **ref, **FOLLOW_UPS[msg_type])
    return envelope(fed, sender, recipient, msg_id, content, msg_type=msg_type)


async def thread(fed: Federation, authority_id: str, origin: str, msg_id: str) -> dict[str, Any]:
    """A request's row and timeline at ``authority_id``, found by its origin and msg_id."""

    def read(conn: Any) -> dict[str, Any]:
        (request_id,) = conn.execute(
            "SELECT id FROM requests WHERE origin = ? AND msg_id = ?", (origin, msg_id)
        ).fetchone()
        row = request_store.request_row(conn, request_id).to_json()
        timeline = [e.to_json() for e in message_store.timeline(conn, request_id)]
        return {**row, "timeline": timeline}

    return await fed[authority_id].node.db.run(read)


async def test_a_peer_cannot_follow_up_its_own_request(fed: Federation) -> None:
    """ES sends MA a request, then acknowledges, answers or rejects it itself: MA refuses
    each with wrong_party (403, not retryable) and nothing changes."""
    status, _ = await peer_post(
        fed, "ES-CNA", "MA-CNA", "/v1/envelopes", envelope(fed, msg_id="msg-own-000001")
    )
    assert status == 200
    ref = {"origin": "ES-CNA", "msg_id": "msg-own-000001"}
    before, request = await snapshot(fed, "MA-CNA"), await thread(fed, "MA-CNA", **ref)
    assert request["direction"] == "in" and request["status"] == "received"
    for n, msg_type in enumerate(FOLLOW_UPS):
        body = follow_up(fed, "ES-CNA", "MA-CNA", msg_type, ref, f"msg-own-1{n:05}")
        status, got = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", body)
        assert (status, got.get("error", {}).get("code")) == (403, "wrong_party"), msg_type
    assert "wrong_party" not in RETRYABLE_CODES
    assert await thread(fed, "MA-CNA", **ref) == request  # status and timeline
    assert await snapshot(fed, "MA-CNA") == before  # messages, events, audit log...
    # in a transaction, as the delivery worker sends, beside a request that is accepted
    for n, msg_type in enumerate(FOLLOW_UPS):
        body = follow_up(fed, "ES-CNA", "MA-CNA", msg_type, ref, f"msg-own-2{n:05}")
        good = envelope(fed, msg_id=f"msg-own-3{n:05}")
        payload = canonical_json({"envelopes": [b64e(body), b64e(good)]})
        status, got = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/transactions", payload)
        refused, accepted = got["results"]
        assert refused.get("error", {}).get("code") == "wrong_party", msg_type
        assert refused["error"]["status"] == 403 and "receipt" in accepted
    assert await thread(fed, "MA-CNA", **ref) == request
    after = await snapshot(fed, "MA-CNA")
    for table in ("requests", "messages", "events", "audit_entries"):
        assert after[table] == before[table] + 3, table  # the three other requests only


async def test_a_third_party_cannot_follow_up_a_request_sent_to_another(
    fed: Federation,
) -> None:
    """MA sends ES a request; SN refers to it in an acknowledgement, response or
    rejection: wrong_party, nothing changes. ES itself may still reject it."""
    ma = fed["MA-CNA"].node
    form = RequestForm.of({"to": "ES-CNA", **CONTENT})
    created = await requests.create(ma, actor="investigator", form=form)
    ref = {"origin": "MA-CNA", "msg_id": created.msg_id}

    async def delivered() -> bool:
        return (await thread(fed, "MA-CNA", **ref))["status"] == "delivered"

    await wait_until(delivered, what="MA's request receipted by ES")
    before, request = await snapshot(fed, "MA-CNA"), await thread(fed, "MA-CNA", **ref)
    for n, msg_type in enumerate(FOLLOW_UPS):
        body = follow_up(fed, "SN-CNA", "MA-CNA", msg_type, ref, f"msg-third-{n:05}")
        status, got = await peer_post(fed, "SN-CNA", "MA-CNA", "/v1/envelopes", body)
        assert (status, got.get("error", {}).get("code")) == (403, "wrong_party"), msg_type
    assert await thread(fed, "MA-CNA", **ref) == request
    assert await snapshot(fed, "MA-CNA") == before
    # the authority the request went to may reject it
    body = follow_up(fed, "ES-CNA", "MA-CNA", "rejection", ref, "msg-rightful-1")
    status, _ = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", body)
    assert status == 200
    assert (await thread(fed, "MA-CNA", **ref))["status"] == "rejected"


async def test_a_follow_up_to_an_unknown_request_is_still_not_found(fed: Federation) -> None:
    """Retryable, as before: the sender may be ahead of what this node has stored."""
    before = await snapshot(fed, "MA-CNA")
    ref = {"origin": "MA-CNA", "msg_id": "msg-nowhere-01"}
    body = follow_up(fed, "ES-CNA", "MA-CNA", "response", ref, "msg-nowhere-02")
    status, got = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", body)
    assert (status, got["error"]["code"]) == (404, "not_found")
    assert "not_found" in RETRYABLE_CODES
    assert await snapshot(fed, "MA-CNA") == before
