"""The auditor's verifier names the first bad entry or checkpoint, whatever was done."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from exchange.core.audit_verify import Cosig, verify_log
from exchange.core.keys import SigningKeyPair
from exchange.core.merkle import MemoryHashStore, root
from exchange.core.note import Verifier, cosign, parse_note
from exchange.core.witness import origin_for, sign_checkpoint, witness_name_for

NOW = datetime(2026, 11, 1, tzinfo=UTC)
KEY = SigningKeyPair.generate(NOW, timedelta(days=1))
WITNESS = SigningKeyPair.generate(NOW, timedelta(days=1))
LOG_KEY = Verifier.ed25519(origin_for("ES-CNA"), KEY.public.public)
WITNESSES = {witness_name_for("MA-CNA"): WITNESS.public.public}

Rows = list[tuple[int, bytes, bytes | None]]


def _log(n: int = 50, sizes: tuple[int, ...] = (10, 25, 50)) -> tuple[Rows, list[tuple[int, str]]]:
    store = MemoryHashStore()
    rows: Rows = []
    for i in range(n):
        entry = b'{"action":"request_created","i":%d}' % i
        store.append(entry)
        rows.append((i, entry, hashlib.sha256(b"\x00" + entry).digest()))
    notes = [(s, sign_checkpoint("ES-CNA", s, root(store, s), KEY)) for s in sizes]
    return rows, notes


def _verify(rows: Rows, notes: list[tuple[int, str]], cosigs: list[Cosig] = ()):  # type: ignore[assignment,no-untyped-def]
    return verify_log(rows, notes, log_key=LOG_KEY, witness_keys=WITNESSES, cosignatures=cosigs)


def test_an_intact_log_verifies_with_progress() -> None:
    rows, notes = _log(250_001 // 1000)
    seen: list[int] = []
    report = verify_log(rows, notes, log_key=LOG_KEY, witness_keys={}, progress=seen.append)
    assert report.ok and report.entries == 250 and report.checkpoints == 3


def _change(rows: Rows, notes: list[tuple[int, str]]) -> None:
    i, entry, leaf = rows[17]
    rows[17] = (i, entry.replace(b"17", b"71"), leaf)


def _change_and_rehash(rows: Rows, notes: list[tuple[int, str]]) -> None:
    i, entry, _ = rows[17]
    new = entry.replace(b"17", b"71")
    rows[17] = (i, new, hashlib.sha256(b"\x00" + new).digest())


def _delete(rows: Rows, notes: list[tuple[int, str]]) -> None:
    del rows[30]


def _delete_and_renumber(rows: Rows, notes: list[tuple[int, str]]) -> None:
    # the stored leaf hashes are keyed by index: they stay where they were
    leaves = [leaf for _, _, leaf in rows]
    del rows[30]
    rows[:] = [(n, e, leaves[n]) for n, (_, e, _) in enumerate(rows)]


def _delete_renumber_and_rehash(rows: Rows, notes: list[tuple[int, str]]) -> None:
    del rows[30]
    rows[:] = [(n, e, hashlib.sha256(b"\x00" + e).digest()) for n, (_, e, _) in enumerate(rows)]


def _insert(rows: Rows, notes: list[tuple[int, str]]) -> None:
    rows.insert(12, rows[12])


def _reorder(rows: Rows, notes: list[tuple[int, str]]) -> None:
    (a, ea, la), (b, eb, lb) = rows[40], rows[41]
    rows[40], rows[41] = (a, eb, lb), (b, ea, la)


def _truncate(rows: Rows, notes: list[tuple[int, str]]) -> None:
    del rows[40:]


def _forge_checkpoint(rows: Rows, notes: list[tuple[int, str]]) -> None:
    size, note = notes[1]
    notes[1] = (size, note.replace("\n25\n", "\n25\n", 1)[:-10] + "AAAAAAAAA=\n")


CASES: list[tuple[Callable[[Rows, list[tuple[int, str]]], None], str]] = [
    (_change, "entry 17 was changed"),
    (_change_and_rehash, "checkpoint at size 25 does not match the entries"),
    (_delete, "entry 30 is missing (deleted)"),
    (_delete_and_renumber, "entry 30 was changed"),
    (_delete_renumber_and_rehash, "log truncated: checkpoint at size 50 but the log holds 49"),
    (_insert, "entry 13 is duplicated or out of order"),
    (_reorder, "checkpoint at size 50 does not match"),
    (_truncate, "log truncated: checkpoint at size 50 but the log holds 40 entries"),
    (_forge_checkpoint, "checkpoint 25:"),
]


@pytest.mark.parametrize(("tamper", "first_problem"), CASES)
def test_tampering_is_named(
    tamper: Callable[[Rows, list[tuple[int, str]]], None], first_problem: str
) -> None:
    rows, notes = _log()
    tamper(rows, notes)
    report = _verify(rows, notes)
    assert not report.ok
    assert first_problem in report.problems[0].message, report.problems


def test_cosignatures_are_checked() -> None:
    rows, notes = _log()
    text = parse_note(notes[2][1]).text
    good = cosign(text, witness_name_for("MA-CNA"), WITNESS, 1_700_000_000)
    bad = cosign(text, witness_name_for("MA-CNA"), KEY, 1_700_000_000)  # wrong key
    stranger = cosign(text, witness_name_for("PT-CNA"), KEY, 1_700_000_000)
    report = _verify(rows, notes, [Cosig(50, witness_name_for("MA-CNA"), good),
                                   Cosig(50, witness_name_for("PT-CNA"), stranger)])  # fmt: skip
    assert report.ok and report.cosignatures == 1 and report.unknown_witnesses == 1
    report = _verify(rows, notes, [Cosig(50, witness_name_for("MA-CNA"), bad)])
    assert not report.ok and "cosignature" in report.problems[0].message
    report = _verify(rows, notes, [Cosig(33, witness_name_for("MA-CNA"), good)])
    assert "no valid checkpoint" in report.problems[0].message
