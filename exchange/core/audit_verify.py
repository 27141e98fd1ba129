"""The auditor's check of a whole audit log, trusting none of the node's code
or derived data: only entry bytes, signed checkpoints and published keys.

It recomputes the RFC 9162 tree from the entries in order and checks that

* entry indexes run 0, 1, 2, ... with no gap or duplicate (deleted/inserted);
* each entry's leaf hash equals the one the node stored when it appended it
  (names the exact entry that was changed, when the node's hashes were not
  rewritten too);
* every checkpoint is signed by the log's key and its root equals the
  recomputed root at its size; consecutive checkpoints are thereby
  consistent with each other and with the tree;
* no checkpoint is larger than the log (truncation);
* every collected cosignature verifies with the witness's published key;
* the entries reproduce every witness's view (the root it cosigned at its size) and
  reach its size: the node's own checkpoint rows are only a cache, the witnesses'
  views are the reference (``core.witness_views``).

Problems are reported in log order; the first is the one to act on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from itertools import islice

from .errors import ExchangeError
from .merkle import TreeBuilder
from .note import Verifier, parse_checkpoint, parse_note, verify_cosignature, verify_note
from .witness_views import WitnessView

CHUNK = 65_536


@dataclass(frozen=True)
class Problem:
    kind: str  # entry | checkpoint | cosignature | truncated | witness | behind
    # (behind: a witness cosigned a larger log than the one checked)
    index: int | None
    message: str


@dataclass
class Report:
    entries: int = 0
    checkpoints: int = 0
    cosignatures: int = 0
    unknown_witnesses: int = 0
    witness_views: int = 0  # witnesses' views the entries were checked against
    root: str = ""
    problems: list[Problem] = field(default_factory=list)
    # what the check against the witnesses found besides problems (unreachable
    # witnesses, witnesses holding no view, a check not done): reported, not failures
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "checkpoints": self.checkpoints,
            "cosignatures": self.cosignatures,
            "unknown_witnesses": self.unknown_witnesses,
            "witness_views": self.witness_views,
            "root": self.root,
            "problems": [p.__dict__ for p in self.problems],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Cosig:
    size: int
    witness: str
    line: str


def verify_log(
    entries: Iterable[tuple[int, bytes, bytes | None]],
    checkpoints: Iterable[tuple[int, str]],
    *,
    log_key: Verifier,
    witness_keys: dict[str, bytes],
    cosignatures: Iterable[Cosig] = (),
    progress: Callable[[int], None] | None = None,
    views: Iterable[WitnessView] = (),
) -> Report:
    """``entries`` are ``(index, entry bytes, stored leaf hash or None)`` in index order;
    ``views`` the witnesses' verified views, which the entries must reproduce."""
    report = Report()
    texts: dict[int, str] = {}
    pending = sorted(checkpoints)
    position = 0
    seen = _Views(report, sorted(views, key=lambda v: v.size))
    tree = TreeBuilder()
    rows = iter(entries)
    while position < len(pending) and pending[position][0] == 0:
        _check_checkpoint(report, pending[position], tree, log_key, texts)
        position += 1
    seen.check(tree)
    while chunk := list(islice(rows, CHUNK)):
        expected = tree.size
        gap = _first_gap(chunk, expected)
        if gap is not None:
            index, what = gap
            report.problems.append(Problem("entry", index, f"entry {index} is {what}"))
            chunk = chunk[: index - expected]
        leaves = [sha256(b"\x00" + entry).digest() for _, entry, _ in chunk]
        report.problems.extend(
            Problem(
                "entry",
                row[0],
                f"entry {row[0]} was changed: its bytes no longer match "
                "the leaf hash stored when it was appended",
            )
            for row, leaf in zip(chunk, leaves, strict=True)
            if row[2] is not None and row[2] != leaf
        )
        start = 0
        while start < len(leaves):
            stop = min(len(leaves), seen.next_size - expected)
            if position < len(pending):
                stop = min(stop, pending[position][0] - expected)
            tree.add_many(leaves[start:stop])
            start = stop
            while position < len(pending) and pending[position][0] == tree.size:
                _check_checkpoint(report, pending[position], tree, log_key, texts)
                position += 1
            seen.check(tree)
        if progress is not None:
            progress(tree.size)
        if gap is not None:
            seen.finish(tree)
            return _finish(report, tree, pending[position:])
    seen.finish(tree)
    report = _finish(report, tree, pending[position:])
    for cosig in cosignatures:
        _check_cosignature(report, cosig, texts, witness_keys)
    return report


class _Views:
    """The witnesses' views, checked as the tree reaches each one's size: the root the
    entries give must be the one the witness cosigned, and the log must reach it."""

    def __init__(self, report: Report, views: list[WitnessView]) -> None:
        self.report, self.views, self.position = report, views, 0

    @property
    def next_size(self) -> int:
        return self.views[self.position].size if self.position < len(self.views) else 2**63

    def check(self, tree: TreeBuilder) -> None:
        while self.position < len(self.views) and self.views[self.position].size == tree.size:
            view = self.views[self.position]
            self.position += 1
            self.report.witness_views += 1
            if tree.root() != view.root:
                self.report.problems.append(
                    Problem(
                        "witness",
                        view.size,
                        f"witness {view.witness} cosigned size {view.size} with root "
                        f"{view.root.hex()[:16]}… at {_when(view)}; the log's entries give "
                        f"root {tree.root().hex()[:16]}… there: the log was rewritten or forked",
                    )
                )

    def finish(self, tree: TreeBuilder) -> None:
        for view in self.views[self.position :]:
            self.report.witness_views += 1
            self.report.problems.append(
                Problem(
                    "behind",
                    view.size,
                    f"witness {view.witness} cosigned size {view.size} (root "
                    f"{view.root.hex()[:16]}…) at {_when(view)}, but the log holds "
                    f"{tree.size} entries: it was truncated",
                )
            )
        self.position = len(self.views)


def _when(view: WitnessView) -> str:
    return datetime.fromtimestamp(view.cosigned_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _first_gap(
    chunk: list[tuple[int, bytes, bytes | None]], expected: int
) -> tuple[int, str] | None:
    """The first index out of sequence in ``chunk``, if any."""
    last = expected + len(chunk) - 1
    if (
        chunk[0][0] == expected
        and chunk[-1][0] == last
        and all(row[0] == expected + n for n, row in enumerate(chunk))
    ):
        return None
    for n, row in enumerate(chunk):
        if row[0] != expected + n:
            what = "missing (deleted)" if row[0] > expected + n else "duplicated or out of order"
            return expected + n, what
    return None


def _finish(report: Report, tree: TreeBuilder, rest: list[tuple[int, str]]) -> Report:
    report.entries = tree.size
    report.root = tree.root().hex()
    for size, _ in rest:
        report.problems.append(
            Problem(
                "truncated",
                size,
                f"log truncated: checkpoint at size {size} but the log holds {tree.size} entries",
            )
        )
    return report


def _check_checkpoint(
    report: Report, item: tuple[int, str], tree: TreeBuilder, key: Verifier, texts: dict[int, str]
) -> None:
    size, note_text = item
    report.checkpoints += 1
    try:
        note = parse_note(note_text)
        verify_note(note, [key], required=[key.name])
        checkpoint = parse_checkpoint(note.text)
    except ExchangeError as exc:
        report.problems.append(Problem("checkpoint", size, f"checkpoint {size}: {exc.message}"))
        return
    if checkpoint.size != size or checkpoint.origin != key.name:
        report.problems.append(Problem("checkpoint", size, f"checkpoint {size} is mislabelled"))
        return
    if checkpoint.root != tree.root():
        report.problems.append(
            Problem(
                "checkpoint",
                size,
                f"checkpoint at size {size} does not match the entries: an entry before "
                f"index {size} was changed, removed, inserted or reordered",
            )
        )
        return
    texts[size] = note.text


def _check_cosignature(
    report: Report, cosig: Cosig, texts: dict[int, str], witness_keys: dict[str, bytes]
) -> None:
    text = texts.get(cosig.size)
    key = witness_keys.get(cosig.witness)
    if key is None:  # a witness no longer in the directory: cannot be checked, not a failure
        report.unknown_witnesses += 1
        return
    if text is None:
        report.problems.append(
            Problem(
                "cosignature",
                cosig.size,
                f"cosignature by {cosig.witness} is on size {cosig.size}, "
                "which has no valid checkpoint",
            )
        )
        return
    try:
        verify_cosignature(text, cosig.line, cosig.witness, key)
    except ExchangeError as exc:
        report.problems.append(Problem("cosignature", cosig.size, exc.message))
        return
    report.cosignatures += 1
