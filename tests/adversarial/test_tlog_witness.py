"""Any C2SP witness client can use an Exchange node as its witness: a client written
from c2sp.org/tlog-witness alone (raw HTTP bytes, its own Ed25519 code from the
signed-note and tlog-cosignature specs, none of ours) submits checkpoints to
``POST /add-checkpoint`` of a real node, gets a cosignature that verifies under the
``witness_vkey`` the signed directory publishes, and gets 409, 422, 404, 403 and 400
where the specification says. A C2SP log configured in node.toml is witnessed too."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import nacl.signing
import pytest

from exchange.service import audit

from ..federation import FAST_DELIVERY, Federation

LOG_ORIGIN = "example.com/test-log"
LOG_KEY = nacl.signing.SigningKey(hashlib.sha256(b"a test log's key").digest())


# --- the client: only what the C2SP specifications say ----------------------------------


def key_id(name: str, alg: int, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public).digest()[:4]


def vkey(name: str, public: bytes) -> str:
    material = base64.b64encode(bytes([1]) + public).decode()
    return f"{name}+{key_id(name, 1, public).hex()}+{material}"


def sign(text: str, name: str, key: nacl.signing.SigningKey) -> str:
    sig = key.sign(text.encode()).signature
    blob = base64.b64encode(key_id(name, 1, bytes(key.verify_key)) + sig).decode()
    return f"{text}\n\u2014 {name} {blob}\n"


def leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    """RFC 6962 section 2.1.2 SUBPROOF."""
    n = len(leaves)
    if m == n:
        return [] if complete else [mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*subproof(m, leaves[:k], complete), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def checkpoint(origin: str, leaves: list[bytes]) -> str:
    return f"{origin}\n{len(leaves)}\n{base64.b64encode(mth(leaves)).decode()}\n"


def body(old: int, proof: list[bytes], note: str) -> bytes:
    lines = [f"old {old}"] + [base64.b64encode(h).decode() for h in proof]
    return ("".join(line + "\n" for line in lines) + "\n" + note).encode()


def check_cosignature(line: str, note_text: str, witness_vkey: str) -> int:
    """tlog-cosignature: verify one ``— name base64(keyid || time || sig)`` line."""
    name, hex_id, material = witness_vkey.split("+", 2)
    raw_key = base64.b64decode(material)
    assert raw_key[0] == 0x04 and len(raw_key) == 33
    assert key_id(name, 0x04, raw_key[1:]).hex() == hex_id
    assert line.startswith("\u2014 ") and line.endswith("\n")
    line_name, blob = line[2:-1].split(" ")
    assert line_name == name
    raw = base64.b64decode(blob)
    assert raw[:4].hex() == hex_id and len(raw) == 4 + 8 + 64
    timestamp = int.from_bytes(raw[4:12], "big")
    assert timestamp > 0
    message = b"cosignature/v1\ntime %d\n" % timestamp + note_text.encode()
    nacl.signing.VerifyKey(raw_key[1:]).verify(message, raw[12:])
    return timestamp


# --- the federation ----------------------------------------------------------------------


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    extra = FAST_DELIVERY + (
        f'\n[[witness.logs]]\norigin = "{LOG_ORIGIN}"\n'
        f'vkey = "{vkey(LOG_ORIGIN, bytes(LOG_KEY.verify_key))}"\n'
    )
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], extra_config=extra)
    await fed.start()
    yield fed
    await fed.stop()


async def submit(fed: Federation, data: bytes) -> tuple[int, str, bytes]:
    member = fed["MA-CNA"]
    pin = aiohttp.Fingerprint(bytes.fromhex(member.fingerprint))
    async with (
        aiohttp.ClientSession() as session,
        session.post(member.url + "/add-checkpoint", data=data, ssl=pin) as response,
    ):
        return response.status, response.headers.get("Content-Type", ""), await response.read()


def witness_vkey_in_directory(fed: Federation) -> str:
    document = json.loads((fed.root / "directory.json").read_bytes())
    (entry,) = [a for a in document["directory"]["authorities"] if a["authority_id"] == "MA-CNA"]
    return str(entry["witness_vkey"])


async def test_a_spec_client_gets_exchange_logs_witnessed(fed: Federation) -> None:
    witness_vkey = witness_vkey_in_directory(fed)
    assert witness_vkey.startswith("exchange/MA-CNA/witness+")
    es = fed["ES-CNA"]
    first = (await es.checkpoint()).note
    text = first[: first.index("\n\n") + 1]
    size = int(text.split("\n")[1])

    status, _, answer = await submit(fed, body(0, [], first))
    assert status == 200, answer
    (line,) = answer.decode().splitlines(keepends=True)
    check_cosignature(line, text, witness_vkey)

    # the same checkpoint again from a stale old size: 409 with the size held
    status, kind, answer = await submit(fed, body(0, [], first))
    assert (status, kind, answer) == (409, "text/x.tlog.size", f"{size}\n".encode())

    # the log grows (the witness's own audit entries are not in ES's log: log in to add)
    async with aiohttp.ClientSession() as session:
        pin = aiohttp.Fingerprint(bytes.fromhex(es.fingerprint))
        for _ in range(3):
            await session.post(es.url + "/api/login", json={"username": "x", "password": "y"},
                               ssl=pin)  # fmt: skip
    second = (await es.checkpoint()).note
    new_size = int(second.split("\n")[1])
    assert new_size > size
    proof = await audit.consistency(es.node, size, new_size)
    bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
    status, _, answer = await submit(fed, body(size, bad, second))
    assert status == 422, answer
    status, _, answer = await submit(fed, body(size, proof, second))
    assert status == 200, answer
    check_cosignature(answer.decode(), second[: second.index("\n\n") + 1], witness_vkey)

    # 403: the right origin, signed by a key that is not the log's
    thief = nacl.signing.SigningKey.generate()
    forged = sign(second[: second.index("\n\n") + 1], "exchange/ES-CNA/audit", thief)
    status, _, _ = await submit(fed, body(new_size, [], forged))
    assert status == 403
    # 404: a log nobody configured
    stranger = sign(checkpoint("example.org/unknown", [leaf(b"a")]), "example.org/unknown", thief)
    status, _, _ = await submit(fed, body(0, [], stranger))
    assert status == 404
    # 400: not the protocol's grammar
    for garbage in (b"", b"old 01\n\n" + second.encode(), b"old 1\nxyz\n\n" + second.encode()):
        status, _, _ = await submit(fed, garbage)
        assert status == 400
    status, _, _ = await submit(fed, body(new_size + 1, [], second))  # old above the size
    assert status == 400


async def test_a_c2sp_log_configured_in_node_toml_is_witnessed(fed: Federation) -> None:
    witness_vkey = witness_vkey_in_directory(fed)
    leaves = [leaf(b"entry %d" % i) for i in range(11)]
    first = sign(checkpoint(LOG_ORIGIN, leaves[:4]), LOG_ORIGIN, LOG_KEY)
    status, _, answer = await submit(fed, body(0, [], first))
    assert status == 200, answer
    check_cosignature(answer.decode(), checkpoint(LOG_ORIGIN, leaves[:4]), witness_vkey)
    second = sign(checkpoint(LOG_ORIGIN, leaves), LOG_ORIGIN, LOG_KEY)
    status, _, answer = await submit(fed, body(4, subproof(4, leaves, True), second))
    assert status == 200, answer
    check_cosignature(answer.decode(), checkpoint(LOG_ORIGIN, leaves), witness_vkey)
    # a fork at the same size is refused and changes nothing
    fork = sign(checkpoint(LOG_ORIGIN, [*leaves[:10], leaf(b"x")]), LOG_ORIGIN, LOG_KEY)
    status, _, _ = await submit(fed, body(11, [], fork))
    assert status == 422
    status, kind, answer = await submit(fed, body(0, [], first))
    assert (status, kind, answer) == (409, "text/x.tlog.size", b"11\n")


async def test_the_unauthenticated_endpoint_is_bounded(tmp_path: Path) -> None:
    """Anyone may call POST /add-checkpoint: a body past the limit is not read (413), an
    address over its rate gets 429 with Retry-After, garbage is 400, never a 500."""
    extra = FAST_DELIVERY + "\n[witness]\nsubmissions_per_minute = 1\nsubmission_burst = 4\n"
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], extra_config=extra, users=False)
    await fed.start()
    try:
        status, _, answer = await submit(fed, b"old 0\n\n" + b"x" * 70_000)
        assert status == 413, answer
        for garbage in (b"\xff\xfe\n\n\x00", b"old 0\n\n\xe2\x80\x94 \n"):
            status, _, answer = await submit(fed, garbage)
            assert status == 400, answer
        status, _, _ = await submit(fed, b"old 0\n\n")
        assert status == 400
        member = fed["MA-CNA"]
        pin = aiohttp.Fingerprint(bytes.fromhex(member.fingerprint))
        async with (
            aiohttp.ClientSession() as session,
            session.post(member.url + "/add-checkpoint", data=b"old 0\n\n", ssl=pin) as response,
        ):
            assert response.status == 429 and int(response.headers["Retry-After"]) > 0
        view = member.url + "/v1/witness/checkpoint?origin=exchange/ES-CNA/audit"
        async with (  # the view endpoint takes only a peer's signed call
            aiohttp.ClientSession() as session,
            session.get(view, ssl=pin) as response,
        ):
            assert response.status == 401
    finally:
        await fed.stop()
