"""Break: a captured peer call replayed to ANOTHER process of the same authority.

Two processes of MA-CNA serve one data folder (``[cluster] active_active``). Each keeps
the nonces it saw in memory, so before migration 27 the same signed call, accepted by
process A, was accepted again by process B inside the skew window. Now B answers
``replay`` (409) and stores nothing, for a transaction and for a blob upload alike."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from exchange.core.canonical import b64e, canonical_json, sha256_hex
from exchange.core.peer_auth import sign_call
from exchange.node.runner import start_node
from exchange.store import peer_nonces

from ..federation import FAST_DELIVERY, Federation, Member, free_port, signed_call
from ..node.test_peer_rejections import envelope, snapshot

CLUSTER = FAST_DELIVERY + "\n[cluster]\nactive_active = true\n"


@pytest.fixture
async def two(tmp_path: Any) -> AsyncIterator[tuple[Federation, Member]]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], users=False, extra_config=CLUSTER)
    await fed.start()
    first = fed["MA-CNA"]
    b = Member("MA-CNA", first.data, free_port())
    b.running = await start_node(
        dataclasses.replace(first.config, listen_port=b.port), clock=fed.clock
    )
    yield fed, b
    await b.running.stop()
    await fed.stop()


def signed(fed: Federation, method: str, path: str, body: bytes) -> str:
    key = fed["ES-CNA"].node.keys.current_signing(fed.clock.now())
    return sign_call(
        method=method, path=path, sender="ES-CNA", recipient="MA-CNA", body=body, key=key,
        now=fed.clock.now(),
    )  # fmt: skip


async def test_a_call_one_process_accepted_is_a_replay_at_the_other(
    two: tuple[Federation, Member],
) -> None:
    fed, b = two
    a = fed["MA-CNA"]
    body = canonical_json({"envelopes": [b64e(envelope(fed, msg_id="msg-cluster-01"))]})
    auth = signed(fed, "POST", "/v1/transactions", body)
    status, first = await signed_call(a, "POST", "/v1/transactions", body, auth)
    assert status == 200 and "receipt" in first["results"][0], first
    after_first = await snapshot(fed, "MA-CNA")
    status, got = await signed_call(b, "POST", "/v1/transactions", body, auth)
    assert (status, got["error"]["code"]) == (409, "replay"), got
    assert await snapshot(fed, "MA-CNA") == after_first
    # the sender's own retry, signed afresh, is a new call: B answers the same receipt
    status, again = await signed_call(b, "POST", "/v1/transactions", body,
                               signed(fed, "POST", "/v1/transactions", body))  # fmt: skip
    assert status == 200 and again == first


async def test_a_blob_upload_one_process_took_is_a_replay_at_the_other(
    two: tuple[Federation, Member],
) -> None:
    fed, b = two
    a = fed["MA-CNA"]
    blob = b"phone extraction, part of it" * 100
    path = f"/v1/blobs/{sha256_hex(blob)}"
    auth = signed(fed, "PUT", path, blob)
    status, got = await signed_call(a, "PUT", path, blob, auth)
    assert status == 200, got
    held = await b.node.db.run(peer_nonces.count)
    status, got = await signed_call(b, "PUT", path, blob, auth)
    assert (status, got["error"]["code"]) == (409, "replay"), got
    assert await b.node.db.run(peer_nonces.count) == held


async def test_one_process_alone_keeps_its_nonces_in_memory_only(tmp_path: Any) -> None:
    """The default (one process per data folder) writes no nonce to the database."""
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], users=False)
    await fed.start()
    try:
        body = canonical_json({"envelopes": [b64e(envelope(fed, msg_id="msg-cluster-02"))]})
        auth = signed(fed, "POST", "/v1/transactions", body)
        assert (await signed_call(fed["MA-CNA"], "POST", "/v1/transactions", body, auth))[0] == 200
        assert (await signed_call(fed["MA-CNA"], "POST", "/v1/transactions", body, auth))[0] == 409
        assert await fed["MA-CNA"].node.db.run(peer_nonces.count) == 0
    finally:
        await fed.stop()
