"""A hostile peer with its own valid keys against a real node's intake (issue 14,
breaks 7-9): re-encoded bytes, replayed calls, old-format headers, and bodies sent
behind a missing or bad header."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exchange.core.canonical import b64e, canonical_json, sha256_hex
from exchange.core.errors import Malformed
from exchange.core.peer_auth import HEADER, sign_call
from exchange.core.receipt import parse_receipt

from ..federation import Federation, client_ssl
from ..node.test_peer_rejections import envelope, snapshot

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA", "SN-CNA"], users=False)
    await fed.start()
    yield fed
    await fed.stop()


def signed(fed: Federation, path: str, body: bytes, *, sender: str = "ES-CNA", **kw: Any) -> str:
    """A v2 header as ``sender``'s node signs it (a fresh nonce unless given)."""
    key = fed[sender].node.keys.current_signing(fed.clock.now())
    now = kw.pop("now", fed.clock.now())
    return sign_call(
        method="POST", path=path, sender=sender, recipient="MA-CNA", body=body, key=key, now=now,
        **kw,
    )  # fmt: skip


async def send(fed: Federation, path: str, body: bytes, auth: str | None) -> tuple[int, Any]:
    member = fed["MA-CNA"]
    headers = {HEADER: auth} if auth is not None else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            member.url + path,
            data=body,
            headers=headers,
            ssl=aiohttp.Fingerprint(bytes.fromhex(member.fingerprint)),
        ) as response,
    ):
        return response.status, json.loads(await response.read())


def padding_bits_set(text: str) -> str:
    """The same bytes in base64 with a non-zero padding bit (``==``: 4 spare bits)."""
    assert text.endswith("==")
    last = ALPHABET.index(text[-3])
    assert last & 0b1111 == 0
    return text[:-3] + ALPHABET[last | 1] + "=="


def respellings(good: bytes) -> dict[str, bytes]:
    """The envelope ``good`` spelt otherwise: each parses to the same object."""
    obj = json.loads(good)
    reordered = dict(reversed(list(obj.items())))
    bad_padding = {**obj, "signature": padding_bits_set(obj["signature"])}
    assert base64.b64decode(bad_padding["signature"]) == base64.b64decode(obj["signature"])
    return {
        "whitespace": json.dumps(obj, sort_keys=True).encode(),
        "trailing newline": good + b"\n",
        "reordered keys": json.dumps(reordered, separators=(",", ":")).encode(),
        # envelope v2 since issue 15 (the header signs the sender's log size)
        "2.0 for 2": good.replace(b'"v":2', b'"v":2.0', 1),
        "duplicate key": b'{"v":2,' + good[1:],
        "escaped letter": good.replace(b'"request"', b'"\\u0072equest"', 1),
        "base64 padding bits": canonical_json(bad_padding),
    }


async def test_a_respelt_envelope_is_refused_and_the_canonical_one_accepted(
    fed: Federation,
) -> None:
    """Break 7: one message, one spelling, one envelope_sha256."""
    good = envelope(fed, msg_id="msg-canon-0001")
    before = await snapshot(fed, "MA-CNA")
    for name, body in respellings(good).items():
        assert body != good and sha256_hex(body) != sha256_hex(good), name
        status, got = await send(fed, "/v1/envelopes", body, signed(fed, "/v1/envelopes", body))
        assert (status, got["error"]["code"]) == (400, "malformed"), name
        assert "canonical" in got["error"]["message"], name
        # the same inside a transaction, as the delivery worker sends
        batch = canonical_json({"envelopes": [b64e(body)]})
        status, got = await send(
            fed, "/v1/transactions", batch, signed(fed, "/v1/transactions", batch)
        )
        assert status == 200, name
        (result,) = got["results"]
        assert result["error"]["code"] == "malformed", name
        assert "canonical" in result["error"]["message"], name
    assert await snapshot(fed, "MA-CNA") == before
    status, got = await send(fed, "/v1/envelopes", good, signed(fed, "/v1/envelopes", good))
    assert status == 200 and got["receipt"]["envelope_sha256"] == sha256_hex(good)


async def test_a_respelt_receipt_is_refused_by_the_sender(fed: Federation) -> None:
    """What the sender takes back is held to the same rule (workers/delivery reads
    receipts through parse_receipt and the transaction answer through loads_canonical)."""
    good = envelope(fed, msg_id="msg-canon-0003")
    status, got = await send(fed, "/v1/envelopes", good, signed(fed, "/v1/envelopes", good))
    assert status == 200
    receipt = canonical_json(got)  # the receiver's bytes: canonical, so this parses
    assert parse_receipt(receipt).envelope_sha256 == sha256_hex(good)
    respelt = {
        "whitespace": json.dumps(got).encode(),
        "duplicate key": b'{"signature":"' + got["signature"].encode() + b'",' + receipt[1:],
        "3.0 for 3": receipt.replace(b'"v":3', b'"v":3.0', 1),  # receipt v3 (issue 15)
    }
    for data in respelt.values():
        with pytest.raises(Malformed, match="canonical"):
            parse_receipt(data)
    with pytest.raises(Malformed, match="canonical base64"):
        parse_receipt({**got, "signature": padding_bits_set(got["signature"])})


async def test_respelt_peer_call_bodies_are_refused(fed: Federation) -> None:
    """The transaction body and the cosignature body are canonical bytes too."""
    good = envelope(fed, msg_id="msg-canon-0002")
    before = await snapshot(fed, "MA-CNA")
    text = b64e(good)
    bodies = {
        "/v1/transactions": [
            json.dumps({"envelopes": [text]}).encode(),
            b'{"envelopes":["' + text.encode() + b'"],"envelopes":["' + text.encode() + b'"]}',
        ],
        "/v1/audit/cosignature": [
            b'{"size": 1, "cosignature": "x"}',
            b'{"size":1.0,"cosignature":"x"}',
            b'{"size":1,"cosignature":"x","size":1}',
        ],
    }
    for path, variants in bodies.items():
        for body in variants:
            status, got = await send(fed, path, body, signed(fed, path, body))
            assert (status, got["error"]["code"]) == (400, "malformed"), body
            assert "canonical" in got["error"]["message"], body
    assert await snapshot(fed, "MA-CNA") == before


async def test_a_captured_peer_call_replayed_in_the_window_is_refused(fed: Federation) -> None:
    """Break 8: the same X-Exchange-Auth and body again, seconds later: replay (409)."""
    body = canonical_json({"envelopes": [b64e(envelope(fed, msg_id="msg-replay-001"))]})
    auth = signed(fed, "/v1/transactions", body)
    status, first = await send(fed, "/v1/transactions", body, auth)
    assert status == 200 and "receipt" in first["results"][0]
    after_first = await snapshot(fed, "MA-CNA")
    for path in ("/v1/transactions", "/v1/transactions"):
        status, got = await send(fed, path, body, auth)
        assert (status, got["error"]["code"]) == (409, "replay")
    assert await snapshot(fed, "MA-CNA") == after_first
    # the same call signed afresh (a sender's retry) is a new call: same receipt
    status, again = await send(fed, "/v1/transactions", body, signed(fed, "/v1/transactions", body))
    assert status == 200 and again == first


async def test_a_stranger_cannot_burn_a_peers_nonce(fed: Federation) -> None:
    """A header with ES's name and a nonce but a signature that does not verify is not
    remembered: ES's genuine call with that nonce still goes through."""
    body = envelope(fed, msg_id="msg-replay-002")
    nonce = "ab" * 16
    forged = signed(fed, "/v1/envelopes", b"another body", nonce=nonce)
    status, got = await send(fed, "/v1/envelopes", body, forged)
    assert (status, got["error"]["code"]) == (403, "bad_signature")
    status, got = await send(
        fed, "/v1/envelopes", body, signed(fed, "/v1/envelopes", body, nonce=nonce)
    )
    assert status == 200, got


def v1_header(fed: Federation, path: str, body: bytes) -> str:
    """X-Exchange-Auth as nodes signed it before protocol v2: whole seconds, no nonce."""
    now = fed.clock.now()
    key = fed["ES-CNA"].node.keys.current_signing(now)
    ts = int(now.timestamp())
    signed_input = canonical_json(
        {
            "ctx": "exchange/http/v1",
            "method": "POST",
            "path": path,
            "sender": "ES-CNA",
            "recipient": "MA-CNA",
            "ts": ts,
            "body_sha256": sha256_hex(body),
        }
    )
    return f"sender=ES-CNA;key={key.public.key_id};ts={ts};sig={b64e(key.sign(signed_input))}"


async def test_an_old_format_header_is_refused_with_unsupported_version(fed: Federation) -> None:
    """Not misread as v2, nor as a bad signature: a clear unsupported_version (400)."""
    body = envelope(fed, msg_id="msg-oldver-001")
    before = await snapshot(fed, "MA-CNA")
    for auth in (
        v1_header(fed, "/v1/envelopes", body),
        "v=3;" + signed(fed, "/v1/envelopes", body)[4:],
    ):
        status, got = await send(fed, "/v1/envelopes", body, auth)
        assert (status, got["error"]["code"]) == (400, "unsupported_version"), auth
    assert await snapshot(fed, "MA-CNA") == before


async def answer_to_unfinished_body(
    fed: Federation, path: str, auth: str | None
) -> tuple[int, str]:
    """Announce a 16 MiB body, send 1 KiB of it and wait for the answer (bounded): a
    node that reads the body before the header never answers."""
    member = fed["MA-CNA"]
    reader, writer = await asyncio.open_connection("127.0.0.1", member.port, ssl=client_ssl())
    try:
        head = [
            f"POST {path} HTTP/1.1",
            f"Host: 127.0.0.1:{member.port}",
            "Content-Type: application/json",
            f"Content-Length: {16 * 1024 * 1024}",
        ]
        if auth is not None:
            head.append(f"{HEADER}: {auth}")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + b" " * 1024)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        status = int(status_line.split()[1])
        length = 0
        while (line := await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = json.loads(await asyncio.wait_for(reader.readexactly(length), 10))
        return status, payload["error"]["code"]
    finally:
        writer.close()


async def test_a_call_without_a_valid_header_is_refused_before_its_body_is_read(
    fed: Federation,
) -> None:
    """Break 9: no byte of the body is waited for until the header is known good."""
    path = "/v1/transactions"
    now = fed.clock.now()
    used = signed(fed, path, b"{}")
    status, _ = await send(fed, path, b"{}", used)  # a call made: its nonce is now seen
    assert status == 400
    cases: list[tuple[str | None, int, str]] = [
        (None, 401, "unauthorized"),
        ("garbage", 400, "malformed"),
        (v1_header(fed, path, b"{}"), 400, "unsupported_version"),
        (signed(fed, path, b"", now=now - timedelta(minutes=10)), 401, "unauthorized"),
        (signed(fed, path, b"").replace("sender=ES-CNA", "sender=XX-CNA"), 403, "unknown_sender"),
        (used, 409, "replay"),
    ]
    for auth, status, code in cases:
        assert await answer_to_unfinished_body(fed, path, auth) == (status, code), auth
    for audit_path in ("/v1/audit/cosignature",):
        assert await answer_to_unfinished_body(fed, audit_path, None) == (401, "unauthorized")
