"""Replacing a node's TLS certificate without an outage: the next certificate is
announced in the directory before it is served, peers pin both, and a certificate
that was never announced is refused."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import ssl
from pathlib import Path
from typing import Any

import pytest

from exchange.core.audit_entry import decode_entry
from exchange.core.errors import InvalidRequest
from exchange.node import runner
from exchange.ops.provision import activate_tls_rotation, prepare_tls_rotation, read_public_info
from exchange.store import audit

from ..federation import ApiClient, Federation, wait_until

REQUEST = {
    "to": "MA-CNA",
    "kind": "information_request",
    "urgency": "urgent",
    "subject": "Vessel owner",
    "body": "Who owns the vessel?",
    "language": "en",
}


async def scalar(fed: Federation, authority_id: str, sql: str) -> Any:
    return await fed[authority_id].node.db.run(lambda c: c.execute(sql).fetchone()[0])


async def delivered(fed: Federation, n: int) -> bool:
    sql = "SELECT COUNT(*) FROM requests WHERE delivered_at IS NOT NULL"
    return bool(await scalar(fed, "ES-CNA", sql) == n)


def served_fingerprint(url: str) -> str:
    """SHA-256 of the certificate a new TLS connection to the node is given."""
    host, port = url.removeprefix("https://").rstrip("/").rsplit(":", 1)
    pem = ssl.get_server_certificate((host, int(port)))
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


async def restart(fed: Federation, authority_id: str) -> None:
    await fed.stop(authority_id)
    await fed.start(authority_id)


async def test_rotation_announced_first_keeps_delivering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "CERT_CHECK_SECONDS", 0.05)
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start()
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    ma = fed["MA-CNA"]
    try:
        old = ma.fingerprint
        upcoming = prepare_tls_rotation(ma.data)
        assert read_public_info(ma.data).tls_pins == (old, upcoming)
        assert ma.fingerprint == old  # still served until activated
        assert await asyncio.to_thread(served_fingerprint, ma.url) == old
        with pytest.raises(InvalidRequest):
            prepare_tls_rotation(ma.data)  # one rotation at a time
        await fed["ES-CNA"].node.directory.update(fed.publish())

        activate_tls_rotation(ma.data)  # no restart: the running node picks it up
        assert ma.fingerprint == upcoming

        async def serves_new() -> bool:
            return await asyncio.to_thread(served_fingerprint, ma.url) == upcoming

        await wait_until(serves_new, what="the new certificate served")
        assert (await es.call("POST", "/api/requests", REQUEST))[0] == 201
        await wait_until(lambda: delivered(fed, 1), what="delivered to the new certificate")

        # A certificate that does not match the key is refused: the current one stays.
        keys = ma.data / "keys"
        good = (keys / "tls.crt").read_bytes()
        shutil.copy(fed["ES-CNA"].data / "keys" / "tls.crt", keys / "tls.crt")
        assert ma.running is not None and ma.running.reload_certificate() is False
        assert await asyncio.to_thread(served_fingerprint, ma.url) == upcoming
        (keys / "tls.crt").write_bytes(good)

        await fed["ES-CNA"].node.directory.update(fed.publish())  # the old one is dropped
        entry = fed["ES-CNA"].node.directory.require().get("MA-CNA")
        assert entry is not None and entry.tls_pins == (upcoming,)
        assert (await es.call("POST", "/api/requests", REQUEST))[0] == 201
        await wait_until(lambda: delivered(fed, 2), what="delivered after the directory update")

        entries = await ma.node.db.run(lambda c: audit.entries(c, 0, 1000))
        rotated = [decode_entry(e) for _, e in entries]
        stages = [(e["tls"], e["tls_fingerprint"]) for e in rotated if e.get("tls")]
        assert stages == [("prepared", upcoming), ("activated", upcoming)]
        assert not (ma.data / "keys" / "tls.next.key").exists()
    finally:
        await es.close()
        await fed.stop()


async def test_an_unannounced_certificate_is_refused(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start()
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    ma = fed["MA-CNA"]
    try:
        # MA switches certificates without announcing the next one first
        prepare_tls_rotation(ma.data)
        activate_tls_rotation(ma.data)
        await restart(fed, "MA-CNA")
        assert (await es.call("POST", "/api/requests", REQUEST))[0] == 201
        await wait_until(
            lambda: scalar(fed, "ES-CNA", "SELECT last_error FROM outbox"),
            what="a failed attempt",
        )
        assert await scalar(fed, "ES-CNA", "SELECT last_error FROM outbox") == (
            "ServerFingerprintMismatch"
        )
        assert await scalar(fed, "MA-CNA", "SELECT COUNT(*) FROM requests") == 0
        # once the directory names the certificate, the waiting request goes through
        await fed["ES-CNA"].node.directory.update(fed.publish())
        await wait_until(lambda: delivered(fed, 1), what="delivered after the directory update")
        assert await scalar(fed, "MA-CNA", "SELECT COUNT(*) FROM requests") == 1
    finally:
        await es.close()
        await fed.stop()
