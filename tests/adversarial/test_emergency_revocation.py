"""The key thief before the next directory (issue 14, rest of break 3): ES-CNA's
signing key is stolen; ES-CNA's operator signs a revocation statement with the
authority's offline revocation key and sends it to every peer (``POST
/v1/revocations``). From then on every peer refuses what the stolen key signs dated
from ``revoked_at`` (``key_revoked``), with no new directory; a statement forged
with the stolen signing key is refused (``bad_signature``) and nothing is stored;
the revocation survives a restart and a directory refresh."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from exchange.cli import main
from exchange.core.audit_entry import decode_entry
from exchange.core.keys import SigningKeyPair
from exchange.core.peer_auth import HEADER, sign_call
from exchange.core.revocation import sign_statement, verify_statement
from exchange.ops.keyfiles import load_keyring, load_revocation_key
from exchange.ops.provision import add_user, rotate_keys
from exchange.workers.revocations import send_revocation

from ..federation import PASSWORD, ApiClient, Federation
from ..node.test_peer_rejections import envelope, snapshot

PEERS = ("MA-CNA", "SN-CNA")


async def thief_call(
    fed: Federation, recipient: str, path: str, body: bytes, key: SigningKeyPair
) -> tuple[int, Any]:
    """A call to ``recipient`` as ES-CNA, signed with ``key``."""
    auth = sign_call(
        method="POST", path=path, sender="ES-CNA", recipient=recipient, body=body, key=key,
        now=fed.clock.now(),
    )  # fmt: skip
    return await post(fed, recipient, path, body, {HEADER: auth})


async def post(
    fed: Federation, recipient: str, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    member = fed[recipient]
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            member.url + path,
            data=body,
            headers=headers or {},
            ssl=aiohttp.Fingerprint(bytes.fromhex(member.fingerprint)),
        ) as response,
    ):
        return response.status, json.loads(await response.read())


def statement(fed: Federation, key_id: str, signer: SigningKeyPair, **over: Any) -> bytes:
    now = fed.clock.now()
    fields: dict[str, Any] = {
        "authority": "ES-CNA",
        "key_id": key_id,
        "revoked_at": now - timedelta(minutes=1),
        "issued_at": now,
    } | over
    return sign_statement(**fields, revocation_key=signer)


async def held_revocations(fed: Federation, authority_id: str) -> int:
    sql = "SELECT COUNT(*) FROM revocations"
    return int((await fed[authority_id].node.db.run(lambda c: c.execute(sql).fetchone()))[0])


async def actions(fed: Federation, authority_id: str, action: str) -> list[dict[str, Any]]:
    rows = await fed[authority_id].node.db.run(
        lambda c: c.execute("SELECT entry FROM audit_entries ORDER BY idx").fetchall()
    )
    return [e for e in (decode_entry(bytes(r[0])) for r in rows) if e["action"] == action]


async def refused_everywhere(fed: Federation, stolen: SigningKeyPair, code: str) -> None:
    for peer in PEERS:
        before = await snapshot(fed, peer)
        body = envelope(fed, recipient=peer, key=stolen)
        status, answer = await thief_call(fed, peer, "/v1/envelopes", body, stolen)
        assert (status, answer["error"]["code"]) == (403, code), (peer, answer)
        assert await snapshot(fed, peer) == before


async def test_a_revocation_statement_stops_a_stolen_key_at_every_peer_at_once(
    tmp_path: Path,
) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", *PEERS], users=False)
    add_user(fed["MA-CNA"].data, username="admin", password=PASSWORD, role="admin")
    await fed.start()
    try:
        es = fed["ES-CNA"]
        stolen = load_keyring(es.data / "keys").current_signing(fed.clock.now())
        revocation_key = load_revocation_key(es.data / "keys" / "revocation.key")
        # the thief's envelope gets through today
        status, _ = await thief_call(
            fed, "MA-CNA", "/v1/envelopes", envelope(fed, key=stolen), stolen
        )
        assert status == 200

        # a statement forged with the stolen signing key is refused, nothing stored
        forged = statement(fed, stolen.public.key_id, stolen)
        for peer in PEERS:
            before = await snapshot(fed, peer)
            status, answer = await post(fed, peer, "/v1/revocations", forged)
            assert (status, answer["error"]["code"]) == (403, "bad_signature")
            assert await snapshot(fed, peer) == before
            assert await held_revocations(fed, peer) == 0

        # the real one, signed offline and sent by ES-CNA's operator
        real = statement(fed, stolen.public.key_id, revocation_key)
        sent, outcomes = await send_revocation(es.config, real, clock=fed.clock)
        assert sent.key_id == stolen.public.key_id
        assert outcomes == dict.fromkeys(PEERS, "ok")
        # no directory was published since: every peer refuses the stolen key at once
        assert fed["MA-CNA"].node.directory.held_serial == fed.serial
        await refused_everywhere(fed, stolen, "key_revoked")
        # ... also as the signer of a peer call carrying nothing
        status, answer = await thief_call(fed, "SN-CNA", "/v1/transactions", b"{}", stolen)
        assert (status, answer["error"]["code"]) == (403, "key_revoked")

        # idempotent: sending it again changes nothing
        status, answer = await post(fed, "MA-CNA", "/v1/revocations", real)
        assert (status, answer["recorded"]) == (200, False)
        assert await held_revocations(fed, "MA-CNA") == 1
        assert len(await actions(fed, "MA-CNA", "revocation_received")) == 1
        assert [e["peer"] for e in await actions(fed, "ES-CNA", "revocation_sent")] == sorted(PEERS)
        # MA-CNA's admin sees the revocation it received
        admin = await ApiClient(fed["MA-CNA"]).login("admin")
        page = await admin.session.get(fed["MA-CNA"].url + "/admin", ssl=admin.ssl)
        html = await page.text()
        await admin.close()
        assert 'id="revocations"' in html and stolen.public.key_id in html

        # survives a restart and a directory refresh that does not carry it yet
        await fed.stop("MA-CNA")
        await fed.start("MA-CNA")
        document = fed.publish()
        for peer in PEERS:
            assert await fed[peer].node.directory.update(document)
        await refused_everywhere(fed, stolen, "key_revoked")
    finally:
        await fed.stop()


async def test_statements_for_unknown_keys_or_authorities_are_refused(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], users=False)
    await fed.start()
    try:
        es = fed["ES-CNA"]
        revocation_key = load_revocation_key(es.data / "keys" / "revocation.key")
        other = SigningKeyPair.generate(fed.clock.now(), timedelta(days=1))
        before = await snapshot(fed, "MA-CNA")
        cases = [
            (statement(fed, other.public.key_id, revocation_key), 404, "unknown_key"),
            (
                statement(fed, other.public.key_id, revocation_key, authority="FR-CNA"),
                403,
                "unknown_sender",
            ),
            (statement(fed, other.public.key_id, revocation_key) + b" ", 400, "malformed"),
            (b"{" * 5000, 413, "too_large"),
        ]
        for body, expected_status, code in cases:
            status, answer = await post(fed, "MA-CNA", "/v1/revocations", body)
            assert (status, answer["error"]["code"]) == (expected_status, code), answer
        assert await snapshot(fed, "MA-CNA") == before
        assert await held_revocations(fed, "MA-CNA") == 0
    finally:
        await fed.stop()


def test_keys_revoke_writes_a_statement_peers_accept(tmp_path: Path) -> None:
    """``exchange keys revoke ... --statement FILE --revocation-key PATH`` (after a
    rotation, as OPERATIONS says): the statement verifies against the directory."""
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], users=False)
    data = fed["ES-CNA"].data
    old = load_keyring(data / "keys").current_signing(fed.clock.now()).public.key_id
    rotate_keys(data)
    out = tmp_path / "revocation.json"
    argv = ["keys", "revoke", old, "--data", str(data), "--statement", str(out)]
    assert main(argv) == 2  # --statement without --revocation-key: nothing revoked
    assert load_keyring(data / "keys").signing[0].public.key_id == old
    key = str(data / "keys" / "revocation.key")
    assert main([*argv, "--revocation-key", key]) == 0
    found = verify_statement(out.read_bytes(), directory=fed.directory(), now=fed.clock.now())
    assert (found.authority, found.key_id) == ("ES-CNA", old)
    assert (data / "keys" / "revocation.key").stat().st_mode & 0o777 == 0o600
