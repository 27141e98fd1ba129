"""A hostile operator (or whoever holds the operator key) publishes an entry whose
signing key the authority never held: a key beside the authority's own, an entry
self-signed by a key it does not list, no self-signature, or the authority's
self-signature over other contents. The operator tool refuses such an entry, and a
node refuses a document containing it even when the real operator key signed it;
an honest rotation re-signs the entry and is accepted."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from exchange.cli import main
from exchange.core.canonical import b64e, canonical_json, format_time
from exchange.core.directory import CTX, VERSION, format_operator_key
from exchange.core.errors import DirectoryRejected
from exchange.core.keys import SigningKeyPair
from exchange.ops.provision import PUBLIC_INFO, rotate_keys

from ..federation import Federation

ENTRY_CTX = "exchange/directory-entry/v1"
# a key the operator holds and MA-CNA never did
ATTACKER = SigningKeyPair.generate(datetime(2020, 1, 1, tzinfo=UTC), timedelta(days=36500))

Entry = dict[str, Any]


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], users=False)
    await fed.start("ES-CNA")
    yield fed
    await fed.stop()


def entry_of(fed: Federation, authority_id: str) -> Entry:
    entry: Entry = json.loads((fed[authority_id].data / PUBLIC_INFO).read_text())
    return entry


def self_sign(entry: Entry, pair: SigningKeyPair) -> Entry:
    unsigned = {k: v for k, v in entry.items() if k != "self_signature"}
    sig = pair.sign(canonical_json({"ctx": ENTRY_CTX, "entry": unsigned}))
    return unsigned | {"self_signature": {"key_id": pair.public.key_id, "sig": b64e(sig)}}


def operator_signed(fed: Federation, entries: list[Entry]) -> bytes:
    """What the real operator key signs when its holder bypasses the operator tool."""
    now = fed.clock.now()
    payload = {
        "v": VERSION,
        "serial": fed.serial + 1,
        "issued_at": format_time(now),
        "expires_at": format_time(now + timedelta(days=30)),
        "authorities": sorted(entries, key=lambda e: str(e["authority_id"])),
    }
    sig = fed.operator.sign(canonical_json({"ctx": CTX, "directory": payload}))
    key = format_operator_key(fed.operator.public.public)
    return canonical_json({"directory": payload, "signatures": [{"key": key, "sig": b64e(sig)}]})


def key_beside_its_own(ma: Entry) -> Entry:
    keys = [*ma["signing_keys"], ATTACKER.public.to_json()]
    return self_sign(ma | {"signing_keys": keys}, ATTACKER)


def signed_by_a_key_not_listed(ma: Entry) -> Entry:
    return self_sign(ma, ATTACKER)


def replaced_key_signed_by_the_old_one(ma: Entry) -> Entry:
    return ma | {"signing_keys": [ATTACKER.public.to_json()]}


def without_self_signature(ma: Entry) -> Entry:
    return {k: v for k, v in ma.items() if k != "self_signature"}


def over_other_contents(ma: Entry) -> Entry:
    return ma | {"node_url": "https://ma-cna.attacker.example:8441"}


def copied_key_for_a_fake_authority(ma: Entry) -> Entry:
    return ma | {"authority_id": "MA-FAKE", "name": "Fake authority"}


HOSTILE: list[Callable[[Entry], Entry]] = [
    key_beside_its_own,
    signed_by_a_key_not_listed,
    replaced_key_signed_by_the_old_one,
    without_self_signature,
    over_other_contents,
    copied_key_for_a_fake_authority,
]


@pytest.mark.parametrize("forge", HOSTILE, ids=lambda f: f.__name__)
async def test_a_node_refuses_an_entry_the_authority_did_not_sign(
    fed: Federation, forge: Callable[[Entry], Entry]
) -> None:
    holder = fed["ES-CNA"].node.directory
    held = holder.require()
    ma = entry_of(fed, "MA-CNA")
    forged = forge(ma)
    others = [ma] if forged["authority_id"] != "MA-CNA" else []
    document = operator_signed(fed, [entry_of(fed, "ES-CNA"), *others, forged])

    with pytest.raises(DirectoryRejected) as caught:
        await holder.update(document)
    assert f"entry {forged['authority_id']}" in caught.value.message
    assert "self-sign" in caught.value.message
    assert holder.require() is held  # nothing installed
    assert holder.held_serial == held.serial


@pytest.mark.parametrize("forge", HOSTILE, ids=lambda f: f.__name__)
def test_the_operator_tool_refuses_it_and_writes_nothing(
    fed: Federation, forge: Callable[[Entry], Entry], capsys: pytest.CaptureFixture[str]
) -> None:
    root = fed.root
    forged = root / "forged.json"
    forged.write_text(json.dumps(forge(entry_of(fed, "MA-CNA"))))
    draft = root / "draft.json"
    honest = str(fed["ES-CNA"].data / PUBLIC_INFO)

    assert main(["directory", "add", "--draft", str(draft), honest, str(forged)]) == 2
    err = capsys.readouterr().err
    assert "self-sign" in err and "nothing written" in err
    assert not draft.exists()

    # the operator's own draft edited by hand: `sign` refuses it before taking a serial
    assert main(["directory", "add", "--draft", str(draft), honest]) == 0
    payload = json.loads(draft.read_text())
    payload["authorities"].append(forge(entry_of(fed, "MA-CNA")))
    draft.write_text(json.dumps(payload))
    key, out = root / "operator.json", root / "signed.json"
    assert main(["directory", "operator-key", "--out", str(key)]) == 0
    capsys.readouterr()
    assert (
        main(["directory", "sign", "--draft", str(draft), "--key", str(key), "--out", str(out)])
        == 2
    )
    assert "self-sign" in capsys.readouterr().err
    assert not out.exists()
    assert json.loads(draft.read_text()) == payload
    assert (
        main(["directory", "sign", "--draft", str(draft), "--key", str(key), "--out", str(out)])
        == 2
    )
    assert sorted(p.name for p in root.iterdir() if p.name.startswith("operator")) == [
        "operator.json"
    ]  # no serial recorded for the key


async def test_an_honest_rotation_re_signs_the_entry_and_is_accepted(fed: Federation) -> None:
    holder = fed["ES-CNA"].node.directory
    before = entry_of(fed, "MA-CNA")
    ring = rotate_keys(fed["MA-CNA"].data, clock=fed.clock)
    after = entry_of(fed, "MA-CNA")
    assert after["self_signature"]["key_id"] == ring.signing[-1].public.key_id
    assert after["self_signature"] != before["self_signature"]

    assert await holder.update(fed.publish())
    entry = holder.require().get("MA-CNA")
    assert entry is not None
    assert entry.signing_key(ring.signing[-1].public.key_id) is not None
    assert main(["directory", "add", "--draft", str(fed.root / "d.json"),
                 str(fed["MA-CNA"].data / PUBLIC_INFO)]) == 0  # fmt: skip
