"""A storage key protected by a passphrase (Argon2id): the node starts only with the
right passphrase, its contents stay readable, and the key file alone opens nothing."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from exchange.cli import main
from exchange.core.errors import DecryptionFailed
from exchange.core.vault import is_protected, protect_storage_key, unprotect_storage_key
from exchange.ops.keyfiles import PassphraseNeeded, load_storage_key

from ..federation import ApiClient, Federation

FAST = {"opslimit": 1, "memlimit": 8192}


def test_a_raw_key_that_looks_like_json_is_still_raw() -> None:
    # 32 random bytes begin with "{" once in 256 keys: they are not a protected file
    assert not is_protected(b"{" + bytes(31))
    assert not is_protected(b" \n{" + bytes(29))
    assert is_protected(protect_storage_key(bytes(32), b"correct horse battery staple", **FAST))


def test_protect_round_trip_and_wrong_passphrase() -> None:
    key = bytes(range(32))
    doc = protect_storage_key(key, b"correct horse battery staple", **FAST)
    assert is_protected(doc) and key not in doc
    assert json.loads(doc)["kdf"] == "argon2id"
    assert unprotect_storage_key(doc, b"correct horse battery staple") == key
    with pytest.raises(DecryptionFailed):
        unprotect_storage_key(doc, b"wrong horse battery staple")


async def test_node_needs_the_passphrase(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    es = fed["ES-CNA"]
    await fed.start("ES-CNA")
    investigator = await ApiClient(es).login("investigator")
    status, created = await investigator.call(
        "POST", "/api/requests",
        {"to": "MA-CNA", "kind": "information_request", "urgency": "urgent",
         "subject": "Before", "body": "Written before the key was protected", "language": "en"},
    )  # fmt: skip
    assert status == 201
    await investigator.close()
    await fed.stop()

    secret = tmp_path / "passphrase"
    secret.write_text("a long storage passphrase\n")
    keys = es.data / "keys"
    assert main(["keys", "protect", "--data", str(es.data), "--passphrase-file", str(secret)]) == 0
    assert is_protected((keys / "storage.key").read_bytes())
    with pytest.raises(PassphraseNeeded):
        load_storage_key(keys)
    with pytest.raises(DecryptionFailed):
        load_storage_key(keys, b"not the passphrase at all")
    # protecting twice is refused, the file is left as it is
    assert main(["keys", "protect", "--data", str(es.data), "--passphrase-file", str(secret)]) == 2

    # the node refuses to start without it, with a clear message
    command = [sys.executable, "-m", "exchange", "node", "--data", str(es.data)]
    run = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2 and "storage key is protected" in run.stderr

    # with it, everything written before is readable
    from exchange.node.runner import start_node

    running = await start_node(es.config, passphrase=b"a long storage passphrase")
    es.running = running
    try:
        investigator = await ApiClient(es).login("investigator")
        status, view = await investigator.call("GET", f"/api/requests/{created['id']}")
        assert status == 200
        assert view["messages"][0]["content"]["body"] == "Written before the key was protected"
        await investigator.close()
    finally:
        await fed.stop()
