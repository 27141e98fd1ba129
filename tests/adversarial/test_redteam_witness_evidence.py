"""What a witness's word is worth, played by those who would forge it (issue 15 red team).

* An insider who cut the log's tail hands ``exchange audit verify`` a views file of his
  own in which every witness "holds none" (or is unreachable): nothing in such an entry
  is signed by a witness, so a file whose views carry no witness's cosignature is a
  failure, never a pass.
* A peer witness re-spells an alert it already sent (same signature, other bytes): a
  statement has one spelling, so it is refused as malformed and not kept, audited and
  counted a second time. Nor is the same accusation (issuer, log, kind and the two
  notes) kept again when re-signed with another time or detail.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from exchange.core.canonical import format_time
from exchange.core.keys import SigningKeyPair
from exchange.core.merkle import root
from exchange.core.note import add_signatures, cosign, parse_note
from exchange.core.witness import sign_checkpoint
from exchange.ops.keyfiles import load_or_create_audit_key
from exchange.store import audit

from ..federation import Federation, peer_post
from ..storage import node_database
from .test_witness_alert_statements import PATH, _received, _statement, fed3
from .test_witnessed_verify import fed, messages, truncate, verify, witnessed

__all__ = ["fed", "fed3"]  # the fixtures, used by name


def truncated_root(data: Path, size: int) -> bytes:
    """The root of the log's first ``size`` entries, as the insider re-signs it."""
    db = node_database(data)
    try:
        return db.run_sync(lambda c: root(audit.tree(c), size))
    finally:
        db.close()


def _views_file(folder: Path, fed: Federation, *entries: tuple[str, str | None]) -> Path:
    """A ``--witness-views`` file as an insider writes it: (witness, error) entries with
    no note (None: "holds none")."""
    at = format_time(fed.clock.now())
    views = [
        {"witness": witness, "obtained_at": at, "note": None, "error": error}
        for witness, error in entries
    ]
    path = folder / "forged-views.json"
    path.write_text(json.dumps({"witness_views": views}))
    return path


async def test_a_views_file_with_no_cosigned_view_does_not_pass_a_truncated_log(
    fed: Federation, capsys: pytest.CaptureFixture[str]
) -> None:
    size = await witnessed(fed)
    es = fed["ES-CNA"]
    await fed.stop()
    truncate(es.data, size - 3)
    forged = [
        [("MA-CNA", None), ("SN-CNA", None)],  # both witnesses "hold none"
        [("MA-CNA", None), ("SN-CNA", "ClientConnectorError")],
        [("XX-CNA", None)],  # a witness the directory does not even list
    ]
    for entries in forged:
        path = _views_file(es.data.parent, fed, *entries)
        code, report = await verify(capsys, es.data, "--witness-views", str(path))
        assert code == 1, (entries, report)
        assert "carries a witness's cosignature" in messages(report)


async def test_a_respelled_alert_statement_is_refused_and_kept_once(fed3: Federation) -> None:
    statement = _statement(fed3)
    status, body = await peer_post(fed3, "SN-CNA", "ES-CNA", PATH, statement.to_bytes())
    assert status == 200 and body["recorded"] is True, body
    document = json.loads(statement.to_bytes())
    respellings = [
        json.dumps(document, indent=1).encode(),  # whitespace
        json.dumps(dict(reversed(list(document.items())))).encode(),  # key order
        statement.to_bytes() + b"\n",
    ]
    for respelled in respellings:
        status, body = await peer_post(fed3, "SN-CNA", "ES-CNA", PATH, respelled)
        assert (status, body["error"]["code"]) == (400, "malformed"), body
    assert await _received(fed3, "ES-CNA") == [("SN-CNA", "MA-CNA", "shrunk")]
    assert await _audited_receptions(fed3) == 1


async def _audited_receptions(fed: Federation) -> int:
    return int(
        await fed["ES-CNA"].node.db.run(
            lambda c: c.execute(
                "SELECT COUNT(*) FROM audit_entries WHERE CAST(entry AS TEXT)"
                " LIKE '%witness_alert_received%'"
            ).fetchone()[0]
        )
    )


async def test_the_same_accusation_signed_again_is_kept_once(fed3: Federation) -> None:
    """A peer witness holding two notes of a log re-signs the same alert with a new time
    and new words, as often as it likes: kept, audited and counted once."""
    first = _statement(fed3)
    status, body = await peer_post(fed3, "SN-CNA", "ES-CNA", PATH, first.to_bytes())
    assert status == 200 and body["recorded"] is True, body
    for n in range(1, 4):
        again = _statement(
            fed3,
            previous=first.previous,
            presented=first.presented,
            detail=f"again {n}",
            issued_at=first.issued_at - timedelta(seconds=n),
        )
        status, body = await peer_post(fed3, "SN-CNA", "ES-CNA", PATH, again.to_bytes())
        assert status == 200 and body["recorded"] is False, body
    assert await _received(fed3, "ES-CNA") == [("SN-CNA", "MA-CNA", "shrunk")]
    assert await _audited_receptions(fed3) == 1
    # other evidence is another accusation
    other = _statement(fed3)
    status, body = await peer_post(fed3, "SN-CNA", "ES-CNA", PATH, other.to_bytes())
    assert status == 200 and body["recorded"] is True, body


async def test_forged_witness_views_do_not_pass_a_truncated_log(
    fed: Federation, capsys: pytest.CaptureFixture[str]
) -> None:
    """The insider with keys/ too re-signs a checkpoint at the cut and dresses it up as a
    witness's view: one the directory gives no witness key for, one cosigned with a key
    of its own under the witness's name, one of another log cosigned by the real
    witness, one that only the log signed. Each is a problem naming the witness."""
    size = await witnessed(fed)
    es = fed["ES-CNA"]
    await fed.stop()
    truncate(es.data, size - 3)
    cut = truncated_root(es.data, size - 3)
    es_log = load_or_create_audit_key(es.data / "keys")
    sn_witness = load_or_create_audit_key(fed["SN-CNA"].data / "keys")
    ma_log = load_or_create_audit_key(fed["MA-CNA"].data / "keys")
    stranger = SigningKeyPair.generate(fed.clock.now() - timedelta(hours=1), timedelta(days=1))
    at = int(fed.clock.now().timestamp())

    def cosigned(note: str, witness: str, key: SigningKeyPair) -> str:
        return add_signatures(note, [cosign(parse_note(note).text, witness, key, at)])

    resigned = sign_checkpoint("ES-CNA", size - 3, cut, es_log)
    other_log = sign_checkpoint("MA-CNA", size - 3, cut, ma_log)
    forged = [
        ("XX-CNA", cosigned(resigned, "exchange/XX-CNA/witness", stranger),
         "XX-CNA publishes no witness key in the directory"),
        ("SN-CNA", cosigned(resigned, "exchange/SN-CNA/witness", stranger),
         "the view served by witness SN-CNA"),
        ("SN-CNA", cosigned(other_log, "exchange/SN-CNA/witness", sn_witness),
         "the view served by witness SN-CNA"),
        ("MA-CNA", resigned, "it carries no cosignature by exchange/MA-CNA/witness"),
    ]  # fmt: skip
    for witness, note, problem in forged:
        view = {"witness": witness, "obtained_at": "2026-12-02T00:00:00Z", "note": note,
                "error": None}  # fmt: skip
        path = es.data.parent / "forged-views.json"
        path.write_text(json.dumps({"witness_views": [view]}))
        code, report = await verify(capsys, es.data, "--witness-views", str(path))
        assert code == 1 and problem in messages(report), (witness, report)
