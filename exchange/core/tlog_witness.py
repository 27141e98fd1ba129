"""c2sp.org/tlog-witness ``add-checkpoint``, as pure functions: the request body parsed
strictly, and the witness's decision on it.

The body is ``old <size>\\n``, at most 63 lines of one base64 hash each, an empty line,
then a signed checkpoint note. ``decide`` follows the specification's checks in its
order: an unknown origin (404, ``UnknownLog``), no trusted signature or a bad one by a
trusted key (403, ``BadSignature``), an ``old`` size that is not the size last cosigned
(409, ``OldSizeMismatch`` carrying that size), then consistency (422,
``InconsistentCheckpoint``): the empty tree's root at size 0, an empty proof from 0, the
same root at the same size, an RFC 9162 consistency proof otherwise. Everything that
does not parse is ``Malformed`` (400), and so is an ``old`` size above the checkpoint's.

The caller persists what ``decide`` accepts together with the view it decided on (a
compare-and-swap in one transaction), as the specification requires.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import InconsistentCheckpoint, Malformed, OldSizeMismatch, UnknownLog
from .merkle import EMPTY_ROOT, HASH_LENGTH, ProofError, verify_consistency
from .note import (
    MAX_NOTE_BYTES,
    Checkpoint,
    Note,
    Verifier,
    parse_checkpoint,
    parse_note,
    verify_note,
)

MAX_PROOF_LINES = 63
# the note, the old size line and 63 proof lines of 45 bytes, with room to spare
MAX_BODY_BYTES = MAX_NOTE_BYTES + 4096
CONTENT_TYPE_SIZE = "text/x.tlog.size"
_OLD = re.compile(r"old (0|[1-9][0-9]{0,18})")
_HASH = re.compile(r"[A-Za-z0-9+/]{43}=")


@dataclass(frozen=True)
class Submission:
    """One parsed ``add-checkpoint`` body (signatures not yet verified)."""

    old_size: int
    proof: tuple[bytes, ...]
    note: Note
    checkpoint: Checkpoint


@dataclass(frozen=True)
class TrustedLog:
    """A log this witness watches: its origin and the keys that sign its checkpoints."""

    origin: str
    verifiers: tuple[Verifier, ...]


@dataclass(frozen=True)
class Held:
    """The latest checkpoint this witness cosigned for a log."""

    size: int
    root: bytes


def parse_submission(body: bytes) -> Submission:
    """Parse an ``add-checkpoint`` body; ``Malformed`` for anything off the grammar."""
    if len(body) > MAX_BODY_BYTES:
        raise Malformed(f"body exceeds {MAX_BODY_BYTES} bytes")
    head, sep, rest = body.partition(b"\n\n")
    if not sep:
        raise Malformed("no empty line before the checkpoint")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError:
        raise Malformed("the old size and proof lines must be ASCII") from None
    match = _OLD.fullmatch(lines[0])
    if match is None:
        raise Malformed("the first line must be 'old <size>' in decimal, no leading zeros")
    proof_lines = lines[1:]
    if len(proof_lines) > MAX_PROOF_LINES:
        raise Malformed(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = tuple(_hash(line) for line in proof_lines)
    note = parse_note(rest)
    checkpoint = parse_checkpoint(note.text)
    old_size = int(match.group(1))
    if old_size > checkpoint.size:
        raise Malformed("the old size is larger than the checkpoint's")
    return Submission(old_size, proof, note, checkpoint)


def _hash(line: str) -> bytes:
    if not _HASH.fullmatch(line):
        raise Malformed("a consistency proof line must be one base64 SHA-256 hash")
    raw = base64.b64decode(line, validate=True)
    if len(raw) != HASH_LENGTH or base64.b64encode(raw).decode() != line:
        raise Malformed("a consistency proof line must be one base64 SHA-256 hash")
    return raw


def decide(submission: Submission, log: TrustedLog | None, held: Held | None) -> Note:
    """Whether to cosign; the note with only the trusted signatures that verified.

    Raises ``UnknownLog``, ``BadSignature``, ``OldSizeMismatch`` or
    ``InconsistentCheckpoint`` (see the module's docstring)."""
    checkpoint = submission.checkpoint
    if log is None or log.origin != checkpoint.origin:
        raise UnknownLog("this witness does not watch that log")
    names = verify_note(submission.note, log.verifiers)  # BadSignature
    held_size = held.size if held is not None else 0
    if submission.old_size != held_size:
        raise OldSizeMismatch(
            f"the latest checkpoint cosigned for this log has size {held_size}", size=held_size
        )
    check_consistency(held, checkpoint, submission.proof)
    trusted = {(v.name, v.key_id) for v in log.verifiers if v.name in names}
    kept = tuple(s for s in submission.note.signatures if (s.name, s.key_id) in trusted)
    return Note(submission.note.text, kept)


def check_consistency(held: Held | None, checkpoint: Checkpoint, proof: Sequence[bytes]) -> None:
    """``checkpoint`` extends ``held`` (or the empty tree), else ``InconsistentCheckpoint``."""
    if checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
        raise InconsistentCheckpoint("a checkpoint of size 0 must have the empty tree's root")
    old_size, old_root = (held.size, held.root) if held is not None else (0, EMPTY_ROOT)
    try:
        verify_consistency(old_size, checkpoint.size, old_root, checkpoint.root, list(proof))
    except ProofError as exc:
        raise InconsistentCheckpoint(f"not consistent with size {old_size}: {exc}") from None


def format_submission(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """The ``add-checkpoint`` body a log sends (the other side of ``parse_submission``)."""
    lines = [f"old {old_size}", *(base64.b64encode(h).decode() for h in proof)]
    return ("".join(line + "\n" for line in lines) + "\n" + note).encode()


def parse_size(body: bytes) -> int:
    """The size in a 409 answer's ``text/x.tlog.size`` body (``<decimal>\\n``)."""
    match = re.fullmatch(rb"(0|[1-9][0-9]{0,18})\n", body)
    if match is None:
        raise Malformed("a text/x.tlog.size body is one decimal and a newline")
    return int(match.group(1))
