"""A hostile sender (the real protocol, its own keys) gets receipts only for what the
receiver stored, cannot forge one for what it refused, and gets a signed refusal
instead; an honest sender keeps a refusal and shows it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from exchange.core.audit_entry import decode_entry
from exchange.core.canonical import b64e, canonical_json, sha256_hex
from exchange.core.envelope import Opened, open_
from exchange.core.errors import ExchangeError
from exchange.core.merkle import MemoryHashStore, inclusion_proof, root
from exchange.core.receipt import Batch, Receipt, parse_receipt, verify_receipt
from exchange.core.refusal import parse_refusal, verify_refusal

from ..federation import ApiClient, Federation, peer_post, wait_until
from ..node.test_peer_rejections import CONTENT, envelope, follow_up, snapshot
from ..ui.test_page_security import Browser


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA", "SN-CNA"])
    await fed.start()
    yield fed
    await fed.stop()


def _leaf(fed: Federation, msg_id: str, data: bytes, signed: Receipt) -> Receipt:
    """The receipt body a sender can compute for any envelope of its own (it knows the
    evidence document it sealed: here opened again with the recipient's keys; the time,
    key and log size are those of a receipt of the same batch)."""
    evidence = sha256_hex(_opened(fed, data).evidence_json)
    return Receipt(
        msg_id, "ES-CNA", "MA-CNA", sha256_hex(data), evidence, signed.received_at,
        signed.key_id, b"", None, signed.log_size,
    )  # fmt: skip


def _opened(fed: Federation, data: bytes) -> Opened:
    ma = fed["MA-CNA"].node
    return open_(
        data, directory=ma.directory.require(), me="MA-CNA", keys=ma.keys, now=fed.clock.now()
    )


def _forge(leaves: list[Receipt], index: int, signed: Receipt) -> tuple[Receipt, bytes]:
    """A receipt for ``leaves[index]`` built from a tree over all ``leaves``, carrying
    the signature of a real receipt of the transaction; and that tree's root."""
    tree = MemoryHashStore()
    for leaf in leaves:
        tree.append(canonical_json(leaf.body()))
    size = len(leaves)
    top = root(tree, size)
    proof = tuple(inclusion_proof(tree, index, size))
    batch = Batch(index, size, proof, top)
    forged = Receipt(**{**leaves[index].__dict__, "signature": signed.signature, "batch": batch})
    return forged, top


async def _post(fed: Federation, bodies: list[bytes]) -> list[dict[str, Any]]:
    payload = canonical_json({"envelopes": [b64e(b) for b in bodies]})
    status, got = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/transactions", payload)
    assert status == 200, got
    return list(got["results"])


async def test_receipts_only_for_what_was_stored(fed: Federation) -> None:
    directory = fed["ES-CNA"].node.directory.require()
    first = envelope(fed, msg_id="msg-first-0001")
    status, original = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", first)
    assert status == 200
    ref = {"origin": "ES-CNA", "msg_id": "msg-first-0001"}
    good1 = envelope(fed, msg_id="msg-good-00001")
    replay = envelope(fed, msg_id="msg-first-0001", content={**CONTENT, "body": "other"})
    own = follow_up(fed, "ES-CNA", "MA-CNA", "response", ref, "msg-own-000001")
    unknown = {"origin": "MA-CNA", "msg_id": "msg-nowhere-01"}
    nowhere = follow_up(fed, "ES-CNA", "MA-CNA", "response", unknown, "msg-nowhere-02")
    good2 = envelope(fed, msg_id="msg-good-00002")
    sent = [
        ("msg-good-00001", good1, None),
        ("msg-first-0001", replay, "replay"),
        ("msg-own-000001", own, "wrong_party"),
        ("msg-nowhere-02", nowhere, "not_found"),
        ("msg-good-00002", good2, None),
    ]
    before = await snapshot(fed, "MA-CNA")
    results = await _post(fed, [data for _, data, _ in sent])

    receipts = [parse_receipt(r["receipt"]) for r in results if "receipt" in r]
    assert [r.msg_id for r in receipts] == ["msg-good-00001", "msg-good-00002"]
    roots: set[tuple[str, bytes, int, bytes]] = set()
    for receipt, data in zip(receipts, (good1, good2), strict=True):
        assert receipt.batch is not None and receipt.batch.size == 2  # the stored ones only
        verify_receipt(
            receipt,
            directory=directory,
            expected_msg_id=receipt.msg_id,
            expected_sender="ES-CNA",
            expected_recipient="MA-CNA",
            expected_envelope_sha256=sha256_hex(data),
            expected_evidence_sha256=sha256_hex(_opened(fed, data).evidence_json),
            verified_roots=roots,
        )
    after = await snapshot(fed, "MA-CNA")
    assert after["messages"] == before["messages"] + 2  # the refused ones stored nothing

    # Each refused envelope: an error and a refusal signed by MA for exactly it.
    for (msg_id, data, code), result in zip(sent, results, strict=True):
        if code is None:
            continue
        assert "receipt" not in result and result["error"]["code"] == code
        refusal = parse_refusal(result["refusal"])
        verify_refusal(
            refusal,
            directory=directory,
            expected_code=code,
            expected_msg_id=msg_id,
            expected_sender="ES-CNA",
            expected_recipient="MA-CNA",
            expected_envelope_sha256=sha256_hex(data),
        )

    # The sender knows every field of every leaf: it rebuilds the tree over all it sent,
    # in order, and tries to make a receipt of each refused envelope. The signed root
    # covers the stored envelopes alone, so no such receipt verifies.
    signed = receipts[0]
    leaves = [_leaf(fed, m, d, signed) for m, d, _ in sent]
    assert signed.batch is not None
    stored_only = [leaves[0], leaves[4]]
    assert _forge(stored_only, 0, signed)[1] == signed.batch.root  # the method is sound
    for index, (msg_id, data, code) in enumerate(sent):
        if code is None:
            continue
        forged, top = _forge(leaves, index, signed)
        assert top != signed.batch.root
        with pytest.raises(ExchangeError):
            verify_receipt(
                forged,
                directory=directory,
                expected_msg_id=msg_id,
                expected_sender="ES-CNA",
                expected_recipient="MA-CNA",
                expected_envelope_sha256=sha256_hex(data),
                expected_evidence_sha256=forged.evidence_sha256,
            )

    # A replay never yields a second receipt for one msg_id.
    replayed = [r for r in receipts if r.msg_id == "msg-first-0001"]
    assert replayed == []
    assert parse_receipt(original).envelope_sha256 == sha256_hex(first)


async def test_a_replay_alone_is_refused_with_a_signed_refusal(fed: Federation) -> None:
    first = envelope(fed, msg_id="msg-alone-0001")
    status, _ = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", first)
    assert status == 200
    other = envelope(fed, msg_id="msg-alone-0001", content={**CONTENT, "body": "other"})
    for bodies in ([other], [other, other]):
        results = await _post(fed, bodies)
        assert all("receipt" not in r and r["error"]["code"] == "replay" for r in results)
        assert all("refusal" in r for r in results)
    status, got = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", other)
    assert (status, got["error"]["code"]) == (409, "replay")
    verify_refusal(
        parse_refusal(got["refusal"]),
        directory=fed["ES-CNA"].node.directory.require(),
        expected_code="replay",
        expected_msg_id="msg-alone-0001",
        expected_sender="ES-CNA",
        expected_recipient="MA-CNA",
        expected_envelope_sha256=sha256_hex(other),
    )


async def test_bytes_not_attributable_to_the_caller_get_no_refusal(fed: Federation) -> None:
    """SN's envelope relayed by ES: refused, never with a signed statement about it."""
    relayed = envelope(fed, sender="SN-CNA", msg_id="msg-relay-0001")
    misaddressed = envelope(fed, recipient="SN-CNA", msg_id="msg-relay-0002")
    results = await _post(fed, [relayed, misaddressed])
    assert [r["error"]["code"] for r in results] == ["unknown_sender", "wrong_recipient"]
    assert all("refusal" not in r for r in results)


async def test_the_honest_sender_keeps_and_shows_a_refusal(fed: Federation) -> None:
    """MA answers ES's request after ES closed it: ES refuses the answer (conflict, not
    retried) with a signed refusal, which MA verifies, keeps, audits and shows."""
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    ma = await ApiClient(fed["MA-CNA"]).login("liaison")
    browser = Browser(fed["MA-CNA"])
    try:
        status, created = await es.call(
            "POST",
            "/api/requests",
            {"to": "MA-CNA", **{k: v for k, v in CONTENT.items() if k != "deadline"}},
        )
        assert status == 201, created
        rid = created["id"]

        async def incoming() -> str | None:
            _, body = await ma.call("GET", "/api/inbox")
            found = [r["id"] for r in body["requests"] if r["msg_id"] == created["msg_id"]]
            return found[0] if found else None

        mid = await wait_until(incoming, what="the request at MA")
        status, _ = await ma.call("POST", f"/api/requests/{mid}/responses", {"body": "One."})
        assert status == 200

        async def status_at_es(want: str) -> bool:
            _, view = await es.call("GET", f"/api/requests/{rid}")
            return bool(view["status"] == want)

        await wait_until(lambda: status_at_es("answered"), what="answered at ES")
        status, _ = await es.call("POST", f"/api/requests/{rid}/close")
        assert status == 200
        status, _ = await ma.call("POST", f"/api/requests/{mid}/responses", {"body": "Two."})
        assert status == 200

        async def refused() -> dict[str, Any] | None:
            _, view = await ma.call("GET", f"/api/requests/{mid}")
            events = [e for e in view["timeline"] if e["event"] == "refused"]
            return events[0] if events else None

        event = await wait_until(refused, what="the refusal kept at MA")
        assert event["actor"] == "ES-CNA" and event["detail"]["code"] == "conflict"

        def kept(conn: Any) -> tuple[list[str], list[str]]:
            rows = conn.execute("SELECT refusal FROM refusals").fetchall()
            entries = conn.execute("SELECT entry FROM audit_entries").fetchall()
            return [r[0] for r in rows], [decode_entry(e[0])["action"] for e in entries]

        node = fed["MA-CNA"].node
        raws, actions = await node.db.run(kept)
        (raw,) = raws
        assert actions.count("delivery_refused") == 1
        refusal = parse_refusal(raw.encode())
        assert refusal.code == "conflict" and refusal.sender == "MA-CNA"
        assert sha256_hex(raw.encode()) == event["detail"]["refusal_sha256"]

        async def given_up() -> bool:
            _, view = await ma.call("GET", f"/api/requests/{mid}")
            return any(e["event"] == "delivery_failed" for e in view["timeline"])

        await wait_until(given_up, what="delivery ended (conflict is not retried)")
        await browser.login("liaison")
        status, page, _ = await browser.get(f"/requests/{mid}")
        assert status == 200
        assert "Refused by the recipient, refusal signed" in page
        assert event["detail"]["refusal_sha256"][:16] in page
    finally:
        await es.close()
        await ma.close()
        await browser.close()
